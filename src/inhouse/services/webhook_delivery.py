"""Webhook delivery: a worker process the app's Runtime starts and stops, never part of a request.

The sending runs in a process of its own (`python -m inhouse.services.webhook_delivery`, started by
`DeliveryProcess`, the part the Runtime holds), so that its HTTP calls and bookkeeping do not compete with the
requests for the server's interpreter lock and CPU time: with ten webhooks and slow receivers, the server's own CPU
per commit for webhooks fell from 1.0-1.4 ms (threads) to 0.4-0.8 ms (bench/webhook_overhead.py). The app owns
it: `Runtime.start` builds the `DeliveryProcess`, which starts the worker when there is something to send (at once
if earlier runs left deliveries, else on the first commit that writes one, or when its poll finds rows written by
another process), and `Runtime.stop` ends it (the worker finishes the sends under way and records them). The
worker reads its settings from its stdin's first line, then a byte per wake-up (a transaction that wrote
deliveries committed; at most one per WAKE_EVERY_S); the end of its stdin (the server stopped, or died) ends it.
A worker that dies is started again.

The `webhook_deliveries` rows are the truth (written by services/webhooks.py in the transaction of each change),
so nothing is kept only in memory: a server that stops, crashes or restarts goes on from the rows.

In the worker, one round of the delivery thread (`Deliverer`), in ONE write transaction: records the results of the
sends that finished (delivered; or pending again at a later time, `webhook_retry_base_ms` x 2^(attempt-1) capped at
`webhook_retry_max_s`; or `failed` once `webhook_max_attempts` were made), then claims the deliveries now due. Only
the head of each (webhook, repo) queue is ever due (storage/db/webhooks.py keeps the queues), so a receiver gets a
repo's events in order, and a failed head holds the later ones back until it is resent (or the webhook re-enabled):
none is lost or overtaken. A claimed row counts its attempt and is hidden until its send's timeout has passed: a
crash mid-send means a later resend, not a lost event (receivers may see a delivery twice; `X-Inhouse-Delivery`
names it). Before each send, the events of a private repo are checked again: the webhook's owner must still be able
to read the repo (else `skipped`). The first round and one a minute also mend queues left without a head
(`store.repair`).

Sends run on a small pool (`webhook_workers` threads) so that one slow receiver holds back only its own queue;
each POST carries the JSON body, `X-Webhook-Secret: <secret>` (as the Hugging Face Hub sends it),
`X-Inhouse-Signature-256: sha256=<hex HMAC-SHA256 of the body keyed with the secret>`, `X-Inhouse-Delivery` and
`X-Inhouse-Event` (e.g. `repo.content.update`). Any 2xx answer is a delivery; redirects are not followed.

The thread wakes when a transaction of the server that wrote deliveries commits (an engine `commit` listener in
the server writes a byte to the worker's stdin), when a send finishes, when the next retry falls due, and at least
every POLL_S (rows written by another process); it then waits GATHER_S more, so that what arrives close together
is handled in one round.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import http.client
import json
import logging
import os
import queue
import signal
import ssl
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from sqlalchemy import Connection, event

from inhouse.config import Settings
from inhouse.services.webhooks import owner_may_read, owner_principal
from inhouse.storage.db import repos as repo_store
from inhouse.storage.db import users as user_store
from inhouse.storage.db import webhooks as store
from inhouse.storage.db.engine import Database
from inhouse.storage.db.webhooks import DeliveryRecord, DueDelivery, Outcome

if TYPE_CHECKING:
    from inhouse.services.context import Stores

log = logging.getLogger("inhouse.webhooks")

POLL_S = 1.0
GATHER_S = 0.25
WAKE_KEY = "inhouse.webhooks.written"
LEASE_MARGIN_S = 5.0
MAX_ANSWER_BYTES = 64 * 1024
MAX_ERROR_CHARS = 500
PRUNE_EVERY_S = 3600.0
PRUNE_BATCH = 1000
REPAIR_EVERY_S = 60.0
REPAIR_BATCH = 1000
USER_AGENT = "inhouse-webhooks"
SKIPPED_ERROR = "not sent: the webhook's owner can no longer read this repo"
WORKER_NICE = 10  # the worker's scheduling priority below the server's (os.nice)
WAKE_EVERY_S = 0.1  # at most one wake-up written to the worker per this long (below GATHER_S)
RESTART_DELAY_S = 1.0  # before a worker that died is started again
STOP_MARGIN_S = 10.0  # a stopping worker has the send timeout and this long to finish before it is killed


@dataclass(frozen=True)
class SendResult:
    delivery: DeliveryRecord
    attempts: int  # this attempt's number
    status: int | None  # the receiver's HTTP status; None when none came back
    error: str | None  # None: delivered


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def send(url: str, secret: str | None, body: bytes, *, delivery_id: int, event_name: str,
         timeout_s: float) -> tuple[int | None, str | None]:
    """POSTs one delivery; (HTTP status or None, None when delivered else what went wrong)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT,
               "X-Inhouse-Delivery": str(delivery_id), "X-Inhouse-Event": event_name}
    if secret:
        headers["X-Webhook-Secret"] = secret
        headers["X-Inhouse-Signature-256"] = signature(secret, body)
    conn: http.client.HTTPConnection
    if parts.scheme == "https":
        conn = http.client.HTTPSConnection(host, parts.port, timeout=timeout_s,
                                           context=ssl.create_default_context())
    else:
        conn = http.client.HTTPConnection(host, parts.port, timeout=timeout_s)
    try:
        conn.request("POST", path, body=body, headers=headers)
        answer = conn.getresponse()
        answer.read(MAX_ANSWER_BYTES)
        if 200 <= answer.status < 300:
            return answer.status, None
        if 300 <= answer.status < 400:
            return answer.status, f"HTTP {answer.status}: redirects are not followed; point the webhook at the " \
                                  "final address"
        return answer.status, f"HTTP {answer.status} {answer.reason}"[:MAX_ERROR_CHARS]
    except (OSError, http.client.HTTPException) as err:
        return None, f"{type(err).__name__}: {err}"[:MAX_ERROR_CHARS] or "connection failed"
    finally:
        conn.close()


class Deliverer:
    """The delivery thread and its senders, in the worker process (`worker_main`)."""

    def __init__(self, settings: Settings, db: Database):
        self.db = db
        s = settings
        self.timeout_s = float(max(1, s.webhook_timeout_s))
        self.max_attempts = max(1, s.webhook_max_attempts)
        self.base_s = max(1, s.webhook_retry_base_ms) / 1000.0
        self.max_backoff_s = float(max(1, s.webhook_retry_max_s))
        self.workers = max(1, s.webhook_workers)
        self.log_days = s.webhook_log_days
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._results: queue.SimpleQueue[SendResult] = queue.SimpleQueue()
        self._inflight: set[int] = set()  # ids claimed by this thread, not yet recorded
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._pruned_at = 0.0
        self._repaired_at = 0.0  # at the first round, then every REPAIR_EVERY_S

    # wiring ------------------------------------------------------------------------------------------------------

    def start(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="inhouse-webhook-send")
        self._thread = threading.Thread(target=self._run, name="inhouse-webhooks", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        try:
            self._flush_results()  # what finished while stopping is recorded, not sent again
        except Exception:  # noqa: BLE001 - the rows stay claimed; they are sent again after their lease
            log.exception("could not record the last webhook results")

    def wake(self) -> None:
        self._wake.set()

    # the loop ----------------------------------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                delay = self._round()
            except Exception:  # noqa: BLE001 - a database hiccup must not end the thread; the rows wait
                log.exception("webhook delivery round failed; retrying")
                delay = POLL_S
            if delay > 0:
                self._wake.wait(delay)
            self._wake.clear()
            # gather: the events of commits and the results of sends that come close together are handled in
            # one round (one write transaction), not one round each, so the thread takes less time from requests
            self._stop.wait(GATHER_S)

    def _drain(self) -> list[SendResult]:
        out: list[SendResult] = []
        while True:
            try:
                out.append(self._results.get_nowait())
            except queue.Empty:
                return out

    def _flush_results(self) -> None:
        results = self._drain()
        if results:
            with self.db.write() as conn:
                store.lock_queues(conn)
                self._finish(conn, results, time.time())

    def _round(self) -> float:
        """One round; returns how long to sleep unless woken."""
        results = self._drain()
        for r in results:
            self._inflight.discard(r.delivery.id)
        room = self.workers * 4 - len(self._inflight)
        now = time.time()
        repair = now - self._repaired_at >= REPAIR_EVERY_S
        due: list[DueDelivery] = []
        if not results and not repair:  # nothing to write unless something is due: look first
            with self.db.read() as conn:
                due = self._due(conn, now, room)
            if not due:
                with self.db.read() as conn:
                    next_at = store.next_due_at(conn)
                return POLL_S if next_at is None else min(POLL_S, max(0.0, next_at - time.time()))
        claimed: list[tuple[DueDelivery, int]] = []
        with self.db.write() as conn:
            now = time.time()
            store.lock_queues(conn)
            self._finish(conn, results, now)
            if repair:
                self._repaired_at = now
                store.repair(conn, now, REPAIR_BATCH)
            if results or repair:
                due = self._due(conn, now, room)
            sendable = [d for d in due if self._may_send(conn, d)]
            store.finish(conn, [Outcome(d.delivery, store.SKIPPED, now, last_error=SKIPPED_ERROR)
                                for d in due if d not in sendable])
            # hidden for as long as the sends queued before the last of them may take, each up to the timeout
            waves = 1 + (len(self._inflight) + len(sendable)) // self.workers
            got = store.claim(conn, [d.delivery.id for d in sendable], now,
                              now + self.timeout_s * waves + LEASE_MARGIN_S)
            claimed = [(d, d.delivery.attempts + 1) for d in sendable if d.delivery.id in got]
        pool = self._pool
        for d, attempts in claimed:
            if pool is None:
                break
            self._inflight.add(d.delivery.id)
            pool.submit(self._send, d, attempts)
        self._prune(now)
        return 0.0  # more may be due at once (the next of each queue)

    def _due(self, conn: Connection, now: float, room: int) -> list[DueDelivery]:
        if room <= 0:
            return []
        found = store.due(conn, now, room + len(self._inflight))
        return [d for d in found if d.delivery.id not in self._inflight][:room]

    def _may_send(self, conn: Connection, d: DueDelivery) -> bool:
        """A private repo's event goes only to a webhook whose owner can still read the repo."""
        try:
            repo = json.loads(d.delivery.payload).get("repo", {})
        except ValueError:
            return False
        if not repo.get("private"):
            return True
        current = None
        key = d.delivery.repo_key.rsplit(":", 1)[-1]
        if key.isdigit():
            current = repo_store.repo_by_id(conn, int(key))
        if current is None:  # deleted since: its (private) owner namespace decides
            return self._namespace_member(conn, d.owner_id, str(repo.get("owner", {}).get("id", "")))
        return owner_may_read(conn, d.owner_id, current)

    @staticmethod
    def _namespace_member(conn: Connection, owner_id: int, namespace: str) -> bool:
        owner = owner_principal(conn, owner_id)
        ns = user_store.user_by_name(conn, namespace)
        if owner is None or ns is None:
            return False
        return owner.is_admin or owner.user_id == ns.id or ns.id in owner.org_roles

    def _send(self, d: DueDelivery, attempts: int) -> None:
        try:
            status, error = send(d.url, d.secret, d.delivery.payload.encode(), delivery_id=d.delivery.id,
                                 event_name=d.delivery.event, timeout_s=self.timeout_s)
        except Exception as err:  # noqa: BLE001 - recorded as a failed attempt, retried
            status, error = None, f"{type(err).__name__}: {err}"[:MAX_ERROR_CHARS]
        self._results.put(SendResult(d.delivery, attempts, status, error))
        self._wake.set()

    def _finish(self, conn: Connection, results: list[SendResult], now: float) -> None:
        outcomes = []
        for r in results:
            if r.error is None:
                outcomes.append(Outcome(r.delivery, store.DELIVERED, now, r.status, None, now))
            elif r.attempts >= self.max_attempts:
                outcomes.append(Outcome(r.delivery, store.FAILED, now, r.status, r.error))
            else:
                outcomes.append(Outcome(r.delivery, store.PENDING, now + self.backoff(r.attempts), r.status, r.error))
        store.finish(conn, outcomes)

    def backoff(self, attempts: int) -> float:
        """Seconds before the next attempt after `attempts` failed ones."""
        return float(min(self.max_backoff_s, self.base_s * 2 ** min(attempts - 1, 40)))

    def _prune(self, now: float) -> None:
        if self.log_days <= 0 or now - self._pruned_at < PRUNE_EVERY_S:
            return
        self._pruned_at = now
        with self.db.write() as conn:
            store.prune(conn, now - self.log_days * 86400.0, PRUNE_BATCH)


# the worker process and the server's handle on it ---------------------------------------------------------------

def settings_line(settings: Settings) -> bytes:
    """`settings` as the worker's first line of stdin (not its command line: the database URL may hold a password)."""
    values = {f.name: str(v) if isinstance(v := getattr(settings, f.name), Path) else v
              for f in dataclasses.fields(settings)}
    return json.dumps(values).encode() + b"\n"


def settings_from_line(line: bytes) -> Settings:
    values: dict[str, Any] = json.loads(line)
    fields = {f.name: f for f in dataclasses.fields(Settings)}
    for name, value in list(values.items()):
        if name not in fields:
            del values[name]
        elif isinstance(fields[name].default, Path):
            values[name] = Path(value)
    return Settings(**values)


def worker_main() -> None:
    """The worker: settings from stdin's first line, then a wake-up per byte until stdin ends."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C of the server's terminal: the server ends us
    try:  # background work: when the CPUs are busy, the server's requests go first
        os.nice(WORKER_NICE)
    except OSError:
        pass
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stdin = sys.stdin.fileno()
    line = b""
    while b"\n" not in line:
        chunk = os.read(stdin, 1 << 16)
        if not chunk:
            return
        line += chunk
    first, _, rest = line.partition(b"\n")
    settings = settings_from_line(first)
    db = Database(settings.resolved_database_url)
    deliverer = Deliverer(settings, db)
    deliverer.start()
    try:
        if rest:
            deliverer.wake()
        while os.read(stdin, 1 << 12):
            deliverer.wake()
    finally:
        deliverer.stop()  # the sends under way finish and are recorded
        db.dispose()


class DeliveryProcess:
    """The server's side of the worker (Runtime.start builds and starts it; Runtime.stop stops it): wakes it when
    a transaction that wrote deliveries commits, starts it when there is something to send, and again if it dies."""

    def __init__(self, stores: Stores):
        self.stores = stores
        self.timeout_s = float(max(1, stores.settings.webhook_timeout_s))
        self._lock = threading.Lock()  # guards _proc
        self._proc: subprocess.Popen[bytes] | None = None
        self._wanted = threading.Event()  # something was written: start the worker if it is not running
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._woken_at = -WAKE_EVERY_S  # time.monotonic() of the last wake-up written

    def start(self) -> None:
        engine = self.stores.db.engine
        event.listen(engine, "commit", self._on_commit)
        event.listen(engine, "rollback", self._on_rollback)
        self._thread = threading.Thread(target=self._watch, name="inhouse-webhooks", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wanted.set()
        engine = self.stores.db.engine
        for name, fn in (("commit", self._on_commit), ("rollback", self._on_rollback)):
            if event.contains(engine, name, fn):
                event.remove(engine, name, fn)
        with self._lock:
            proc = self._proc
            if proc is not None and proc.stdin is not None:
                try:
                    proc.stdin.close()  # the worker finishes its sends, records them and exits
                except OSError:
                    pass
        if proc is not None:
            try:
                proc.wait(self.timeout_s + STOP_MARGIN_S)
            except subprocess.TimeoutExpired:  # its claimed rows are sent again after their lease
                log.warning("the webhook worker did not stop in time; killed")
                proc.kill()
                proc.wait()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self._proc = None

    @property
    def pid(self) -> int | None:
        """The worker's process id (None while none runs)."""
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    def mark(self, conn: Connection) -> None:
        """Deliveries were written in `conn`'s transaction: wake the worker once it commits."""
        conn.info[WAKE_KEY] = True

    def wake(self) -> None:
        """Deliveries were written and committed: the worker looks now (started first if it is not running).
        At most one wake-up every WAKE_EVERY_S is written: the worker's round comes GATHER_S (longer) after the
        wake-up it reads, so the rows of a commit whose wake-up was left out are seen by that round (and the
        worker polls every POLL_S in any case); a commit then costs no write to a pipe and no other process woken."""
        proc = self._proc
        if proc is None or proc.stdin is None:
            self._wanted.set()
            return
        now = time.monotonic()
        if now - self._woken_at < WAKE_EVERY_S:
            return
        self._woken_at = now
        try:
            os.write(proc.stdin.fileno(), b"w")
        except (BlockingIOError, BrokenPipeError, ValueError, OSError):
            pass  # a full pipe: it will wake anyway; a dead worker: the watcher starts another

    def _on_commit(self, conn: Connection) -> None:
        if conn.info.pop(WAKE_KEY, None):
            self.wake()

    def _on_rollback(self, conn: Connection) -> None:
        conn.info.pop(WAKE_KEY, None)

    def _waiting(self) -> bool:
        try:
            with self.stores.db.read() as conn:
                return store.waiting(conn)
        except Exception:  # noqa: BLE001 - a database hiccup: look again at the next poll
            log.exception("could not look for webhook deliveries")
            return False

    def _watch(self) -> None:
        """Starts the worker when there is something to send (or was written), and again when it dies."""
        while not self._stop.is_set():
            if not (self._wanted.is_set() or self._waiting()):
                self._wanted.wait(POLL_S)
                continue
            self._wanted.clear()
            with self._lock:
                if self._stop.is_set():
                    return
                try:
                    self._proc = self._spawn()
                except OSError:
                    log.exception("could not start the webhook worker; retrying")
                    self._stop.wait(RESTART_DELAY_S)
                    continue
                proc = self._proc
            code = proc.wait()
            with self._lock:
                self._proc = None
            if not self._stop.is_set():
                log.warning("the webhook worker ended (exit status %s); starting another", code)
                self._stop.wait(RESTART_DELAY_S)
                self._wanted.set()

    def _spawn(self) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen([sys.executable, "-m", "inhouse.services.webhook_delivery"], stdin=subprocess.PIPE,
                                stdout=subprocess.DEVNULL, close_fds=True)
        assert proc.stdin is not None
        proc.stdin.write(settings_line(self.stores.settings))
        proc.stdin.flush()
        os.set_blocking(proc.stdin.fileno(), False)  # a wake-up never blocks a request
        return proc


if __name__ == "__main__":
    worker_main()
