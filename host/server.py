"""The HTTP surface, assembled once: user function routes, the admin API, health, the home page.

Paths under /admin and /runtime belong to the host (user routes may not claim them); everything
else goes to the HTTP trigger's dispatcher first. Middleware are small wrappers: CORS (when
configured), host.json custom headers, and a last-resort error guard so a bug answers 500 instead
of dropping the connection.
"""

from __future__ import annotations

import json
import time
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from host import __version__
from host.auth import ADMIN, key_from
from host.errors import FuncPyError
from host.logs import log
from host.runtime import Runtime
from triggers import trigger_kinds
from triggers.http import HttpDispatcher

HOME_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Your Azure Function App is up and running.</title>
<style>body{font-family:system-ui,sans-serif;margin:3rem;color:#222}
code{background:#eee;padding:2px 4px}</style>
</head><body><h1>Your Functions 4.0 app is up and running</h1>
<p>Served by func-py %(version)s. %(count)d function(s) loaded; see
<code>/admin/host/status</code>.</p></body></html>
"""


def _reason(status: int, text: str) -> Response:
    return JSONResponse({"error": text}, status_code=status)


class Builtins:
    """Endpoints the host itself owns."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def _admin_denied(self, request: Request) -> Response | None:
        if not self.runtime.config.enable_auth:
            return None
        reason = self.runtime.keys.check(
            ADMIN, key_from(request.headers, request.query_params), None)
        return _reason(401, reason) if reason else None

    async def home(self, request: Request) -> Response:
        if request.url.path != "/" or request.method not in ("GET", "HEAD"):
            return Response(status_code=404)
        if self.runtime.environ.get("AzureWebJobsDisableHomepage", "").lower() == "true":
            return Response(status_code=204)
        html = HOME_PAGE % {"version": __version__, "count": len(self.runtime.index.functions)}
        return HTMLResponse(html)

    def _function_json(self, name: str) -> dict[str, Any]:
        index = self.runtime.index
        fn = index.functions[name]
        return {
            "name": fn.name,
            "trigger": fn.trigger_type,
            "config": {"bindings": [dict(b) for b in fn.bindings]},
            "invoke": self.runtime.describe(fn),
            "isDisabled": fn.name in index.disabled,
        }

    async def host_status(self, request: Request) -> Response:
        if denied := self._admin_denied(request):
            return denied
        rt = self.runtime
        index = rt.index
        errors = list(index.errors.values())
        if rt.load_error:
            errors.insert(0, rt.load_error)
        body = {
            "id": "func-py",
            "state": "Error" if rt.load_error and not index.functions else rt.state,
            "version": __version__,
            "versionDetails": f"func-py {__version__}",
            "processUptime": int((time.time() - rt.started_at) * 1000),
            "functions": sorted(index.functions),
            "skipped": dict(index.skipped),
            "errors": errors,
        }
        return JSONResponse(body)

    async def ping(self, request: Request) -> Response:
        return Response(status_code=200)

    async def list_functions(self, request: Request) -> Response:
        if denied := self._admin_denied(request):
            return denied
        return JSONResponse([self._function_json(n) for n in sorted(self.runtime.index.functions)])

    async def function(self, request: Request) -> Response:
        if denied := self._admin_denied(request):
            return denied
        fn = self.runtime.index.get(request.path_params["name"])
        if request.method == "GET":
            if fn is None:
                return _reason(404, f"no function named '{request.path_params['name']}'")
            return JSONResponse(self._function_json(fn.name))
        return await self._invoke(request, fn)

    async def _invoke(self, request: Request, fn: Any) -> Response:
        name = request.path_params["name"]
        if fn is None:
            return _reason(404, f"no function named '{name}' is loaded")
        raw = await request.body()
        if not raw:
            return _reason(400, 'the request needs a JSON body such as {"input": "..."}')
        try:
            payload = json.loads(raw)
        except ValueError as exc:
            return _reason(400, f"the body is not valid JSON: {exc}")
        if not isinstance(payload, dict):
            return _reason(400, 'the body must be a JSON object such as {"input": "..."}')
        kind = trigger_kinds()[fn.trigger_type]
        manual = getattr(kind, "manual_value", None)
        if manual is None:
            return _reason(400, f"'{fn.name}' is a {fn.trigger_type} function; "
                                "call it at its own URL")
        try:
            value = manual(fn, payload.get("input"), self.runtime)
        except ValueError as exc:
            return _reason(400, str(exc))
        self.runtime.spawn(self._run(fn, value))
        return Response(status_code=202)

    async def _run(self, fn: Any, value: Any) -> None:
        try:
            await self.runtime.invoker.invoke(fn, value, reason=REASON_MANUAL)
        except Exception:  # already logged by the invoker
            pass

    async def function_status(self, request: Request) -> Response:
        if denied := self._admin_denied(request):
            return denied
        name = request.path_params["name"]
        errors = [v for k, v in self.runtime.index.errors.items() if k.lower() == name.lower()]
        if not errors and self.runtime.index.get(name) is None:
            return _reason(404, f"no function named '{name}'")
        return JSONResponse({"errors": errors})

    async def live(self, request: Request) -> Response:
        return JSONResponse({"status": "Healthy"})

    async def ready(self, request: Request) -> Response:
        ok = self.runtime.state == "Running" and bool(self.runtime.index.functions)
        return JSONResponse({"status": "Healthy" if ok else "Unhealthy", "state":
                             self.runtime.state}, status_code=200 if ok else 503)

    def routes(self) -> list[Route]:
        return [
            Route("/admin/host/status", self.host_status, methods=["GET"]),
            Route("/admin/host/ping", self.ping, methods=["GET", "POST"]),
            Route("/admin/functions", self.list_functions, methods=["GET"]),
            Route("/admin/functions/{name}", self.function, methods=["GET", "POST"]),
            Route("/admin/functions/{name}/status", self.function_status, methods=["GET"]),
            Route("/runtime/health", self.ready, methods=["GET"]),
            Route("/runtime/health/live", self.live, methods=["GET"]),
            Route("/runtime/health/ready", self.ready, methods=["GET"]),
            Route("/{path:path}", self.home, methods=ALL_METHODS),
        ]


ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE"]
REASON_MANUAL = "This function was programmatically called via the host APIs."


class HostApp:
    """The top-level ASGI app: lifespan starts and stops the runtime; /admin and /runtime go to
    the built-ins, the rest to the HTTP trigger (which falls back to the built-ins)."""

    def __init__(self, runtime: Runtime, extra_routes: list[Route] | None = None) -> None:
        self.runtime = runtime
        self.builtins = Starlette(routes=(extra_routes or []) + Builtins(runtime).routes())
        self.dispatcher = HttpDispatcher(runtime, runtime.http, self.builtins)
        self.on_startup: list[Any] = []
        self.on_shutdown: list[Any] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            path: str = scope["path"]
            if path.startswith(("/admin/", "/runtime/")):
                await self.builtins(scope, receive, send)
            else:
                await self.dispatcher(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.runtime.start()
                    for hook in self.on_startup:
                        await hook()
                except FuncPyError as exc:
                    log.error("%s", exc)
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                except Exception as exc:
                    log.exception("Host start-up failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                for hook in self.on_shutdown:
                    await hook()
                await self.runtime.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return


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
        started = False

        async def tracking(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking)
        except Exception:
            log.exception("Unhandled error while serving %s %s", scope["method"], scope["path"])
            if not started:
                await Response("internal error in func-py", status_code=500)(scope, receive, send)


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


def build_asgi(runtime: Runtime, host_app: HostApp) -> ASGIApp:
    app: ASGIApp = ErrorGuard(host_app)
    headers = runtime.config.host_json.custom_headers
    if headers:
        app = CustomHeaders(app, headers)
    if runtime.config.cors:
        app = AspNetCors(
            app,
            allow_origins=list(runtime.config.cors),
            allow_methods=["*"],
            allow_headers=["*"],
            allow_credentials=runtime.config.cors_credentials and "*" not in runtime.config.cors,
        )
    return app
