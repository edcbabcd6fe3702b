"""Azure timer schedules: NCRONTAB and TimeSpan parsing, occurrences, DST, words and defaults.

Every expected occurrence is worked out by hand and asserted as an ISO string with its offset,
so a wrong wall time or a wrong side of a DST change both fail.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from funcpy.triggers.ncrontab import (
    CronSchedule,
    IntervalSchedule,
    ScheduleError,
    parse_schedule,
)

NEW_YORK = ZoneInfo("America/New_York")  # 2026: spring 8 Mar 02:00->03:00, fall 1 Nov 02:00->01:00
BERLIN = ZoneInfo("Europe/Berlin")  # 2026: spring 29 Mar 02:00->03:00, fall 25 Oct 03:00->02:00


def iso_after(expression: str, after: str, n: int, tz: ZoneInfo | type[UTC] = UTC) -> list[str]:
    schedule = parse_schedule(expression, tz)  # type: ignore[arg-type]
    return [moment.isoformat() for moment in schedule.next_n(datetime.fromisoformat(after), n)]


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        # six fields, seconds first
        ("0 */5 * * * *", "2026-01-01T00:02:30+00:00",
         ["2026-01-01T00:05:00+00:00", "2026-01-01T00:10:00+00:00", "2026-01-01T00:15:00+00:00"]),
        ("*/20 * * * * *", "2026-01-01T00:00:50+00:00",
         ["2026-01-01T00:01:00+00:00", "2026-01-01T00:01:20+00:00", "2026-01-01T00:01:40+00:00"]),
        # five fields: minute first, fires at second 0
        ("*/5 * * * *", "2026-01-01T00:02:30+00:00",
         ["2026-01-01T00:05:00+00:00", "2026-01-01T00:10:00+00:00", "2026-01-01T00:15:00+00:00"]),
        ("30 9 * * 1-5", "2026-01-02T10:00:00+00:00",  # a Friday, after 09:30
         ["2026-01-05T09:30:00+00:00", "2026-01-06T09:30:00+00:00", "2026-01-07T09:30:00+00:00"]),
        # strictly after: an occurrence equal to `after` is not returned
        ("0 0 * * * *", "2026-01-01T10:00:00+00:00",
         ["2026-01-01T11:00:00+00:00", "2026-01-01T12:00:00+00:00"]),
        ("0 0 * * * *", "2026-01-01T09:59:59.999999+00:00",
         ["2026-01-01T10:00:00+00:00", "2026-01-01T11:00:00+00:00"]),
        # 'a/n' is a..max step n; 'a-b/n'; lists mixing forms
        ("0 5/15 * * * *", "2026-01-01T00:00:00+00:00",
         ["2026-01-01T00:05:00+00:00", "2026-01-01T00:20:00+00:00", "2026-01-01T00:35:00+00:00",
          "2026-01-01T00:50:00+00:00", "2026-01-01T01:05:00+00:00"]),
        ("10-30/10 * * * * *", "2026-01-01T00:00:00+00:00",
         ["2026-01-01T00:00:10+00:00", "2026-01-01T00:00:20+00:00", "2026-01-01T00:00:30+00:00",
          "2026-01-01T00:01:10+00:00"]),
        ("0 0 1,20-21,23/30 * * *", "2026-01-01T00:00:00+00:00",
         ["2026-01-01T01:00:00+00:00", "2026-01-01T20:00:00+00:00", "2026-01-01T21:00:00+00:00",
          "2026-01-01T23:00:00+00:00", "2026-01-02T01:00:00+00:00"]),
        # NCRONTAB quirks: a reversed range is swapped, '*/0' is '*', runs of spaces are one
        ("0 0 5-3 * * *", "2026-01-01T04:30:00+00:00",
         ["2026-01-01T05:00:00+00:00", "2026-01-02T03:00:00+00:00"]),
        ("*/0 * * * * *", "2026-01-01T00:00:00+00:00",
         ["2026-01-01T00:00:01+00:00", "2026-01-01T00:00:02+00:00"]),
        ("  0   30  9 *  * * ", "2026-01-01T00:00:00+00:00", ["2026-01-01T09:30:00+00:00"]),
        # month ends: day 31 skips short months, day 30 skips February
        ("0 0 0 31 * *", "2026-01-31T00:00:00+00:00",
         ["2026-03-31T00:00:00+00:00", "2026-05-31T00:00:00+00:00", "2026-07-31T00:00:00+00:00",
          "2026-08-31T00:00:00+00:00"]),
        ("0 0 0 30 * *", "2026-01-30T00:00:00+00:00",
         ["2026-03-30T00:00:00+00:00", "2026-04-30T00:00:00+00:00"]),
        ("59 59 23 31 12 *", "2026-12-31T23:59:59+00:00", ["2027-12-31T23:59:59+00:00"]),
        # Feb 29 only in leap years; 2100 is not one
        ("0 0 0 29 2 *", "2025-01-01T00:00:00+00:00",
         ["2028-02-29T00:00:00+00:00", "2032-02-29T00:00:00+00:00"]),
        ("0 0 0 29 2 *", "2096-03-01T00:00:00+00:00", ["2104-02-29T00:00:00+00:00"]),
        # day-of-month AND day-of-week: Friday the 13th; Feb 29 on a Monday
        ("0 0 0 13 * 5", "2026-01-01T00:00:00+00:00",
         ["2026-02-13T00:00:00+00:00", "2026-03-13T00:00:00+00:00", "2026-11-13T00:00:00+00:00",
          "2027-08-13T00:00:00+00:00"]),
        ("0 0 0 29 2 Mon", "2025-01-01T00:00:00+00:00",
         ["2044-02-29T00:00:00+00:00", "2072-02-29T00:00:00+00:00"]),
        # names, any case, any prefix; the first name a prefix fits wins
        ("0 0 12 * * Mon", "2026-01-01T00:00:00+00:00", ["2026-01-05T12:00:00+00:00"]),
        ("0 0 12 * * monday", "2026-01-01T00:00:00+00:00", ["2026-01-05T12:00:00+00:00"]),
        ("0 0 12 * * Tues", "2026-01-01T00:00:00+00:00", ["2026-01-06T12:00:00+00:00"]),
        ("0 0 12 * * M", "2026-01-01T00:00:00+00:00", ["2026-01-05T12:00:00+00:00"]),
        ("0 0 12 * * T", "2026-01-01T00:00:00+00:00", ["2026-01-06T12:00:00+00:00"]),
        ("0 0 12 * * S", "2026-01-01T00:00:00+00:00", ["2026-01-04T12:00:00+00:00"]),  # Sunday
        ("0 0 12 * * W", "2026-01-01T00:00:00+00:00", ["2026-01-07T12:00:00+00:00"]),  # Wednesday
        ("0 0 12 * * Sat-Sun", "2026-01-01T00:00:00+00:00",  # reversed: Sunday..Saturday
         ["2026-01-01T12:00:00+00:00", "2026-01-02T12:00:00+00:00"]),
        ("0 0 0 1 Ma *", "2026-01-01T00:00:00+00:00", ["2026-03-01T00:00:00+00:00"]),  # March
        ("0 0 0 1 M *", "2026-01-01T00:00:00+00:00", ["2026-03-01T00:00:00+00:00"]),  # March
        ("0 0 0 1 Ju *", "2026-01-01T00:00:00+00:00", ["2026-06-01T00:00:00+00:00"]),  # June
        ("0 0 0 1 A *", "2026-01-01T00:00:00+00:00", ["2026-04-01T00:00:00+00:00"]),  # April
        ("0 0 0 1 JANUARY *", "2026-01-01T00:00:00+00:00", ["2027-01-01T00:00:00+00:00"]),
        ("0 0 0 1 jun-Aug/2 *", "2026-01-01T00:00:00+00:00",
         ["2026-06-01T00:00:00+00:00", "2026-08-01T00:00:00+00:00", "2027-06-01T00:00:00+00:00"]),
    ],
)  # fmt: skip
def test_cron_occurrences(expression: str, after: str, expected: list[str]) -> None:
    assert iso_after(expression, after, len(expected)) == expected


def test_occurrences_are_in_the_schedule_zone_whatever_the_zone_of_after() -> None:
    schedule = parse_schedule("0 30 9 * * *", NEW_YORK)
    after = datetime(2026, 1, 1, 15, 0, tzinfo=UTC)  # 10:00 in New York
    assert schedule.next_after(after).isoformat() == "2026-01-02T09:30:00-05:00"
    assert schedule.next_after(after).tzinfo is NEW_YORK


@pytest.mark.parametrize(
    ("expression", "tz", "after", "expected"),
    [
        # spring forward, New York: 02:00-02:59 does not exist on 8 March
        ("0 30 2 * * *", NEW_YORK, "2026-03-07T12:00:00-05:00",
         ["2026-03-08T03:00:00-04:00", "2026-03-09T02:30:00-04:00"]),
        ("0 15,45 2 * * *", NEW_YORK, "2026-03-07T12:00:00-05:00",  # the gap fires once
         ["2026-03-08T03:00:00-04:00", "2026-03-09T02:15:00-04:00"]),
        ("0 */15 * * * *", NEW_YORK, "2026-03-08T01:30:00-05:00",
         ["2026-03-08T01:45:00-05:00", "2026-03-08T03:00:00-04:00", "2026-03-08T03:15:00-04:00"]),
        ("0 30 * * * *", NEW_YORK, "2026-03-08T01:00:00-05:00",  # one real hour apart
         ["2026-03-08T01:30:00-05:00", "2026-03-08T03:30:00-04:00", "2026-03-08T04:30:00-04:00"]),
        # fall back, New York: 01:00-01:59 happens twice on 1 November
        ("0 30 1 * * *", NEW_YORK, "2026-10-31T12:00:00-04:00",  # fixed time: first pass only
         ["2026-11-01T01:30:00-04:00", "2026-11-02T01:30:00-05:00"]),
        ("0 30 1 * * *", NEW_YORK, "2026-11-01T01:10:00-05:00",  # started in the second pass
         ["2026-11-02T01:30:00-05:00"]),
        ("0 */20 1 * * *", NEW_YORK, "2026-11-01T01:30:00-04:00",  # '0,20,40': still fixed time
         ["2026-11-01T01:40:00-04:00", "2026-11-02T01:00:00-05:00"]),
        ("0 */15 * * * *", NEW_YORK, "2026-11-01T00:45:00-04:00",
         ["2026-11-01T01:00:00-04:00", "2026-11-01T01:15:00-04:00", "2026-11-01T01:30:00-04:00",
          "2026-11-01T01:45:00-04:00", "2026-11-01T01:00:00-05:00", "2026-11-01T01:15:00-05:00",
          "2026-11-01T01:30:00-05:00", "2026-11-01T01:45:00-05:00", "2026-11-01T02:00:00-05:00"]),
        ("0 0 * * * *", NEW_YORK, "2026-11-01T00:00:00-04:00",
         ["2026-11-01T01:00:00-04:00", "2026-11-01T01:00:00-05:00", "2026-11-01T02:00:00-05:00"]),
        ("0 0 0-3 * * *", NEW_YORK, "2026-11-01T00:30:00-04:00",  # a '-' makes it an interval
         ["2026-11-01T01:00:00-04:00", "2026-11-01T01:00:00-05:00", "2026-11-01T02:00:00-05:00",
          "2026-11-01T03:00:00-05:00"]),
        ("0 30 * * * *", NEW_YORK, "2026-11-01T01:40:00-04:00",
         ["2026-11-01T01:30:00-05:00", "2026-11-01T02:30:00-05:00"]),
        # spring forward, Berlin: 02:00-02:59 does not exist on 29 March
        ("0 30 2 * * *", BERLIN, "2026-03-28T12:00:00+01:00",
         ["2026-03-29T03:00:00+02:00", "2026-03-30T02:30:00+02:00"]),
        ("0 */15 * * * *", BERLIN, "2026-03-29T01:45:00+01:00",
         ["2026-03-29T03:00:00+02:00", "2026-03-29T03:15:00+02:00"]),
        # fall back, Berlin: 02:00-02:59 happens twice on 25 October
        ("0 30 2 * * *", BERLIN, "2026-10-24T12:00:00+02:00",
         ["2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00"]),
        ("0 */30 * * * *", BERLIN, "2026-10-25T01:30:00+02:00",
         ["2026-10-25T02:00:00+02:00", "2026-10-25T02:30:00+02:00", "2026-10-25T02:00:00+01:00",
          "2026-10-25T02:30:00+01:00", "2026-10-25T03:00:00+01:00"]),
        ("0 */7 2 * * *", BERLIN, "2026-10-25T02:56:00+02:00",  # skips a whole repeated hour
         ["2026-10-26T02:00:00+01:00"]),
        ("30 9 * * *", BERLIN, "2026-10-24T12:00:00+02:00",
         ["2026-10-25T09:30:00+01:00", "2026-10-26T09:30:00+01:00"]),
    ],
)  # fmt: skip
def test_daylight_saving(expression: str, tz: ZoneInfo, after: str, expected: list[str]) -> None:
    assert iso_after(expression, after, len(expected), tz) == expected


@pytest.mark.parametrize(
    ("tz", "start"),
    [
        (NEW_YORK, datetime(2026, 3, 7)),
        (NEW_YORK, datetime(2026, 10, 31)),
        (BERLIN, datetime(2026, 3, 28)),
        (BERLIN, datetime(2026, 10, 24)),
    ],
)
def test_an_interval_keeps_real_time_spacing_around_dst(tz: ZoneInfo, start: datetime) -> None:
    schedule = parse_schedule("0 */15 * * * *", tz)
    moments = schedule.next_n(start.replace(tzinfo=tz), 4 * 24 * 3)
    gaps = {b.astimezone(UTC) - a.astimezone(UTC) for a, b in pairwise(moments)}
    assert gaps == {timedelta(minutes=15)}


@pytest.mark.parametrize("expression", ["0 30 1 * * *", "0 30 2 * * *"])
@pytest.mark.parametrize("tz", [NEW_YORK, BERLIN], ids=str)
def test_a_fixed_time_fires_once_every_day_of_a_year(expression: str, tz: ZoneInfo) -> None:
    schedule = parse_schedule(expression, tz)
    moments = schedule.next_n(datetime(2025, 12, 31, 12, tzinfo=tz), 365)
    assert [m.date() for m in moments] == [
        datetime(2026, 1, 1).date() + timedelta(days=i) for i in range(365)
    ]


@pytest.mark.parametrize(
    ("expression", "interval"),
    [
        ("00:05:00", timedelta(minutes=5)),
        ("01:00:00", timedelta(hours=1)),
        ("1.00:00:00", timedelta(days=1)),
        ("23:59:59", timedelta(hours=23, minutes=59, seconds=59)),
        ("24:00:00", timedelta(days=24)),  # first number >= 24 means days
        ("25:00:00:00", timedelta(days=25)),
        ("30:12:30", timedelta(days=30, hours=12, minutes=30)),
        ("10:30", timedelta(hours=10, minutes=30)),
        ("0:5", timedelta(minutes=5)),
        ("1.02:03", timedelta(days=1, hours=2, minutes=3)),
        ("1.02:03:04", timedelta(days=1, hours=2, minutes=3, seconds=4)),
        ("1:02:03:04", timedelta(days=1, hours=2, minutes=3, seconds=4)),
        ("00:00:00.5", timedelta(milliseconds=500)),
        ("00:00:01.0000001", timedelta(seconds=1)),  # one 100 ns tick rounds away
        ("5", timedelta(days=5)),  # .NET reads a lone number as days
        ("  00:05:00 ", timedelta(minutes=5)),
    ],
)
def test_timespan_forms(expression: str, interval: timedelta) -> None:
    schedule = parse_schedule(expression, UTC)
    assert isinstance(schedule, IntervalSchedule)
    assert schedule.interval == interval
    after = datetime(2026, 1, 1, tzinfo=UTC)
    assert schedule.next_n(after, 2) == [after + interval, after + 2 * interval]


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        ("2026-11-01T00:30:00-04:00",
         ["2026-11-01T01:30:00-04:00", "2026-11-01T01:30:00-05:00", "2026-11-01T02:30:00-05:00"]),
        ("2026-03-08T01:30:00-05:00", ["2026-03-08T03:30:00-04:00", "2026-03-08T04:30:00-04:00"]),
    ],
)  # fmt: skip
def test_a_timespan_adds_real_time_across_dst(after: str, expected: list[str]) -> None:
    assert iso_after("01:00:00", after, len(expected), NEW_YORK) == expected


@pytest.mark.parametrize(
    ("expression", "fragment"),
    [
        ("0 0 25 * * *", "The schedule expression '0 0 25 * * *' is invalid: hour 25 is out of "
                         "range 0-23"),
        ("x", "The schedule expression 'x' was not recognized as a valid cron expression or "
              "timespan string."),
        ("", "The schedule expression '' was not recognized"),
        ("60 * * * * *", "second 60 is out of range 0-59"),
        ("0 60 * * * *", "minute 60 is out of range 0-59"),
        ("0 0 0 0 * *", "day 0 is out of range 1-31"),
        ("0 0 0 32 * *", "day 32 is out of range 1-31"),
        ("0 0 0 1 13 *", "month 13 is out of range 1-12"),
        ("0 0 0 * * 7", "day-of-week 7 is out of range 0-6"),
        ("0 0 0 * * 1-7", "day-of-week 7 is out of range 0-6"),
        ("0 0 12 ? * MON", "day '?' is not a number (Azure's NCRONTAB has no '?'"),
        ("0 0 0 L * *", "day 'L' is not a number (Azure's NCRONTAB"),
        ("0 0 0 15W * *", "day '15W' is not a number (Azure's NCRONTAB"),
        ("0 0 0 * * MON#1", "day-of-week 'MON#1' is not a known name"),
        ("0 0 0 * * 5L", "day-of-week '5L' is not a known name"),
        ("H 0 * * * *", "second 'H' is not a number"),
        ("@daily", "'@daily' was not recognized as a valid cron expression or timespan string. "
                   "Macros such as '@daily' are not supported"),
        ("@every 5m", "Macros such as '@daily' are not supported"),
        ("0 0 0 * * * 2026", "it has 7 fields; NCRONTAB takes 6"),
        ("* * * *", "it has 4 fields"),
        ("0 0 0 30 2 *", "it never fires: February has no day 30"),
        ("0 0 0 31 4,6,9,11 *", "it never fires: April, June, September and November have no "
                                "day 31"),
        ("0 0 0 30-31 Feb Mon", "it never fires: February has no days 30-31"),
        ("0 0 0 * * Funday", "day-of-week 'Funday' is not a known name; use one of Sunday,"),
        ("0 0 0 1 Smarch *", "month 'Smarch' is not a known name; use one of January,"),
        ("0 0 0 * * Mondays", "day-of-week 'Mondays' is not a known name"),
        ("0 0 0 Mon * *", "day 'Mon' is not a number"),
        ("0 0 Noon * * *", "hour 'Noon' is not a number"),
        ("*/x * * * * *", "second step 'x' in '*/x' is not a number"),
        ("*/5/2 * * * * *", "second step '5/2' in '*/5/2' is not a number"),
        ("1,,2 * * * * *", "second field '1,,2' has an empty list item"),
        ("-5 * * * * *", "second '-5' is not a value, a range or a step"),
        ("0 5- * * * *", "minute '5-' is not a value, a range or a step"),
        ("0\t0 * * * *", "minute '0\t0' is not a number"),  # NCRONTAB splits on spaces only
        ("00:60:00", "minute 60 is out of range 0-59"),
        ("00:00:60", "second 60 is out of range 0-59"),
        ("24:00", "hour 24 is out of range 0-23"),
        ("1.24:00:00", "hour 24 is out of range 0-23"),
        ("-00:05:00", "a TimeSpan schedule must be greater than zero"),
        ("00:00:00", "a TimeSpan schedule must be greater than zero"),
        ("1.2:3:4:5", "was not recognized as a valid cron expression or timespan string."),
        ("00:00:00.12345678", "was not recognized"),
        ("5 minutes", "it has 2 fields"),
    ],
)  # fmt: skip
def test_invalid_expressions(expression: str, fragment: str) -> None:
    with pytest.raises(ScheduleError) as raised:
        parse_schedule(expression, UTC)
    assert fragment in str(raised.value)
    assert isinstance(raised.value, ValueError)


@pytest.mark.parametrize(
    ("expression", "words"),
    [
        ("* * * * * *", "every second"),
        ("*/5 * * * * *", "every 5 seconds"),
        ("0,30 * * * * *", "every 30 seconds"),
        ("0 * * * * *", "every minute"),
        ("* * * * *", "every minute"),
        ("15 * * * * *", "every minute at second 15"),
        ("0 */5 * * * *", "every 5 minutes"),
        ("*/15 * * * *", "every 15 minutes"),
        ("0 0 * * * *", "every hour"),
        ("0 30 * * * *", "every hour at minute 30"),
        ("0 0 */2 * * *", "every 2 hours"),
        ("0 30 9 * * *", "at 09:30:00"),
        ("0 30 9 * * 1-5", "at 09:30:00 on Monday through Friday"),
        ("30 9 * * Mon-Fri", "at 09:30:00 on Monday through Friday"),
        ("0 0 9,17 * * *", "at 09:00:00 and 17:00:00"),
        ("0 0 0 * * Sat,Sun", "at 00:00:00 on Sunday and Saturday"),
        ("0 0 0 * * M,W,F", "at 00:00:00 on Monday, Wednesday and Friday"),
        ("0 0 0 1,15 * *", "at 00:00:00 on days 1 and 15 of the month"),
        ("0 0 0 13 * 5", "at 00:00:00 on day 13 of the month when that is a Friday"),
        ("0 0 12 * Jun-Aug *", "at 12:00:00 in June through August"),
        ("0 */5 9-17 * * 1-5", "every 5 minutes during hours 9-17 on Monday through Friday"),
        ("0 5/15 * * * *", "every hour at minutes 5-50 in steps of 15"),
        ("*/10 0-4 * * * *", "at seconds 0-50 in steps of 10 of minutes 0-4 of every hour"),
        ("00:05:00", "every 5 minute(s)"),
        ("1.00:00:00", "every 1 day(s)"),
        ("01:30:00", "every 1 hour(s) 30 minute(s)"),
        ("00:00:00.5", "every 0.5 second(s)"),
    ],
)
def test_describe(expression: str, words: str) -> None:
    assert parse_schedule(expression, UTC).describe() == words


@pytest.mark.parametrize(
    ("expression", "use_monitor", "adjust_for_dst"),
    [
        ("* * * * * *", False, True),
        ("*/30 * * * * *", False, True),
        ("0,1 * * * * *", False, True),
        ("0 * * * * *", True, True),
        ("* * * * *", True, True),
        ("*/10 * 9 * * *", True, True),  # not every field but seconds is '*'
        ("0 0 0 * * *", True, True),
        ("00:00:30", False, False),
        ("00:00:59.9999999", False, False),
        ("00:01:00", True, False),
        ("1.00:00:00", True, False),
    ],
)
def test_defaults(expression: str, use_monitor: bool, adjust_for_dst: bool) -> None:
    schedule = parse_schedule(expression, UTC)
    assert schedule.default_use_monitor() is use_monitor
    assert schedule.adjust_for_dst is adjust_for_dst


@pytest.mark.parametrize(
    ("expression", "is_interval"),
    [
        ("0 30 1 * * *", False),
        ("30 1 * * *", False),
        ("0 0,30 1 * * *", False),
        ("0 */30 1 * * *", False),  # NCRONTAB prints it '0 0,30 1 * * *'
        ("0 0 */2 * * *", False),
        ("0 0,1 1 * * *", True),  # printed '0 0-1 1 * * *'
        ("0 0 0-3 * * *", True),
        ("0 0 * * * *", True),
        ("*/5 * * * *", True),
    ],
)
def test_interval_classification_for_the_fall_back_rule(expression: str, is_interval: bool) -> None:
    schedule = parse_schedule(expression, UTC)
    assert isinstance(schedule, CronSchedule)
    assert schedule.is_interval is is_interval


def test_expression_is_kept_as_given() -> None:
    assert parse_schedule("0  */5 * * * *", UTC).expression == "0  */5 * * * *"
    assert parse_schedule(" 00:05:00", UTC).expression == " 00:05:00"


def test_next_n_edges_and_naive_times() -> None:
    schedule = parse_schedule("0 */5 * * * *", UTC)
    after = datetime(2026, 1, 1, tzinfo=UTC)
    assert schedule.next_n(after, 0) == []
    with pytest.raises(ValueError, match="n must be >= 0"):
        schedule.next_n(after, -1)
    with pytest.raises(ValueError, match="naive"):
        schedule.next_after(datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="naive"):
        parse_schedule("00:05:00", UTC).next_after(datetime(2026, 1, 1))
