"""Timer triggers through the real `func-py start`, against tests/apps/timer.

Each function of the app appends a JSON line per firing to $TIMER_RECORD_DIR/{name}.jsonl; the
task hub is an SQLite file in the test's temp folder, seeded before start where a test needs a
stored schedule status. Tests wait on those files and the log with deadlines, never sleeps.
"""

from __future__ import annotations

import json
import math
import re
import shutil
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from funcpy.host.taskhub.settings import DEFAULT_HUB
from funcpy.host.taskhub.sqlite import SqliteStore
from funcpy.triggers.ncrontab import parse_schedule
from funcpy.triggers.timer_status import ScheduleStatus, status_key

from tests.conftest import APPS
from tests.harness import HostProcess, wait_until

SIX_HOURS = parse_schedule("0 0 */6 * * *", UTC)


def records(folder: Path, name: str) -> list[dict[str, Any]]:
    path = folder / f"{name}.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def open_store(path: Path) -> SqliteStore:
    store = SqliteStore(path, DEFAULT_HUB)
    store.create()
    return store


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("timer")
    hub = folder / "hub.sqlite"
    # 'monitored' last ran two days ago and its recorded Next has passed: it is past due.
    last = SIX_HOURS.next_after(datetime.now(UTC) - timedelta(days=2))
    store = open_store(hub)
    with store.transaction() as tx:
        status = ScheduleStatus(last, SIX_HOURS.next_after(last), last)
        tx.put_value(status_key("monitored"), status.dumps(UTC))
    store.close()
    return {"TIMER_RECORD_DIR": str(folder), "FUNCPY_TASKHUB_PATH": str(hub), "TZ": "UTC",
            "WEBSITE_TIME_ZONE": ""}


@pytest.fixture(scope="module")
def host(env: dict[str, str]) -> Iterator[HostProcess]:
    log = Path(env["TIMER_RECORD_DIR"]) / "host.log"
    with HostProcess(APPS / "timer", "--no-reload", log_path=log, env=env) as h:
        yield h


def folder_of(env: dict[str, str]) -> Path:
    return Path(env["TIMER_RECORD_DIR"])


def test_banner_shows_schedules_and_a_bad_schedule_fails_only_its_function(
        host: HostProcess) -> None:
    out = host.output
    tick = re.search(r"\ttick: timerTrigger: every second \(\*/1 \* \* \* \* \*\) — next \(UTC\): "
                     r"(\S+), (\S+), (\S+)\n", out)
    assert tick is not None, out
    times = [datetime.fromisoformat(t) for t in tick.groups()]
    assert [b - a for a, b in pairwise(times)] == [timedelta(seconds=1)] * 2
    assert "\tfromsetting: timerTrigger: every hour at minute 30 (0 30 * * * *) — next" in out
    assert ("The 'broken' function is in error: The schedule expression '0 0 25 * * *' is "
            "invalid: hour 25 is out of range 0-23") in out
    with host.client() as c:
        assert c.get("/api/ping").text == "pong"  # the others still start


def test_every_second_schedule_fires_once_each_second_on_time(
        host: HostProcess, env: dict[str, str]) -> None:
    folder = folder_of(env)
    wait_until(lambda: len(records(folder, "tick")) >= 4, timeout=15, what="4 ticks")
    ticks = records(folder, "tick")
    seconds = [math.floor(r["t"]) for r in ticks]
    assert seconds == list(range(seconds[0], seconds[0] + len(seconds)))  # none missed or twice
    assert max(r["t"] - s for r, s in zip(ticks, seconds, strict=True)) < 0.5  # lateness
    assert all(r["past_due"] is False and r["status"] == {} for r in ticks)  # unmonitored
    host.wait_for_log(r"Executing 'Functions\.tick' \(Reason='Timer fired at "
                      r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+\+00:00', Id=")


def test_run_on_startup_fires_once(host: HostProcess, env: dict[str, str]) -> None:
    folder = folder_of(env)
    assert host.proc is not None
    mine = host.proc.pid
    wait_until(lambda: records(folder, "startup"), what="the runOnStartup firing")
    [startup] = [r for r in records(folder, "startup") if r["pid"] == mine]
    assert startup["past_due"] is False
    assert startup["status"]["Last"] == "0001-01-01T00:00:00+00:00"  # monitored, first run


def test_a_monitored_timer_down_across_occurrences_runs_once_past_due(
        host: HostProcess, env: dict[str, str]) -> None:
    folder = folder_of(env)
    wait_until(lambda: records(folder, "monitored"), what="the past-due firing")
    host.wait_for_log(r"Function 'monitored' is past due on startup\. Executing now\.")
    [late] = records(folder, "monitored")
    assert late["past_due"] is True
    seeded = datetime.fromisoformat(late["status"]["Next"])
    assert seeded < datetime.now(UTC) - timedelta(days=1)
    store = open_store(Path(env["FUNCPY_TASKHUB_PATH"]))
    try:
        status = ScheduleStatus.loads(store.get_value(status_key("monitored")))
    finally:
        store.close()
    assert status is not None and status.next == SIX_HOURS.next_after(datetime.now(UTC))


def test_admin_post_runs_a_timer_now_without_touching_its_status(
        host: HostProcess, env: dict[str, str]) -> None:
    folder = folder_of(env)
    store_path = Path(env["FUNCPY_TASKHUB_PATH"])
    wait_until(lambda: records(folder, "monitored"), what="the past-due firing")
    store = open_store(store_path)
    try:
        before = store.get_value(status_key("monitored"))
        with host.client() as c:
            assert c.post("/admin/functions/monitored", json={"input": ""}).status_code == 202
            assert c.post("/admin/functions/fromsetting", json={"input": "x"}).status_code == 202
        wait_until(lambda: len(records(folder, "monitored")) == 2, what="the manual run")
        wait_until(lambda: records(folder, "fromsetting"), what="the manual run")
        manual = records(folder, "monitored")[1]
        assert manual["past_due"] is False
        assert manual["status"] == json.loads(before or "{}")
        assert store.get_value(status_key("monitored")) == before
        assert records(folder, "fromsetting")[0]["status"] == {}  # use_monitor=False
    finally:
        store.close()


def test_two_hosts_on_one_store_fire_each_second_once(host: HostProcess,
                                                      env: dict[str, str]) -> None:
    folder = folder_of(env)
    second_env = {**env, "TZ": "Asia/Tokyo"}  # claims are by instant, not by wall time
    with HostProcess(APPS / "timer", "--no-reload", env=second_env,
                     log_path=folder / "second.log") as other:
        tokyo = re.search(r"\ttick: timerTrigger: .* — next \(Asia/Tokyo\): (\S+),", other.output)
        assert tokyo is not None and tokyo.group(1).endswith("+09:00")
        begun = len(records(folder, "tick"))
        wait_until(lambda: len(records(folder, "tick")) >= begun + 6, timeout=20,
                   what="6 more ticks")
        assert other.proc is not None
    ticks = records(folder, "tick")[begun:]
    seconds = Counter(math.floor(r["t"]) for r in ticks)
    assert seconds.most_common(1)[0][1] == 1, seconds  # never twice in one second
    assert len({r["pid"] for r in records(folder, "tick")}) in (1, 2)


def test_hot_reload_reschedules_adds_and_removes_timers(tmp_path: Path) -> None:
    app = tmp_path / "app"
    shutil.copytree(APPS / "timer", app, ignore=shutil.ignore_patterns(".func-py", "__pycache__"))
    folder = tmp_path / "records"
    folder.mkdir()
    env = {"TIMER_RECORD_DIR": str(folder), "FUNCPY_TASKHUB_PATH": str(tmp_path / "hub.sqlite"),
           "TZ": "UTC", "WEBSITE_TIME_ZONE": ""}
    with HostProcess(app, env=env, log_path=tmp_path / "host.log") as h:
        wait_until(lambda: len(records(folder, "tick")) >= 2, timeout=15, what="ticks")
        source = (app / "function_app.py").read_text()
        edited = source.replace('schedule="*/1 * * * * *", arg_name="timer")\nasync def tick',
                                'schedule="*/2 * * * * *", arg_name="timer")\nasync def tick')
        edited = edited.replace("def startup(", "def started(").replace('record("startup"',
                                                                          'record("started"')
        assert edited.count("*/2") == 1
        mark = len(h.output)
        (app / "function_app.py").write_text(edited)
        h.wait_for_log(r"Reloaded after .* in \d+ms", timeout=20, after=mark)
        reloaded_at = datetime.now(UTC).timestamp()
        wait_until(lambda: len([r for r in records(folder, "tick")
                                if r["t"] > reloaded_at + 1]) >= 3, timeout=20,
                   what="ticks on the new schedule")
        # 'started' is new in this process: its runOnStartup fires; 'startup' was removed
        wait_until(lambda: records(folder, "started"), what="the added timer's startup run")
    ticks = [math.floor(r["t"]) for r in records(folder, "tick")]
    assert len(ticks) == len(set(ticks))  # no second fired twice across the reload
    assert all(s % 2 == 0 for s in ticks if s > reloaded_at + 1)
    assert len(records(folder, "startup")) == 1
