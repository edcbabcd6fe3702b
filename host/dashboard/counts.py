"""`GET /admin/taskhub/counts`: how many instances have each runtime status, for the
dashboard's counts (guarded like every /admin route: the master key when keys are enforced).

The dashboard used to count by reading the list API a thousand instances at a time (ten pages,
about 2 MB, and still incomplete past 10,000 instances); this is one aggregate query whatever
the hub holds. Filters, all optional, as the list's: `createdTimeFrom`, `createdTimeTo` (ISO
8601), `instanceIdPrefix`, and `name` (part of the orchestrator's name, any case).

Answer: `{"counts": {"Completed": 12, ...}, "total": 12}` (statuses no instance has are left
out); 400 naming a bad parameter; 503 when the store does not answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from funcpy.host.errors import FuncPyError
from funcpy.host.taskhub.history import parse_time
from funcpy.host.taskhub.store import InstanceQuery, StoreError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

Guard = Callable[[Request], Response | None]
MAX_FILTER = 256  # an id prefix or name longer than any real one is a mistake, not a query


class BadParameter(ValueError):
    pass


def _time(request: Request, name: str) -> float | None:
    raw = request.query_params.get(name)
    if not raw:
        return None
    try:
        return parse_time(raw)
    except ValueError:
        raise BadParameter(f"{name} '{raw[:64]}' is not an ISO 8601 time") from None


def _text(request: Request, name: str) -> str | None:
    raw = request.query_params.get(name) or None
    if raw is not None and len(raw) > MAX_FILTER:
        raise BadParameter(f"{name} is longer than {MAX_FILTER} characters")
    return raw


def counts_query(request: Request) -> InstanceQuery:
    return InstanceQuery(created_from=_time(request, "createdTimeFrom"),
                         created_to=_time(request, "createdTimeTo"),
                         instance_id_prefix=_text(request, "instanceIdPrefix"),
                         name_contains=_text(request, "name"))


def counts_routes(runtime: Any, denied: Guard) -> list[Route]:
    async def counts(request: Request) -> Response:
        if refused := denied(request):
            return refused
        try:
            query = counts_query(request)
        except BadParameter as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        try:
            store = runtime.store()  # opened on first use, like the triggers do
            by_status = await asyncio.to_thread(store.count_instances, query=query)
        except FuncPyError as exc:  # the store cannot be opened (a setting at fault)
            return JSONResponse({"error": str(exc)}, status_code=503)
        except StoreError as exc:
            return JSONResponse({"error": f"the task hub store failed: {exc}"}, status_code=503)
        return JSONResponse({"counts": by_status, "total": sum(by_status.values())},
                            headers={"Cache-Control": "no-store"})

    return [Route("/admin/taskhub/counts", counts, methods=["GET"])]
