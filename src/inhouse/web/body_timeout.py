"""BodyTimeout: the ASGI receive channel a handler reads its request body from, cutting off slow senders.

A body is cut off with RequestTimeout (408) when no byte arrives for `idle_s` seconds, or when it arrives slower
than `min_bytes_per_s` on average after a grace of `idle_s` seconds (a body trickling in at 1 byte/s holds a
connection and a worker as long as it likes otherwise). Only time spent waiting for the client counts: while a
handler is busy writing what it received, the clock stops.
"""

from __future__ import annotations

import asyncio
import math
import time

from starlette.types import Message, Receive

from inhouse.errors import RequestTimeout


class BodyTimeout:
    def __init__(self, receive: Receive, *, idle_s: float, min_bytes_per_s: float):
        self._receive = receive
        self.idle_s = idle_s
        self.min_bytes_per_s = min_bytes_per_s
        self._waited = 0.0
        self._received = 0
        self._done = idle_s <= 0

    def stop(self) -> None:
        """No more timeouts: the body was read (or the response has begun, and receive only waits for a
        disconnect)."""
        self._done = True

    def _allowed_wait(self) -> float:
        if self.min_bytes_per_s <= 0:
            return self.idle_s
        earned = self.idle_s + self._received / self.min_bytes_per_s - self._waited
        return max(0.0, min(self.idle_s, earned))

    async def receive(self) -> Message:
        if self._done:
            return await self._receive()
        allowed = self._allowed_wait()
        started = time.monotonic()
        try:
            async with asyncio.timeout(allowed):
                message = await self._receive()
        except TimeoutError:
            self._done = True
            rate = "" if self.min_bytes_per_s <= 0 else f" or at less than {math.ceil(self.min_bytes_per_s)} bytes/s"
            raise RequestTimeout(
                f"The request body stopped arriving (nothing for {math.ceil(self.idle_s)} s{rate}); check the "
                "network between you and the server, then send the request again.") from None
        self._waited += time.monotonic() - started
        if message["type"] != "http.request" or not message.get("more_body", False):
            self._done = True
        else:
            self._received += len(message.get("body", b""))
        return message
