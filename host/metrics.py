"""`GET /admin/metrics`: the host's metrics in the Prometheus text format.

Two halves. `Metrics` records on the hot paths (the invoker, the HTTP dispatch, timer firings)
into plain dicts and lists: no lock, no label lookup, no prometheus_client object, because every
caller runs on the event loop thread and a recording has to cost a fraction of a microsecond
(prometheus_client's own Histogram costs about four times more per observation, and importing
it costs ~80 ms, which the host's start-up does not pay: it is imported at the first scrape).

`Scraper` turns that into metric families at scrape time, with what only a scrape needs: the
task hub's queue depths, oldest waiting message and instance counts (two aggregate store
queries in a thread, at most one read in flight, bounded by `STORE_TIMEOUT` and reused for
`VIEW_SECONDS`), and the concurrency in flight now (the invoker and the task hub worker know
it). Its `CollectorRegistry` is its own, never prometheus_client's global one.

Queue depths are the hub's, not this replica's: several hosts on one PostgreSQL hub each report
the same numbers (aggregate with `max by (queue)`, not `sum`).
"""

from __future__ import annotations

import asyncio
import time
from bisect import bisect_left
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from funcpy.host import __version__
from funcpy.host.logs import log
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Message, Send

if TYPE_CHECKING:
    from funcpy.host.index import FunctionInfo
    from funcpy.host.taskhub.store import QueueCounts

# Upper bounds in seconds. Invocations: HTTP calls of milliseconds to activities of minutes.
DURATION_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                    30.0, 60.0, 300.0)
# Timer lateness: the loop's wake-up jitter, a busy loop, a long run that delayed the next
# occurrence, and past-due runs at start-up (hours late).
LATENESS_BUCKETS = (0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0, 60.0, 300.0, 3600.0)
STORE_TIMEOUT = 5.0  # a scrape answers (without store figures) rather than hang on the database
VIEW_SECONDS = 1.0  # several scrapers at once (Prometheus, KEDA, a person) share one read
STATUSES = ("Pending", "Running", "Suspended", "Completed", "ContinuedAsNew", "Failed",
            "Terminated")  # all listed, zeros included, so a query never meets an absent series

# The text format every scraper reads (Prometheus 2 and 3, KEDA's, the OpenTelemetry
# collector's); the names here are all plain, so the output is the same in its successor.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

Guard = Callable[[Request], Response | None]


class Histogram:
    """Observation counts per label tuple: one list per tuple, a count per bucket (the last is
    +Inf) and the sum in the final slot; made cumulative only when exported."""

    __slots__ = ("bounds", "cells")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.cells: dict[tuple[str, ...], list[float]] = {}

    def observe(self, key: tuple[str, ...], value: float) -> None:
        cell = self.cells.get(key)
        if cell is None:
            cell = self.cells[key] = [0] * (len(self.bounds) + 2)
        cell[bisect_left(self.bounds, value)] += 1  # bisect_left: a bound is inclusive (le)
        cell[-1] += value

    def family(self, name: str, doc: str, labels: list[str]) -> Any:
        from prometheus_client.core import HistogramMetricFamily
        from prometheus_client.utils import floatToGoString

        family = HistogramMetricFamily(name, doc, labels=labels)
        edges = [floatToGoString(b) for b in self.bounds] + ["+Inf"]
        for key, cell in list(self.cells.items()):
            total, buckets = 0.0, []
            for edge, count in zip(edges, cell[:-1], strict=True):
                total += count
                buckets.append((edge, total))
            family.add_metric(list(key), buckets, cell[-1])
        return family


class Metrics:
    """What the hot paths record; read by `Scraper`. One per invoker (so one per host process):
    the invoker is the one place that calls user code."""

    def __init__(self) -> None:
        self.invocations = Histogram(DURATION_BUCKETS)
        self.timer_lateness = Histogram(LATENESS_BUCKETS)
        self.http_responses: dict[int, int] = {}

    def invoked(self, fn: FunctionInfo, outcome: str, ms: float) -> None:
        """One invocation ended: Succeeded, Failed or Cancelled, after `ms` milliseconds."""
        self.invocations.observe((fn.name, fn.trigger_type, outcome), ms / 1000)

    def timer_started(self, function: str, occurrence: datetime | None,
                      started: datetime) -> None:
        """A timer run began at `started` for its `occurrence` (None: runOnStartup, which has
        no occurrence to be late for)."""
        if occurrence is not None:
            late = (started - occurrence).total_seconds()
            self.timer_lateness.observe((function,), late if late > 0 else 0.0)

    def counting(self, send: Send) -> Send:
        """`send` that counts the response's status: wraps one request to the app's routes."""
        responses = self.http_responses

        async def counted(message: Message) -> None:
            if message["type"] == "http.response.start":
                status = message["status"]
                responses[status] = responses.get(status, 0) + 1
            await send(message)

        return counted


@dataclass(frozen=True)
class StoreView:
    """The task hub figures of one scrape, read in a thread."""

    queues: list[QueueCounts]
    instances: dict[str, int]
    now: float
    read_at: float  # monotonic, for VIEW_SECONDS


def read_store(store: Any) -> StoreView:
    queues = store.list_queues()
    instances = store.count_instances()
    return StoreView(queues, instances, getattr(store, "clock", time.time)(), time.monotonic())


def queue_kind(stored: str) -> tuple[str, str]:
    """(kind, name) of a store queue: the task hub's control queues and work-item queue, the
    app's storage queues (named as the app names them), or another of the hub's."""
    from funcpy.host.taskhub.history import WORKITEMS
    from funcpy.triggers.queue_options import user_queue

    if stored.startswith("control-"):
        return "control", stored
    if stored == WORKITEMS:
        return "workitems", stored
    user = user_queue(stored)
    return ("user", user) if user is not None else ("other", stored)


class Scraper:
    """Renders the registry; one per host, made at the first scrape."""

    def __init__(self, runtime: Any) -> None:
        from prometheus_client import CollectorRegistry

        self.runtime = runtime
        self.metrics: Metrics = runtime.invoker.metrics
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)  # collect() below; no describe(): nothing runs at register
        self._lock = asyncio.Lock()
        self._reading: asyncio.Future[StoreView] | None = None
        self._view: StoreView | None = None
        self._store_up: float | None = None  # None: the app has no task hub store open

    async def render(self) -> bytes:
        from prometheus_client import generate_latest

        async with self._lock:  # collect() reads this scrape's view
            await self._refresh()
            return generate_latest(self.registry)

    async def _refresh(self) -> None:
        store = self.runtime._store  # opened by the task hub, the timers or the queues
        if store is None:
            self._view, self._store_up = None, None
            return
        if self._view is not None and self._store_up \
                and time.monotonic() - self._view.read_at < VIEW_SECONDS:
            return
        if self._reading is None or self._reading.done():
            # One read at a time: one left running past the timeout is awaited by the next
            # scrape rather than joined by another thread.
            self._reading = asyncio.ensure_future(asyncio.to_thread(read_store, store))
        try:
            async with asyncio.timeout(STORE_TIMEOUT):
                self._view = await asyncio.shield(self._reading)
            self._store_up = 1.0
        except TimeoutError:
            log.warning("/admin/metrics: the task hub store did not answer within %gs; "
                        "this scrape has no queue or instance figures.", STORE_TIMEOUT)
            self._view, self._store_up = None, 0.0
        except Exception as exc:  # a database down must not fail the scrape
            log.warning("/admin/metrics: the task hub store failed: %s", exc)
            self._view, self._store_up = None, 0.0

    # -- the collector ---------------------------------------------------------------------

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        m = self.metrics
        info = GaugeMetricFamily("funcpy_build_info", "func-py's version", labels=["version"])
        info.add_metric([__version__], 1)
        yield info
        yield m.invocations.family(
            "funcpy_invocation_duration_seconds",
            "Function invocations by function, trigger type and outcome (Succeeded, Failed, "
            "Cancelled), and how long they ran", ["function", "trigger", "outcome"])
        http = CounterMetricFamily("funcpy_http_requests",
                                   "Requests to the app's routes (not /admin, /runtime) by "
                                   "response status", labels=["code"])
        for code, count in sorted(m.http_responses.items()):
            http.add_metric([str(code)], count)
        yield http
        yield m.timer_lateness.family(
            "funcpy_timer_lateness_seconds",
            "How late each timer run started after its scheduled occurrence", ["function"])
        yield from self._in_flight()
        if self._store_up is not None:
            up = GaugeMetricFamily("funcpy_taskhub_up", "1 if the task hub store answered "
                                   "this scrape, else 0 (no queue or instance figures)")
            up.add_metric([], self._store_up)
            yield up
        if self._view is not None:
            yield from self._store_families(self._view)

    def _in_flight(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        by_trigger: dict[str, int] = {}
        for fn in self.runtime.invoker.running():
            by_trigger[fn.trigger_type] = by_trigger.get(fn.trigger_type, 0) + 1
        running = GaugeMetricFamily("funcpy_invocations_in_flight",
                                    "Invocations running now, by trigger type",
                                    labels=["trigger"])
        for trigger, count in sorted(by_trigger.items()):
            running.add_metric([trigger], count)
        yield running
        durable = self.runtime.durable
        worker = getattr(durable, "worker", None)
        if worker is None:
            return
        busy = GaugeMetricFamily(
            "funcpy_durable_in_flight", "Task hub work running on this host: activities "
            "(work items), orchestration episodes and entity batches", labels=["kind"])
        limit = GaugeMetricFamily(
            "funcpy_durable_concurrency_limit", "maxConcurrentActivityFunctions and "
            "maxConcurrentOrchestratorFunctions", labels=["kind"])
        settings = worker.settings
        busy.add_metric(["activity"], len(worker.activities.tasks))
        busy.add_metric(["orchestration"], worker.episodes_running)
        limit.add_metric(["activity"], settings.max_activities)
        limit.add_metric(["orchestration"], settings.max_orchestrations)
        yield busy
        yield limit

    def _store_families(self, view: StoreView) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        instances = GaugeMetricFamily("funcpy_orchestration_instances",
                                      "Orchestration instances in the task hub by runtime "
                                      "status", labels=["status"])
        for status in (*STATUSES, *sorted(set(view.instances) - set(STATUSES))):
            instances.add_metric([status], view.instances.get(status, 0))
        yield instances
        labels = ["queue", "kind"]
        depth = GaugeMetricFamily("funcpy_queue_messages", "Messages in the queue, visible "
                                  "or not (claimed, delayed)", labels=labels)
        visible = GaugeMetricFamily("funcpy_queue_visible_messages", "Messages in the queue "
                                    "ready to be taken now", labels=labels)
        age = GaugeMetricFamily("funcpy_queue_oldest_visible_age_seconds",
                                "How long the longest-waiting ready message has waited since "
                                "it became visible (0 when none is)", labels=labels)
        for name, counts in self._queues(view).items():
            kind, shown = queue_kind(name)
            key = [shown, kind]
            depth.add_metric(key, counts.messages if counts else 0)
            visible.add_metric(key, counts.visible if counts else 0)
            oldest = counts.oldest_visible_at if counts else None
            age.add_metric(key, max(0.0, view.now - oldest) if oldest is not None else 0.0)
        yield depth
        yield visible
        yield age

    def _queues(self, view: StoreView) -> dict[str, QueueCounts | None]:
        """The queues holding messages, and the empty ones that should show as 0: the hub's
        control and work-item queues while it runs here, the queues the app's queue triggers
        read."""
        from funcpy.host.taskhub.history import WORKITEMS, control_queue
        from funcpy.triggers.queue_options import normalize_queue_name, store_queue

        known: dict[str, QueueCounts | None] = {}
        worker = getattr(self.runtime.durable, "worker", None)
        if worker is not None:
            known.update({control_queue(p): None for p in range(worker.partitions)})
            known[WORKITEMS] = None
        for fn in self.runtime.index.of_type("queueTrigger"):
            try:
                known[store_queue(normalize_queue_name(fn.trigger.get("queueName")))] = None
            except ValueError:  # the loader refuses it; nothing to show
                continue
        known.update({c.queue: c for c in view.queues})
        return dict(sorted(known.items()))


def metrics_routes(runtime: Any, denied: Guard) -> list[Route]:
    """The one route, guarded like every /admin route (the master key when keys are
    enforced)."""
    scraper: list[Scraper] = []  # made at the first scrape: prometheus_client loads then

    async def metrics(request: Request) -> Response:
        if refused := denied(request):
            return refused
        if not scraper:
            scraper.append(Scraper(runtime))
        body = await scraper[0].render()
        return Response(body, headers={"content-type": CONTENT_TYPE})

    return [Route("/admin/metrics", metrics, methods=["GET"])]
