"""The activity claim lifecycle under every interleaving of renewal, commit, release and stop.

Each test runs the real worker (real invoker, real SDK replay) on a real store of each backend,
wrapped in `PausingStore` so that every store call yields (as PostgreSQL's do) and the test
can hold one call while the worker goes on. The activity waits for the test's signal, so the
test decides when its result is ready. Time is a `FakeClock`: visibility and leases move only
when the test moves them. What each test asserts is what a user relies on: the orchestration
completes with the right output, every activity result is committed once, and no work item is
left claimed.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import azure.durable_functions as df
from funcpy.host.index import FunctionIndex, FunctionInfo
from funcpy.host.invoke import Invoker
from funcpy.host.taskhub.client import TaskHubClient
from funcpy.host.taskhub.history import BATCH, WORKITEMS, control_queue, partition_of
from funcpy.host.taskhub.settings import TaskHubSettings
from funcpy.host.taskhub.store import StoreBusy, StoreError
from funcpy.host.taskhub.worker import TaskHubWorker

from .conftest import FakeClock, MakeStore
from .pausing import PausingStore

app = df.DFApp()
RUNS: Counter[str] = Counter()


class Gate:
    """Activities wait here until the test lets them return."""

    started: asyncio.Event
    release: asyncio.Event

    def reset(self) -> None:
        self.started, self.release = asyncio.Event(), asyncio.Event()


GATE = Gate()


@app.orchestration_trigger(context_name="context")
def fan(context: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
    count = context.get_input()
    results = yield context.task_all([context.call_activity("work", f"{context.instance_id}-{i}")
                                      for i in range(count)])
    return results


@app.orchestration_trigger(context_name="context")
def fan_and_events(context: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
    count = context.get_input()
    tasks = [context.call_activity("work", f"{context.instance_id}-0")]
    tasks += [context.wait_for_external_event(f"e{i}") for i in range(count)]
    results = yield context.task_all(tasks)
    return len(results)


@app.activity_trigger(input_name="x")
async def work(x: str) -> str:
    RUNS[x] += 1
    GATE.started.set()
    await GATE.release.wait()
    return f"done {x}"


def _info(f: Any) -> FunctionInfo:
    bindings = json.loads(f.get_function_json())["bindings"]
    trigger = {**next(b for b in bindings if "Trigger" in b["type"]), "direction": "in"}
    user = f.get_user_function()
    return FunctionInfo(name=f.get_function_name(), trigger=trigger, bindings=(trigger,),
                        func=user, is_async=inspect.iscoroutinefunction(user),
                        wants_context=False, directory="", script_file="test", fingerprint="1")


INDEX = FunctionIndex(functions={f.get_function_name(): _info(f) for f in app.get_functions()})


def _settings() -> TaskHubSettings:
    return TaskHubSettings(hub="t", provider="sqlite", sqlite_path=Path("unused"), conninfo=None,
                           connection_setting=None, partition_count=2, max_activities=16,
                           max_orchestrations=16, lease_seconds=30.0)


async def until(check: Callable[[], Any], what: str, timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.005)


class Rig:
    """One worker on a pausing store, and a client that starts fan-outs on it."""

    def __init__(self, store: Any, clock: FakeClock) -> None:
        self.real = store
        self.store = PausingStore(store)
        self.clock = clock
        self.worker = self._worker()
        self.client = TaskHubClient(self.real, 2, clock=clock)

    def _worker(self) -> TaskHubWorker:
        w = TaskHubWorker(self.store, _settings(), Invoker(timeout=None), clock=self.clock,
                          poll_seconds=0.05, owner="rig")
        w.apply(INDEX)
        return w

    async def __aenter__(self) -> Rig:
        GATE.reset()
        RUNS.clear()
        await self.worker.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        GATE.release.set()
        await self.worker.stop(grace=5)

    async def restart(self) -> list[str]:
        abandoned = await self.worker.stop(grace=0)
        self.worker = self._worker()
        await self.worker.start()
        return abandoned

    def start(self, count: int) -> str:
        iid = self.client.start("fan", input_text=json.dumps(count))
        self.worker.wake_partition_of(iid)
        return iid

    async def completed(self, iid: str) -> Any:
        record = await until(lambda: (r := self.real.get_instance(iid)) is not None
                             and r.runtime_status in ("Completed", "Failed") and r,
                             f"instance {iid} to finish")
        assert record.runtime_status == "Completed", record.output
        return json.loads(record.output)

    def claimed(self) -> int:
        """Work items left in the queue (visible or claimed)."""
        return self.real.count_messages(WORKITEMS)


def run(make_store: MakeStore, clock: FakeClock,
        scenario: Callable[[Rig], Awaitable[None]]) -> None:
    async def main() -> None:
        async with Rig(make_store(), clock) as rig:
            await scenario(rig)
    asyncio.run(main())


def _claims(rig: Rig) -> list[Any]:
    return list(rig.worker.activities.inflight.values())


def test_commit_during_a_renewal_waits_for_the_new_receipt(make_store: MakeStore,
                                                           clock: FakeClock) -> None:
    """The issue's lost result: the renewal has changed the pop receipt in the database but
    not returned yet when the result is committed."""
    async def scenario(rig: Rig) -> None:
        iid = rig.start(1)
        await until(lambda: GATE.started.is_set(), "the activity to start")
        held = rig.store.pause("update_visibility", after=True)
        renewal = asyncio.ensure_future(rig.worker.activities.renew())
        await held.wait_reached()
        GATE.release.set()  # the result is ready while the renewal is half done
        await until(lambda: not rig.worker.activities.tasks
                    and rig.worker.activities.results.empty(), "the result to be taken")
        held.release()
        await renewal
        assert await rig.completed(iid) == [f"done {iid}-0"]
        assert RUNS[f"{iid}-0"] == 1
        assert rig.claimed() == 0 and _claims(rig) == []
        # (a poll may be under way, which counts while it runs; a leaked count never clears)
        await until(lambda: rig.worker.isolation.active == 0, "no claimed work in flight")

    run(make_store, clock, scenario)


def test_renewal_during_a_commit_does_not_resurrect_the_claim(make_store: MakeStore,
                                                             clock: FakeClock) -> None:
    async def scenario(rig: Rig) -> None:
        iid = rig.start(1)
        await until(lambda: GATE.started.is_set(), "the activity to start")
        held = rig.store.pause("transaction", after=True)  # committed, not yet returned
        GATE.release.set()
        await held.wait_reached()
        renewal = asyncio.ensure_future(rig.worker.activities.renew())
        await until(lambda: (rig.store.calls["update_visibility"] == 0 and not renewal.done())
                    or renewal.done(), "the renewal to wait for the commit")
        held.release()
        await renewal
        assert rig.store.calls["update_visibility"] == 0  # settled before it could renew
        assert await rig.completed(iid) == [f"done {iid}-0"]
        assert rig.claimed() == 0 and _claims(rig) == []

    run(make_store, clock, scenario)


def test_a_busy_database_at_commit_is_retried(make_store: MakeStore, clock: FakeClock) -> None:
    async def scenario(rig: Rig) -> None:
        iid = rig.start(3)
        await until(lambda: len(_claims(rig)) == 3, "three activities to be claimed")
        busy = StoreBusy("connection lost")
        rig.store.fail_next("transaction", busy, busy, busy)  # group commit, then one by one
        GATE.release.set()
        assert await rig.completed(iid) == [f"done {iid}-{i}" for i in range(3)]
        assert all(RUNS[f"{iid}-{i}"] == 1 for i in range(3))
        assert rig.claimed() == 0 and _claims(rig) == []

    run(make_store, clock, scenario)


def test_a_result_that_never_commits_runs_again(make_store: MakeStore, clock: FakeClock) -> None:
    async def scenario(rig: Rig) -> None:
        iid = rig.start(1)
        await until(lambda: GATE.started.is_set(), "the activity to start")
        rig.store.fail_next("transaction", *[StoreError("constraint violated")] * 10)
        GATE.release.set()
        assert await rig.completed(iid) == [f"done {iid}-0"]
        assert RUNS[f"{iid}-0"] == 2  # given back after the attempts, then run again
        assert rig.claimed() == 0 and _claims(rig) == []

    run(make_store, clock, scenario)


def test_a_claim_taken_by_another_host_is_dropped_not_renewed(make_store: MakeStore,
                                                             clock: FakeClock) -> None:
    async def scenario(rig: Rig) -> None:
        iid = rig.start(1)
        await until(lambda: GATE.started.is_set(), "the activity to start")
        clock.advance(rig.worker.visibility + 1)  # our claim expired unrenewed...
        [other] = rig.real.get_messages(WORKITEMS, 1, 60)  # ...and another host took it
        await rig.worker.partition_leases._renew()  # (the partition leases' upkeep, due now)
        await rig.worker.activities.renew()
        assert _claims(rig) == []  # dropped, not renewed forever
        GATE.release.set()
        await until(lambda: not rig.worker.activities.tasks
                    and rig.worker.activities.results.empty(), "the stale result")
        rig.real.unclaim([other])  # the other host gives it back; ours runs it again
        rig.worker.activities.wake.set()
        assert await rig.completed(iid) == [f"done {iid}-0"]
        assert RUNS[f"{iid}-0"] == 2
        assert rig.claimed() == 0

    run(make_store, clock, scenario)


def test_stop_during_a_renewal_gives_the_work_back_for_the_next_run(
        make_store: MakeStore, clock: FakeClock) -> None:
    async def scenario(rig: Rig) -> None:
        iid = rig.start(2)
        await until(lambda: len(_claims(rig)) == 2, "two activities to be claimed")
        held = rig.store.pause("update_visibility", after=True)
        renewal = asyncio.ensure_future(rig.worker.activities.renew())
        await held.wait_reached()
        old = rig.worker.activities
        stopping = asyncio.ensure_future(rig.restart())
        # past the grace period and the last commits: giving claims back waits for the renewal
        await until(lambda: old._renewer.done(), "the stop to reach the release of claims")
        assert not stopping.done()
        held.release()
        await renewal
        abandoned = await stopping
        assert sorted(abandoned) == sorted(
            f"activity 'work' of instance '{iid}' (task {t})" for t in (0, 1))
        # given back uncounted: the next run takes them at once and not as suspects
        GATE.release.set()
        assert await rig.completed(iid) == [f"done {iid}-{i}" for i in range(2)]
        assert rig.claimed() == 0

    run(make_store, clock, scenario)


def test_results_committed_as_a_group_settle_every_claim(make_store: MakeStore,
                                                         clock: FakeClock) -> None:
    async def scenario(rig: Rig) -> None:
        iids = [rig.start(20) for _ in range(3)]
        await until(lambda: len(_claims(rig)) == 16, "the activity slots to fill")
        renewals = asyncio.ensure_future(rig.worker.activities.renew())
        GATE.release.set()  # results commit while claims are being renewed
        await renewals
        for iid in iids:
            assert await rig.completed(iid) == [f"done {iid}-{i}" for i in range(20)]
        assert sum(RUNS.values()) == 60 and set(RUNS.values()) == {1}
        assert rig.claimed() == 0 and _claims(rig) == []
        # (a poll may be under way, which counts while it runs; a leaked count never clears)
        await until(lambda: rig.worker.isolation.active == 0, "no claimed work in flight")

    run(make_store, clock, scenario)


def test_suspects_at_the_front_of_a_long_queue_run_alone_and_the_rest_follow(
        make_store: MakeStore, clock: FakeClock) -> None:
    """Found by the fault soak: work items delivered before (suspects) at the front of a queue
    holding more than a batch behind them. The claim loop gave back what it held, suspect
    included, and the isolated run claimed again; a give-back moves messages to the back of
    the queue, so the second claim never saw the suspect and the two took turns for ever
    (the host served HTTP but ran no more activities). The loop now runs the suspect it holds."""
    async def scenario(rig: Rig) -> None:
        iid = rig.start(150)
        await until(lambda: len(_claims(rig)) == 16, "16 activities in flight")
        ids = sorted(c.message.id for c in _claims(rig))
        await rig.worker.stop(grace=0)  # gives them back, uncounted
        # As if their holder had died: delivered once, visible again, at the front.
        marks = ", ".join("?" for _ in ids)
        rig.real._write_one(
            "UPDATE taskhub_messages SET dequeue_count = 1, visible_at = 0, pop_receipt = NULL"
            f" WHERE hub = ? AND id IN ({marks}) RETURNING id", (rig.real.hub, *ids))
        GATE.release.set()
        rig.worker = rig._worker()
        await rig.worker.start()
        assert await rig.completed(iid) == [f"done {iid}-{i}" for i in range(150)]
        assert rig.claimed() == 0

    class Ticking(FakeClock):
        """Time moves a millisecond at each reading, as it does for a real host: a message
        given back is visible from a later moment than those never claimed."""

        def __call__(self) -> float:
            self.advance(0.001)
            return super().__call__()

    ticking = Ticking()

    async def main() -> None:
        async with Rig(make_store(clock=ticking), ticking) as rig:  # type: ignore[arg-type]
            await scenario(rig)
    asyncio.run(main())


def _count_control_claims(rig: Rig) -> list[int]:
    """Counts the control-queue claims that returned messages (the real store's calls)."""
    got = [0]
    real = rig.real.get_messages_with_instances

    def counting(queue: str, *args: Any) -> Any:
        msgs, rows = real(queue, *args)
        got[0] += bool(msgs)
        return msgs, rows
    rig.real.get_messages_with_instances = counting
    return got


def test_results_for_a_partition_this_host_runs_are_handed_over_without_a_claim(
        make_store: MakeStore, clock: FakeClock) -> None:
    async def scenario(rig: Rig) -> None:
        iid = rig.start(3)
        await until(lambda: len(_claims(rig)) == 3, "the three activities to run")
        claims = _count_control_claims(rig)
        GATE.release.set()
        assert await rig.completed(iid) == [f"done {iid}-{i}" for i in range(3)]
        # The results were put claimed in their commit and run from the partition's inbox.
        assert claims[0] == 0
        assert rig.real.count_messages(WORKITEMS) == 0
        assert sum(rig.real.count_messages(control_queue(p)) for p in range(2)) == 0
        await until(lambda: rig.worker.isolation.active == 0, "no claimed work in flight")

    run(make_store, clock, scenario)


def test_a_result_handed_over_while_a_suspect_waits_is_given_back(
        make_store: MakeStore, clock: FakeClock) -> None:
    """A suspect waits to run alone; the partition's loop waits for it at its next claim. A
    result committed now must not wait claimed in the loop's inbox (the suspect would wait for
    it, and the loop for the suspect: found by the poison crash test): it is given back, and
    claimed again once the suspect has run."""
    async def scenario(rig: Rig) -> None:
        iid = rig.start(1)
        await until(lambda: len(_claims(rig)) == 1, "the activity to run")
        queue = control_queue(partition_of(iid, rig.worker.partitions))
        turns = [0]
        claiming = rig.worker.waits.claiming

        def counting(q: str) -> None:
            turns[0] += q == queue
            claiming(q)
        rig.worker.waits.claiming = counting  # type: ignore[method-assign]
        alone = rig.worker.isolation.alone(wait=10)
        entering = asyncio.ensure_future(alone.__aenter__())
        before = turns[0]
        # The loop's next turn reaches its claim, which waits for the suspect.
        await until(lambda: turns[0] > before, "the partition loop's next claim")
        t0 = time.monotonic()
        GATE.release.set()
        await entering
        try:
            assert time.monotonic() - t0 < 5, "the suspect waited for the handed result"
            assert [m.instance_id for m in rig.real.peek_messages(queue, 10)] == [iid]
        finally:
            await alone.__aexit__(None, None, None)
        assert await rig.completed(iid) == [f"done {iid}-0"]

    run(make_store, clock, scenario)


def test_a_full_batch_is_read_again_though_results_were_handed_meanwhile(
        make_store: MakeStore, clock: FakeClock) -> None:
    """Found with two hosts on PostgreSQL: the loop claimed a full batch of another host's
    messages; this host's result was handed to it meanwhile; its next turn ran the handed
    result alone and the rest of the queue waited for the poll interval."""
    async def scenario(rig: Rig) -> None:
        rig.worker.waits.poll_seconds = 60.0  # a read left to the poll would wait this long
        events = BATCH + 10
        iid = rig.client.start("fan_and_events", input_text=json.dumps(events))
        rig.worker.wake_partition_of(iid)
        await until(lambda: GATE.started.is_set(), "the activity to start")
        p = partition_of(iid, rig.worker.partitions)
        queue = control_queue(p)
        held = rig.store.pause("get_messages_with_instances", when=lambda q, *_: q == queue)
        rig.worker.wake_partition(p)
        await held.wait_reached()
        # While the claim waits to run: more than a batch committed by "another host" (no
        # wake here), and this host's activity result handed to the loop.
        for i in range(events):
            rig.client.raise_event(iid, f"e{i}", json.dumps(i))
        GATE.release.set()
        await until(lambda: p in rig.worker._handed, "the result to be handed to the loop")
        held.release()
        assert await rig.completed(iid) == events + 1
        assert rig.real.count_messages(queue) == 0

    run(make_store, clock, scenario)
