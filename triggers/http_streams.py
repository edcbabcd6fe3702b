"""HTTP streams: apps that use `azurefunctions-extensions-http-fastapi`.

An app opts in by importing `azurefunctions.extensions.http.fastapi` (its classes register a
web extension with `azurefunctions.extensions.base`; `HttpV2FeatureChecker.http_v2_enabled()`
then answers true) unless the app setting `PYTHON_ENABLE_INIT_INDEXING` is false-like, which
turns the feature off in the worker. Every HTTP function of such an app is then served as the
worker serves it: in Azure the host proxies the raw request to a uvicorn server inside the
worker and streams its answer back; here the same ASGI request is handed over in-process.

- In: a `fastapi.Request` over the live request (headers, `await req.body()`, `req.stream()`
  as the body arrives) with `path_params` = the route values and the header
  `x-ms-invocation-id` the host adds; the body is not read beforehand.
- Out: the return value, nothing else (a named http output is not the response). A Starlette
  or FastAPI response is sent as it is, a `StreamingResponse` chunk by chunk as its iterator
  yields; any other value is serialised as FastAPI serialises a route's return value.
- A value that is no response (None, `func.HttpResponse`) fails the invocation (500, logged
  Failed). Azure logs such an invocation Succeeded and answers 500; func-py does not log
  Succeeded for a response it could not send.

This module must not import FastAPI unless the app did: other apps pay nothing for it.
"""

from __future__ import annotations

import sys
import typing
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import azure.functions as func
from funcpy.host.bodies import BodyTooLarge
from funcpy.host.logs import log
from starlette.responses import Response
from starlette.types import Receive, Scope

if TYPE_CHECKING:
    from funcpy.host.index import FunctionInfo

EXTENSION_BASE = "azurefunctions.extensions.base"
INIT_INDEXING = "PYTHON_ENABLE_INIT_INDEXING"
_FALSE_LIKE = frozenset({"0", "false", "f", "no", "n"})  # the worker's is_envvar_false
_TRUE_LIKE = frozenset({"1", "true", "t", "yes", "y"})
INVOCATION_HEADER = b"x-ms-invocation-id"


def enabled(environ: Mapping[str, str]) -> bool:
    """Whether the app runs its HTTP functions as HTTP streams (the worker's check)."""
    base = sys.modules.get(EXTENSION_BASE)
    if base is None:  # no web extension can be registered without the base package
        return False
    if environ.get(INIT_INDEXING, "").strip().lower() in _FALSE_LIKE:
        return False
    return bool(base.HttpV2FeatureChecker.http_v2_enabled())


def warn_about_settings(environ: Mapping[str, str]) -> None:
    """Azure's Python 3.12-and-older workers start the streams server only when the app
    indexes at init: without the setting those apps hang there, while func-py serves them."""
    if sys.version_info < (3, 13) and \
            environ.get(INIT_INDEXING, "").strip().lower() not in _TRUE_LIKE:
        log.warning("HTTP streams (azurefunctions-extensions-http-fastapi) on Python 3.12 and "
                    "earlier need the app setting %s=1 in Azure: add it to "
                    "local.settings.json and to the function app's settings.", INIT_INDEXING)


def check_annotations(fn: FunctionInfo) -> None:
    """The worker's load-time checks in streams mode: the trigger parameter must be a
    FastAPI `Request` and the return annotation a registered response type."""
    base = sys.modules[EXTENSION_BASE]
    try:
        hints = typing.get_type_hints(fn.func)
    except Exception:
        return  # nothing the checks can read (the worker would fail the import instead)
    name = str(fn.trigger["name"])
    anno = hints.get(name)
    if isinstance(anno, type) and anno not in (str, bytes) \
            and not base.RequestTrackerMeta.check_type(anno):
        raise ValueError(f'type of {name} binding in function.json "httpTrigger" does not '
                         f'match its Python annotation "{anno.__name__}" (with '
                         "azurefunctions-extensions-http-fastapi imported, HTTP functions "
                         "take azurefunctions.extensions.http.fastapi.Request)")
    ret = hints.get("return")
    if fn.has_return and isinstance(ret, type) and \
            not base.ResponseTrackerMeta.check_type(ret):
        raise ValueError(f'Python return annotation "{ret.__name__}" does not match binding '
                         'type "http" (with azurefunctions-extensions-http-fastapi imported, '
                         "HTTP functions return FastAPI responses or JSON-serialisable values)")


def limited(receive: Receive, limit: int) -> Receive:
    """`receive` that refuses a body past the host's limit while the function reads it."""
    size = 0

    async def receive_within_limit() -> Any:
        nonlocal size
        message = await receive()
        if message["type"] == "http.request":
            size += len(message.get("body", b""))
            if size > limit:
                raise BodyTooLarge(limit)
        return message

    return receive_within_limit


def build_request(scope: Scope, receive: Receive, route_params: Mapping[str, str],
                  invocation_id: str) -> Any:
    """The FastAPI request the worker hands the function (see the module docstring)."""
    from fastapi import Request

    headers = scope["headers"]
    # The host's TryAdd: a client's own x-ms-invocation-id is left as it is.
    if not any(name.lower() == INVOCATION_HEADER for name, _ in headers):
        headers = [*headers, (INVOCATION_HEADER, invocation_id.encode("latin-1"))]
    return Request({**scope, "headers": headers, "path_params": dict(route_params)}, receive)


def to_response(fn: FunctionInfo, value: Any) -> Response:
    if isinstance(value, Response):
        return value
    if value is None or isinstance(value, func.HttpResponse):
        what = "None" if value is None else "func.HttpResponse"
        raise TypeError(
            f"function '{fn.name}' returned {what}: with azurefunctions-extensions-http-fastapi "
            "imported, an HTTP function returns its response (a FastAPI/Starlette Response, "
            "e.g. StreamingResponse or JSONResponse, or a JSON-serialisable value)")
    from fastapi.encoders import jsonable_encoder
    from fastapi.responses import JSONResponse

    # What FastAPI does with a route's plain return value.
    return JSONResponse(jsonable_encoder(value))
