"""The host's ASGI middleware: CORS with ASP.NET Core's answers (when configured), host.json
custom headers, and a last-resort error guard so a bug answers 500 instead of dropping the
connection.
"""

from __future__ import annotations

from funcpy.host.logs import log
from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class CustomHeaders:
    """host.json extensions.http.customHeaders on every response."""

    def __init__(self, app: ASGIApp, headers: dict[str, str]) -> None:
        self.app = app
        self.raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = dict(message)
                message["headers"] = list(message.get("headers", [])) + self.raw
            await send(message)

        await self.app(scope, receive, with_headers)


class ErrorGuard:
    """A bug in the host answers 500 and is logged; the server keeps running."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        except Exception:
            log.exception("Unhandled error while serving %s %s", scope["method"], scope["path"])
            try:
                await Response("internal error in func-py", status_code=500)(scope, receive, send)
            except RuntimeError:
                pass  # the response had already started: the server closes the connection


class AspNetCors(CORSMiddleware):
    """Core Tools' `--cors` policy (`WithOrigins(...).AllowAnyHeader().AllowAnyMethod()`) with
    ASP.NET Core's answers, where Starlette's differ: a preflight is always 204 with no body (not
    200 "OK" or 400 "Disallowed CORS origin"), echoes the requested method and headers, and an
    origin that is not allowed gets no CORS headers at all, on preflights and other requests."""

    def preflight_response(self, request_headers: Headers) -> Response:
        origin = request_headers["origin"]
        if not self.is_allowed_origin(origin=origin):
            return Response(status_code=204)
        headers = {
            "Access-Control-Allow-Origin": "*" if self.allow_all_origins else origin,
            "Access-Control-Allow-Methods": request_headers["access-control-request-method"],
        }
        requested = request_headers.get("access-control-request-headers")
        if requested:
            headers["Access-Control-Allow-Headers"] = requested
        if self.allow_credentials:
            headers["Access-Control-Allow-Credentials"] = "true"
        if not self.allow_all_origins:
            headers["Vary"] = "Origin"
        return Response(status_code=204, headers=headers)

    async def send(self, message: Message, send: Send, request_headers: Headers) -> None:
        origin = request_headers.get("origin")
        if origin is not None and not self.is_allowed_origin(origin=origin):
            await send(message)
            return
        await super().send(message, send, request_headers)
