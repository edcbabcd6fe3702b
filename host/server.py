"""The HTTP surface, assembled once: user function routes, the admin API, health, the home page.

Paths under /admin and /runtime belong to the host (user routes may not claim them); everything
else goes to the HTTP trigger's dispatcher first. The middleware around it live in
host/middleware.py.
"""

from __future__ import annotations

import asyncio
import json
import time
from html import escape
from typing import Any

from funcpy.host import __version__
from funcpy.host.auth import ADMIN, key_from
from funcpy.host.bodies import BodyIncomplete, BodyTooLarge, request_body
from funcpy.host.dashboard.hub_api import hub_routes
from funcpy.host.dashboard.routes import dashboard_routes
from funcpy.host.dashboard.status import status_extras
from funcpy.host.errors import FuncPyError
from funcpy.host.logs import log
from funcpy.host.metrics import metrics_routes
from funcpy.host.middleware import AspNetCors, CustomHeaders, ErrorGuard
from funcpy.host.queue_admin import queue_routes
from funcpy.host.runtime import Runtime
from funcpy.host.stopping import Stopping, drain_triggers
from funcpy.host.workers import processes_status
from funcpy.triggers import trigger_kinds
from funcpy.triggers.base import ManualRun
from funcpy.triggers.http import HttpDispatcher
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

HOME_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Your Azure Function App is up and running.</title>
<style>body{font-family:system-ui,sans-serif;margin:3rem;color:#222}
code{background:#eee;padding:2px 4px}</style>
</head><body><h1>Your Functions 4.0 app is up and running</h1>
<p>Served by func-py %(version)s. %(count)d function(s) loaded; see
<code>/admin/host/status</code>.</p>
<p><a href="/runtime/dashboard/">Open the dashboard</a>: instances, entities, functions.</p>
%(error)s</body></html>
"""
# Development only (a traceback is for the developer, never for a production caller).
LOAD_ERROR = """<h2>The app failed to load</h2><p>func-py serves no functions until an edit
fixes it:</p><pre>%s</pre>"""


def _reason(status: int, text: str) -> Response:
    return JSONResponse({"error": text}, status_code=status)


class Builtins:
    """Endpoints the host itself owns."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._store_last: str | None = None
        self._store_checked_until = 0.0

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
        rt = self.runtime
        error = rt.load_error if rt.load_error and not rt.loaded and not rt.config.production \
            else None
        html = HOME_PAGE % {"version": __version__, "count": len(rt.index.functions),
                            "error": LOAD_ERROR % escape(error) if error else ""}
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
            **status_extras(rt),
            "processes": processes_status(rt.config.workers),
        }
        store = rt._store
        if store is not None:  # opened by the task hub or the timers
            settings = rt.taskhub_settings()
            body["taskHub"] = {
                "name": settings.hub, "provider": settings.provider,
                "partitions": sorted(rt.durable.worker.leases) if rt.durable is not None
                and rt.durable.worker is not None else [],
                "roundTrips": getattr(store, "round_trips", None),
                "statements": getattr(store, "statements", None),
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
        try:
            raw = await request_body(request, self.runtime.config.max_body_bytes)
        except BodyTooLarge as exc:
            return _reason(413, str(exc))
        except BodyIncomplete:
            return Response(status_code=400)  # the client is gone: nobody reads this
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
        data: dict[str, Any] = {}
        if isinstance(value, ManualRun):
            value, data = value.value, value.binding_data
        try:
            await self.runtime.invoker.invoke(fn, value, reason=REASON_MANUAL,
                                              binding_data=data)
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
        """Ready = functions loaded, not stopping, and the task hub store (when the app has one)
        answering: a load balancer sends traffic only then."""
        rt = self.runtime
        if rt.state != "Running":
            problem: str | None = f"the host is {rt.state.lower()}"
        elif not rt.index.functions:
            problem = "no functions are loaded"
        else:
            problem = await self._store_problem()
        body = {"status": "Unhealthy" if problem else "Healthy", "state": rt.state}
        if problem:
            body["reason"] = problem
        return JSONResponse(body, status_code=503 if problem else 200)

    async def _store_problem(self) -> str | None:
        store = self.runtime._store  # opened by the task hub or the timers, if the app uses one
        if store is None:
            return None
        now = time.monotonic()
        if now < self._store_checked_until:  # probes come often; one query a second at most
            return self._store_last
        problem = None
        try:
            async with asyncio.timeout(STORE_PROBE_TIMEOUT):
                if not await asyncio.to_thread(store.schema_version):
                    problem = "the task hub store has no schema"
        except TimeoutError:
            problem = f"the task hub store did not answer within {STORE_PROBE_TIMEOUT:g}s"
        except Exception as exc:
            problem = f"the task hub store is unreachable: {exc}"
        self._store_last, self._store_checked_until = problem, now + 1.0
        return problem

    def routes(self) -> list[Route]:
        return [
            Route("/admin/host/status", self.host_status, methods=["GET"]),
            Route("/admin/host/ping", self.ping, methods=["GET", "POST"]),
            Route("/admin/functions", self.list_functions, methods=["GET"]),
            Route("/admin/functions/{name}", self.function, methods=["GET", "POST"]),
            Route("/admin/functions/{name}/status", self.function_status, methods=["GET"]),
            *queue_routes(self.runtime, self._admin_denied),
            *metrics_routes(self.runtime, self._admin_denied),
            *hub_routes(self.runtime, self._admin_denied),
            Route("/runtime/health", self.ready, methods=["GET"]),
            Route("/runtime/health/live", self.live, methods=["GET"]),
            Route("/runtime/health/ready", self.ready, methods=["GET"]),
            *dashboard_routes(),
            Route("/{path:path}", self.home, methods=ALL_METHODS),
        ]


STORE_PROBE_TIMEOUT = 2.0
ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE"]
REASON_MANUAL = "This function was programmatically called via the host APIs."


class HostApp:
    """The top-level ASGI app: lifespan starts and stops the runtime; /admin and /runtime go to
    the built-ins, the rest to the HTTP trigger (which falls back to the built-ins).

    With `load_app` (production) the app is imported after the server starts listening, so
    the health endpoints answer at once: readiness is 503, and function routes 503, until the
    functions are loaded and the triggers running."""

    def __init__(self, runtime: Runtime, extra_routes: list[Route] | None = None,
                 load_app: bool = False) -> None:
        self.runtime = runtime
        self.builtins = Starlette(routes=(extra_routes or []) + Builtins(runtime).routes())
        self.dispatcher = HttpDispatcher(runtime, runtime.http, self.builtins)
        self.on_startup: list[Any] = []
        self.on_shutdown: list[Any] = []
        self.on_failure: list[Any] = []  # called with the reason when a background start fails
        self.failure: str | None = None
        self.load_app = load_app
        self.loading = False
        self._load_task: asyncio.Task[None] | None = None
        self.stopping: Stopping | None = None
        self._drain_task: asyncio.Task[None] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            path: str = scope["path"]
            if path.startswith(("/admin/", "/runtime/")):
                await self.builtins(scope, receive, send)
            elif self.loading:
                await Response("the host is starting", status_code=503,
                               headers={"Retry-After": "1"})(scope, receive, send)
            else:  # the app's routes (the dispatcher counts them by status for /admin/metrics)
                await self.dispatcher(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _start(self) -> str | None:
        """Start the runtime and the hooks; the reason on failure (already logged)."""
        try:
            await self.runtime.start()
            for hook in self.on_startup:
                await hook()
        except FuncPyError as exc:
            log.error("%s", exc)
            return str(exc)
        except Exception as exc:
            log.exception("Host start-up failed")
            return str(exc) or type(exc).__name__
        return None

    async def _load_and_start(self) -> None:
        try:
            try:
                await asyncio.to_thread(self.runtime.load_initial)
            except FuncPyError as exc:
                log.error("%s", exc)
                failure: str | None = str(exc)
            except Exception as exc:
                log.exception("The app could not be loaded")
                failure = str(exc) or type(exc).__name__
            else:
                failure = await self._start()
        finally:
            self.loading = False
        if failure is not None:
            self.failure = failure
            self.runtime.state = "Error"
            for hook in self.on_failure:
                hook(failure)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                if self.load_app:
                    self.loading = True
                    self._load_task = asyncio.ensure_future(self._load_and_start())
                elif (failure := await self._start()) is not None:
                    await send({"type": "lifespan.startup.failed", "message": failure})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._drain_task is None:
                    # A plain uvicorn.Server: the drain starts now, and its clock with it.
                    self.begin_drain(Stopping(self.runtime.config.drain_seconds,
                                              self.runtime.invoker))
                assert self.stopping is not None and self._drain_task is not None
                # uvicorn sends this once requests have finished or been cancelled: nothing
                # serves a request any more, so the store may close.
                self.stopping.http_done.set()
                await self._drain_task
                await send({"type": "lifespan.shutdown.complete"})
                return

    def begin_drain(self, stopping: Stopping) -> None:
        """Start stopping the triggers (idempotent). func-py's server calls this at the first
        signal, so the triggers stop taking work while requests in flight finish, within the
        same time budget."""
        if self._drain_task is None:
            stopping.begin()
            self.stopping = stopping
            self._drain_task = asyncio.ensure_future(self._drain(stopping))

    async def _drain(self, stopping: Stopping) -> None:
        if self._load_task is not None and not self._load_task.done():
            self._load_task.cancel()  # the import thread runs on; nothing waits for it
            await asyncio.gather(self._load_task, return_exceptions=True)
        await drain_triggers(self.runtime, stopping, self.on_shutdown)


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
