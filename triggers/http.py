"""HTTP triggers: Azure's route templates, `func.HttpRequest` in, `func.HttpResponse` out.

The request is built exactly as the worker builds it (lower-cased headers with repeated values
comma-joined, empty query values dropped, body bytes). The result becomes the response inside
the call, as the worker encodes it (triggers/http_response.py): a result the host cannot send
fails the invocation, and the client gets a 500 with an empty body. Matching follows the host:
routes tried in function-name order, first match wins, a method mismatch falls through and
ends in 404. Apps that import the FastAPI extension are served as HTTP streams instead
(triggers/http_streams.py): a FastAPI `Request` in, the returned response sent as it streams.
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, NamedTuple

from funcpy.host import tracing
from funcpy.host.auth import ADMIN, key_from, normalise_level
from funcpy.host.bodies import BodyIncomplete, BodyTooLarge, declared_too_large, read_body
from funcpy.host.invocation import InvocationError, new_invocation_id, user_frames
from funcpy.host.logs import log
from funcpy.host.route_table import RouteEntry, RouteTable
from funcpy.host.routing import RouteTemplate, is_reserved_route, join_route
from funcpy.triggers import http_streams
from funcpy.triggers.http_request import build_request, headers_of, query_of
from funcpy.triggers.http_response import AnyResponse, HttpFunction, bind, to_response
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

if TYPE_CHECKING:
    from funcpy.host.config import HostConfig
    from funcpy.host.index import FunctionIndex, FunctionInfo
    from funcpy.triggers.base import HostServices

REASON = "This function was programmatically called via the host APIs."
KNOWN_METHODS = frozenset({"GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS", "TRACE"})


def route_of(fn: FunctionInfo) -> str:
    return str(fn.trigger.get("route") or fn.name)


def methods_of(fn: FunctionInfo) -> frozenset[str] | None:
    methods = fn.trigger.get("methods")
    if not methods:
        return None
    return frozenset(str(m).upper().removeprefix("HTTPMETHOD.") for m in methods)


def auth_level_of(fn: FunctionInfo) -> str:
    return normalise_level(fn.trigger.get("authLevel"))


class HttpTriggerKind:
    binding_type = "httpTrigger"

    def validate(self, fn: FunctionInfo, config: HostConfig) -> None:
        route = route_of(fn)
        if is_reserved_route(route):
            raise ValueError("The specified route conflicts with one or more built in routes.")
        RouteTemplate.parse(join_route(config.route_prefix, route))
        auth_level_of(fn)
        unknown = (methods_of(fn) or frozenset()) - KNOWN_METHODS
        if unknown:
            raise ValueError(f"unknown HTTP method(s) {sorted(unknown)}")
        if http_streams.enabled(os.environ):
            http_streams.check_annotations(fn)

    def validate_all(self, fns: list[FunctionInfo], config: HostConfig) -> dict[str, str]:
        table = build_table(fns, config.route_prefix)
        return {later: f"The route specified conflicts with the route defined by function "
                       f"'{earlier}'." for later, earlier in table.conflicts()}

    def describe(self, fn: FunctionInfo, config: HostConfig) -> str:
        methods = methods_of(fn)
        shown = f"[{','.join(sorted(methods))}] " if methods else ""
        return f"{shown}{config.base_url}/{join_route(config.route_prefix, route_of(fn))}"


KIND = HttpTriggerKind()


def build_table(fns: list[FunctionInfo], prefix: str) -> RouteTable:
    return RouteTable(
        RouteEntry(fn.name, RouteTemplate.parse(join_route(prefix, route_of(fn))), methods_of(fn))
        for fn in fns
    )


def empty(status: int, reason: str = "") -> Response:
    return Response(reason, status_code=status, media_type="text/plain; charset=utf-8")



class Routes(NamedTuple):
    """What the dispatcher reads per request, swapped whole on every index."""

    index: FunctionIndex
    table: RouteTable
    functions: Mapping[str, HttpFunction]
    streams: bool  # the app uses HTTP streams (triggers/http_streams.py)


class HttpService:
    """Holds the routes for the current index; the dispatcher reads them per request."""

    def __init__(self, config: HostConfig) -> None:
        self.config = config
        self.current: Routes | None = None
        self._told_streams = False

    async def apply(self, index: FunctionIndex) -> None:
        fns = index.of_type(KIND.binding_type)
        streams = bool(fns) and http_streams.enabled(os.environ)
        if streams and not self._told_streams:
            self._told_streams = True
            log.info("HTTP streams are on (azurefunctions-extensions-http-fastapi is "
                     "imported): HTTP functions take a FastAPI Request and return responses")
            http_streams.warn_about_settings(os.environ)
        convert = http_streams.to_response if streams else to_response
        functions = {fn.name: bind(fn, convert, return_only=streams) for fn in fns}
        self.current = Routes(index, build_table(fns, self.config.route_prefix), functions,
                              streams)

    async def stop(self) -> None:
        return None


Fallback = Callable[[Scope, Receive, Send], Awaitable[None]]


class HttpDispatcher:
    """ASGI app for user routes; `fallback` answers paths no function claims (home page, 404)."""

    def __init__(self, runtime: HostServices, service: HttpService, fallback: Fallback) -> None:
        self.runtime = runtime
        self.service = service
        self.fallback = fallback

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one request; every response is counted by status for /admin/metrics."""
        current = self.service.current
        found = current.table.match(scope["method"], scope["path"].strip("/")) if current else None
        metrics = self.runtime.invoker.metrics
        if found is None or current is None:
            await self.fallback(scope, receive, metrics.counting(send))
            return
        entry, params = found
        function = current.functions[entry.name]
        if current.streams:
            await self._stream(scope, receive, metrics.counting(send), function, params,
                               current.index)
            return
        response = await self._handle(scope, receive, function, params, current.index)
        # Counted here rather than by wrapping `send`: the status is known before it is sent.
        counts = metrics.http_responses
        status = response.status_code
        counts[status] = counts.get(status, 0) + 1
        await response(scope, receive, send)

    def _refuse(self, fn: FunctionInfo, headers: Mapping[str, str], query: Mapping[str, str],
                index: FunctionIndex) -> Response | None:
        """The host's answer before the function runs: keys (with --enableAuth), disabled."""
        if self.runtime.config.enable_auth:
            key = key_from(headers, query)
            level = ADMIN if fn.name in index.disabled else auth_level_of(fn)
            reason = self.runtime.keys.check(level, key, fn.name)
            if reason:
                return empty(404 if fn.name in index.disabled else 401, reason)
        elif fn.name in index.disabled:
            return empty(404)
        return None

    async def _handle(self, scope: Scope, receive: Receive, function: HttpFunction,
                      params: Mapping[str, str], index: FunctionIndex) -> AnyResponse:
        headers = headers_of(scope)
        query = query_of(scope.get("query_string", b""))
        runtime = self.runtime
        info = function.info
        if runtime.config.enable_auth or info.name in index.disabled:
            refusal = self._refuse(info, headers, query, index)
            if refusal is not None:
                return refusal
        declared = headers.get("content-length")
        if declared is None and "transfer-encoding" not in headers:
            body = b""  # nothing to read (most GETs): skip the receive round
        else:
            try:
                body = await read_body(receive, runtime.config.max_body_bytes, declared)
            except BodyTooLarge as exc:
                return empty(413, str(exc))
            except BodyIncomplete:  # the client left mid-body: don't run the function on a part
                return empty(400)
        # The W3C traceparent is read before the request takes the headers over.
        trace = tracing.incoming(headers)
        request = build_request(scope, headers, query, params, body)
        try:
            # The response is built inside the call (triggers/http_response.py): a result the
            # host cannot send has already failed the invocation.
            # A W3C traceparent makes the invocation a child span of the caller's.
            result = await runtime.invoker.invoke(info, request, reason=REASON, trace=trace)
        except InvocationError:
            return empty(500)
        return function.response(result.value, result.outputs)

    async def _stream(self, scope: Scope, receive: Receive, send: Send, function: HttpFunction,
                      params: Mapping[str, str], index: FunctionIndex) -> None:
        headers = headers_of(scope)
        refusal = self._refuse(function.info, headers, query_of(scope.get("query_string", b"")),
                               index)
        limit = self.runtime.config.max_body_bytes
        if refusal is None and declared_too_large(headers.get("content-length"), limit):
            refusal = empty(413, str(BodyTooLarge(limit)))
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        inv = new_invocation_id()
        request = http_streams.build_request(scope, http_streams.limited(receive, limit),
                                             params, inv)
        try:
            result = await self.runtime.invoker.invoke(function.info, request, reason=REASON,
                                                       invocation_id=inv,
                                                       trace=tracing.incoming(headers))
        except InvocationError as exc:
            too_large = isinstance(exc.cause, BodyTooLarge)
            await empty(413 if too_large else 500, str(exc.cause) if too_large else "")(
                scope, receive, send)
            return
        response = function.response(result.value, result.outputs)
        try:
            # A streamed body runs after the invocation has ended, as in Azure.
            await response(scope, receive, send)
        except Exception as exc:
            tb = "".join(traceback.format_exception(type(exc), exc,
                                                    user_frames(exc.__traceback__)))
            log.error("The response of 'Functions.%s' (Id=%s) failed while it was being sent; "
                      "the connection is closed\nException: %s: %s\n%s", function.info.name,
                      inv, type(exc).__name__, exc, tb.rstrip())
