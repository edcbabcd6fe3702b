"""What the dashboard reads that the management API does not answer, guarded like every
/admin route (the master key when keys are enforced).

`GET /admin/taskhub/counts`: how many instances have each runtime status, for the list's counts.

The dashboard used to count by reading the list API a thousand instances at a time (ten pages,
about 2 MB, and still incomplete past 10,000 instances); this is one aggregate query whatever
the hub holds. Filters, all optional, as the list's: `createdTimeFrom`, `createdTimeTo` (ISO
8601), `instanceIdPrefix`, and `name` (part of the orchestrator's name, any case).

Answer: `{"counts": {"Completed": 12, ...}, "total": 12}` (statuses no instance has are left
out); 400 naming a bad parameter; 503 when the store does not answer.

`GET /admin/taskhub/instances/{id}/pending`: the work the instance's current execution has
scheduled and not yet seen finish: `{"pending": [{"kind": "activity" | "suborchestration" |
"timer", "name", "scheduledTime", "fireAt" (timers), "instanceId" (sub-orchestrations)}]}`.
The API's history drops scheduling events (folded into their completions, as Azure's does), so
without this a running fan-out shows no bar until its activities end. 404 for no instance.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from funcpy.host.errors import FuncPyError
from funcpy.host.taskhub.client import ClientError
from funcpy.host.taskhub.history import (
    COMPLETION_ID_KEY,
    SCHEDULING,
    Event,
    EventType,
)
from funcpy.host.taskhub.http_api import query_time
from funcpy.host.taskhub.store import InstanceQuery, StoreError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

Guard = Callable[[Request], Response | None]
MAX_FILTER = 256  # an id prefix or name longer than any real one is a mistake, not a query


class BadParameter(ValueError):
    pass


def _text(request: Request, name: str) -> str | None:
    raw = request.query_params.get(name) or None
    if raw is not None and len(raw) > MAX_FILTER:
        raise BadParameter(f"{name} is longer than {MAX_FILTER} characters")
    return raw


def counts_query(request: Request) -> InstanceQuery:
    try:  # parsed as the list API parses them, with its message
        created_from = query_time(request, "createdTimeFrom")
        created_to = query_time(request, "createdTimeTo")
    except ClientError as exc:
        raise BadParameter(str(exc)) from None
    return InstanceQuery(created_from=created_from, created_to=created_to,
                         instance_id_prefix=_text(request, "instanceIdPrefix"),
                         name_contains=_text(request, "name"))


def pending_tasks(history: list[Event]) -> list[dict[str, Any]]:
    """The scheduling events of `history` (one execution's) that no completion answers yet."""
    scheduled: dict[int, Event] = {}
    done: set[int] = set()
    for e in history:
        kind = e.get("EventType")
        if kind in SCHEDULING:
            scheduled[int(e.get("EventId", -1))] = e
        elif kind in COMPLETION_ID_KEY:
            done.add(int(e.get(COMPLETION_ID_KEY[EventType(kind)], -2)))
    out = []
    for task_id, e in scheduled.items():
        if task_id in done:
            continue
        kind = SCHEDULING[EventType(e["EventType"])]
        item: dict[str, Any] = {"kind": kind, "name": e.get("Name") or kind,
                                "scheduledTime": e.get("Timestamp")}
        if kind == "timer":
            item["name"], item["fireAt"] = "timer", e.get("FireAt")
        elif kind == "suborchestration" and e.get("InstanceId"):
            item["instanceId"] = e["InstanceId"]
        out.append(item)
    return out


def _read_pending(store: Any, instance_id: str) -> list[dict[str, Any]] | None:
    record = store.get_instance(instance_id)
    if record is None:
        return None
    return pending_tasks([json.loads(text)
                          for text in store.read_history(instance_id, record.execution_id)])


async def _answer(work: Any) -> Response:
    try:
        body = await work()
    except FuncPyError as exc:  # the store cannot be opened (a setting at fault)
        return JSONResponse({"error": str(exc)}, status_code=503)
    except StoreError as exc:
        return JSONResponse({"error": f"the task hub store failed: {exc}"}, status_code=503)
    if body is None:
        return JSONResponse({"error": "no such instance"}, status_code=404)
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


def hub_routes(runtime: Any, denied: Guard) -> list[Route]:
    async def counts(request: Request) -> Response:
        if refused := denied(request):
            return refused
        try:
            query = counts_query(request)
        except BadParameter as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)

        async def work() -> dict[str, Any]:
            store = runtime.store()  # opened on first use, like the triggers do
            by_status = await asyncio.to_thread(store.count_instances, query=query)
            return {"counts": by_status, "total": sum(by_status.values())}
        return await _answer(work)

    async def pending(request: Request) -> Response:
        if refused := denied(request):
            return refused
        instance_id = request.path_params["instance_id"]

        async def work() -> dict[str, Any] | None:
            found = await asyncio.to_thread(_read_pending, runtime.store(), instance_id)
            return None if found is None else {"pending": found}
        return await _answer(work)

    return [Route("/admin/taskhub/counts", counts, methods=["GET"]),
            Route("/admin/taskhub/instances/{instance_id}/pending", pending, methods=["GET"])]
