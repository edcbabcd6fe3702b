"""Timer triggers driven by a clock the test moves: schedules, the monitor's status and past-due
runs, runOnStartup, overruns, one firing per occurrence across hosts, hot reload and stop.

Every test runs the real `TimerService` and `Invoker` against a real SQLite task hub on
tmp_path. The service calls SQLite on the loop and the user functions here are async, so the
whole system is one deterministic event loop: the test advances the fake clock occurrence by
occurrence and lets the loop settle; nothing sleeps.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import json
import re
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import azure.functions as func
import pytest
from funcpy.host.index import FunctionIndex, FunctionInfo
from funcpy.host.invoke import Invoker
from funcpy.host.taskhub.sqlite import SqliteStore
from funcpy.triggers.ncrontab import parse_schedule
from funcpy.triggers.timer import KIND, TimerService, TimerSpec, time_zone, trigger_value
from funcpy.triggers.timer_status import (
    NEVER,
    ScheduleStatus,
    check_past_due,
    claim_key,
    dotnet_iso,
    payload,
    status_key,
    timer_request,
)

T0 = datetime(2026, 3, 2, 12, 0, 0, 500_000, tzinfo=UTC)  # half a second before an occurrence


def at(seconds: float) -> datetime:
    """T0's whole second plus `seconds`."""
    return T0.replace(microsecond=0) + timedelta(seconds=seconds)


# -- a clock the test moves ---------------------------------------------------------------------


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self._now = now
        self._sleepers: list[tuple[datetime, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def now(self) -> datetime:
        return self._now

    def timestamp(self) -> float:
        return self._now.timestamp()

    @property
    def parked(self) -> int:
        return sum(1 for *_, fut in self._sleepers if not fut.done())

    def next_wake(self) -> datetime | None:
        pending = [when for when, _, fut in self._sleepers if not fut.done()]
        return min(pending) if pending else None

    async def sleep_until(self, moment: datetime) -> None:
        if moment <= self._now:
            return
        fut = asyncio.get_running_loop().create_future()
        entry = (moment.astimezone(UTC), next(self._seq), fut)
        heapq.heappush(self._sleepers, entry)
        try:
            await fut
        finally:
            if entry in self._sleepers:
                self._sleepers.remove(entry)
                heapq.heapify(self._sleepers)

    def set(self, moment: datetime) -> None:
        self._now = moment
        for when, _, fut in self._sleepers:
            if when <= moment and not fut.done():
                fut.set_result(None)


async def until(check: Callable[[], bool], what: str = "condition") -> None:
    """Let the loop run until `check()` holds (a bounded number of turns, no wall time)."""
    for _ in range(20_000):
        if check():
            return
        await asyncio.sleep(0)
    raise AssertionError(f"the loop settled without {what}")


# -- the world: a store, a clock, hosts and recorded firings ------------------------------------


@dataclass
class Firing:
    fn: str
    at: datetime
    past_due: bool
    status: dict[str, str]
    version: str = "v1"


@dataclass
class World:
    clock: FakeClock
    store: SqliteStore
    firings: list[Firing] = field(default_factory=list)
    hosts: list[TimerService] = field(default_factory=list)
    blocked: int = 0  # runs waiting at a gate
    gates: dict[str, asyncio.Event] = field(default_factory=dict)
    environ: dict[str, str] = field(default_factory=dict)

    def fn(self, name: str, schedule: str, *, version: str = "v1", block: bool = False,
           **flags: Any) -> FunctionInfo:
        trigger = {"type": "timerTrigger", "direction": "in", "name": "timer",
                   "schedule": schedule, **flags}
        world = self

        async def user(timer: func.TimerRequest) -> None:
            world.firings.append(Firing(name, world.clock.now(), timer.past_due,
                                        dict(timer.schedule_status), version))
            if block:
                world.blocked += 1
                gate = world.gates.setdefault(name, asyncio.Event())
                try:
                    await gate.wait()
                finally:
                    world.blocked -= 1

        return FunctionInfo(name=name, trigger=trigger, bindings=(trigger,), func=user,
                            is_async=True, wants_context=False, directory=".",
                            script_file="function_app.py", fingerprint=f"{name}-{version}")

    def host(self, owner: str = "host-a") -> TimerService:
        service = TimerService(lambda: self.store, Invoker(timeout=None, environ={}),
                                     self.environ, clock=self.clock, owner=owner)
        self.hosts.append(service)
        return service

    async def settle(self) -> None:
        """Run the loop until nothing is ready to run: every timer is then waiting for the
        clock, for a gate in a user function, or for another run to finish. Store calls run
        inline, so there are no threads to wait for. (`_ready` is asyncio's run queue.)"""
        loop = asyncio.get_running_loop()
        quiet = 0
        for _ in range(100_000):
            await asyncio.sleep(0)
            quiet = quiet + 1 if not loop._ready else 0  # type: ignore[attr-defined]
            if quiet == 3:
                return
        raise AssertionError("the loop never settled")

    async def advance_to(self, target: datetime) -> None:
        """Move time forward occurrence by occurrence, letting every firing run at its time."""
        await self.settle()
        while (wake := self.clock.next_wake()) is not None and wake <= target:
            self.clock.set(max(wake, self.clock.now()))
            await self.settle()
        self.clock.set(target)
        await self.settle()

    async def advance(self, seconds: float) -> None:
        await self.advance_to(self.clock.now() + timedelta(seconds=seconds))

    def times(self, name: str) -> list[datetime]:
        return [f.at for f in self.firings if f.fn == name]

    def release(self, name: str) -> None:
        self.gates[name].set()
        self.gates[name] = asyncio.Event()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    clock = FakeClock(T0)
    store = SqliteStore(tmp_path / "hub.sqlite", "TimerTests", clock=clock.timestamp)
    store.create()
    w = World(clock, store)
    yield w
    for h in w.hosts:
        h.invoker.shutdown()
    store.close()


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(scenario())  # type: ignore[arg-type]


def index(*fns: FunctionInfo, disabled: frozenset[str] = frozenset()) -> FunctionIndex:
    return FunctionIndex(functions={f.name: f for f in fns}, disabled=disabled)


def stored_status(world: World, name: str) -> dict[str, str] | None:
    text = world.store.get_value(status_key(name))
    return json.loads(text) if text else None


def seed_status(world: World, name: str, last: datetime, nxt: datetime,
                updated: datetime | None = None) -> None:
    with world.store.transaction() as tx:
        tx.put_value(status_key(name), ScheduleStatus(last, nxt, updated or last).dumps(UTC))


# -- settings, validation, banner, payload ---------------------------------------------------


def _info(schedule: str, **flags: Any) -> FunctionInfo:
    trigger = {"type": "timerTrigger", "direction": "in", "name": "timer", "schedule": schedule,
               **flags}

    def user(timer: func.TimerRequest) -> None:
        return None

    return FunctionInfo("t", trigger, (trigger,), user, False, False, ".", "f.py", "x")


@pytest.mark.parametrize(("schedule", "flags", "monitor", "startup"), [
    ("*/1 * * * * *", {}, False, False),  # more than once a minute: Azure switches it off
    ("0 */5 * * * *", {}, True, False),
    ("*/5 * * * *", {}, True, False),  # five fields
    ("00:00:30", {}, False, False),  # a TimeSpan under a minute
    ("01:00:00", {}, True, False),
    ("*/1 * * * * *", {"useMonitor": True, "runOnStartup": True}, True, True),
    ("0 0 * * * *", {"useMonitor": "False", "runOnStartup": "true"}, False, True),
])
def test_spec_reads_azure_defaults_and_flags(schedule: str, flags: dict[str, Any],
                                             monitor: bool, startup: bool) -> None:
    spec = TimerSpec.of(_info(schedule, **flags), {})
    assert (spec.use_monitor, spec.run_on_startup) == (monitor, startup)


@pytest.mark.parametrize(("schedule", "fault"), [
    ("0 0 25 * * *", "The schedule expression '0 0 25 * * *' is invalid: hour 25 is out of "
                     "range 0-23"),
    ("0 0 * * * 7", "day-of-week 7 is out of range 0-6"),
    ("every hour", "it has 2 fields; NCRONTAB takes 6"),
    ("1.2.3", "was not recognized as a valid cron expression or timespan string"),
    ("", "a timer trigger needs a schedule"),
])
def test_a_bad_schedule_is_rejected_with_the_expression_and_the_fault(schedule: str,
                                                                       fault: str) -> None:
    with pytest.raises(ValueError, match=re.escape(fault)):
        TimerSpec.of(_info(schedule), {})


def test_a_bad_flag_is_rejected() -> None:
    with pytest.raises(ValueError, match="'runOnStartup' must be true or false"):
        TimerSpec.of(_info("0 0 * * * *", runOnStartup="yes"), {})


def test_time_zone_comes_from_website_time_zone_then_tz_else_utc() -> None:
    assert time_zone({}) == (UTC, "UTC")
    assert time_zone({"TZ": ":Europe/Paris"})[1] == "Europe/Paris"
    both = {"WEBSITE_TIME_ZONE": "America/New_York", "TZ": "Europe/Paris"}
    assert time_zone(both) == (ZoneInfo("America/New_York"), "America/New_York")
    with pytest.raises(ValueError, match="'Eastern Standard Time' in the setting "
                                         "WEBSITE_TIME_ZONE is not a known IANA"):
        time_zone({"WEBSITE_TIME_ZONE": "Eastern Standard Time"})
    spec = TimerSpec.of(_info("0 30 9 * * *"), {"TZ": "Asia/Tokyo"})
    assert spec.schedule.next_after(T0).isoformat() == "2026-03-03T09:30:00+09:00"


def test_banner_shows_words_expression_and_next_three_in_the_zone(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Europe/Paris")
    monkeypatch.delenv("WEBSITE_TIME_ZONE", raising=False)
    line = KIND.describe(_info("0 0 9 * * 1-5", runOnStartup=True), None)  # type: ignore[arg-type]
    head, _, nexts = line.partition(" — next (Europe/Paris): ")
    assert head == ("timerTrigger: at 09:00:00 on Monday through Friday "
                    "(0 0 9 * * 1-5, runOnStartup, useMonitor)")
    times = [datetime.fromisoformat(t) for t in nexts.split(", ")]
    assert len(times) == 3 and all(t.hour == 9 and t.weekday() < 5 for t in times)
    assert all(t.utcoffset() in (timedelta(hours=1), timedelta(hours=2)) for t in times)


def test_payload_becomes_timer_request_through_the_worker_converter() -> None:
    schedule = parse_schedule("0 */5 * * * *", UTC)
    status = ScheduleStatus(NEVER, at(300), at(0) + timedelta(microseconds=120_000))
    text = payload(schedule, status, past_due=True)
    assert json.loads(text) == {
        "Schedule": {"AdjustForDST": True}, "IsPastDue": True,
        "ScheduleStatus": {"Last": "0001-01-01T00:00:00+00:00",
                           "Next": "2026-03-02T12:05:00+00:00",
                           "LastUpdated": "2026-03-02T12:00:00.12+00:00"}}
    request = timer_request(text)
    assert isinstance(request, func.TimerRequest)
    assert request.past_due is True
    assert request.schedule_status["Next"] == "2026-03-02T12:05:00+00:00"
    assert request.schedule == {"AdjustForDST": True}
    unmonitored = timer_request(payload(parse_schedule("00:05:00", UTC), None, False))
    assert (unmonitored.past_due, unmonitored.schedule_status) == (False, {})
    assert unmonitored.schedule == {"AdjustForDST": False}  # TimeSpan schedules


def test_a_parameter_annotated_str_gets_the_raw_json() -> None:
    trigger = {"type": "timerTrigger", "direction": "in", "name": "timer", "schedule": "1:00"}

    def user(timer: str) -> None:
        return None

    fn = FunctionInfo("t", trigger, (trigger,), user, False, False, ".", "f.py", "x")
    assert trigger_value(fn, '{"IsPastDue": false}') == '{"IsPastDue": false}'


def test_status_times_are_written_in_the_timers_zone_as_newtonsoft_writes_them() -> None:
    paris = ZoneInfo("Europe/Paris")
    assert dotnet_iso(at(0), paris) == "2026-03-02T13:00:00+01:00"
    assert dotnet_iso(at(0) + timedelta(microseconds=5), UTC) == \
        "2026-03-02T12:00:00.000005+00:00"
    assert dotnet_iso(NEVER, paris) == "0001-01-01T00:00:00+00:00"
    round_trip = ScheduleStatus.loads(ScheduleStatus(NEVER, at(60), at(1)).dumps(paris))
    assert round_trip == ScheduleStatus(NEVER, at(60), at(1))
    assert ScheduleStatus.loads("not json") is None


# -- the monitor's start-up check (pure) ------------------------------------------------------


FIVE_MIN = parse_schedule("0 */5 * * * *", UTC)


@pytest.mark.parametrize(("stored", "now", "past_due", "written"), [
    # nothing stored: record the next occurrence, not past due
    (None, at(10), False, ScheduleStatus(NEVER, at(300), at(10))),
    # stopped at 12:02, back at 12:04: the recorded 12:05 is still ahead
    (ScheduleStatus(at(0), at(300), at(0)), at(240), False, None),
    # down across 12:05 and 12:10: one past-due run
    (ScheduleStatus(at(0), at(300), at(0)), at(700), True, None),
    # never fired yet, down across the recorded Next: past due too
    (ScheduleStatus(NEVER, at(300), at(10)), at(400), True, None),
    # the schedule changed (Next is not what the schedule gives after Last): start over
    (ScheduleStatus(at(0), at(60), at(0)), at(700), False, ScheduleStatus(NEVER, at(900), at(700))),
    (ScheduleStatus(at(0), at(60), at(0)), at(30), False, ScheduleStatus(NEVER, at(300), at(30))),
])
def test_start_up_check_follows_azures_schedule_monitor(
        stored: ScheduleStatus | None, now: datetime, past_due: bool,
        written: ScheduleStatus | None) -> None:
    check = check_past_due(FIVE_MIN, stored, now)
    assert check.past_due is past_due
    assert check.changed is (written is not None)
    assert check.status == (written or stored)


def test_status_after_a_run_records_the_occurrence_or_the_late_start() -> None:
    on_time = ScheduleStatus.after_run(FIVE_MIN, at(0.004), at(0))
    assert on_time == ScheduleStatus(at(0), at(300), at(0))
    overran = ScheduleStatus.after_run(FIVE_MIN, at(310), at(300))  # fired at 12:05:10 for 12:05
    assert overran == ScheduleStatus(at(300), at(600), at(300))
    very_late = ScheduleStatus.after_run(FIVE_MIN, at(1000), at(300))
    assert very_late == ScheduleStatus(at(1000), at(1200), at(1000))
    every_10s = parse_schedule("00:00:10", UTC)
    # a TimeSpan keeps to the grid of the occurrence that was due, on every host
    assert ScheduleStatus.after_run(every_10s, at(0.003), at(0)).next == at(10)
    assert ScheduleStatus.after_run(every_10s, at(25), at(10)).next == at(30)
    assert ScheduleStatus.after_run(every_10s, at(25)).next == at(35)  # runOnStartup: Azure's


# -- running timers, moving the clock ---------------------------------------------------------


def test_every_second_fires_at_each_occurrence_unmonitored(world: World) -> None:
    async def scenario() -> None:
        host = world.host()
        await host.apply(index(world.fn("tick", "*/1 * * * * *")))
        await world.advance_to(at(5))
        assert world.times("tick") == [at(1), at(2), at(3), at(4), at(5)]
        assert all(not f.past_due and f.status == {} for f in world.firings)
        assert stored_status(world, "tick") is None  # unmonitored: nothing kept
        await host.stop()
    run(scenario)


def test_monitored_timer_receives_and_keeps_its_schedule_status(world: World) -> None:
    async def scenario() -> None:
        host = world.host()
        await host.apply(index(world.fn("five", "0 */5 * * * *")))
        await world.settle()
        assert stored_status(world, "five") == {
            "Last": "0001-01-01T00:00:00+00:00", "Next": "2026-03-02T12:05:00+00:00",
            "LastUpdated": "2026-03-02T12:00:00.5+00:00"}
        await world.advance_to(at(600))
        first, second = world.firings
        assert first.at == at(300) and not first.past_due
        assert first.status == {"Last": "0001-01-01T00:00:00+00:00",
                                "Next": "2026-03-02T12:05:00+00:00",
                                "LastUpdated": "2026-03-02T12:00:00.5+00:00"}
        assert second.status == {"Last": "2026-03-02T12:05:00+00:00",
                                 "Next": "2026-03-02T12:10:00+00:00",
                                 "LastUpdated": "2026-03-02T12:05:00+00:00"}
        assert stored_status(world, "five") == {
            "Last": "2026-03-02T12:10:00+00:00", "Next": "2026-03-02T12:15:00+00:00",
            "LastUpdated": "2026-03-02T12:10:00+00:00"}
        await host.stop()
    run(scenario)


def test_down_across_occurrences_gives_one_past_due_run_then_the_schedule(world: World) -> None:
    seed_status(world, "five", at(-900), at(-600))  # last ran 11:45, missed 11:50 .. 12:00

    async def scenario() -> None:
        host = world.host()
        await host.apply(index(world.fn("five", "0 */5 * * * *", runOnStartup=True)))
        await world.settle()
        [late] = world.firings
        assert late.past_due and late.at == T0  # at once, and instead of runOnStartup
        assert late.status["Next"] == "2026-03-02T11:50:00+00:00"
        await world.advance_to(at(300))
        assert world.times("five") == [T0, at(300)]
        assert not world.firings[1].past_due
        assert world.firings[1].status["Last"] == "2026-03-02T12:00:00.5+00:00"
        await host.stop()
    run(scenario)


def test_status_is_written_after_the_run_so_a_run_cut_short_runs_again_past_due(
        world: World) -> None:
    """Azure's monitor updates the status after the function returns: a host that dies
    mid-run leaves the old status, and the next start runs that occurrence as past due."""
    async def scenario() -> None:
        first = world.host("host-a")
        await first.apply(index(world.fn("five", "0 */5 * * * *", block=True)))
        await world.advance_to(at(300))
        assert world.blocked == 1  # 12:05 is running
        assert stored_status(world, "five")["Next"] == "2026-03-02T12:05:00+00:00"
        for runner in list(first.runners.values()):  # the host dies mid-run
            runner.cancel()
        for run_task in list(first.runs):
            run_task.cancel()
        await world.settle()
        assert stored_status(world, "five")["Next"] == "2026-03-02T12:05:00+00:00"
        world.clock.set(at(330))  # the host comes back half a minute later
        second = world.host("host-b")
        await second.apply(index(world.fn("five", "0 */5 * * * *")))
        await world.settle()
        cut, late = world.firings
        assert late.past_due and late.at == at(330)
        assert late.status == cut.status  # the status the cut-short run saw: never updated
        # Recorded after the past-due run, at its occurrence (Azure's rule, see after_run).
        assert stored_status(world, "five")["Last"] == "2026-03-02T12:05:00+00:00"
        assert stored_status(world, "five")["Next"] == "2026-03-02T12:10:00+00:00"
        await second.stop()
    run(scenario)


def test_a_schedule_changed_while_down_is_never_past_due(world: World) -> None:
    seed_status(world, "five", at(-3600), at(-3540))  # the old schedule: every minute

    async def scenario() -> None:
        host = world.host()
        await host.apply(index(world.fn("five", "0 */5 * * * *")))
        await world.advance_to(at(299))
        assert world.firings == []
        assert stored_status(world, "five")["Next"] == "2026-03-02T12:05:00+00:00"
        await host.stop()
    run(scenario)


def test_run_on_startup_fires_once_per_process_not_on_reload(world: World) -> None:
    async def scenario() -> None:
        host = world.host()
        fn = world.fn("boot", "0 0 0 * * *", runOnStartup=True)
        await host.apply(index(fn))
        await world.settle()
        assert [(f.at, f.past_due) for f in world.firings] == [(T0, False)]
        await host.apply(index(fn))  # the same index again
        await host.apply(index(world.fn("boot", "0 0 0 * * *", runOnStartup=True, version="v2")))
        await host.apply(index(world.fn("boot", "0 0 1 * * *", runOnStartup=True)))
        await world.settle()
        assert len(world.firings) == 1
        await host.stop()
    run(scenario)


def test_an_overrun_fires_once_right_after_and_runs_never_overlap(world: World) -> None:
    async def scenario() -> None:
        host = world.host()
        await host.apply(index(world.fn("slow", "*/10 * * * * *", block=True)))
        await world.advance_to(at(10))
        assert world.blocked == 1
        await world.advance_to(at(45))  # 20, 30 and 40 pass while the 10 s run is still going
        assert world.times("slow") == [at(10)]
        world.release("slow")
        await world.settle()
        assert world.times("slow") == [at(10), at(45)]  # once, at once, not past due
        assert not world.firings[1].past_due
        world.release("slow")
        await world.advance_to(at(60))
        world.release("slow")
        await world.settle()
        assert world.times("slow") == [at(10), at(45), at(50), at(60)]
        world.release("slow")
        await host.stop()
    run(scenario)


def test_a_timespan_keeps_its_grid_through_an_overrun(world: World) -> None:
    async def scenario() -> None:
        host = world.host()
        await host.apply(index(world.fn("span", "00:00:10", block=True)))
        await world.advance_to(T0 + timedelta(seconds=10))
        await world.advance_to(T0 + timedelta(seconds=25))
        world.release("span")
        await world.settle()
        world.release("span")
        await world.advance_to(T0 + timedelta(seconds=30))
        world.release("span")
        await world.settle()
        offsets = [(t - T0).total_seconds() for t in world.times("span")]
        assert offsets == [10, 25, 30]  # 20 ran late at 25; 30 stays on the grid
        await host.stop()
    run(scenario)


def test_two_hosts_on_one_store_fire_each_occurrence_once(world: World) -> None:
    async def scenario() -> None:
        a, b = world.host("host-a"), world.host("host-b")
        fns = index(world.fn("tick", "*/1 * * * * *"), world.fn("five", "0 */5 * * * *"))
        await a.apply(fns)
        await b.apply(fns)
        await world.advance_to(at(600))
        ticks = world.times("tick")
        assert ticks == [at(s) for s in range(1, 601)]  # 600 occurrences, each fired once
        assert world.times("five") == [at(300), at(600)]
        assert len(world.store.list_leases("timer:")) == 2  # released, not held
        assert all(lease.owner == "" for lease in world.store.list_leases("timer:"))
        await a.stop()
        await b.stop()
    run(scenario)


def test_a_run_on_one_host_keeps_the_other_from_overlapping_it(world: World) -> None:
    async def scenario() -> None:
        a, b = world.host("host-a"), world.host("host-b")
        fns = index(world.fn("slow", "*/10 * * * * *", block=True))
        await a.apply(fns)
        await b.apply(fns)
        await world.advance_to(at(35))  # one host runs 10; the other skips 20 and 30
        assert world.times("slow") == [at(10)] and world.blocked == 1
        world.release("slow")
        await world.settle()  # the overrun fires once, right after, on the host that ran
        assert world.times("slow") == [at(10), at(35)]
        world.release("slow")
        await world.advance_to(at(40))
        world.release("slow")
        await world.settle()
        assert world.times("slow") == [at(10), at(35), at(40)]
        await a.stop()
        await b.stop()
    run(scenario)


def test_a_claimed_occurrence_is_skipped_and_old_claims_are_purged(world: World) -> None:
    with world.store.transaction() as tx:
        assert tx.claim_once(claim_key("tick", at(2)))  # another host fired 12:00:02

    async def scenario() -> None:
        host = world.host()
        await host.apply(index(world.fn("tick", "*/1 * * * * *")))
        await world.advance_to(at(3))
        assert world.times("tick") == [at(1), at(3)]
        world.clock.set(at(3) + timedelta(days=1, hours=1))  # the host was suspended a day
        await world.settle()
        assert world.times("tick")[-1] == world.clock.now()  # one late run, not 90,000
        await host.stop()
    run(scenario)
    with world.store.transaction() as tx:
        assert tx.claim_once(claim_key("tick", at(2)))  # purged a day later: claimable again


def test_hot_reload_adds_removes_and_reschedules_without_double_firing(world: World) -> None:
    async def scenario() -> None:
        host = world.host()
        await host.apply(index(world.fn("tick", "*/1 * * * * *"),
                               world.fn("gone", "*/1 * * * * *")))
        await world.advance_to(at(2))
        # code change only: the armed occurrence is kept and the new code runs at it
        await host.apply(index(world.fn("tick", "*/1 * * * * *", version="v2"),
                               world.fn("new", "*/2 * * * * *")))
        await world.advance_to(at(4))
        assert [(f.at, f.version) for f in world.firings if f.fn == "tick"] == [
            (at(1), "v1"), (at(2), "v1"), (at(3), "v2"), (at(4), "v2")]
        assert world.times("gone") == [at(1), at(2)]
        assert world.times("new") == [at(4)]
        # a schedule change at the very instant of an occurrence that already fired
        await host.apply(index(world.fn("tick", "*/2 * * * * *", version="v2")))
        await world.advance_to(at(8))
        assert world.times("tick")[4:] == [at(6), at(8)]
        assert "new" not in host.runners
        await host.stop()
    run(scenario)


def test_a_reschedule_waits_for_the_run_in_flight(world: World) -> None:
    async def scenario() -> None:
        host = world.host()
        await host.apply(index(world.fn("slow", "*/10 * * * * *", block=True)))
        await world.advance_to(at(10))
        await host.apply(index(world.fn("slow", "*/5 * * * * *", block=True)))
        await world.advance_to(at(17))
        assert world.times("slow") == [at(10)]  # the old run is still going: no overlap
        world.release("slow")
        await world.settle()
        assert world.times("slow") == [at(10), at(17)]  # 15 fires once the old run ends
        world.release("slow")
        await host.stop()
    run(scenario)


def test_disabled_timers_do_not_run(world: World) -> None:
    async def scenario() -> None:
        host = world.host()
        await host.apply(index(world.fn("tick", "*/1 * * * * *"), disabled=frozenset({"tick"})))
        await world.advance_to(at(3))
        assert world.firings == [] and host.runners == {}
        await host.stop()
    run(scenario)


def test_stop_cancels_pending_timers_but_not_a_run_in_flight(world: World) -> None:
    async def scenario() -> None:
        host = world.host()
        await host.apply(index(world.fn("slow", "*/10 * * * * *", block=True),
                               world.fn("tick", "*/1 * * * * *")))
        await world.advance_to(at(10))
        stopping = asyncio.ensure_future(host.stop())
        await until(lambda: host.runners == {}, "runners cancelled")
        assert not stopping.done()  # waiting for the run in flight
        world.release("slow")
        await stopping
        assert world.clock.parked == 0
        world.clock.set(at(30))
        await asyncio.sleep(0)
        assert world.times("slow") == [at(10)]
    run(scenario)


def test_manual_run_value_reads_the_status_and_does_not_update_it(world: World) -> None:
    class FakeRuntime:
        environ: dict[str, str] = {}

        def store(self) -> SqliteStore:
            return world.store

    seed_status(world, "five", at(0), at(300))
    fn = world.fn("five", "0 */5 * * * *")
    value = KIND.manual_value(fn, "ignored", FakeRuntime())  # type: ignore[arg-type]
    assert isinstance(value, func.TimerRequest)
    assert value.past_due is False
    assert value.schedule_status["Next"] == "2026-03-02T12:05:00+00:00"
    assert stored_status(world, "five")["Next"] == "2026-03-02T12:05:00+00:00"
    unmonitored = KIND.manual_value(world.fn("t", "*/1 * * * * *"), "", FakeRuntime())  # type: ignore[arg-type]
    assert unmonitored.schedule_status == {}


def test_sqlite_is_called_on_the_loop_and_other_stores_in_a_thread(world: World) -> None:
    async def thread_of(service: TimerService) -> int:
        return await service.offload(threading.get_ident)

    local = world.host()
    local.store = world.store
    network = TimerService(object, Invoker(timeout=None, environ={}), {})
    network.store = object()  # type: ignore[assignment]
    try:
        assert asyncio.run(thread_of(local)) == threading.get_ident()
        assert asyncio.run(thread_of(network)) != threading.get_ident()
    finally:
        network.invoker.shutdown()
