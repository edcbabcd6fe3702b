"""HTTP to an in-process host, without a socket.

Three callers would reach a func-py server over the network; in the harness each is pointed at
the host's ASGI app in this process instead, so every request still goes through the host's own
request and response conversion:

- the test's `httpx.Client` (`SyncAsgiTransport`: the test thread hands each request to the
  harness's loop thread);
- the Durable SDK's client in the app's HTTP starters, which calls the host back at the
  binding's `rpcBaseUrl` with aiohttp: its three request functions are replaced, while a harness
  is open, by ones that send requests for a harness's own address to its app (any other address
  still goes out through aiohttp);
- `call_http` to the app's own URLs (the demo prices orders with its own `/api/quote`): the
  task hub's HTTP activity gets a client whose transport for those addresses is the app.

Responses are read whole before they are returned: an endless stream (server-sent events) never
completes here, as it would not through any buffering client.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import threading
from collections.abc import Callable, Coroutine, Iterable
from typing import Any, TypeVar

import httpx
from starlette.types import ASGIApp

T = TypeVar("T")
# What a uvicorn server reports for a local caller (the durable client's RPC check needs a
# loopback peer).
CLIENT_ADDRESS = ("127.0.0.1", 50000)
_SDK_MODULE = "azure.durable_functions.models.DurableOrchestrationClient"
_SDK_HTTP = "azure.durable_functions.models.utils.http_utils"  # where the originals live


class LoopThread:
    """An event loop on a daemon thread: the harness's host runs there, and the test thread
    hands it coroutines."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    @property
    def is_current(self) -> bool:
        return threading.current_thread() is self._thread

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None) -> T:
        """Run `coro` on the loop and wait for its result (TimeoutError after `timeout`)."""
        if self.is_current:
            coro.close()
            raise RuntimeError("a harness method was called from the harness's own loop (an "
                               "async function of the app?): call it from the test")
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout)
        except TimeoutError:  # also the coroutine's own (one class since Python 3.11)
            if future.done():
                raise
            future.cancel()
            raise TimeoutError(f"no answer within {timeout:g}s") from None

    def close(self, timeout: float = 10.0) -> None:
        async def cancel_the_rest() -> None:
            me = asyncio.current_task()
            rest = [t for t in asyncio.all_tasks() if t is not me]
            for task in rest:
                task.cancel()
            await asyncio.gather(*rest, return_exceptions=True)
            await self.loop.shutdown_asyncgens()
            await self.loop.shutdown_default_executor()

        try:
            self.run(cancel_the_rest(), timeout)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout)
            if not self._thread.is_alive():
                self.loop.close()


def asgi_transport(app: ASGIApp) -> httpx.ASGITransport:
    # An exception escaping the app becomes a 500, as a server would answer.
    return httpx.ASGITransport(app, raise_app_exceptions=False, client=CLIENT_ADDRESS)


class SyncAsgiTransport(httpx.BaseTransport):
    """httpx's sync transport contract over the async ASGI transport on the loop thread."""

    def __init__(self, transport: httpx.ASGITransport, loop: LoopThread,
                 timeout: Callable[[], float]) -> None:
        self.transport = transport
        self.loop = loop
        self.timeout = timeout

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()

        async def send() -> tuple[int, list[tuple[bytes, bytes]], bytes]:
            inner = httpx.Request(request.method, request.url, headers=request.headers,
                                  content=body, extensions=request.extensions)
            response = await self.transport.handle_async_request(inner)
            content = await response.aread()
            return response.status_code, response.headers.raw, content

        status, headers, content = self.loop.run(send(), self.timeout())
        # The raw body with its headers: the client decodes it (gzip, charset) as it would
        # decode a server's.
        return httpx.Response(status, headers=headers, stream=httpx.ByteStream(content),
                              extensions={"http_version": b"HTTP/1.1"})


class Route:
    """One harness's app, for the requests the SDK sends to one of its addresses."""

    def __init__(self, transport: httpx.ASGITransport, loop: LoopThread) -> None:
        self.loop = loop
        self.client = httpx.AsyncClient(transport=transport)

    async def send(self, method: str, url: str, json_body: Any, has_body: bool,
                   headers: dict[str, str]) -> list[Any]:
        if self.loop.is_current:
            return await self._send(method, url, json_body, has_body, headers)
        # A sync function that runs its own event loop (asyncio.run in a pool thread): the
        # host lives on the harness's loop only.
        future = asyncio.run_coroutine_threadsafe(
            self._send(method, url, json_body, has_body, headers), self.loop.loop)
        return await asyncio.wrap_future(future)

    async def _send(self, method: str, url: str, json_body: Any, has_body: bool,
                    headers: dict[str, str]) -> list[Any]:
        # As aiohttp sends `json=`: json.dumps, application/json; user-info in the URL
        # becomes Basic authorization (httpx does that too).
        content = json.dumps(json_body).encode() if has_body else None
        if has_body:
            headers = {**headers, "Content-Type": "application/json"}
        response = await self.client.request(method, url, content=content, headers=headers)
        # As the SDK reads it: `response.json(content_type=None)`, None for an empty body.
        text = response.content.strip()
        return [response.status_code, json.loads(text) if text else None]


_routes: dict[str, Route] = {}
_patched = False
_lock = threading.Lock()


def _original(name: str) -> Any:
    return getattr(importlib.import_module(_SDK_HTTP), name)


def _route_of(url: str) -> Route | None:
    parsed = httpx.URL(url)
    return _routes.get(f"{parsed.host}:{parsed.port}")


def _headers(trace_parent: str | None = None, trace_state: str | None = None,
             function_invocation_id: str | None = None) -> dict[str, str]:
    headers = {}
    if trace_parent:
        headers["traceparent"] = trace_parent
    if trace_state:
        headers["tracestate"] = trace_state
    if function_invocation_id:
        headers["X-Azure-Functions-InvocationId"] = function_invocation_id
    return headers


# The SDK's own signatures (azure/durable_functions/models/utils/http_utils.py).
async def _post(url: str, data: Any = None, trace_parent: str | None = None,
                trace_state: str | None = None,
                function_invocation_id: str | None = None) -> list[Any]:
    route = _route_of(url)
    if route is None:
        return await _original("post_async_request")(url, data, trace_parent, trace_state,
                                                      function_invocation_id)
    # aiohttp sends no body for json=None.
    return await route.send("POST", url, data, data is not None,
                            _headers(trace_parent, trace_state, function_invocation_id))


async def _get(url: str, function_invocation_id: str | None = None) -> list[Any]:
    route = _route_of(url)
    if route is None:
        return await _original("get_async_request")(url, function_invocation_id)
    status, data = await route.send("GET", url, None, False,
                                    _headers(function_invocation_id=function_invocation_id))
    return [status, "" if data is None else data]  # the SDK's get turns None into ""


async def _delete(url: str, function_invocation_id: str | None = None) -> list[Any]:
    route = _route_of(url)
    if route is None:
        return await _original("delete_async_request")(url, function_invocation_id)
    return await route.send("DELETE", url, None, False,
                            _headers(function_invocation_id=function_invocation_id))


_REPLACEMENTS = {"post_async_request": _post, "get_async_request": _get,
                 "delete_async_request": _delete}


def add_routes(authorities: Iterable[str], route: Route) -> None:
    """Send the SDK's requests for these `host:port` addresses to `route` (the SDK client
    takes its request functions from its module when it is built, once per invocation)."""
    global _patched
    with _lock:
        if not _patched:
            module = importlib.import_module(_SDK_MODULE)
            for name, replacement in _REPLACEMENTS.items():
                setattr(module, name, replacement)
            _patched = True
        for authority in authorities:
            _routes[authority] = route


def remove_routes(authorities: Iterable[str]) -> None:
    global _patched
    with _lock:
        for authority in authorities:
            _routes.pop(authority, None)
        if not _routes and _patched:
            module = importlib.import_module(_SDK_MODULE)
            for name in _REPLACEMENTS:
                setattr(module, name, _original(name))
            _patched = False


def is_routed(authority: str) -> bool:
    return authority in _routes


def call_http_client(transport: httpx.ASGITransport,
                     authorities: Iterable[str]) -> httpx.AsyncClient:
    """The HTTP activity's client (as host/taskhub/http_activity.py makes it), with the app's
    own addresses served in process."""
    from funcpy.host.taskhub.http_activity import DEFAULT_TIMEOUT_SECONDS

    mounts: dict[str, httpx.AsyncBaseTransport] = {f"all://{a}": transport
                                                   for a in authorities}
    client = httpx.AsyncClient(follow_redirects=True, timeout=DEFAULT_TIMEOUT_SECONDS,
                               mounts=mounts)
    for name in ("User-Agent", "Accept", "Accept-Encoding"):  # as new_client() there
        client.headers.pop(name, None)
    return client
