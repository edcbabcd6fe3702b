"""`func.HttpRequest` from an ASGI scope, as the worker builds it, without its constructors.

The worker's request is lower-cased headers with repeated values comma-joined, the query with
empty values dropped and repeated keys comma-joined, the route parameters, and the body bytes
(`body_type="bytes"`). Building it through `azure.functions.HttpRequest(...)` runs three nested
constructors (the request's, its base's and the headers mapping's), which cost more than the
rest of a small request's trip through func-py. `build_request` makes the same object directly:
the instance attributes those constructors set, with the same values and types, on an object
of the official class, so every method and property is the library's own code.
tests/test_http_equivalence.py compares the two over many generated requests; a library
version that stores different attributes fails it, and at import such a version makes
`build_request` the constructors themselves.
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from urllib.parse import parse_qsl

from azure.functions._http import HttpRequestHeaders
from azure.functions.http import HttpRequest
from starlette.types import Scope

_new = object.__new__
_Proxy = types.MappingProxyType
# Both the class and its base are named HttpRequest, so their private names mangle alike:
# `__body_bytes`, set by both constructors to the same bytes, is one attribute.
_P = "_HttpRequest__"
_METHOD, _URL, _HEADERS, _PARAMS, _ROUTE = (f"{_P}method", f"{_P}url", f"{_P}headers",
                                            f"{_P}params", f"{_P}route_params")
_BODY, _PARSED, _TYPE, _STR = (f"{_P}body_bytes", f"{_P}form_parsed", f"{_P}body_type",
                               f"{_P}body_str")


def headers_of(scope: Scope) -> dict[str, str]:
    """Lower-cased names, repeated values comma-joined (the host's header collection)."""
    out: dict[str, str] = {}
    for raw_name, raw_value in scope["headers"]:
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("latin-1")
        out[name] = f"{out[name]},{value}" if name in out else value
    return out


def query_of(query_string: bytes) -> dict[str, str]:
    """Empty values dropped, repeated keys comma-joined (the host's query collection)."""
    if not query_string:
        return {}
    out: dict[str, str] = {}
    for k, v in parse_qsl(query_string.decode("latin-1"), keep_blank_values=False):
        out[k] = f"{out[k]},{v}" if k in out else v
    return out


def url_of(scope: Scope, headers: Mapping[str, str]) -> str:
    host = headers.get("host") or "localhost"
    path = scope.get("raw_path") or scope["path"].encode()
    url = f"{scope.get('scheme', 'http')}://{host}{path.decode('latin-1')}"
    qs = scope.get("query_string", b"")
    return f"{url}?{qs.decode('latin-1')}" if qs else url


def build_request(scope: Scope, headers: dict[str, str], query: dict[str, str],
                  route_params: Mapping[str, str], body: bytes) -> HttpRequest:
    """What `HttpRequest(method=..., url=..., headers=headers, params=query,
    route_params=dict(route_params), body_type="bytes", body=body)` returns. `headers` must
    already have lower-case names (as `headers_of` makes them); the request keeps its own copy
    of each mapping, as the constructors do."""
    held = _new(HttpRequestHeaders)
    held.__http_headers__ = dict(headers)
    request = _new(HttpRequest)
    request.__dict__.update({
        _METHOD: scope["method"], _URL: url_of(scope, headers), _HEADERS: held,
        _PARAMS: _Proxy(query), _ROUTE: _Proxy(dict(route_params)), _BODY: body,
        _PARSED: False, _TYPE: "bytes", _STR: None,
    })
    return request


def official_request(scope: Scope, headers: dict[str, str], query: dict[str, str],
                     route_params: Mapping[str, str], body: bytes) -> HttpRequest:
    """The same request through the library's constructors (the reference for the tests)."""
    return HttpRequest(method=scope["method"], url=url_of(scope, headers), headers=headers,
                       params=query, route_params=dict(route_params), body_type="bytes",
                       body=body)


def _layout_matches() -> bool:
    """Whether the library's request keeps exactly the attributes build_request sets."""
    scope = {"method": "GET", "path": "/", "headers": []}
    expected = set(official_request(scope, {}, {}, {}, b"").__dict__)
    return set(build_request(scope, {}, {}, {}, b"").__dict__) == expected


if not _layout_matches():
    # Another azure-functions version: its own constructors, slower but exactly right.
    build_request = official_request
