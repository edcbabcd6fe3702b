"""Reading the durable management API's requests: the path (strictly UTF-8), instance ids in
it, the wait and paging parameters, and the client's disconnect. Every refusal is a
ClientError with the status and a message that names what is wrong.
"""

from __future__ import annotations

import asyncio
import math
from urllib.parse import quote, unquote_to_bytes

from funcpy.host.taskhub.client import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, ClientError, shown_id
from starlette.convertors import Convertor, register_url_convertor
from starlette.requests import Request

PREFIX = "/runtime/webhooks/durabletask"
# `?timeout=` waits at most this long: Azure's front end ends any HTTP request after 230 s
# (the load balancer's idle timeout), so a longer wait could never be answered there.
MAX_WAIT_SECONDS = 230.0
MIN_POLL_SECONDS = 0.05  # each poll is a store read: no tighter than this


class _Tail(Convertor[str]):
    """The rest of the path, line breaks included: Starlette's `path` is `.*`, which stops at
    one, so an id like 'a%0Ab' missed the API and got the home page's 404 instead of a 400."""

    regex = "(?s:.*)"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("durabletail", _Tail())
ROUTE = PREFIX + "/{rest:durabletail}"

RPC_SCOPE_KEY = "funcpy.durable_rpc"  # set on the request scope for the SDK's RPC calls


def is_rpc(request: Request) -> bool:
    return bool(request.scope.get(RPC_SCOPE_KEY))


def path_parts(request: Request) -> list[str]:
    """The path segments after the API prefix. The server decodes percent-escapes that are not
    UTF-8 to U+FFFD, so `%FF` and `%FE` would name one instance: refuse them instead."""
    for raw, what in ((request.scope.get("raw_path") or b"", "path"),
                      (request.scope.get("query_string", b"").replace(b"+", b" "),
                       "query string")):
        try:
            unquote_to_bytes(raw).decode("utf-8")
        except UnicodeDecodeError:
            raise ClientError(400, f"The request {what} is not valid UTF-8: every "
                                   "percent-escape must encode UTF-8 text (e.g. %C3%A9 for "
                                   "'\u00e9'); ids that are not text cannot be told apart."
                              ) from None
    rest = request.path_params.get("rest", "").strip("/")
    return rest.split("/") if rest else []


def location(request: Request) -> str:
    """This request's URL as it came (percent-encoded: a header must be ASCII, and the
    decoded path of a non-ASCII id is not), in its public form for an RPC call."""
    path = request.scope.get("raw_path") or quote(request.url.path).encode()
    text = path.decode("latin-1").replace(f"{PREFIX}/_rpc/", f"{PREFIX}/", 1)
    query = request.scope.get("query_string", b"").decode("latin-1")
    return f"{request.url.scheme}://{request.url.netloc}{text}" + (f"?{query}" if query else "")


def path_id(instance_id: str) -> str:
    if not instance_id:
        raise ClientError(400, "The path needs an instance id.")
    if "/" in instance_id:  # an id with '/' arrives as several segments
        raise ClientError(400, f"Instance id {shown_id(instance_id)} is invalid: instance ids "
                               "cannot contain '/'.")
    return instance_id


def seconds(request: Request, name: str, default: str) -> float:
    raw = request.query_params.get(name) or default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (0 <= value <= MAX_WAIT_SECONDS):  # also false for nan
        raise ClientError(400, f"{name}={raw[:40]!r} is not a number of seconds from 0 to "
                               f"{MAX_WAIT_SECONDS:g} (the longest an HTTP request may wait).")
    return value


def page_size(request: Request) -> int | None:
    raw = request.query_params.get("top", "").strip()
    if not raw:
        # The SDK 1.x's get_status_all / get_status_by send no `top` and do not follow the
        # continuation token (azure-functions-durable-python#580): its RPC calls get every row.
        return None if is_rpc(request) else DEFAULT_PAGE_SIZE
    try:
        top = int(raw)
    except ValueError:
        raise ClientError(400, f"top={raw[:40]!r} is not a whole number.") from None
    if top < 1:
        raise ClientError(400, f"top must be at least 1, not {top}.")
    return min(top, MAX_PAGE_SIZE)


async def client_gone(request: Request) -> None:
    """Returns when the client disconnects. The body has been read, so the server's receive
    blocks until then; the sleep only guards against a server that does not block."""
    while (await request.receive())["type"] != "http.disconnect":
        await asyncio.sleep(MIN_POLL_SECONDS)
