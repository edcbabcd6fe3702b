"""The Durable Functions HTTP management API at /runtime/webhooks/durabletask/..., which is
also the RPC endpoint the SDK's `DurableOrchestrationClient` calls (durable-protocol §6). The
entities/... routes are in entity_api.py.

Status codes and payloads follow the extension: 202 while running, 200 when done, 404 unknown,
410 finished, 400 bad input (409 for a start over a running instance), 405 (with Allow) for a
method a resource does not take, 413 for a body over the host's limit. Bodies are JSON texts:
the SDK double-encodes them (a JSON string holding JSON text), raw HTTP callers send plain JSON;
both are accepted and stored as the value's JSON text.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from funcpy.host import tracing
from funcpy.host.bodies import BodyIncomplete, BodyTooLarge, request_body
from funcpy.host.config import DEFAULT_MAX_BODY
from funcpy.host.taskhub.api_json import status_json
from funcpy.host.taskhub.api_requests import (
    MIN_POLL_SECONDS,
    PREFIX,
    client_gone,
    is_rpc,
    location,
    page_size,
    path_id,
    path_parts,
    seconds,
)
from funcpy.host.taskhub.client import ClientError, TaskHubClient
from funcpy.host.taskhub.history import parse_time
from funcpy.host.taskhub.store import RUNTIME_STATUSES, InstanceQuery, StoreError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

log = logging.getLogger("func_py.taskhub")

RUNNING = frozenset({"Running", "Pending", "ContinuedAsNew", "Suspended"})
_STATUS = {s.lower(): s for s in RUNTIME_STATUSES}
_OPERATIONS = frozenset({"terminate", "suspend", "resume", "rewind", "restart"})
ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE"]


def json_text(body: bytes) -> str | None:
    """The JSON text of a request body's value (None for an empty body).

    The SDK's client sends a JSON string *holding* the JSON text (double encoding), on the
    public API as on the RPC path: an outside script's `DurableOrchestrationClient` pointed at
    this host's public URL sends exactly what the app's own client sends, and must get the same
    result. So a body that is a JSON string whose content is JSON text is that text, as on
    Azure, where the extension stores the string and the Python SDK's `get_input` parses its
    content (a raw `"42"` is 42 there too). A string that is not JSON text is kept as a string
    value (Azure would fail the orchestrator's `get_input` on it; this is friendlier and no app
    can rely on the failure)."""
    if not body.strip():
        return None
    # JSON travels as UTF-8 (RFC 8259); a BOM is tolerated. UnicodeDecodeError is a ValueError.
    token = json.loads(body.decode("utf-8-sig"))  # ValueError -> 400
    if isinstance(token, str):
        try:
            json.loads(token)
            return token  # the SDK's double encoding: the string is the JSON text
        except ValueError:
            return json.dumps(token)
    return json.dumps(token)


def management_urls(base: str, hub: str, instance_id: str, query: str) -> dict[str, str]:
    q = f"taskHub={quote(hub)}&connection=Storage" + (f"&{query}" if query else "")
    i = f"{base}/instances/{quote(instance_id, safe='')}"
    return {
        "id": instance_id,
        "statusQueryGetUri": f"{i}?{q}",
        "sendEventPostUri": f"{i}/raiseEvent/{{eventName}}?{q}",
        "terminatePostUri": f"{i}/terminate?reason={{text}}&{q}",
        "rewindPostUri": f"{i}/rewind?reason={{text}}&{q}",
        "purgeHistoryDeleteUri": f"{i}?{q}",
        "restartPostUri": f"{i}/restart?{q}",
        "suspendPostUri": f"{i}/suspend?reason={{text}}&{q}",
        "resumePostUri": f"{i}/resume?reason={{text}}&{q}",
    }


def _error(status: int, message: str) -> Response:
    # ASP.NET HttpError shape; the SDK reads "ExceptionMessage" from 400 answers.
    return JSONResponse({"Message": message, "ExceptionMessage": message}, status_code=status)


def _not_allowed(allow: str) -> Response:
    return JSONResponse({"Message": f"The method is not allowed here; allowed: {allow}."},
                        status_code=405, headers={"Allow": allow})


def _flag(request: Request, name: str, default: bool = False) -> bool:
    raw = request.query_params.get(name)
    return default if raw is None else raw.strip().lower() in ("true", "1", "yes")


def query_time(request: Request, name: str) -> float | None:
    raw = request.query_params.get(name)
    if not raw:
        return None
    try:
        return parse_time(raw)
    except ValueError:
        raise ClientError(400, f"{name} '{raw}' is not an ISO 8601 time") from None


class DurableApi:
    def __init__(self, client: Callable[[], TaskHubClient], hub: Callable[[], str],
                 key_query: Callable[[], str], inline_db: Callable[[], bool],
                 max_body: Callable[[], int] = lambda: DEFAULT_MAX_BODY) -> None:
        self.client = client
        self.hub = hub
        self.key_query = key_query
        self.inline_db = inline_db
        self.max_body = max_body

    async def _db(self, fn: Callable[..., Any], *args: Any) -> Any:
        if self.inline_db():
            return fn(*args)
        return await asyncio.to_thread(fn, *args)

    def _base(self, request: Request) -> str:
        return f"{request.url.scheme}://{request.url.netloc}{PREFIX}"

    def check_status_response(self, request: Request, instance_id: str) -> Response:
        urls = management_urls(self._base(request), self.hub(), instance_id, self.key_query())
        return JSONResponse(urls, status_code=202, headers={
            "Location": urls["statusQueryGetUri"], "Retry-After": "10"})

    async def _body(self, request: Request) -> bytes:
        return await request_body(request, self.max_body())

    async def dispatch(self, request: Request) -> Response:
        try:
            return await self._route(request, path_parts(request))
        except ClientError as exc:
            return _error(exc.status, exc.message)
        except BodyTooLarge as exc:
            return _error(413, str(exc))
        except BodyIncomplete:
            return Response(status_code=400)  # the client is gone: nobody reads this
        except ValueError as exc:
            return _error(400, f"Invalid request: {exc}")
        except StoreError as exc:
            # The store is busy or its connection was lost (nothing was committed, except
            # when the connection died during COMMIT itself): the caller may retry. The
            # details (which name the database) go to the log, not to the caller.
            log.warning("Durable API %s %s: the task hub store failed: %s", request.method,
                        request.url.path, exc)
            response = _error(503, "The task hub store is unavailable for the moment (busy, "
                              "or its connection was lost); retry the request.")
            response.headers["Retry-After"] = "1"
            return response

    async def _route(self, request: Request, parts: list[str]) -> Response:
        m = "GET" if request.method == "HEAD" else request.method
        head = parts[0].lower() if parts else ""
        if head == "orchestrators" and len(parts) >= 2:
            if m != "POST":
                return _not_allowed("POST")
            # An id with '/' arrives as several segments: start() refuses it, naming it.
            return await self._start(request, parts[1], "/".join(parts[2:]) or None)
        if head == "entities":
            # Imported here: entity_api builds on this module's helpers.
            from funcpy.host.taskhub.entity_api import entity_route

            return await entity_route(self, request, parts[1:], m)
        if head != "instances":
            return _error(404, f"No durable API route for {m} {request.url.path}")
        if len(parts) == 1:
            if m == "GET":
                return await self._list(request)
            if m == "DELETE":
                return await self._purge_by(request)
            return _not_allowed("GET, DELETE")
        if len(parts) >= 4 and parts[-2].lower() == "raiseevent":
            iid, op, rest = "/".join(parts[1:-2]), "raiseevent", parts[-1:]
        elif len(parts) >= 3 and parts[-1].lower() in _OPERATIONS:
            iid, op, rest = "/".join(parts[1:-1]), parts[-1].lower(), []
        elif m == "POST":
            return _error(404, f"No durable API operation '{parts[-1]}'")
        else:  # the instance itself
            iid = path_id("/".join(parts[1:]))
            if m == "GET":
                return await self._status(request, iid)
            if m == "DELETE":
                deleted = await self._db(self.client().purge, iid)
                if not deleted:
                    return Response(status_code=404)
                return JSONResponse({"instancesDeleted": deleted})
            return _not_allowed("GET, DELETE")
        if m != "POST":
            return _not_allowed("POST")
        return await self._operation(request, path_id(iid), op, rest)

    async def _start(self, request: Request, name: str, instance_id: str | None) -> Response:
        # Check the wait before anything is started: a refused request starts nothing.
        wait = None
        if request.query_params.get("timeout"):
            wait = (seconds(request, "timeout", "0"),
                    max(seconds(request, "pollingInterval", "1"), MIN_POLL_SECONDS))
        try:
            input_text = json_text(await self._body(request))
        except UnicodeDecodeError:
            raise ClientError(400, "The request body is not valid UTF-8 text (JSON content "
                                   "must be UTF-8).") from None
        except ValueError:
            raise ClientError(400, "Invalid JSON content in the request body.") from None
        version = request.query_params.get("version")
        # The durable SDK's start_new sends the calling function's span as traceparent.
        trace = tracing.parse(request.headers.get("traceparent"),
                              request.headers.get("tracestate"))
        iid = await self._db(self.client().start, name, instance_id, input_text, version, trace)
        if wait is not None:
            return await self._wait(request, iid, *wait)
        return self.check_status_response(request, iid)

    async def _wait(self, request: Request, iid: str, timeout: float,
                    interval: float) -> Response:
        """Poll until the instance is done or `timeout` passes; stop as soon as the client
        disconnects (nobody would read the answer, and the polls would go on)."""
        deadline = time.monotonic() + timeout
        gone = asyncio.ensure_future(client_gone(request))
        try:
            while True:
                record = await self._db(self.client().get, iid)
                if record is not None and record.runtime_status not in RUNNING:
                    if record.runtime_status == "Completed":
                        return Response(record.output or "null", media_type="application/json")
                    return JSONResponse(status_json(record), status_code=500 if
                                        record.runtime_status == "Failed" else 200)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return self.check_status_response(request, iid)
                await asyncio.wait([gone], timeout=min(interval, remaining))
                if gone.done():
                    return Response(status_code=400)  # never delivered: the client left
        finally:
            gone.cancel()
            if gone.done() and not gone.cancelled():
                gone.exception()  # retrieved: a failed receive is not worth a warning at exit

    async def _status(self, request: Request, iid: str) -> Response:
        client = self.client()
        record = await self._db(client.get, iid)
        if record is None:
            return Response(status_code=404)
        history = None
        if _flag(request, "showHistory"):
            history = await self._db(client.history, record)
        body = status_json(record, show_input=_flag(request, "showInput", True),
                           history=history, show_output=_flag(request, "showHistoryOutput"))
        if record.runtime_status in RUNNING:
            return JSONResponse(body, status_code=202,
                                headers={"Location": location(request), "Retry-After": "5"})
        failed_500 = record.runtime_status == "Failed" and _flag(
            request, "returnInternalServerErrorOnFailure")
        return JSONResponse(body, status_code=500 if failed_500 else 200)

    def _query(self, request: Request, *, paging: bool) -> InstanceQuery:
        q = request.query_params
        statuses = None
        if q.get("runtimeStatus"):
            statuses = set()
            for s in q["runtimeStatus"].split(","):
                canonical = _STATUS.get(s.strip().lower())
                if canonical is None:
                    raise ClientError(400, f"Unknown runtimeStatus '{s.strip()}': use "
                                           f"{', '.join(sorted(RUNTIME_STATUSES))}")
                statuses.add(canonical)
        top = page_size(request) if paging else None
        return InstanceQuery(runtime_status=frozenset(statuses) if statuses is not None else None,
                             created_from=query_time(request, "createdTimeFrom"),
                             created_to=query_time(request, "createdTimeTo"),
                             instance_id_prefix=q.get("instanceIdPrefix") or None, top=top,
                             continuation=request.headers.get("x-ms-continuation-token")
                             if paging else None)

    async def _list(self, request: Request) -> Response:
        query = self._query(request, paging=True)
        records, token = await self._db(self.client().query, query)
        show_input = _flag(request, "showInput", False)
        headers = {"x-ms-continuation-token": token} if token else {}
        return JSONResponse([status_json(r, show_input=show_input) for r in records],
                            headers=headers)

    async def _purge_by(self, request: Request) -> Response:
        if not request.query_params.get("createdTimeFrom"):
            raise ClientError(400, "Please provide value for 'createdTimeFrom' parameter.")
        query = self._query(request, paging=False)
        if query.created_to is None:
            query = InstanceQuery(query.runtime_status, query.created_from, time.time(),
                                  query.instance_id_prefix)
        deleted = await self._db(self.client().purge_by, query)
        if not deleted:
            return Response(status_code=404)
        return JSONResponse({"instancesDeleted": deleted})

    async def _operation(self, request: Request, iid: str, op: str,
                         rest: list[str]) -> Response:
        client = self.client()
        reason = request.query_params.get("reason")
        if op == "raiseevent":
            media = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if not is_rpc(request) and media != "application/json":
                # As the extension: event data must be sent as JSON.
                raise ClientError(400, "Only application/json request content is supported "
                                       "(send the event data with Content-Type: "
                                       "application/json).")
            try:
                data = json_text(await self._body(request))
            except ValueError:
                raise ClientError(400, "The event data is not valid JSON (UTF-8 text)."
                                  ) from None
            await self._db(client.raise_event, iid, rest[0], data if data is not None
                           else "null")
            return Response(status_code=202)
        actions = {"terminate": client.terminate, "suspend": client.suspend,
                   "resume": client.resume, "rewind": client.rewind}
        if op in actions:
            await self._db(actions[op], iid, reason)
            return Response(status_code=202)
        if op == "restart":
            record = await self._db(client.get, iid)
            if record is None:
                raise ClientError(404, f"No instance with ID '{iid}' is found.")
            same = not _flag(request, "restartWithNewInstanceId", True)
            new_id = await self._db(client.start, record.name, iid if same else None,
                                    record.input)
            return self.check_status_response(request, new_id)
        return _error(404, f"No durable API operation '{op}'")

    def routes(self, prefix: str = PREFIX) -> list[Route]:
        # Every method: a wrong one gets 405 from the router above, not the home page's 404.
        return [Route(prefix + "/{rest:durabletail}", self.dispatch, methods=ALL_METHODS)]
