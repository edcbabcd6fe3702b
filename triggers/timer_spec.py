"""A timer function's settings: its schedule, time zone and flags, and the trigger value it
receives. Pure: no clock, no store, no asyncio (shared by `triggers/timer.py` and its tests).
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, tzinfo
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from funcpy.triggers.ncrontab import Schedule, parse_schedule
from funcpy.triggers.timer_status import timer_request

if TYPE_CHECKING:
    from funcpy.host.index import FunctionInfo


def time_zone(environ: Mapping[str, str]) -> tuple[tzinfo, str]:
    """WEBSITE_TIME_ZONE or TZ (IANA names, as on Linux App Service), otherwise UTC."""
    for setting in ("WEBSITE_TIME_ZONE", "TZ"):
        name = (environ.get(setting) or "").strip()
        if name:
            try:
                return ZoneInfo(name.removeprefix(":")), name.removeprefix(":")
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(
                    f"The time zone '{name}' in the setting {setting} is not a known IANA time "
                    "zone name such as 'Europe/London' or 'America/New_York' (Windows zone ids "
                    f"such as 'Eastern Standard Time' are not supported); fix or unset {setting}"
                ) from None
    return UTC, "UTC"


def _flag(fn: FunctionInfo, key: str, default: bool) -> bool:
    value = fn.trigger.get(key)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "false"):
        return text == "true"
    raise ValueError(f"'{key}' must be true or false, not {value!r}")


@dataclass(frozen=True)
class TimerSpec:
    """What a timer runs on. Two specs are equal when the timer keeps its armed occurrence."""

    expression: str
    zone: str
    use_monitor: bool
    run_on_startup: bool
    schedule: Schedule = field(compare=False)

    @classmethod
    def of(cls, fn: FunctionInfo, environ: Mapping[str, str]) -> TimerSpec:
        """Raises ValueError with the reason (the loader names the function)."""
        expression = str(fn.trigger.get("schedule") or "").strip()
        if not expression:
            raise ValueError("a timer trigger needs a schedule (NCRONTAB or TimeSpan)")
        tz, zone = time_zone(environ)
        schedule = parse_schedule(expression, tz)  # ScheduleError is a ValueError
        return cls(expression, zone, _flag(fn, "useMonitor", schedule.default_use_monitor()),
                   _flag(fn, "runOnStartup", False), schedule)


def trigger_value(fn: FunctionInfo, json_text: str) -> Any:
    """`func.TimerRequest`, or the raw JSON for a parameter annotated `str` (the worker's
    generic converter)."""
    param = inspect.signature(fn.func).parameters.get(str(fn.trigger["name"]))
    if param is not None and param.annotation in (str, "str"):
        return json_text
    return timer_request(json_text)


