"""`context.call_http`: the durable extension's built-in HTTP activity.

The orchestrator's CallHttp action is scheduled as an ordinary work item named
`BuiltIn::HttpActivity` whose input is the SDK's `httpRequest` JSON (`method`, `uri`, `content`,
`headers`, `tokenSource`); no user function runs it. The host performs the request and answers
with the extension's `DurableHttpResponse` JSON, `{"statusCode", "headers", "content"}`, which
the SDK hands to the orchestrator as a dict. Any status code is a completed task (call_http does
not throw on 4xx/5xx); only a request that got no response (refused, unresolvable, timed out,
too large) fails the task, so the orchestrator's `yield` raises.

Being a work item, it is claimed, renewed and committed (TaskCompleted/TaskFailed with the
deletion of the item, in one transaction) exactly like any activity, and so it survives a
crash the same way: a request whose result was not committed is made again.

Header values are never logged (an Authorization header is how a caller authenticates here),
nor the URI's query string or user info (a SAS token or a password often lives there).
"""

from __future__ import annotations

import asyncio
import codecs
import contextvars
import dataclasses
import json
import logging
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from funcpy.host import tracing
from funcpy.host.invocation import new_invocation_id
from funcpy.host.logs import (
    InvocationTag,
    current_invocation,
    forget_invocation,
    host_line,
    remember_invocation,
)
from funcpy.host.taskhub.history import Event, EventType, WorkItem, event
from funcpy.host.taskhub.replay import HTTP_ACTIVITY

if TYPE_CHECKING:  # imported when a call_http runs: ~50-80 ms a start would pay for nothing
    import httpx

log = logging.getLogger("func_py.taskhub")

# Without a functionTimeout (-1 in host.json: unlimited) a request still gets the default of
# .NET's HttpClient, which the extension's own calls run with: a silent server must not hold
# its work item's claim for ever. With one, the request gets what any activity gets.
DEFAULT_TIMEOUT_SECONDS = 100.0
# The response body becomes one history event and one queue message and is replayed into the
# orchestrator at every later episode; beyond this it fails the task instead of filling memory.
MAX_CONTENT_BYTES = 16 * 1024 * 1024
# .NET's StringContent, which the extension wraps `content` in, labels it so unless the
# request's headers say otherwise.
DEFAULT_CONTENT_TYPE = "text/plain; charset=utf-8"

# Set while this module makes a request: httpx logs every request's full URL (query string
# and all) at INFO, which the filter below keeps out of the host's output for our requests.
_ours: contextvars.ContextVar[bool] = contextvars.ContextVar("func_py_http_activity",
                                                             default=False)


class _OwnRequests(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not _ours.get()


_httpx_logger = logging.getLogger("httpx")
if not any(isinstance(f, _OwnRequests) for f in _httpx_logger.filters):
    _httpx_logger.addFilter(_OwnRequests())


def is_http_activity(name: str) -> bool:
    return name.lower() == HTTP_ACTIVITY.lower()


def timeout_seconds(function_timeout: timedelta | None) -> float:
    return DEFAULT_TIMEOUT_SECONDS if function_timeout is None \
        else function_timeout.total_seconds()


class HttpCallFailed(Exception):
    """The request got no usable response; `str()` is the TaskFailed reason."""

    def __init__(self, call: str, problem: str, kind: str = "HttpRequestError") -> None:
        super().__init__(f"call_http {call} failed: {problem}")
        self.kind = kind


@dataclasses.dataclass(frozen=True)
class HttpCall:
    method: str
    uri: str
    content: str | None
    headers: tuple[tuple[str, str], ...]
    token_source: Any = None

    @property
    def shown(self) -> str:
        """Method and URI for logs and failure reasons: no user info, query or fragment."""
        import httpx

        try:
            url = httpx.URL(self.uri)
            port = f":{url.port}" if url.port is not None else ""
            return f"{self.method} {url.scheme}://{url.host}{port}{url.path}"
        except (httpx.InvalidURL, TypeError, ValueError):
            return f"{self.method} {self.uri.split('?', 1)[0].split('#', 1)[0]}"


def parse_request(input_text: str | None) -> HttpCall:
    """The work item's `httpRequest` JSON as a request (checked by `perform`)."""
    try:
        data: Any = json.loads(input_text or "null")
        if isinstance(data, str):  # double-encoded: tolerated
            data = json.loads(data)
    except ValueError as exc:
        raise HttpCallFailed("(unreadable request)", f"its request is not JSON: {exc}",
                             "ValueError") from None
    if not isinstance(data, dict):
        raise HttpCallFailed("(no request)", "its request is not a JSON object", "ValueError")
    fields = {str(k).lower(): v for k, v in data.items()}
    content = fields.get("content")
    if content is not None and not isinstance(content, str):
        content = json.dumps(content)
    return HttpCall(str(fields.get("method") or "GET").upper(), str(fields.get("uri") or ""),
                    content, tuple(_header_pairs(fields.get("headers"))),
                    fields.get("tokensource"))


def _check(call: HttpCall) -> None:
    import httpx

    if call.token_source:
        source = call.token_source
        resource = source.get("resource") if isinstance(source, dict) else None
        raise HttpCallFailed(
            call.shown,
            f"it asks for a managed identity token (resource '{resource}'), which has no "
            "meaning in func-py: it runs outside Azure and has no identity to get one for. "
            "Get the token yourself and pass it in an 'Authorization' header instead.",
            "NotSupportedException")
    try:
        url = httpx.URL(call.uri)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise HttpCallFailed(call.shown, f"its URI is not valid: {exc}", "UriFormatException"
                             ) from None
    if url.scheme not in ("http", "https") or not url.host:
        raise HttpCallFailed(call.shown, "its URI is not an absolute http or https URI",
                             "UriFormatException")


def _header_pairs(headers: Any) -> Iterator[tuple[str, str]]:
    if not isinstance(headers, dict):
        return
    for name, value in headers.items():
        # The extension's headers are StringValues: one string or several.
        for v in value if isinstance(value, list) else [value]:
            if v is not None:
                yield str(name), str(v)


def with_trace(headers: list[tuple[str, str]], item: WorkItem) -> list[tuple[str, str]]:
    """The orchestration's trace carried on to the service it calls (W3C `traceparent` and
    `tracestate` of a child of the episode that scheduled the call), unless the orchestrator
    set its own trace headers."""
    parent = tracing.parse(item.traceparent, item.tracestate)
    if parent is None or any(n.lower() == "traceparent" for n, _ in headers):
        return headers
    span = tracing.child_of(parent)
    extra = [("traceparent", span.traceparent)]
    if span.state:
        extra.append(("tracestate", span.state))
    return [*headers, *extra]


async def perform(client: httpx.AsyncClient, call: HttpCall, timeout: float,
                  max_bytes: int = MAX_CONTENT_BYTES) -> str:
    """Make the request; the DurableHttpResponse JSON text, or HttpCallFailed."""
    import httpx

    _check(call)
    headers = list(call.headers)
    body: bytes | None = None
    if call.content is not None:
        body = call.content.encode()
        if not any(n.lower() == "content-type" for n, _ in headers):
            headers.append(("Content-Type", DEFAULT_CONTENT_TYPE))
    token = _ours.set(True)
    try:
        # httpx's timeout bounds each phase; HttpClient's bounds the whole exchange.
        async with asyncio.timeout(timeout):
            request = client.build_request(call.method, call.uri, content=body,
                                           headers=headers, timeout=timeout)
            response = await client.send(request, stream=True, follow_redirects=True)
            try:
                raw = await _read(response, call, max_bytes)
            finally:
                await response.aclose()
    except HttpCallFailed:
        raise
    except (TimeoutError, httpx.TimeoutException):
        raise HttpCallFailed(call.shown, f"no response within {timeout:g} s",
                             "TimeoutException") from None
    except (httpx.HTTPError, httpx.InvalidURL, OSError, ValueError, TypeError) as exc:
        raise HttpCallFailed(call.shown, _describe(exc), type(exc).__name__) from None
    finally:
        _ours.reset(token)
    return json.dumps({"statusCode": response.status_code,
                       "headers": _response_headers(response),
                       "content": _text(raw, response.charset_encoding)})


async def _read(response: httpx.Response, call: HttpCall, max_bytes: int) -> bytes:
    declared = response.headers.get("content-length", "")
    too_large = f"the response body is larger than the {max_bytes} bytes call_http accepts"
    if declared.isdigit() and int(declared) > max_bytes:
        raise HttpCallFailed(call.shown, f"{too_large} (Content-Length {declared})",
                             "InvalidOperationException")
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():  # decompressed: a small gzip bomb counts too
        size += len(chunk)
        if size > max_bytes:
            raise HttpCallFailed(call.shown, too_large, "InvalidOperationException")
        chunks.append(chunk)
    return b"".join(chunks)


def _response_headers(response: httpx.Response) -> dict[str, str | list[str]]:
    """Names as the server spelled them (the first spelling, for repeats); a header sent more
    than once is a list of its values, as the extension's StringValues are."""
    grouped: dict[str, tuple[str, list[str]]] = {}
    for raw_name, raw_value in response.headers.raw:
        name, value = raw_name.decode("latin-1"), raw_value.decode("latin-1")
        grouped.setdefault(name.lower(), (name, []))[1].append(value)
    return {name: values[0] if len(values) == 1 else values
            for name, values in grouped.values()}


def _text(raw: bytes, charset: str | None) -> str:
    """What .NET's ReadAsStringAsync gives: the declared charset, else UTF-8, BOM dropped."""
    encoding = charset or "utf-8"
    try:
        if codecs.lookup(encoding).name == "utf-8":
            encoding = "utf-8-sig"
    except LookupError:
        encoding = "utf-8-sig"
    return raw.decode(encoding, errors="replace")


def _describe(exc: BaseException) -> str:
    """The root cause in words: 'connection refused' rather than httpx's generic wording."""
    import httpx

    seen: BaseException | None = exc
    visited: set[int] = set()
    while seen is not None and id(seen) not in visited:
        visited.add(id(seen))
        if isinstance(seen, ConnectionRefusedError):
            return "connection refused"
        if isinstance(seen, socket.gaierror):
            return f"the host name could not be resolved ({seen.strerror or seen})"
        if isinstance(seen, ssl.SSLError):
            return f"TLS failed: {seen}"
        seen = seen.__cause__ or seen.__context__
    if isinstance(exc, httpx.TooManyRedirects):
        return f"too many redirects ({exc})"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def new_client() -> httpx.AsyncClient:
    import httpx

    client = httpx.AsyncClient(follow_redirects=True, timeout=DEFAULT_TIMEOUT_SECONDS)
    # The request carries what the orchestrator asked for, as the extension's HttpClient
    # sends it: none of httpx's own default headers (User-Agent, Accept, Accept-Encoding).
    for name in ("User-Agent", "Accept", "Accept-Encoding"):
        client.headers.pop(name, None)
    return client


class HttpActivity:
    """Runs `BuiltIn::HttpActivity` work items with one connection pool for all of them."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self._client: httpx.AsyncClient | None = None
        self._active = 0  # requests using the client
        self._closing = False

    async def run(self, item: WorkItem, function_timeout: timedelta | None) -> Event:
        """The TaskCompleted or TaskFailed event that answers the work item."""
        tag = InvocationTag(new_invocation_id(), HTTP_ACTIVITY)
        context = current_invocation.set(tag)
        remember_invocation(tag)
        start = time.perf_counter()
        try:
            outcome = await self._attempt(item, tag, timeout_seconds(function_timeout))
            ms = int((time.perf_counter() - start) * 1000)
            if isinstance(outcome, HttpCallFailed):
                log.error("Executed '%s' (Failed, Id=%s, Duration=%dms)\n%s", HTTP_ACTIVITY,
                          tag.invocation_id, ms, outcome)
                return event(EventType.TaskFailed, self.clock(), TaskScheduledId=item.task_id,
                             Reason=str(outcome),
                             Details=json.dumps({"type": outcome.kind, "message": str(outcome)}))
            host_line(f"Executed '{HTTP_ACTIVITY}' (Succeeded, Id={tag.invocation_id}, "
                      f"Duration={ms}ms)", tag)
            return event(EventType.TaskCompleted, self.clock(), TaskScheduledId=item.task_id,
                         Result=outcome)
        finally:
            current_invocation.reset(context)
            forget_invocation(tag.invocation_id)

    async def _attempt(self, item: WorkItem, tag: InvocationTag,
                       timeout: float) -> str | HttpCallFailed:
        try:
            call = parse_request(item.input)
        except HttpCallFailed as exc:
            host_line(f"Executing '{HTTP_ACTIVITY}' (Reason='(null)', Id={tag.invocation_id})",
                      tag)
            return exc
        host_line(f"Executing '{HTTP_ACTIVITY}' (Reason='call_http {call.shown}', "
                  f"Id={tag.invocation_id})", tag)
        if self._client is None:
            self._client = new_client()
        self._closing = False
        self._active += 1
        try:
            traced = dataclasses.replace(call, headers=tuple(with_trace(list(call.headers),
                                                                        item)))
            return await perform(self._client, traced, timeout)
        except HttpCallFailed as exc:
            return exc
        except Exception as exc:  # a bug here must still answer the work item
            log.exception("call_http %s: unexpected error", call.shown)
            return HttpCallFailed(call.shown, _describe(exc), type(exc).__name__)
        finally:
            self._active -= 1
            if self._closing and not self._active:
                await self._close_client()

    async def aclose(self) -> None:
        """Close the connection pool once no request uses it: one still running after the
        stop's grace keeps it until it ends (its result is not committed; it runs again)
        rather than failing mid-way with a misleading error."""
        self._closing = True
        if not self._active:
            await self._close_client()

    async def _close_client(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()
