"""FailedAuthThrottle: slows down token guessing by counting failed token checks per client address.

After `limit` failures from one address within `window_s` seconds, every request from that address that
carries a token is refused (429, with the seconds to wait) until the window that began with its first failure
ends. Only the guessing address is held back: a user calling from elsewhere is never locked out by someone
else's guesses, and anonymous requests from the held-back address still work. A success does not clear the
count (otherwise an attacker holding one valid token could interleave it with guesses).

Memory is bounded: at most `max_clients` addresses are tracked; windows that ended are dropped first, then the
oldest. IPv6 addresses are counted per /64, the block one subscriber usually gets.

Each app has its own, in its runtime (`stores.runtime.auth_throttle`, services/runtime.py): the counts of one
server process, never shared with another app built in the same process.
"""

from __future__ import annotations

import ipaddress
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from inhouse.errors import TooManyRequests

MAX_CLIENTS = 10_000


def client_key(ip: str | None) -> str:
    """The unit failures are counted in: the IPv4 address, or the /64 of an IPv6 address."""
    if not ip:
        return ""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.ipv4_mapped is not None:
            return str(addr.ipv4_mapped)
        return str(ipaddress.IPv6Network((int(addr) >> 64 << 64, 64)))
    return str(addr)


class FailedAuthThrottle:
    """Per-address counts of failed token checks within a fixed window; thread-safe, bounded."""

    def __init__(self, *, limit: int, window_s: float, max_clients: int = MAX_CLIENTS,
                 clock: Callable[[], float] = time.monotonic):
        self.limit = limit
        self.window_s = window_s
        self.max_clients = max_clients
        self._clock = clock
        self._lock = threading.Lock()
        self._windows: OrderedDict[str, tuple[float, int]] = OrderedDict()  # key -> (window start, failures)

    def __len__(self) -> int:
        return len(self._windows)

    def check(self, ip: str | None) -> None:
        """Raises TooManyRequests while `ip` has used up its failures for the current window."""
        if self.limit <= 0:
            return
        key = client_key(ip)
        now = self._clock()
        with self._lock:
            entry = self._windows.get(key)
        if entry is None or entry[1] < self.limit:
            return
        wait = entry[0] + self.window_s - now
        if wait > 0:
            raise TooManyRequests(
                f"Too many failed token checks from your address: wait {math.ceil(wait)} s, then retry with a valid "
                "token (`inhouse tokens list --user NAME` shows yours; an administrator can create a new one).",
                retry_after_s=math.ceil(wait))

    def failed(self, ip: str | None) -> None:
        """Counts one failed token check from `ip`."""
        if self.limit <= 0:
            return
        key = client_key(ip)
        now = self._clock()
        with self._lock:
            entry = self._windows.get(key)
            if entry is None or now - entry[0] >= self.window_s:
                self._windows.pop(key, None)
                self._windows[key] = (now, 1)  # a new window goes last: the dict stays ordered by window start
            else:
                self._windows[key] = (entry[0], entry[1] + 1)
            self._trim(now)

    def _trim(self, now: float) -> None:
        """Drops ended windows (the oldest come first), then the oldest beyond max_clients."""
        while self._windows:
            key, (start, _) = next(iter(self._windows.items()))
            if now - start < self.window_s and len(self._windows) <= self.max_clients:
                return
            del self._windows[key]
