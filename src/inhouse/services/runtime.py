"""Runtime: the state one app keeps in memory while it runs, in one object the app owns.

Nothing here lives at module level: two apps built in one process (two data folders, or a test next to a live
server) share no thread, cache or counter, and importing inhouse starts no thread. `create_app` builds the
runtime and hands it to `Stores.open`, so every service reaches it as `stores.runtime`; the app's lifespan
calls `start` (the background threads) and `stop` (stops and joins them). Stores opened without an app (the
CLI, `inhouse storage gc`, tests) get a runtime that is never started: its caches work, and what needs a
thread is skipped (an LFS blob waits for the server's converter, a Xet file is read back to check its hash).

The parts:
* `prehash` (`xet_prehash.PrehashChains`): the SHA-256 of each Xet uploader's xorbs, taken in the background
  as they arrive, and its executor (one thread, started by `start`);
* `converter` (`xet_convert.Converter`): the thread that chunks LFS blobs into xorbs;
* `cas_callers` and `xorb_links`: who a Xet token or a signed xorb link acts for, re-checked at most every
  `xet_tokens.PRINCIPAL_CACHE_S` seconds (`TtlCache`);
* `commit_paths`: the large-file paths of a commit's tree, for the audit of Xet and LFS downloads (`TtlCache`);
* `safetensors_counts`: the parameter counts by dtype of each safetensors file model info has read, by git blob id
  (`TtlCache`, services/safetensors.py);
* `policies`: organisations' parsed policies by (org id, version) (`TtlCache`, services/governance/policies.py): a
  commit asks only which version is current;
* `lfs_parts` (`lfs_parts.JoinedParts`): the multipart LFS uploads whose parts were joined as they arrived;
* `auth_throttle` (`access.throttle.FailedAuthThrottle`): failed token checks per client address;
* `job_handlers` (kind -> `inhouse.jobs.handlers.JobHandler`): what each kind of job does; the composition root
  registers the services' handlers before `start` ("selftest" is there from the start);
* `downloads` (`downloads.DownloadCounter`): download counts gathered in memory and written in batches by its
  thread (every second, before any read of the counts, and at `stop`);
* `dispatcher` (`inhouse.jobs.dispatcher.Dispatcher`): the thread that runs queued job tasks on the executor
  settings.job_executor names, built and started by `start` (None before);
* `webhooks` (`webhook_delivery.DeliveryProcess`): the worker process that sends webhook deliveries, built and
  started by `start` (None before: the rows wait for a server), stopped by `stop`.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Generic, TypeVar

from sqlalchemy import Connection

from inhouse.access.throttle import FailedAuthThrottle
from inhouse.config import Settings
from inhouse.jobs.dispatcher import Dispatcher, DispatcherConfig
from inhouse.jobs.executors import build_executor
from inhouse.jobs.handlers import JobHandler, builtin_handlers
from inhouse.services.largefiles import xet_tokens
from inhouse.services.largefiles.lfs_parts import JoinedParts
from inhouse.services.largefiles.xet_convert import Converter
from inhouse.services.largefiles.xet_prehash import PrehashChains
from inhouse.services.largefiles.xet_tokens import CasCaller
from inhouse.services.downloads import DownloadCounter
from inhouse.services.governance.policy_doc import Policy
from inhouse.services.webhook_delivery import DeliveryProcess

if TYPE_CHECKING:
    from inhouse.services.context import Stores

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

MAX_COMMITS_WITH_PATHS = 64  # commits whose large-file paths are kept
MAX_SAFETENSORS_COUNTS = 4096  # safetensors files whose parameter counts are kept
MAX_POLICIES = 256  # parsed org policies kept (a version never changes, so they never expire)


class TtlCache(Generic[K, V]):
    """A thread-safe map of at most `max_entries` entries, each answered for `ttl_s` seconds after it was put
    (None: until it is evicted); when full, the least recently used entry goes first."""

    def __init__(self, *, max_entries: int, ttl_s: float | None = None,
                 clock: Callable[[], float] = time.monotonic):
        if max_entries < 1:
            raise ValueError("A cache holds at least one entry.")
        self.max_entries = max_entries
        self.ttl_s = ttl_s
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def get(self, key: K) -> V | None:
        """The value put under `key`, unless it expired or was evicted (then None)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if self.ttl_s is not None and self._clock() - entry[0] >= self.ttl_s:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return entry[1]

    def put(self, key: K, value: V) -> None:
        with self._lock:
            self._entries[key] = (self._clock(), value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


class Runtime:
    """The per-process state of one app (see the module's docstring). Build one per app; `start` and `stop` are
    idempotent, and a runtime that was never started works without its threads."""

    def __init__(self, settings: Settings):
        self.prehash = PrehashChains()
        self.converter = Converter()
        self.cas_callers: TtlCache[tuple[str, str], CasCaller] = TtlCache(
            max_entries=xet_tokens.MAX_CACHED_CALLERS, ttl_s=xet_tokens.PRINCIPAL_CACHE_S)
        self.xorb_links: TtlCache[tuple[int | None, int], bool] = TtlCache(
            max_entries=xet_tokens.MAX_CACHED_CALLERS, ttl_s=xet_tokens.PRINCIPAL_CACHE_S)
        self.commit_paths: TtlCache[str, dict[str, list[str]]] = TtlCache(max_entries=MAX_COMMITS_WITH_PATHS)
        self.safetensors_counts: TtlCache[str, dict[str, int]] = TtlCache(max_entries=MAX_SAFETENSORS_COUNTS)
        self.policies: TtlCache[tuple[int, int], Policy] = TtlCache(max_entries=MAX_POLICIES)
        self.lfs_parts = JoinedParts()
        self.auth_throttle = FailedAuthThrottle(limit=settings.auth_failure_limit,
                                                window_s=settings.auth_failure_window_s)
        self.settings = settings
        self.job_handlers: dict[str, JobHandler] = builtin_handlers()
        self.dispatcher: Dispatcher | None = None
        self.webhooks: DeliveryProcess | None = None
        self.downloads = DownloadCounter()  # download counts, written in batches (services/downloads.py)
        self._started = False

    @property
    def started(self) -> bool:
        return self._started

    def start(self, stores: Stores) -> None:
        """Starts the background work on `stores` (the ones this runtime belongs to): the prehash executor, the
        converter, which also picks up the LFS blobs an earlier run left, and the job dispatcher with the handlers
        registered by then."""
        if self._started:
            return
        self._started = True
        self.prehash.start()
        self.converter.start(stores)
        self.dispatcher = Dispatcher(stores.db, build_executor(self.settings), self.job_handlers,
                                     DispatcherConfig.from_settings(self.settings))
        self.dispatcher.start()  # first settles what an earlier server process left running
        self.webhooks = DeliveryProcess(stores)
        self.webhooks.start()  # goes on with the deliveries an earlier run left
        self.downloads.start(stores)

    def webhooks_written(self, conn: Connection | None = None) -> None:
        """Webhook deliveries were written: in `conn`'s transaction (the thread looks once it commits), or
        already committed (None: it looks now)."""
        if self.webhooks is None:
            return
        if conn is None:
            self.webhooks.wake()
        else:
            self.webhooks.mark(conn)

    def jobs_submitted(self) -> None:
        """A service wrote queued jobs (and committed): the dispatcher, if this runtime runs one, looks now."""
        if self.dispatcher is not None:
            self.dispatcher.wake()

    def stop(self) -> None:
        """Stops the background threads and waits for them (a conversion under way is finished first)."""
        if not self._started:
            return
        self._started = False
        self.downloads.stop()  # writes the counts still in memory
        if self.webhooks is not None:
            self.webhooks.stop()
            self.webhooks = None
        if self.dispatcher is not None:
            self.dispatcher.stop()
            self.dispatcher = None
        self.converter.stop()
        self.prehash.stop()
