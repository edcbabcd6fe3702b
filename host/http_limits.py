"""Limits on a request's head: its size, its header count and the time a client may take to send
it, with Kestrel's defaults (what an Azure Functions host enforces) and its answers: 431 for a
head too large or with too many headers, 408 for one not sent in time.

uvicorn[standard] parses HTTP with httptools, which has no limit of its own: a 100 KB header
or 2,000 headers are accepted, and a client sending a byte a second holds its connection (and
the buffer it fills) forever. The checks sit in the protocol, off the hot path: a request whose
first read holds its whole head costs a comparison or two; the byte count is exact only when
that bound is passed (a large body in the first read); and one sweep a second, not a timer
per request, closes heads that take too long.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("func_py.http")

# Kestrel: MaxRequestHeadersTotalSize, MaxRequestHeaderCount, RequestHeadersTimeout.
DEFAULT_MAX_HEADER_BYTES = 32 * 1024
DEFAULT_MAX_HEADER_COUNT = 100
DEFAULT_HEADERS_TIMEOUT = 30.0


@dataclass(frozen=True)
class HeadLimits:
    max_bytes: int = DEFAULT_MAX_HEADER_BYTES  # the request line and headers together
    max_count: int = DEFAULT_MAX_HEADER_COUNT
    timeout: float = DEFAULT_HEADERS_TIMEOUT  # seconds; 0 turns the deadline off

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> HeadLimits:
        env = os.environ if env is None else env

        def number(name: str, default: float, kind: type) -> Any:
            raw = env.get(name, "").strip()
            if not raw:
                return default
            try:
                value = kind(raw)
                if value < 0:
                    raise ValueError
                return value
            except ValueError:
                log.warning("%s=%r is not a number >= 0; using %s", name, raw, default)
                return default

        return cls(number("FUNCPY_MAX_REQUEST_HEADER_BYTES", DEFAULT_MAX_HEADER_BYTES, int),
                   number("FUNCPY_MAX_REQUEST_HEADER_COUNT", DEFAULT_MAX_HEADER_COUNT, int),
                   number("FUNCPY_REQUEST_HEADERS_TIMEOUT_SECONDS", DEFAULT_HEADERS_TIMEOUT,
                          float))


def _answer(status: bytes, reason: str, default_headers: list[tuple[bytes, bytes]]) -> bytes:
    body = reason.encode("ascii")
    head = [b"HTTP/1.1 ", status, b"\r\n"]
    for name, value in default_headers:  # Date, as on every other response
        head += [name, b": ", value, b"\r\n"]
    head += [b"content-type: text/plain; charset=utf-8\r\ncontent-length: ",
             str(len(body)).encode("ascii"), b"\r\nconnection: close\r\n\r\n", body]
    return b"".join(head)


class _Refused:
    """Stands in for the request cycle of a refused request, so the parser's remaining
    callbacks for it (its body, its end) find a finished response and do nothing."""

    response_complete = True
    disconnected = False

    def __init__(self) -> None:
        self.message_event = asyncio.Event()


def protocol_class(limits: HeadLimits) -> type[asyncio.Protocol]:
    """uvicorn's httptools protocol with the head limits (uvicorn's default choice when
    httptools is installed, as uvicorn[standard] does)."""
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    max_bytes, max_count = limits.max_bytes, limits.max_count
    monotonic = time.monotonic
    base = HttpToolsProtocol

    class HeadLimitedProtocol(HttpToolsProtocol):
        # Class defaults: no __init__ of our own per connection.
        _head_since: float | None = None  # a head is being read since then (monotonic)
        _head_bytes = 0  # bytes of the reads after the one the head began in
        _chunk = 0  # size of the read being parsed

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            base.connection_made(self, transport)
            # uvicorn arms no timer before the first request: the deadline covers that wait.
            self._head_since = monotonic()

        def data_received(self, data: bytes) -> None:
            self._chunk = len(data)
            if self._head_since is not None:
                self._head_bytes += self._chunk
            base.data_received(self, data)
            # Still inside a head after this read: what was counted belongs to it.
            if self._head_since is not None and self._head_bytes > max_bytes \
                    and not self.transport.is_closing():
                self._refuse(b"431 Request Header Fields Too Large",
                             f"request headers exceed {max_bytes} bytes")

        def on_message_begin(self) -> None:
            if self._head_since is None:  # a later request on a kept-alive connection
                self._head_since = monotonic()
                # This read may also hold earlier pipelined requests: counting starts with
                # the next read, and on_headers_complete measures a head read in one go.
                self._head_bytes = 0
            base.on_message_begin(self)

        def on_headers_complete(self) -> None:
            self._head_since = None
            if isinstance(self.cycle, _Refused):
                return  # a request pipelined behind a refused one (the connection is closing)
            if len(self.headers) > max_count:
                self._refuse(b"431 Request Header Fields Too Large",
                             f"more than {max_count} request headers")
                return
            if self._head_bytes + self._chunk > max_bytes:  # maybe too large: measure it
                size = len(self.url) + sum(len(n) + len(v) + 4 for n, v in self.headers)
                if size > max_bytes:
                    self._refuse(b"431 Request Header Fields Too Large",
                                 f"request headers exceed {max_bytes} bytes")
                    return
            base.on_headers_complete(self)

        def head_timed_out(self) -> None:
            """Called by the sweep: the head took longer than the limit."""
            self._head_since = None
            if self.transport.is_closing():
                return
            if self._head_bytes:  # a request has begun: say why it ends
                self._refuse(b"408 Request Timeout", "request headers not received in time")
            else:  # connected and sent nothing: just close, as Kestrel does
                self.transport.close()

        def _refuse(self, status: bytes, reason: str) -> None:
            log.debug("Refused a request from %s: %s (%s).", self.client, reason,
                      status.decode())
            self._head_since = None
            self.cycle = _Refused()  # type: ignore[assignment]
            self.transport.write(_answer(status, reason, self.server_state.default_headers))
            self.transport.close()

    return HeadLimitedProtocol


async def sweep_slow_heads(connections: set[Any], timeout: float) -> None:
    """Close connections whose request head is not complete `timeout` seconds after it began
    (or after the connection opened): a few checks a second for the whole server."""
    interval = min(1.0, max(0.05, timeout / 4))
    while True:
        await asyncio.sleep(interval)
        cutoff = time.monotonic() - timeout
        for conn in list(connections):
            since = getattr(conn, "_head_since", None)
            if since is not None and since < cutoff:
                conn.head_timed_out()
