"""The admin endpoints for storage queues, guarded like every /admin route (the master key
when keys are enforced):

- `GET /admin/queues`: the queues that hold messages, with their counts;
- `GET /admin/queues/NAME?count=N`: peek at up to N (1-32, default 32) visible messages;
- `POST /admin/queues/NAME[?visibilityTimeout=SECONDS]`: the request body is one message's
  body, enqueued as is (201 with its id); listeners on this host wake at once;
- `DELETE /admin/queues/NAME`: delete every message of the queue.

Names are lower-cased and validated as the host does. Store work runs in a thread; this module
owns no state.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from funcpy.host.bodies import BodyIncomplete, BodyTooLarge, request_body
from funcpy.host.errors import FuncPyError
from funcpy.host.taskhub.store import StoreError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

Guard = Callable[[Request], Response | None]
MAX_DELAY = 7 * 86400.0  # Azure's longest visibility timeout on Put Message


def _error(status: int, text: str) -> JSONResponse:
    return JSONResponse({"error": text}, status_code=status)


class QueueAdmin:
    def __init__(self, runtime: Any, denied: Guard) -> None:
        self.runtime = runtime
        self.denied = denied

    async def _store_call(self, call: Callable[..., Any], *args: Any) -> Any:
        store = self.runtime.store()  # opened on first use, like the triggers do
        return await asyncio.to_thread(call, store, *args)

    def _notify(self, queue: str) -> None:
        from funcpy.triggers.queue import QueueService

        for service in self.runtime.services:
            if isinstance(service, QueueService):
                service.notify([queue])

    async def queues(self, request: Request) -> Response:
        if denied := self.denied(request):
            return denied
        from funcpy.triggers import queue_store

        return await self._answer(lambda: self._store_call(queue_store.list_queues))

    async def queue(self, request: Request) -> Response:
        if denied := self.denied(request):
            return denied
        from funcpy.triggers import queue_store
        from funcpy.triggers.queue_options import normalize_queue_name
        from funcpy.triggers.queue_store import Outgoing

        try:
            name = normalize_queue_name(request.path_params["name"])
        except ValueError as exc:
            return _error(400, str(exc))
        if request.method == "GET":
            count = _number(request.query_params.get("count"), 32, 1, 32)
            if count is None:
                return _error(400, "count must be a whole number from 1 to 32")
            return await self._answer(lambda: self._store_call(queue_store.peek, name,
                                                               int(count)))
        if request.method == "DELETE":
            async def clear() -> dict[str, Any]:
                return {"queue": name,
                        "deleted": await self._store_call(queue_store.clear, name)}

            return await self._answer(clear)
        delay = _number(request.query_params.get("visibilityTimeout"), 0, 0, MAX_DELAY,
                        whole=False)
        if delay is None:
            return _error(400, f"visibilityTimeout must be 0 to {MAX_DELAY:.0f} seconds")
        try:
            body = await request_body(request, self.runtime.config.max_body_bytes)
        except BodyTooLarge as exc:
            return _error(413, str(exc))
        except BodyIncomplete:
            return Response(status_code=400)  # the client is gone: nobody reads this

        async def put() -> dict[str, Any]:
            ids = await self._store_call(queue_store.put, [Outgoing(name, body)], delay)
            self._notify(name)
            return {"queue": name, "id": str(ids[0])}

        return await self._answer(put, status=201)

    async def _answer(self, work: Callable[[], Any], status: int = 200) -> Response:
        try:
            return JSONResponse(await work(), status_code=status)
        except FuncPyError as exc:  # the store cannot be opened (a setting at fault)
            return _error(503, str(exc))
        except StoreError as exc:
            return _error(503, f"the task hub store failed: {exc}")


def _number(raw: str | None, default: float, lo: float, hi: float, *,
            whole: bool = True) -> float | None:
    if raw is None:
        return default
    try:
        value = int(raw) if whole else float(raw)
    except ValueError:
        return None
    return value if lo <= value <= hi else None


def queue_routes(runtime: Any, denied: Guard) -> list[Route]:
    admin = QueueAdmin(runtime, denied)
    return [
        Route("/admin/queues", admin.queues, methods=["GET"]),
        Route("/admin/queues/{name}", admin.queue, methods=["GET", "POST", "DELETE"]),
    ]
