"""HTTP triggers: Azure's route templates, `func.HttpRequest` in, `func.HttpResponse` out.

The request is built exactly as the worker builds it (lower-cased headers with repeated values
comma-joined, empty query values dropped, body bytes), and the result is converted back as the
host does (content-type defaulting, Set-Cookie kept whole, `None` or an exception -> 500 with an
empty body). Matching follows the host: routes tried in function-name order, first match wins,
a method mismatch falls through and ends in 404.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

import azure.functions as func
from azure.functions.http import HttpRequest
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from host.auth import ADMIN, key_from, normalise_level
from host.bodies import BodyIncomplete, BodyTooLarge, read_body
from host.invoke import InvocationError
from host.routing import RouteEntry, RouteTable, RouteTemplate, is_reserved_route, join_route

if TYPE_CHECKING:
    from host.config import HostConfig
    from host.index import FunctionIndex, FunctionInfo
    from host.runtime import Runtime

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


def _headers(scope: Scope) -> dict[str, str]:
    out: dict[str, str] = {}
    for raw_name, raw_value in scope["headers"]:
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("latin-1")
        out[name] = f"{out[name]},{value}" if name in out else value
    return out


def _query(query_string: bytes) -> dict[str, str]:
    if not query_string:
        return {}
    out: dict[str, str] = {}
    for k, v in parse_qsl(query_string.decode("latin-1"), keep_blank_values=False):
        out[k] = f"{out[k]},{v}" if k in out else v
    return out


def build_request(scope: Scope, headers: dict[str, str], query: dict[str, str],
                  route_params: Mapping[str, str], body: bytes) -> HttpRequest:
    host = headers.get("host") or "localhost"
    path = scope.get("raw_path") or scope["path"].encode()
    qs = scope.get("query_string", b"")
    url = f"{scope.get('scheme', 'http')}://{host}{path.decode('latin-1')}"
    if qs:
        url += "?" + qs.decode("latin-1")
    return HttpRequest(method=scope["method"], url=url, headers=headers, params=query,
                       route_params=dict(route_params), body_type="bytes", body=body)


class RawResponse:
    """A response with its headers already encoded: the function-result path skips Starlette's
    header handling, which costs more than the rest of the conversion."""

    __slots__ = ("body", "raw_headers", "status_code")

    def __init__(self, status_code: int, raw_headers: list[tuple[bytes, bytes]],
                 body: bytes) -> None:
        self.status_code = status_code
        self.raw_headers = raw_headers
        self.body = body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code,
                    "headers": self.raw_headers})
        await send({"type": "http.response.body", "body": self.body})


def _from_http_response(resp: func.HttpResponse) -> RawResponse:
    body = resp.get_body() or b""
    content_type: str | None = None
    raw: list[tuple[bytes, bytes]] = []
    last: dict[str, str] = {}
    for name, value in resp.headers.items():
        lname = name.lower()
        if lname == "set-cookie":
            raw.append((b"set-cookie", value.encode("latin-1")))
        elif lname == "content-type":
            content_type = value
        elif lname != "content-length":
            last[lname] = value  # the host keeps the last value of a repeated header
    if content_type is None:
        content_type = (f"{resp.mimetype}; charset={resp.charset}"
                        if resp.mimetype.startswith("text/") else resp.mimetype)
    raw.extend((k.encode("latin-1"), v.encode("latin-1")) for k, v in last.items())
    raw.append((b"content-type", content_type.encode("latin-1")))
    raw.append((b"content-length", str(len(body)).encode()))
    return RawResponse(int(resp.status_code), raw, body)


def _from_str(text: str) -> Response:
    # The host's quirk: a string that is a JSON object with a "body" key is a response shape.
    if text[:1] == "{":
        try:
            shape = json.loads(text)
        except ValueError:
            shape = None
        if isinstance(shape, dict) and "body" in shape:
            lower = {k.lower(): v for k, v in shape.items()}
            body = lower.get("body")
            status = int(lower.get("statuscode") or lower.get("status") or 200)
            headers = {str(k): str(v) for k, v in (lower.get("headers") or {}).items()}
            content = body if isinstance(body, str | bytes) else json.dumps(body)
            return Response(content, status_code=status, headers=headers)
    return Response(text.encode("utf-8"), media_type="text/plain; charset=utf-8")


def to_response(fn: FunctionInfo, value: Any,
                outputs: Mapping[str, Any]) -> Response | RawResponse:
    if not fn.has_return:
        named = [b for b in fn.output_bindings if b["type"] == "http"]
        value = outputs.get(str(named[0]["name"])) if named else None
    if isinstance(value, func.HttpResponse):
        return _from_http_response(value)
    if isinstance(value, str):
        return _from_str(value)
    raise TypeError(f"function '{fn.name}' returned {type(value).__name__}; an HTTP function "
                    "must return func.HttpResponse or str")


def empty(status: int, reason: str = "") -> Response:
    return Response(reason, status_code=status, media_type="text/plain; charset=utf-8")


class HttpService:
    """Holds the route table for the current index; the dispatcher reads it per request."""

    def __init__(self, config: HostConfig) -> None:
        self.config = config
        self.current: tuple[FunctionIndex, RouteTable] | None = None

    async def apply(self, index: FunctionIndex) -> None:
        fns = index.of_type(KIND.binding_type)
        self.current = (index, build_table(fns, self.config.route_prefix))

    async def stop(self) -> None:
        return None


Fallback = Callable[[Scope, Receive, Send], Awaitable[None]]


class HttpDispatcher:
    """ASGI app for user routes; `fallback` answers paths no function claims (home page, 404)."""

    def __init__(self, runtime: Runtime, service: HttpService, fallback: Fallback) -> None:
        self.runtime = runtime
        self.service = service
        self.fallback = fallback

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        current = self.service.current
        found = current[1].match(scope["method"], scope["path"].strip("/")) if current else None
        if found is None or current is None:
            await self.fallback(scope, receive, send)
            return
        index = current[0]
        entry, params = found
        fn = index.functions[entry.name]
        response = await self._handle(scope, receive, fn, params, index)
        await response(scope, receive, send)

    async def _handle(self, scope: Scope, receive: Receive, fn: FunctionInfo,
                      params: Mapping[str, str], index: FunctionIndex) -> Response | RawResponse:
        headers = _headers(scope)
        query = _query(scope.get("query_string", b""))
        runtime = self.runtime
        if runtime.config.enable_auth:
            key = key_from(headers, query)
            level = ADMIN if fn.name in index.disabled else auth_level_of(fn)
            reason = runtime.keys.check(level, key, fn.name)
            if reason:
                return empty(404 if fn.name in index.disabled else 401, reason)
        elif fn.name in index.disabled:
            return empty(404)
        try:
            declared = headers.get("content-length")
            if declared is None and "transfer-encoding" not in headers:
                body = b""  # nothing to read (most GETs): skip the receive round
            else:
                body = await read_body(receive, runtime.config.max_body_bytes, declared)
        except BodyTooLarge as exc:
            return empty(413, str(exc))
        except BodyIncomplete:  # the client left mid-body: don't run the function on a part
            return empty(400)
        request = build_request(scope, headers, query, params, body)
        try:
            result = await runtime.invoker.invoke(fn, request, reason=REASON)
            return to_response(fn, result.value, result.outputs)
        except InvocationError:
            return empty(500)
        except (TypeError, ValueError) as exc:
            runtime.log_conversion_error(fn, exc)
            return empty(500)
