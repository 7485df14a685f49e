"""The HTTP/1.1 protocol `inhouse serve` runs: uvicorn's httptools protocol with limits a client cannot stretch.

- A request head (request line and headers) larger than `max_header_bytes` is refused with 431 and the
  connection closed: the parser never buffers more than that plus one network read.
- A request head must arrive whole within `header_timeout_s` of its first byte (of the connection, for the first
  request): slower senders (slowloris) get 408 and are disconnected; a connection that sends nothing is closed.
- When the answer went out before the request body was read (an error, say), the rest of the body is drained for
  at most `drain_timeout_s`, then the connection is closed, so that a body trickling in cannot hold it open.
Slow request bodies that a handler reads are cut off by the app itself (inhouse.web.body_timeout).
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    max_header_bytes = 64 * 1024
    header_timeout_s = 30.0
    drain_timeout_s = 30.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._reading_head = True
        self._head_bytes = 0
        self._timer: asyncio.TimerHandle | None = None

    @classmethod
    def configured(cls, *, max_header_bytes: int, header_timeout_s: float,
                   drain_timeout_s: float) -> type[GuardedHttpToolsProtocol]:
        """A subclass with these limits (uvicorn builds one protocol object per connection from a class)."""
        return type(cls.__name__, (cls,), {"max_header_bytes": max_header_bytes,
                                           "header_timeout_s": header_timeout_s,
                                           "drain_timeout_s": drain_timeout_s})

    # timers -------------------------------------------------------------------------------------------------------

    def _arm(self, delay: float) -> None:
        if self._timer is None and delay > 0:
            self._timer = self.loop.call_later(delay, self._expired)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expired(self) -> None:
        self._timer = None
        if self.transport.is_closing():
            return
        if self._reading_head and self._head_bytes:
            self._refuse(408, "The request headers did not arrive in time.")
        else:
            self.transport.close()  # an idle new connection, or a body still trickling in after the answer

    def _refuse(self, status: int, message: str) -> None:
        body = message.encode("ascii")
        self.transport.write(b"".join([
            STATUS_LINE[status], b"content-type: text/plain; charset=utf-8\r\n",
            b"content-length: ", str(len(body)).encode("ascii"), b"\r\n", b"connection: close\r\n\r\n", body,
        ]))
        self.transport.close()

    # protocol and parser callbacks ------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(cast(asyncio.Transport, transport))  # a stream transport, as uvicorn's own takes
        self._arm(self.header_timeout_s)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._reading_head:
            self._head_bytes += len(data)
        super().data_received(data)
        if self._reading_head and self._head_bytes > self.max_header_bytes and not self.transport.is_closing():
            self._refuse(431, f"The request headers exceed {self.max_header_bytes} bytes.")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._reading_head = True
        self._arm(self.header_timeout_s)

    def on_headers_complete(self) -> None:
        self._reading_head = False
        self._head_bytes = 0
        self._disarm()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._disarm()  # the body is in: no more draining
        self._reading_head = True
        self._head_bytes = 0

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.cycle is not None and self.cycle.more_body and not self.transport.is_closing():
            self._arm(self.drain_timeout_s)
