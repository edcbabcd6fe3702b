"""Keys /admin/host/status adds for the dashboard's Functions page (new keys only: older
clients ignore them): when the functions now serving were loaded, the functions that failed to
load with their errors, and each timer's schedule with its next occurrences."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from funcpy.triggers.timer_spec import TimerSpec

if TYPE_CHECKING:
    from funcpy.host.runtime import Runtime

NEXT_OCCURRENCES = 5


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def timer_schedules(runtime: Runtime) -> dict[str, dict[str, Any]]:
    now = dt.datetime.now(dt.UTC)
    out: dict[str, dict[str, Any]] = {}
    for fn in runtime.index.of_type("timerTrigger"):
        try:
            spec = TimerSpec.of(fn, runtime.environ)
            out[fn.name] = {
                "schedule": spec.expression, "description": spec.schedule.describe(),
                "timeZone": spec.zone, "useMonitor": spec.use_monitor,
                "runOnStartup": spec.run_on_startup,
                "next": [_iso(t) for t in spec.schedule.next_n(now, NEXT_OCCURRENCES)]}
        except ValueError as exc:  # validated at load; a settings edit since may break it
            out[fn.name] = {"schedule": str(fn.trigger.get("schedule")), "error": str(exc)}
    return out


def status_extras(runtime: Runtime) -> dict[str, Any]:
    loaded_at = runtime.loaded_at
    return {
        "lastLoaded": _iso(dt.datetime.fromtimestamp(loaded_at, dt.UTC))
        if loaded_at is not None else None,
        "generation": runtime.index.generation,
        "functionErrors": dict(runtime.index.errors),
        "loadError": runtime.load_error,
        "timers": timer_schedules(runtime),
    }
