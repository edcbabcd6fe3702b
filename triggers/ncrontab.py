"""Azure timer schedules: NCRONTAB cron expressions and .NET TimeSpan intervals.

Owns parsing a schedule expression the way Azure's timer extension does (cron first, then
TimeSpan), the occurrences of a schedule in a time zone under Azure's daylight-saving rules, a
description in words, and the defaults a schedule implies (`useMonitor`, `AdjustForDST`).

It must not resolve `%NAME%` settings, read the clock, choose the time zone or run timers: the
timer trigger does those and hands this module a resolved expression, a zone and a time.

Calendar maths is croniter's, on a canonical expression written here; ours is the NCRONTAB
dialect (names, `a/n`, day-of-month AND day-of-week, none of croniter's extras) and Azure's
fall-back rule. Daylight saving, as verified in the tests:
- spring forward: a wall time in the gap fires once at the first time that exists (02:30 ->
  03:00), except that a schedule whose hour field is '*' just takes its next existing match;
- fall back: a fixed-time schedule (no run of values or '*' in its second, minute and hour
  fields) fires once, in the first pass of the repeated hour; any other keeps its real-time
  spacing through both passes;
- TimeSpan schedules add real time and ignore the wall clock.
Known limit (croniter's): where clocks fall back by 30 minutes or at :45 (Lord Howe, Chatham),
an interval schedule can miss firings in the repeated wall-clock minutes.
"""

from __future__ import annotations

import calendar
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

from croniter import CroniterBadDateError, croniter

__all__ = ["CronSchedule", "IntervalSchedule", "Schedule", "ScheduleError", "parse_schedule"]


class ScheduleError(ValueError):
    """A schedule expression Azure would reject; the message names the expression and the fault."""


def _invalid(expression: str, reason: str) -> ScheduleError:
    return ScheduleError(f"The schedule expression '{expression}' is invalid: {reason}")


def _unrecognized(expression: str, hint: str = "") -> ScheduleError:
    message = (
        f"The schedule expression '{expression}' was not recognized as a valid cron expression "
        "or timespan string."
    )
    return ScheduleError(f"{message} {hint}" if hint else message)


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()

    @property
    def size(self) -> int:
        return self.high - self.low + 1


_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December")  # fmt: skip
_DAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
_SECOND, _MINUTE, _HOUR = _Field("second", 0, 59), _Field("minute", 0, 59), _Field("hour", 0, 23)
_DAY, _MONTH = _Field("day", 1, 31), _Field("month", 1, 12, _MONTHS)
_DOW = _Field("day-of-week", 0, 6, _DAYS)
_FIELDS = (_SECOND, _MINUTE, _HOUR, _DAY, _MONTH, _DOW)
_LONGEST_MONTH = {month: calendar.monthrange(2000, month)[1] for month in range(1, 13)}  # leap
_NUMBER = re.compile(r"[0-9]+")
_FOREIGN = re.compile(r".*[?#].*|[0-9]*(?:L|W|LW|H)[0-9]*", re.IGNORECASE)


class _FieldError(ValueError):
    pass


def _parse_value(text: str, field: _Field) -> int:
    if _NUMBER.fullmatch(text):
        value = int(text)
        if not field.low <= value <= field.high:
            note = " (0 is Sunday; Azure does not accept 7)" if field is _DOW else ""
            raise _FieldError(
                f"{field.name} {value} is out of range {field.low}-{field.high}{note}"
            )
        return value
    # NCRONTAB takes the first name the token is a prefix of: 'M' is Monday, 'Ma' is March.
    for index, name in enumerate(field.names):
        if name.lower().startswith(text.lower()):
            return field.low + index
    problem = f"is not a known name; use one of {', '.join(field.names)}"
    if not field.names:
        problem = "is not a number"
    if _FOREIGN.fullmatch(text):
        problem += " (Azure's NCRONTAB has no '?', 'L', 'W', '#' or 'H')"
    raise _FieldError(f"{field.name} '{text}' {problem}")


def _parse_item(item: str, field: _Field) -> range:
    base, slash, step_text = item.partition("/")
    step = 1
    if slash:
        if not _NUMBER.fullmatch(step_text):
            raise _FieldError(f"{field.name} step '{step_text}' in '{item}' is not a number")
        step = max(int(step_text), 1)  # NCRONTAB reads '*/0' as '*'
    if base == "*":
        return range(field.low, field.high + 1, step)
    first_text, dash, last_text = base.partition("-")
    if not first_text or (dash and not last_text):
        raise _FieldError(f"{field.name} '{item}' is not a value, a range or a step")
    first = _parse_value(first_text, field)
    if dash:
        last = _parse_value(last_text, field)
        first, last = min(first, last), max(first, last)  # NCRONTAB swaps a reversed range
    else:
        last = field.high if slash else first  # 'a/n' means a..max step n
    return range(first, last + 1, step)


def _parse_field(text: str, field: _Field) -> frozenset[int]:
    values: set[int] = set()
    for item in text.split(","):
        if not item:
            raise _FieldError(f"{field.name} field '{text}' has an empty list item")
        values.update(_parse_item(item, field))
    return frozenset(values)


def _split(expression: str) -> list[str]:
    return [token for token in expression.split(" ") if token]  # NCRONTAB splits on spaces only


def _in_zone(moment: datetime, tz: tzinfo) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{moment!r} is naive; schedules need a timezone-aware datetime")
    return moment.astimezone(tz)


class Schedule(ABC):
    """A timer schedule in one time zone.

    Occurrences are aware datetimes in `tz`. Python compares and subtracts datetimes that share a
    tzinfo by wall clock, ignoring `fold`, so compare occurrences as `.astimezone(UTC)`.
    """

    expression: str
    tz: tzinfo

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.expression!r}, {self.tz})"

    @abstractmethod
    def next_after(self, after: datetime) -> datetime:
        """The first occurrence strictly after the aware datetime `after`, in `tz`."""

    def next_n(self, after: datetime, n: int) -> list[datetime]:
        if n < 0:
            raise ValueError(f"n must be >= 0, not {n}")
        occurrences: list[datetime] = []
        for _ in range(n):
            after = self.next_after(after)
            occurrences.append(after)
        return occurrences

    @abstractmethod
    def describe(self) -> str:
        """The schedule in words, e.g. 'every 5 minutes'."""

    @property
    @abstractmethod
    def adjust_for_dst(self) -> bool:
        """`Schedule.AdjustForDST` in the TimerRequest payload."""

    @abstractmethod
    def default_use_monitor(self) -> bool:
        """Azure's `useMonitor` when the function does not set it: off for sub-minute schedules."""


class CronSchedule(Schedule):
    """An NCRONTAB expression: 6 fields (second first) or 5 (no seconds).

    `fields` holds the values of second, minute, hour, day, month and day-of-week; `is_interval`
    is Azure's name for a schedule that keeps firing through a repeated fall-back hour.
    """

    def __init__(self, expression: str, tz: tzinfo) -> None:
        self.expression, self.tz = expression, tz
        tokens = _split(expression)
        if any(token.startswith("@") for token in tokens):
            raise _unrecognized(expression, _MACRO_HINT)
        if len(tokens) == 5:
            tokens = ["0", *tokens]
        elif len(tokens) != 6:
            raise _invalid(
                expression,
                f"it has {len(tokens)} fields; NCRONTAB takes 6 (second minute hour day month "
                "day-of-week) or 5 (minute hour day month day-of-week)",
            )
        try:
            self.fields = tuple(_parse_field(t, f) for t, f in zip(tokens, _FIELDS, strict=True))
        except _FieldError as error:
            raise _invalid(expression, str(error)) from None
        days, months = self.fields[3], self.fields[4]
        if not any(day <= _LONGEST_MONTH[month] for day in days for month in months):
            raise _invalid(
                expression,
                f"it never fires: {_join(_runs(months, _MONTH))} "
                f"{'has' if len(months) == 1 else 'have'} no {_units(days, _DAY)}",
            )
        # Azure decides "interval" on NCRONTAB's normalised text, where a run of consecutive
        # values prints as 'a-b' and a whole field as '*'; '0 */30 1 * * *' prints '0 0,30 1 ...'
        # and so counts as fixed-time.
        self.is_interval = any(_has_run(values) for values in self.fields[:3])
        self._croniter_text = " ".join(
            "*" if len(values) == field.size else ",".join(map(str, sorted(values)))
            for values, field in zip(self.fields, _FIELDS, strict=True)
        )

    def next_after(self, after: datetime) -> datetime:
        after_utc = _in_zone(after, UTC)
        search = self._search(after)
        # A few rounds at most: one to leave a repeated fall-back hour, and a guard against any
        # answer croniter might give around a DST change that does not advance.
        for _ in range(8):
            try:
                candidate: datetime = search.get_next(datetime)
            except (CroniterBadDateError, ValueError, OverflowError) as error:
                raise _invalid(self.expression, f"no occurrence after {after}") from error
            if candidate.astimezone(UTC) <= after_utc:
                continue
            if not self.is_interval and _is_repeated_wall_time(candidate):
                # Azure fires a fixed-time schedule once, in the first pass of a repeated hour.
                resume = _end_of_repeat(candidate).astimezone(UTC) - timedelta(seconds=1)
                search = self._search(resume)
                continue
            return candidate
        raise RuntimeError(f"no next occurrence of {self.expression!r} after {after}")

    def _search(self, start: datetime) -> croniter:
        return croniter(
            self._croniter_text, _in_zone(start, self.tz), second_at_beginning=True, day_or=False
        )

    @property
    def adjust_for_dst(self) -> bool:
        return True

    def default_use_monitor(self) -> bool:
        # Azure switches monitoring off when every field but seconds is '*' and the schedule
        # fires more than once a minute, which with those fields means more than one second.
        second, *rest = self.fields
        whole = all(len(v) == f.size for v, f in zip(rest, _FIELDS[1:], strict=True))
        return not (whole and len(second) > 1)

    def describe(self) -> str:
        return _describe_time(*self.fields[:3]) + _describe_days(*self.fields[3:])


def _is_repeated_wall_time(moment: datetime) -> bool:
    return moment.fold == 1 and moment.replace(fold=0).utcoffset() != moment.utcoffset()


def _end_of_repeat(moment: datetime) -> datetime:
    """The first instant after the repeated wall-clock hour that `moment` falls in."""
    step = moment.replace(second=0, microsecond=0)  # DST changes fall on whole minutes
    while _is_repeated_wall_time(step):
        step = (step.astimezone(UTC) + timedelta(minutes=1)).astimezone(moment.tzinfo)
    return step


def _has_run(values: frozenset[int]) -> bool:
    return any(value + 1 in values for value in values)


_MACRO_HINT = "Macros such as '@daily' are not supported; write the fields, e.g. '0 0 0 * * *'."
# [d.]h:m[:s[.fraction]], d:h:m:s[.fraction]; a lone number is days, as .NET reads it.
_TIMESPAN = re.compile(
    r"(?:(?P<days>[0-9]+)\.)?(?P<clock>[0-9]+(?::[0-9]+){1,3})(?:\.(?P<fraction>[0-9]{1,7}))?"
)


class IntervalSchedule(Schedule):
    """A .NET TimeSpan: the next occurrence is the previous one plus the interval, in real time."""

    def __init__(self, expression: str, tz: tzinfo) -> None:
        self.expression, self.tz = expression, tz
        self.interval = _parse_timespan(expression)

    def next_after(self, after: datetime) -> datetime:
        # Add in UTC: aware-datetime arithmetic in a zone adds wall-clock time across DST.
        return (_in_zone(after, UTC) + self.interval).astimezone(self.tz)

    @property
    def adjust_for_dst(self) -> bool:
        return False

    def default_use_monitor(self) -> bool:
        return self.interval >= timedelta(minutes=1)

    def describe(self) -> str:
        whole_minutes, seconds = divmod(self.interval.total_seconds(), 60)
        hours, minutes = divmod(int(whole_minutes), 60)
        days, hours = divmod(hours, 24)
        parts = [f"{n} {unit}(s)" for n, unit in ((days, "day"), (hours, "hour"),
                                                  (minutes, "minute")) if n]  # fmt: skip
        if seconds:
            parts.append(f"{seconds:g} second(s)")
        return "every " + " ".join(parts)


def _parse_timespan(expression: str) -> timedelta:
    text = expression.strip()
    negative, body = text.startswith("-"), text.removeprefix("-")
    match = _TIMESPAN.fullmatch(body)
    if _NUMBER.fullmatch(body):
        days, hours, minutes, seconds, fraction = int(body), 0, 0, 0, ""
    elif match and not (match["days"] and match["clock"].count(":") == 3):
        numbers = [int(n) for n in match["clock"].split(":")]
        days, fraction = int(match["days"] or 0), match["fraction"] or ""
        if len(numbers) == 2 and fraction:
            raise _unrecognized(expression)
        if len(numbers) == 3 and numbers[0] >= 24 and not match["days"] and not fraction:
            numbers = [*numbers, 0]  # Azure's documented rule: '24:00:00' is 24 days
        if len(numbers) == 4:
            days, numbers = numbers[0], numbers[1:]
        hours, minutes, seconds = [*numbers, 0][:3]
        for value, unit, top in ((hours, "hour", 23), (minutes, "minute", 59),
                                 (seconds, "second", 59)):  # fmt: skip
            if value > top:
                raise _invalid(expression, f"{unit} {value} is out of range 0-{top}")
    else:
        hint = _MACRO_HINT if text.startswith("@") else ""
        raise _unrecognized(expression, hint)
    try:
        # .NET counts 100 ns ticks; the seventh fraction digit is below what timedelta holds.
        micro = int(fraction[:6].ljust(6, "0"))
        interval = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds,
                             microseconds=micro)  # fmt: skip
    except OverflowError:
        raise _invalid(expression, "the interval is too large") from None
    if negative or not interval:
        raise _invalid(expression, "a TimeSpan schedule must be greater than zero")
    return interval


def parse_schedule(expression: str, tz: tzinfo) -> Schedule:
    """The schedule for a resolved expression, read as Azure does: cron, else TimeSpan.

    One token can never be NCRONTAB, so it goes straight to the TimeSpan reading.
    """
    if len(_split(expression)) <= 1:
        return IntervalSchedule(expression, tz)
    return CronSchedule(expression, tz)


# --- words -----------------------------------------------------------------------------------


def _runs(values: frozenset[int], field: _Field) -> list[str]:
    """The values as phrases: runs as 'a-b' (or 'Monday through Friday'), steps kept short."""
    ordered = sorted(values)
    step = ordered[1] - ordered[0] if len(ordered) > 3 else 0

    def name(value: int) -> str:
        return field.names[value - field.low] if field.names else str(value)

    if step > 1 and ordered == list(range(ordered[0], ordered[-1] + 1, step)):
        return [f"{name(ordered[0])}-{name(ordered[-1])} in steps of {step}"]
    phrases, start = [], ordered[0]
    for previous, value in zip(ordered, [*ordered[1:], None], strict=True):
        if value != previous + 1:
            if previous - start >= 2 or (previous > start and not field.names):
                joiner = " through " if field.names else "-"
                phrases.append(f"{name(start)}{joiner}{name(previous)}")
            else:
                phrases.extend(name(v) for v in range(start, previous + 1))
            start = value if value is not None else start
    return phrases


def _join(phrases: list[str], last: str = "and") -> str:
    return phrases[0] if len(phrases) == 1 else f"{', '.join(phrases[:-1])} {last} {phrases[-1]}"


def _units(values: frozenset[int], field: _Field) -> str:
    """'second 5', 'minutes 0-4', 'hours 9 and 17'."""
    noun = field.name if len(values) == 1 else f"{field.name}s"
    return f"{noun} {_join(_runs(values, field))}"


def _every(values: frozenset[int], field: _Field) -> int | None:
    """k when the values are what '*/k' gives and k divides the field evenly."""
    step = field.size // len(values)
    if len(values) < 2 or step < 2 or field.size % step:
        return None
    return step if values == frozenset(range(field.low, field.high + 1, step)) else None


def _describe_time(second: frozenset[int], minute: frozenset[int], hour: frozenset[int]) -> str:
    all_minutes, all_hours = len(minute) == 60, len(hour) == 24
    if all_minutes and all_hours:
        if len(second) == 60:
            return "every second"
        if step := _every(second, _SECOND):
            return f"every {step} seconds"
        return "every minute" + ("" if second == {0} else f" at {_units(second, _SECOND)}")
    if second == {0}:
        hour_step = _every(hour, _HOUR)
        if minute == {0} and (all_hours or hour_step):
            return f"every {hour_step} hours" if hour_step else "every hour"
        minute_step = _every(minute, _MINUTE)
        if all_minutes or minute_step:
            within_hour = f"every {minute_step} minutes" if minute_step else "every minute"
            return within_hour if all_hours else f"{within_hour} during {_units(hour, _HOUR)}"
        if all_hours:
            return f"every hour at {_units(minute, _MINUTE)}"
    if len(second) == 1 and len(minute) == 1 and len(hour) <= 6:
        (s,), (m,) = second, minute
        return "at " + _join([f"{h:02}:{m:02}:{s:02}" for h in sorted(hour)])
    parts = [_units(v, f) if len(v) < f.size else f"every {f.name}"
             for v, f in ((second, _SECOND), (minute, _MINUTE), (hour, _HOUR))]  # fmt: skip
    return "at " + " of ".join(parts)


def _describe_days(day: frozenset[int], month: frozenset[int], dow: frozenset[int]) -> str:
    text = ""
    if len(day) < _DAY.size:
        text += f" on {_units(day, _DAY)} of the month"
        if len(dow) < _DOW.size:
            text += f" when that is a {_join(_runs(dow, _DOW), 'or')}"
    elif len(dow) < _DOW.size:
        text += f" on {_join(_runs(dow, _DOW))}"
    if len(month) < _MONTH.size:
        text += f" in {_join(_runs(month, _MONTH))}"
    return text
