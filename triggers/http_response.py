"""What an HTTP function's result becomes: the response the client gets, built inside the call.

The worker encodes the result (the `$return` value, or the value set on the http output) while
the invocation is still running, so a result the host cannot send fails the invocation: it is
logged `Failed` with the reason, and the client gets a 500 with an empty body. To keep that
order without the invoker knowing about HTTP, `bind` gives each HTTP function a callable that
runs the user's function and converts its result before returning; the invoker times, logs
and reports it like any other call. A conversion error is then the function's error.

Conversions, as the library, the worker and the host make them:
- `func.HttpResponse`: `content-type` defaulted from mimetype and charset, repeated headers
  reduced to the last value, each `Set-Cookie` re-written by `host.cookies`;
- `str`: 200 `text/plain; charset=utf-8`, or a response shape when the text is a JSON object
  with a `body` key (the host's quirk);
- anything else, `None` included, fails. With an http `$return` binding the return value is
  the response, even when a named http output was set (the worker encodes `$return` and fails
  on `None`); otherwise the named http output is the response, and an unset one is the host's
  empty 200 (`OkResult`).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import azure.functions as func
from azure.functions._http import HttpResponseHeaders
from funcpy.host.cookies import set_cookie_lines
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

if TYPE_CHECKING:
    from funcpy.host.index import FunctionInfo


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


AnyResponse = Response | RawResponse


def empty_ok() -> RawResponse:
    """The host's OkResult: what a function that set no http output gets. (New each time:
    middleware may add to a response's header list.)"""
    return RawResponse(200, [(b"content-length", b"0")], b"")


@dataclasses.dataclass(frozen=True)
class HttpFunction:
    """An HTTP function as the trigger calls it: `info.func` returns the finished response
    (or, without `$return`, sets it on the output named `slot`)."""

    info: FunctionInfo
    slot: str | None  # None: the return value; "" when the function has no http output

    def response(self, value: Any, outputs: Mapping[str, Any]) -> AnyResponse:
        if self.slot is None:
            return value  # type: ignore[no-any-return]
        response = outputs.get(self.slot)
        return empty_ok() if response is None else response  # type: ignore[no-any-return]


Convert = Callable[["FunctionInfo", Any], Any]
# What a conversion raises for a result the host cannot send (not a bug in func-py).
_UNSENDABLE = (TypeError, ValueError, OverflowError)


def bind(fn: FunctionInfo, convert: Convert, *, return_only: bool = False) -> HttpFunction:
    """`fn` with `convert(fn, result)` applied inside the call (see the module docstring).
    With `return_only` (HTTP streams) the response is the return value even without a
    `$return` binding, as the worker hands the call's result to its web server."""
    user = fn.func
    returned = fn.binding("$return")
    if returned is not None and returned["type"] == "http":
        slot = None

        def finish(value: Any, kw: dict[str, Any]) -> Any:
            return convert(fn, value)
    elif return_only:
        slot = None

        def finish(value: Any, kw: dict[str, Any]) -> Any:
            # A value is refused by the invoker (no $return binding); None is no response.
            return value if value is not None else convert(fn, None)
    else:
        named = next((str(b["name"]) for b in fn.output_bindings if b["type"] == "http"), None)
        slot = named or ""

        def finish(value: Any, kw: dict[str, Any]) -> Any:
            # The http output is the response; the value is left to the invoker (refused
            # without a $return binding, or another kind's output, e.g. a v1 queue $return).
            out = kw.get(named) if named else None
            if out is not None and out.get() is not None:
                out.set(convert(fn, out.get()))
            return value

    # Same kind as the user's (the invoker awaits async ones on the loop, runs sync ones in
    # its pool, where the conversion then runs too, off the loop). A result the host cannot
    # send is re-raised without its traceback: the message is the reason, and frames through
    # func-py's converters would only bury it.
    if fn.is_async:
        async def run_and_respond_async(**kw: Any) -> Any:
            value = await user(**kw)
            try:
                return finish(value, kw)
            except _UNSENDABLE as exc:
                raise exc.with_traceback(None) from None
        call: Callable[..., Any] = run_and_respond_async
    else:
        def run_and_respond(**kw: Any) -> Any:
            value = user(**kw)
            try:
                return finish(value, kw)
            except _UNSENDABLE as exc:
                raise exc.with_traceback(None) from None
        call = run_and_respond
    return HttpFunction(dataclasses.replace(fn, func=call), slot)


def to_response(fn: FunctionInfo, value: Any) -> AnyResponse:
    """A classic (func.HttpResponse / str) result as the host sends it."""
    if isinstance(value, func.HttpResponse):
        return _from_http_response(value)
    if isinstance(value, str):
        return _from_str(value)
    raise TypeError(_unsendable(fn, value))


def _unsendable(fn: FunctionInfo, value: Any) -> str:
    # The worker's words first (what Azure logs), then why and what to do.
    reason = (f"unable to encode outgoing TypedData: unsupported type \"http\" for Python type "
              f"\"{type(value).__name__}\"; function '{fn.name}' must return func.HttpResponse "
              "or str")
    named = [str(b["name"]) for b in fn.output_bindings
             if b["type"] == "http" and b["name"] != "$return"]
    if value is None and named:
        reason += (f" (its return value is the response; the http output '{named[0]}' is not "
                   f"used while a $return binding exists: declare the route with "
                   f"binding_arg_name='{named[0]}' to make that output the response)")
    return reason


_HttpResponse = func.HttpResponse
_PlainHeaders = HttpResponseHeaders
# The content-type a response without one gets, by (mimetype, charset): a handful of pairs.
_content_types: dict[tuple[str, str], bytes] = {}


def _default_content_type(mimetype: str, charset: str) -> bytes:
    cacheable = type(mimetype) is str and type(charset) is str  # user values: maybe anything
    found = _content_types.get((mimetype, charset)) if cacheable else None
    if found is None:
        text = f"{mimetype}; charset={charset}" if mimetype.startswith("text/") else mimetype
        found = text.encode("latin-1")
        if cacheable and len(_content_types) < 64:  # bounded: the values come from user code
            _content_types[mimetype, charset] = found
    return found


def _from_http_response(resp: func.HttpResponse) -> RawResponse:
    if type(resp) is _HttpResponse:
        # The library's own class: its fields read where its constructor put them (what its
        # properties return), and its headers' list of pairs iterated as `items()` does.
        # A subclass may override the properties, so it goes through them.
        attrs = resp.__dict__
        headers = attrs["_HttpResponse__headers"]
        pairs = headers._list if type(headers) is _PlainHeaders else list(headers.items())
        body = attrs["_HttpResponse__body"] or b""
        status = attrs["_HttpResponse__status_code"]
        mimetype, charset = attrs["_HttpResponse__mimetype"], attrs["_HttpResponse__charset"]
    else:
        pairs = list(resp.headers.items())
        body = resp.get_body() or b""
        status, mimetype, charset = resp.status_code, resp.mimetype, resp.charset
    length = (b"content-length", str(len(body)).encode())
    if not pairs:  # the common case: nothing but what the host adds
        return RawResponse(int(status), [(b"content-type", _default_content_type(
            mimetype, charset)), length], body)
    content_type: bytes | None = None
    last: dict[str, str] = {}
    cookies: list[str] | None = None
    for name, value in pairs:
        lname = name.lower()
        if lname == "set-cookie":
            if cookies is None:
                cookies = []
            cookies.append(value)
        elif lname == "content-type":
            content_type = value.encode("latin-1")
        elif lname != "content-length":
            last[lname] = value  # the host keeps the last value of a repeated header
    if content_type is None:
        content_type = _default_content_type(mimetype, charset)
    raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in last.items()]
    raw.append((b"content-type", content_type))
    raw.append(length)
    if cookies is not None:
        # After the other headers, one line per cookie, as ASP.NET appends them.
        raw.extend((b"set-cookie", line) for line in set_cookie_lines(cookies))
    return RawResponse(int(status), raw, body)


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
