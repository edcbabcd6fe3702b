"""The Durable Functions HTTP management API at /runtime/webhooks/durabletask/..., which is
also the RPC endpoint the SDK's `DurableOrchestrationClient` calls (durable-protocol §6).

Status codes and payloads follow the extension: 202 while running, 200 when done, 404 unknown,
410 finished, 400 bad input (409 for a start over a running instance). Bodies are JSON texts:
the SDK double-encodes them (a JSON string holding JSON text), raw HTTP callers send plain JSON;
both are accepted and stored as the value's JSON text.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from host.taskhub.client import ClientError, TaskHubClient, status_json
from host.taskhub.history import parse_time
from host.taskhub.store import RUNTIME_STATUSES, InstanceQuery

PREFIX = "/runtime/webhooks/durabletask"
RUNNING = frozenset({"Running", "Pending", "ContinuedAsNew", "Suspended"})
_STATUS = {s.lower(): s for s in RUNTIME_STATUSES}


def json_text(body: bytes, *, rpc: bool = False) -> str | None:
    """The JSON text of a request body's value (None for an empty body).

    Raw callers (the public API, the CLI) send the value itself, so a JSON string is a string
    value. The SDK's RPC calls send a JSON string *holding* the JSON text (double encoding);
    only those are unwrapped — unwrapping raw bodies too made a raw `"42"` arrive as 42."""
    if not body.strip():
        return None
    token = json.loads(body)  # ValueError -> 400
    if rpc and isinstance(token, str):
        try:
            json.loads(token)
            return token  # the SDK's double encoding: the string is the JSON text
        except ValueError:
            return json.dumps(token)
    return json.dumps(token)


RPC_SCOPE_KEY = "funcpy.durable_rpc"  # set on the request scope for the SDK's RPC calls


def _is_rpc(request: Request) -> bool:
    return bool(request.scope.get(RPC_SCOPE_KEY))


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


def _flag(request: Request, name: str, default: bool = False) -> bool:
    raw = request.query_params.get(name)
    return default if raw is None else raw.strip().lower() in ("true", "1", "yes")


class DurableApi:
    def __init__(self, client: Callable[[], TaskHubClient], hub: Callable[[], str],
                 key_query: Callable[[], str], inline_db: Callable[[], bool]) -> None:
        self.client = client
        self.hub = hub
        self.key_query = key_query
        self.inline_db = inline_db

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

    async def dispatch(self, request: Request) -> Response:
        parts = [p for p in request.path_params.get("rest", "").split("/") if p != ""]
        try:
            return await self._route(request, parts)
        except ClientError as exc:
            return _error(exc.status, exc.message)
        except ValueError as exc:
            return _error(400, f"Invalid request: {exc}")

    async def _route(self, request: Request, parts: list[str]) -> Response:
        m = request.method
        if parts[:1] == ["orchestrators"] and len(parts) in (2, 3) and m == "POST":
            return await self._start(request, parts[1], parts[2] if len(parts) == 3 else None)
        if parts[:1] != ["instances"]:
            return _error(404, f"No durable API route for {m} {request.url.path}")
        if len(parts) == 1:
            if m == "GET":
                return await self._list(request)
            if m == "DELETE":
                return await self._purge_by(request)
        elif len(parts) == 2:
            if m == "GET":
                return await self._status(request, parts[1])
            if m == "DELETE":
                deleted = await self._db(self.client().purge, parts[1])
                if not deleted:
                    return Response(status_code=404)
                return JSONResponse({"instancesDeleted": deleted})
        elif m == "POST":
            return await self._operation(request, parts[1], parts[2], parts[3:])
        return _error(404, f"No durable API route for {m} {request.url.path}")

    async def _start(self, request: Request, name: str, instance_id: str | None) -> Response:
        try:
            input_text = json_text(await request.body(), rpc=_is_rpc(request))
        except ValueError:
            raise ClientError(400, "Invalid JSON content in the request body.") from None
        version = request.query_params.get("version")
        iid = await self._db(self.client().start, name, instance_id, input_text, version)
        timeout = request.query_params.get("timeout")
        if timeout:
            interval = float(request.query_params.get("pollingInterval") or 1)
            return await self._wait(request, iid, float(timeout), interval)
        return self.check_status_response(request, iid)

    async def _wait(self, request: Request, iid: str, timeout: float,
                    interval: float) -> Response:
        deadline = time.monotonic() + timeout
        while True:
            record = await self._db(self.client().get, iid)
            if record is not None and record.runtime_status not in RUNNING:
                if record.runtime_status == "Completed":
                    return Response(record.output or "null", media_type="application/json")
                return JSONResponse(status_json(record), status_code=500 if
                                    record.runtime_status == "Failed" else 200)
            if time.monotonic() >= deadline:
                return self.check_status_response(request, iid)
            await asyncio.sleep(min(max(interval, 0.05), max(0.0, deadline - time.monotonic())))

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
            loc = str(request.url)
            return JSONResponse(body, status_code=202,
                                headers={"Location": loc, "Retry-After": "5"})
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
        def when(key: str) -> float | None:
            raw = q.get(key)
            if not raw:
                return None
            try:
                return parse_time(raw)
            except ValueError:
                raise ClientError(400, f"{key} '{raw}' is not an ISO 8601 time") from None
        top = int(q["top"]) if paging and q.get("top") else None
        return InstanceQuery(runtime_status=frozenset(statuses) if statuses is not None else None,
                             created_from=when("createdTimeFrom"),
                             created_to=when("createdTimeTo"),
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
        if op == "raiseEvent" and len(rest) == 1:
            body = await request.body()
            media = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if not _is_rpc(request) and media != "application/json":
                # As the extension: event data must be sent as JSON.
                raise ClientError(400, "Only application/json request content is supported "
                                       "(send the event data with Content-Type: "
                                       "application/json).")
            try:
                data = json_text(body, rpc=_is_rpc(request))
            except ValueError:
                raise ClientError(400, "The event data is not valid JSON.") from None
            await self._db(client.raise_event, iid, rest[0], data if data is not None
                           else "null")
            return Response(status_code=202)
        actions = {"terminate": client.terminate, "suspend": client.suspend,
                   "resume": client.resume, "rewind": client.rewind}
        if op in actions and not rest:
            await self._db(actions[op], iid, reason)
            return Response(status_code=202)
        if op == "restart" and not rest:
            record = await self._db(client.get, iid)
            if record is None:
                raise ClientError(404, f"No instance with ID '{iid}' is found.")
            same = not _flag(request, "restartWithNewInstanceId", True)
            new_id = await self._db(client.start, record.name, iid if same else None,
                                    record.input)
            return self.check_status_response(request, new_id)
        return _error(404, f"No durable API operation '{op}'")

    def routes(self, prefix: str = PREFIX) -> list[Route]:
        return [Route(prefix + "/{rest:path}", self.dispatch,
                      methods=["GET", "POST", "DELETE"])]
