"""The queue listener in process, on a real SQLite store behind `PausingStore` (so every store
call goes to a thread and yields, as on PostgreSQL): claims, renewal against completion, the
one-transaction completion and poison move, retries, visibility, the batch limits, stopping.

Waits poll with deadlines; nothing sleeps to synchronise.
"""

from __future__ import annotations

import asyncio
import functools
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest
from funcpy.host.config import build_config
from funcpy.host.index import FunctionIndex, FunctionInfo
from funcpy.host.invoke import Invoker
from funcpy.host.taskhub.settings import TaskHubSettings
from funcpy.host.taskhub.sqlite import SqliteStore
from funcpy.host.taskhub.store import StoreError
from funcpy.triggers import queue as queue_kind
from funcpy.triggers import queue_listener, queue_store
from funcpy.triggers.queue import QueueService
from funcpy.triggers.queue_store import Outgoing

from tests.taskhub.pausing import PausingStore

CLAIM = 0.4  # seconds: renewed every 0.2 s


def sync(test: Callable[..., Any]) -> Callable[..., None]:
    """Run an async test on a fresh event loop (fixtures still resolve by its signature)."""
    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> None:
        asyncio.run(test(*args, **kwargs))

    return run


async def until(check: Callable[[], Any], timeout: float = 10.0, what: str = "it") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        await asyncio.sleep(0.005)
    raise AssertionError(f"timed out waiting for {what}")


def function(user: Callable[..., Any], queue: str = "jobs", output: str | None = "done",
             name: str = "work") -> FunctionInfo:
    trigger = {"type": "queueTrigger", "direction": "in", "name": "msg", "queueName": queue}
    bindings: list[dict[str, Any]] = [trigger]
    if output:
        bindings.append({"type": "queue", "direction": "out", "name": "$return",
                         "queueName": output})
    return FunctionInfo(name=name, trigger=trigger, bindings=tuple(bindings), func=user,
                        is_async=asyncio.iscoroutinefunction(user), wants_context=False,
                        directory=".", script_file="function_app.py", fingerprint=name)


class Harness:
    def __init__(self, tmp_path: Path, queues: dict[str, Any]) -> None:
        (tmp_path / "host.json").write_text(json.dumps(
            {"version": "2.0", "extensions": {"queues": queues}}))
        self.environ: dict[str, str] = {"FUNCPY_DRAIN_SECONDS": "2"}
        self.config = build_config(app_dir=tmp_path, environ=self.environ)
        self.raw = SqliteStore(tmp_path / "hub.sqlite", "Test")
        self.raw.create()
        self.store = PausingStore(self.raw)
        self.settings = TaskHubSettings(
            hub="Test", provider="sqlite", sqlite_path=tmp_path / "hub.sqlite", conninfo=None,
            connection_setting=None, partition_count=1, max_activities=1,
            max_orchestrations=1, lease_seconds=CLAIM)
        self.invoker = Invoker(timeout=None, environ={})
        self.service = QueueService(lambda: self.store, lambda: self.settings, self.invoker,
                                    self.config, self.environ)
        self.invoker.add_writer("queue", self.service.writer)

    def put(self, queue: str, *bodies: str | bytes) -> list[int]:
        return queue_store.put(self.raw, [Outgoing(queue, b if isinstance(b, bytes)
                                                   else b.encode()) for b in bodies])

    def count(self, queue: str) -> int:
        return self.raw.count_messages(f"queue:{queue}")

    def bodies(self, queue: str) -> list[str]:
        return [m["messageText"] for m in queue_store.peek(self.raw, queue, 32)]

    async def serve(self, *fns: FunctionInfo) -> None:
        await self.service.apply(FunctionIndex(functions={f.name: f for f in fns}))


@pytest.fixture(autouse=True)
def short_claims(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(queue_kind, "MIN_CLAIM_SECONDS", CLAIM)
    monkeypatch.setattr(queue_listener, "RETRY_SECONDS", (0.01,) * 5)


@asynccontextmanager
async def harness(tmp_path: Path, **queues: Any) -> AsyncIterator[Harness]:
    h = Harness(tmp_path, {"maxPollingInterval": "00:00:00.2", **queues})
    try:
        yield h
    finally:
        await h.service.stop()
        h.invoker.shutdown()
        h.raw.close()


@sync
async def test_a_renewal_in_progress_holds_the_completion_back(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        renewing = h.store.pause("update_visibility", after=True)  # renewed, then held

        async def work(msg: func.QueueMessage) -> str:
            await renewing.wait_reached()
            return "out"

        h.put("jobs", "a")
        await h.serve(function(work))
        await until(lambda: h.invoker.in_flight == 0 and h.invoker.active == {},
                    what="the function to return during the renewal")
        assert h.count("jobs") == 1 and h.count("done") == 0  # the completion waits
        renewing.release()
        # It commits with the receipt the renewal wrote (a stale one would lose the output).
        await until(lambda: h.count("jobs") == 0, what="the completion")
        assert h.bodies("done") == ["out"]


class FailingPuts:
    """Fails every transaction at its first enqueue, after the deletion was sent."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self.failing = True

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    @contextmanager
    def transaction(self, **kwargs: Any) -> Iterator[Any]:
        owner = self

        class Tx:
            def __init__(self, tx: Any) -> None:
                self._tx = tx

            def __getattr__(self, name: str) -> Any:
                return getattr(self._tx, name)

            def put_messages(self, *args: Any, **kw: Any) -> list[int]:
                if owner.failing:
                    raise StoreError("the disk is full")
                return self._tx.put_messages(*args, **kw)

        with self._store.transaction(**kwargs) as tx:
            yield Tx(tx)


@sync
async def test_outputs_and_the_deletion_commit_together_or_not_at_all(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        failing = FailingPuts(h.store)
        h.service._open_store = lambda: failing  # type: ignore[method-assign]
        runs: list[int] = []

        def work(msg: func.QueueMessage) -> str:
            runs.append(msg.dequeue_count)
            return f"out-{msg.dequeue_count}"

        h.put("jobs", "a")
        await h.serve(function(work))
        await until(lambda: len(runs) == 1, what="the first run")
        await until(lambda: h.store.calls["transaction"] >= 5, what="the retries")
        assert h.count("jobs") == 1 and h.count("done") == 0  # nothing half-done
        failing.failing = False
        # Given up: its claim runs out and it is delivered again; now the commit goes through.
        await until(lambda: h.count("jobs") == 0, what="the second delivery to commit")
        assert runs == [1, 2] and h.bodies("done") == ["out-2"]


@sync
async def test_failures_retry_then_move_the_body_to_the_poison_queue(tmp_path: Path) -> None:
    async with harness(tmp_path, maxDequeueCount=2) as h:
        runs: list[int] = []

        def work(msg: func.QueueMessage) -> str:
            runs.append(msg.dequeue_count)
            if msg.get_body() != b"good":
                raise ValueError("bad message")
            return "ok"

        h.put("jobs", b"\xffbad", "good")
        await h.serve(function(work))
        await until(lambda: h.count("jobs-poison") == 1 and h.count("jobs") == 0,
                    what="the poison move")
        assert sorted(runs) == [1, 1, 2]  # "good" once; the bad one up to maxDequeueCount
        [poisoned] = queue_store.peek(h.raw, "jobs-poison")
        assert (poisoned["messageText"], poisoned["messageEncoding"]) == ("/2JhZA==", "base64")
        assert poisoned["dequeueCount"] == 0  # a new message: body only
        assert h.bodies("done") == ["ok"]


@sync
async def test_a_message_over_the_limit_is_poisoned_without_running(tmp_path: Path) -> None:
    async with harness(tmp_path, maxDequeueCount=2) as h:
        h.put("jobs", "crashed twice")
        for _ in range(2):  # two deliveries whose hosts died
            [m] = h.raw.get_messages("queue:jobs", 1, 0.0)
        assert m.dequeue_count == 2
        runs: list[str] = []
        await h.serve(function(lambda msg: runs.append("ran")))
        await until(lambda: h.count("jobs-poison") == 1, what="the poison move")
        assert runs == [] and h.count("jobs") == 0


@sync
async def test_without_a_poison_queue_a_failure_stays_invisible(tmp_path: Path) -> None:
    async with harness(tmp_path, maxDequeueCount=1) as h:
        runs: list[int] = []

        def work(msg: func.QueueMessage) -> None:
            runs.append(msg.dequeue_count)
            raise ValueError("no")

        h.put("jobs-poison", "x")
        await h.serve(function(work, queue="jobs-poison", output=None))
        await until(lambda: runs, what="the run")
        await until(lambda: h.invoker.active == {}, what="the failure to settle")
        assert h.count("jobs-poison") == 1 and h.bodies("jobs-poison") == []  # not released
        assert h.count("jobs-poison-poison") == 0


@sync
async def test_visibility_timeout_delays_the_retry(tmp_path: Path) -> None:
    async with harness(tmp_path, visibilityTimeout="00:00:30") as h:
        runs: list[float] = []

        def work(msg: func.QueueMessage) -> None:
            runs.append(time.time())
            raise ValueError("later")

        h.put("jobs", "x")
        await h.serve(function(work, output=None))
        await until(lambda: runs, what="the run")
        await until(lambda: (h.raw.next_visible_at(["queue:jobs"]) or 0) >= runs[0] + 29,
                    what="the message to be hidden for the visibility timeout")
        assert len(runs) == 1 and h.bodies("jobs") == []


@sync
async def test_batch_size_and_threshold_bound_the_parallel_runs(tmp_path: Path) -> None:
    async with harness(tmp_path, batchSize=2, newBatchThreshold=1) as h:
        gates = {str(i): asyncio.Event() for i in range(10)}
        running: set[str] = set()
        peak = 0

        async def work(msg: func.QueueMessage) -> None:
            nonlocal peak
            body = msg.get_body().decode()
            running.add(body)
            peak = max(peak, len(running))
            await gates[body].wait()
            running.discard(body)

        h.put("jobs", *gates)
        await h.serve(function(work, output=None))
        await until(lambda: running == {"0", "1"}, what="the first batch")
        gates["0"].set()  # one left running (<= the threshold): the next batch of 2 comes
        await until(lambda: running == {"1", "2", "3"}, what="batchSize + newBatchThreshold")
        gates["2"].set()  # two left: above the threshold, so nothing more is fetched
        await until(lambda: h.count("jobs") == 8, what="one to finish")
        assert running == {"1", "3"} and len(h.bodies("jobs")) == 6
        for gate in gates.values():
            gate.set()
        await until(lambda: h.count("jobs") == 0, what="all runs")
        assert peak == 3


@sync
async def test_stop_gives_back_what_is_still_running_uncounted(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        started = asyncio.Event()

        async def work(msg: func.QueueMessage) -> None:
            started.set()
            await asyncio.Event().wait()  # never ends by itself

        h.put("jobs", "stuck")
        await h.serve(function(work, output=None))
        await until(started.is_set, what="the run")
        await h.service.stop()
        [left] = queue_store.peek(h.raw, "jobs")
        assert left["dequeueCount"] == 0  # visible again, this delivery not counted


@sync
async def test_an_http_function_output_commits_on_its_own_and_wakes_the_listener(
        tmp_path: Path) -> None:
    async with harness(tmp_path, maxPollingInterval="00:01:00") as h:
        seen: list[str] = []
        await h.serve(function(lambda msg: seen.append(msg), queue="done", output=None,
                               name="consumer"))
        trigger = {"type": "httpTrigger", "direction": "in", "name": "req"}
        out = {"type": "queue", "direction": "out", "name": "out", "queueName": "Done"}

        def producer(req: Any, out: func.Out[str]) -> None:
            out.set('["one", "two"]')

        fn = FunctionInfo(name="producer", trigger=trigger, bindings=(trigger, out),
                          func=producer, is_async=False, wants_context=False, directory=".",
                          script_file="function_app.py", fingerprint="p")
        listener = h.service.listeners["consumer"]
        await until(lambda: not listener.wake.is_set(), what="the consumer to wait")
        await h.invoker.invoke(fn, None, reason="test")
        # committed before invoke returned, and the listener woken (not left to its next poll)
        assert h.count("done") == 2 and listener.wake.is_set()
        await until(lambda: len(seen) == 2, what="the consumer")
        assert sorted(m.get_body() for m in seen) == [b"one", b"two"]  # type: ignore[attr-defined]
