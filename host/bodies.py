"""Reading request bodies under one limit, for every route that reads one (function routes,
`POST /admin/functions/NAME`, the durable management API).

The limit is `HostConfig.max_body_bytes` (FUNCPY_MAX_REQUEST_BODY_BYTES, default Kestrel's
100 MB). A declared Content-Length over it is refused before a byte is read; a chunked body is
read chunk by chunk and refused as soon as it passes the limit, so a client cannot make the
host buffer more than the limit (plus one chunk). The server discards what the client still
sends after the 413 answer.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import Receive


class BodyTooLarge(Exception):
    """The body (declared or read so far) is over the limit: answer 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"request body exceeds the limit of {limit} bytes")
        self.limit = limit


class BodyIncomplete(Exception):
    """The client went away before its body ended: there is nobody to answer, and a truncated
    body must not be acted on (a cut JSON number is still valid JSON)."""


def declared_too_large(declared: str | None, limit: int) -> bool:
    # The HTTP parser has already refused a Content-Length that is not a number.
    return declared is not None and declared.strip().isdigit() and int(declared) > limit


async def read_body(receive: Receive, limit: int, declared: str | None) -> bytes:
    """The whole body from an ASGI `receive`, or BodyTooLarge / BodyIncomplete."""
    if declared_too_large(declared, limit):
        raise BodyTooLarge(limit)
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise BodyIncomplete
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(limit)
        if chunk:
            chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def request_body(request: Request, limit: int) -> bytes:
    """`read_body` for a Starlette request; the body is kept on the request, so a later
    `request.body()` or `request.json()` reuses it instead of reading again."""
    cached: bytes | None = getattr(request, "_body", None)
    if cached is not None:
        return cached
    body = await read_body(request.receive, limit, request.headers.get("content-length"))
    request._body = body  # Starlette's own cache attribute for request.body()
    return body
