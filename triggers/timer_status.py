"""A timer's schedule status as Azure's ScheduleMonitor keeps it, and the `TimerRequest` a timer
function receives.

Owns the `{"Last","Next","LastUpdated"}` record (kept in the task hub's key/value table under
`timers/{function}/status`, as Azure keeps it in the `azure-webjobs-hosts` blob), the start-up
check that decides whether a monitored timer is past due, the occurrence arithmetic shared by
every host on one store, and the JSON payload the worker's converter turns into
`func.TimerRequest`. Pure functions over datetimes: no clock, no store, no asyncio here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any

from azure.functions import meta
from funcpy.triggers.ncrontab import IntervalSchedule, Schedule

# .NET's DateTime.MinValue, which the monitor stores as `Last` before a timer's first run.
NEVER = datetime(1, 1, 1, tzinfo=UTC)
NEVER_TEXT = "0001-01-01T00:00:00+00:00"


def status_key(function: str) -> str:
    return f"timers/{function}/status"


def claim_key(function: str, occurrence: datetime) -> str:
    """The fixed id of one occurrence of one timer: every host computes the same text."""
    return f"timers/{function}/{occurrence.astimezone(UTC).isoformat()}"


def dotnet_iso(moment: datetime, tz: tzinfo) -> str:
    """Newtonsoft's round-trip text for a local DateTime: offset always, fraction only if any."""
    if moment == NEVER:
        return NEVER_TEXT
    text = moment.astimezone(tz).isoformat()
    if moment.microsecond:
        whole, _, rest = text.partition(".")
        fraction, offset = rest[:6].rstrip("0"), rest[6:]
        text = f"{whole}.{fraction}{offset}"
    return text


@dataclass(frozen=True)
class ScheduleStatus:
    last: datetime
    next: datetime
    last_updated: datetime

    def to_json(self, tz: tzinfo) -> dict[str, str]:
        return {"Last": dotnet_iso(self.last, tz), "Next": dotnet_iso(self.next, tz),
                "LastUpdated": dotnet_iso(self.last_updated, tz)}

    def dumps(self, tz: tzinfo) -> str:
        return json.dumps(self.to_json(tz))

    @classmethod
    def loads(cls, text: str | None) -> ScheduleStatus | None:
        """The stored record, or None when there is none or it cannot be read (Azure then
        starts over as for a new timer)."""
        if not text:
            return None
        try:
            raw = json.loads(text)
            return cls(*(_parse_time(raw[k]) for k in ("Last", "Next", "LastUpdated")))
        except (ValueError, KeyError, TypeError):
            return None

    @classmethod
    def after_run(cls, schedule: Schedule, start: datetime,
                  occurrence: datetime | None = None) -> ScheduleStatus:
        """What the monitor records for a run that started at `start`, for the scheduled
        `occurrence` (None for run-on-startup and manual runs).

        A run that starts before its occurrence's successor is recorded at the occurrence
        itself (Azure raises an early start to it; a late start within the period changes
        nothing for a cron schedule and keeps a TimeSpan on its grid), so `Next` is exactly
        the schedule's next after `Last` and the start-up check sees no schedule change.
        """
        if occurrence is not None:
            successor = schedule.next_after(occurrence)
            if _utc(start) < _utc(successor):
                return cls(occurrence, successor, occurrence)
        return cls(start, following(schedule, start, occurrence), start)


def _parse_time(text: Any) -> datetime:
    moment = datetime.fromisoformat(str(text))
    if moment.tzinfo is None:
        raise ValueError("naive time in a schedule status")
    return NEVER if moment.year == 1 else moment


def _utc(moment: datetime) -> datetime:
    # Aware datetimes sharing a tzinfo compare by wall clock (ignoring fold): compare in UTC.
    return moment.astimezone(UTC)


def same_instant(a: datetime, b: datetime) -> bool:
    return _utc(a) == _utc(b)


def following(schedule: Schedule, after: datetime, anchor: datetime | None = None) -> datetime:
    """The occurrence to arm after a run that started at `after`.

    Cron: the schedule's next occurrence after `after` (Azure's rule, so a run that overran
    the next occurrence fires once, right after it ends, and skipped ones are dropped).
    TimeSpan: Azure adds the interval to the run's start, which puts each host on its own
    grid; here the interval is counted from `anchor` (the occurrence that was due), so every
    host on one store arrives at the same occurrence and its claim. Same spacing, no drift.
    """
    if not isinstance(schedule, IntervalSchedule) or anchor is None:
        return schedule.next_after(after)
    step = schedule.interval
    behind = max(_utc(after) - _utc(anchor), step * 0)
    return (_utc(anchor) + (behind // step + 1) * step).astimezone(schedule.tz)


@dataclass(frozen=True)
class StartupCheck:
    status: ScheduleStatus
    past_due: bool
    changed: bool  # the status must be written back


def ran_already(stored: ScheduleStatus | None, occurrence: datetime | None) -> bool:
    """The monitor's record says `occurrence` has run (on this host or another): its `Last`
    is at or after it. The status is written after each run, as Azure does, so an occurrence
    whose run was cut short by a crash has not run, and the next start runs it as past due."""
    if stored is None or occurrence is None or stored.last == NEVER:
        return False
    return _utc(stored.last) >= _utc(occurrence)


def check_past_due(schedule: Schedule, stored: ScheduleStatus | None,
                   now: datetime) -> StartupCheck:
    """Azure's `ScheduleMonitor.CheckPastDueAsync` at listener start.

    No status: record the next occurrence. A stored `Next` that the schedule would not have
    produced means the schedule changed: start over from now, never past due. Otherwise the
    timer is past due when `now` is beyond the recorded `Next` (one run, however many were
    missed).
    """
    if stored is None:
        return StartupCheck(ScheduleStatus(NEVER, schedule.next_after(now), now), False, True)
    if stored.last != NEVER:
        expected = schedule.next_after(stored.last)
    elif stored.last_updated != NEVER:
        expected = schedule.next_after(stored.last_updated)
    else:
        expected = schedule.next_after(now)
    if not same_instant(stored.next, expected):
        if _utc(expected) <= _utc(now):
            expected = schedule.next_after(now)
        return StartupCheck(ScheduleStatus(NEVER, expected, now), False, True)
    past_due = _utc(now) > _utc(stored.next)
    return StartupCheck(stored, past_due, False)


def payload(schedule: Schedule, status: ScheduleStatus | None, past_due: bool) -> str:
    """The host's JSON for `TimerInfo` (Newtonsoft's serialization, §2.5 of the reference)."""
    return json.dumps({
        "Schedule": {"AdjustForDST": schedule.adjust_for_dst},
        "ScheduleStatus": status.to_json(schedule.tz) if status is not None else None,
        "IsPastDue": past_due,
    })


def timer_request(json_text: str) -> Any:
    """`func.TimerRequest` built by azure.functions' own converter, as the worker builds it."""
    converter = meta.get_binding_registry().get("timerTrigger")
    return converter.decode(meta.Datum(json_text, "json"), trigger_metadata={})
