"""The Durable Entities routes of the management API, `.../entities/...` (durable-protocol §6.4,
the extension's HttpApiHandler), on the public path and the SDK's RPC path alike:

- `GET entities` and `GET entities/{name}`: a page of entities (`lastOperationTimeFrom`,
  `lastOperationTimeTo`, `top`, `fetchState`; the `x-ms-continuation-token` header in and out).
- `GET entities/{name}/{key}`: 200 with the state's JSON, 404 for an entity that does not exist
  (the SDK's `read_entity_state` maps these to `entity_exists`).
- `POST entities/{name}/{key}?op=NAME`: signal the operation, 202. A JSON body (Content-Type
  application/json) is the input's value; any other body is the input as a string.
- `DELETE entities/{name}/{key}`: signal the operation "delete", 202.

The key `$` is the empty key (a URL cannot end in an empty segment), for every method; the
extension reads it so only on GET, which left an empty-key entity signalled through `.../$`
unreadable at the same URL. A request without a key segment signals the empty key, as there.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from funcpy.host.taskhub.api_json import entity_json
from funcpy.host.taskhub.api_requests import page_size
from funcpy.host.taskhub.client import DEFAULT_PAGE_SIZE, ClientError, shown_id
from funcpy.host.taskhub.http_api import _flag, _not_allowed, json_text, query_time
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

if TYPE_CHECKING:
    from funcpy.host.taskhub.http_api import DurableApi

EMPTY_KEY = "$"
DELETE_OPERATION = "delete"


async def entity_route(api: DurableApi, request: Request, parts: list[str],
                       method: str) -> Response:
    """`parts`: the path segments after `entities`; `method`: HEAD already mapped to GET."""
    if not parts:
        if method == "GET":
            return await _list(api, request, None)
        return _not_allowed("GET")
    if method not in ("GET", "POST", "DELETE"):
        return _not_allowed("GET, POST, DELETE")
    name = parts[0]
    if len(parts) == 1 and method == "GET":
        return await _list(api, request, name)
    # The SDK pastes keys into its URLs unescaped, so a key with '/' arrives as several
    # segments: joined again, the client refuses it, naming it (rather than a bare 404).
    key = "/".join(parts[1:])
    if key == EMPTY_KEY:
        key = ""
    client = api.client()
    client.entity_id(name, key)  # refuse a bad id before the body is read
    if method == "GET":
        record = await api._db(client.read_entity, name, key)
        if record is None:
            raise ClientError(404, f"Entity {shown_id(name)} with key {shown_id(key)} does not "
                                   "exist.")
        return Response(record.input if record.input is not None else "null",
                        media_type="application/json")
    if method == "DELETE":
        operation = DELETE_OPERATION
    else:
        operation = request.query_params.get("op") or ""
        if not operation:
            raise ClientError(400, "The query parameter 'op' is required: it names the entity "
                                   "operation to signal (e.g. ?op=add).")
    input_text = operation_input(request, await api._body(request))
    await api._db(client.signal_entity, name, key, operation, input_text)
    return Response(status_code=202)


def operation_input(request: Request, body: bytes) -> str | None:
    """The operation input's JSON text: none for an empty body; a JSON body's value (the SDK's
    double-encoded string unwrapped, as for every other body of this API); else the body as a
    string (the extension's rule for other content types)."""
    if not body:
        return None
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        if media == "application/json":
            return json_text(body)
        return json.dumps(body.decode("utf-8"))
    except UnicodeDecodeError:  # before ValueError: it is one
        raise ClientError(400, "The request body is not valid UTF-8 text.") from None
    except ValueError:
        raise ClientError(400, "Could not parse the request body as JSON (it was sent as "
                               "application/json).") from None


async def _list(api: DurableApi, request: Request, name: str | None) -> Response:
    # Entities are always paged: the SDK has no entity list to depend on unpaged answers.
    top = page_size(request) or DEFAULT_PAGE_SIZE
    records, token = await api._db(
        api.client().list_entities, name, query_time(request, "lastOperationTimeFrom"),
        query_time(request, "lastOperationTimeTo"), top,
        request.headers.get("x-ms-continuation-token"))
    fetch = _flag(request, "fetchState")
    headers = {"x-ms-continuation-token": token} if token else {}
    return JSONResponse([entity_json(r, fetch_state=fetch) for r in records], headers=headers)
