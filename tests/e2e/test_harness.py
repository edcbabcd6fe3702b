"""func-py's test harness (funcpy.host.testing) on a scratch app in a temporary folder, as a
user would load theirs: HTTP through the host's stack, durable starters, virtual time, events,
entities, functions called directly, the replay check, and what the harness puts back in the
process when it closes. tests/e2e/test_harness_plugin.py runs the pytest plugin in a pytest
subprocess."""

from __future__ import annotations

import gc
import importlib
import os
import shutil
import sys
import time
import weakref
from datetime import datetime
from pathlib import Path

import pytest
from funcpy.host.taskhub.instance_state import REPLAY_EVERY_EPISODE_EVENTS
from funcpy.host.testing import (
    AppHarness,
    ClientError,
    NonDeterminismError,
    OrchestrationFailed,
    Stuck,
    open_app,
)

APP = Path(__file__).resolve().parents[1] / "apps" / "harness"


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    target = tmp_path / "app"
    shutil.copytree(APP, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


@pytest.fixture
def funcpy_app_dir(app_dir: Path) -> Path:
    return app_dir  # the plugin's fixture, pointed at the scratch app


def _seconds(pair: list[str]) -> float:
    before, after = (datetime.fromisoformat(t) for t in pair)
    return (after - before).total_seconds()


def test_http_goes_through_the_hosts_stack(funcpy_app: AppHarness) -> None:
    r = funcpy_app.http.get("/api/greet/Ada")
    assert r.status_code == 200 and r.text == "Hello, Ada!"  # GREETING from local.settings
    assert r.headers["X-Served-By"] == "harness-app"
    assert funcpy_app.http.get("/api/nothing-here").status_code == 404
    status = funcpy_app.http.get("/admin/host/status").json()
    assert status["state"] == "Running" and "greet" in status["functions"]


def test_a_starter_over_http_then_wait(funcpy_app: AppHarness) -> None:
    r = funcpy_app.http.post("/api/start/sleeper", json=600)
    assert r.status_code == 202, r.text
    body = r.json()
    status = funcpy_app.wait(body["id"])
    assert status["runtimeStatus"] == "Completed"
    # The management URLs the durable client answered with lead to the same host.
    polled = funcpy_app.http.get(body["statusQueryGetUri"])
    assert polled.json()["runtimeStatus"] == "Completed"


def test_durable_timers_are_skipped_and_current_utc_datetime_follows(
        funcpy_app: AppHarness) -> None:
    started = time.perf_counter()
    before, skipped = funcpy_app.clock.now(), funcpy_app.clock.skipped
    iid = funcpy_app.start("sleeper", 7 * 86_400)  # a week
    output = funcpy_app.result(iid)
    wall = time.perf_counter() - started
    assert 7 * 86_400 <= _seconds(output) < 7 * 86_400 + wall
    assert datetime.fromisoformat(output[0]) >= before
    assert funcpy_app.clock.skipped - skipped >= 7 * 86_400 - wall
    assert wall < 10


def test_advance_moves_the_clock_by_hand(funcpy_app: AppHarness) -> None:
    iid = funcpy_app.start("sleeper", 3600)
    funcpy_app.advance(1800)
    assert funcpy_app.status(iid)["runtimeStatus"] == "Running"
    funcpy_app.clock.advance(1801)
    assert funcpy_app.status(iid)["runtimeStatus"] == "Completed"


def test_an_eternal_orchestration_is_driven_with_advance(funcpy_app: AppHarness) -> None:
    iid = funcpy_app.start("ticker", 0)
    funcpy_app.advance(3 * 3600 + 1)
    status = funcpy_app.status(iid)
    assert status["runtimeStatus"] == "Running" and status["customStatus"] == 3
    with pytest.raises(TimeoutError, match=r"advance\(\)"):
        funcpy_app.wait(iid, timeout=0.5)  # it never ends: wait() skips on until its deadline


def test_an_external_event(funcpy_app: AppHarness) -> None:
    iid = funcpy_app.start("approval")
    assert funcpy_app.status(iid)["customStatus"] == "waiting"
    started = time.perf_counter()
    with pytest.raises(Stuck, match="waits for an external event"):
        funcpy_app.wait(iid)  # nothing would ever move it: said at once, no timeout
    assert time.perf_counter() - started < 5
    funcpy_app.raise_event(iid, "decision", {"approved": True})
    assert funcpy_app.result(iid) == {"approved": True}


def test_a_deadline_expires_on_virtual_time(funcpy_app: AppHarness) -> None:
    iid = funcpy_app.start("approval_with_deadline")
    assert funcpy_app.result(iid) == "expired"
    iid = funcpy_app.start("approval_with_deadline")
    funcpy_app.advance(3600)
    funcpy_app.raise_event(iid, "decision", "yes")
    assert funcpy_app.result(iid) == "yes"


def test_failures_and_refusals(funcpy_app: AppHarness) -> None:
    with pytest.raises(ClientError, match="Known orchestrators"):
        funcpy_app.start("no_such_orchestrator")
    iid = funcpy_app.start("approval")
    funcpy_app.terminate(iid, "not needed")
    with pytest.raises(OrchestrationFailed, match="Terminated"):
        funcpy_app.result(iid)


def test_history_as_the_management_api_shows_it(funcpy_app: AppHarness) -> None:
    iid = funcpy_app.start("chain", 3)
    assert funcpy_app.result(iid) == 6
    kinds = [e["EventType"] for e in funcpy_app.history(iid)]
    assert kinds[0] == "ExecutionStarted" and kinds[-1] == "ExecutionCompleted"
    assert kinds.count("TaskCompleted") == 3


def test_entities(funcpy_app: AppHarness) -> None:
    funcpy_app.signal_entity("Counter", "a", "add", 5)
    funcpy_app.signal_entity("Counter", "a", "add", 2)
    assert funcpy_app.entity_state("Counter", "a") == 7
    assert funcpy_app.entity_state("Counter", "b") is None
    r = funcpy_app.http.get("/runtime/webhooks/durabletask/entities/Counter/a")
    assert r.status_code == 200 and r.json() == 7


def test_activities_and_timers_called_directly(funcpy_app: AppHarness) -> None:
    assert funcpy_app.call_activity("hello", "Ada") == "Hello Ada"
    with pytest.raises(ValueError, match="a name is needed"):
        funcpy_app.call_activity("hello", "")
    ticks = funcpy_app.module().TICKS
    assert ticks == []  # run_on_startup: timers never run on their own in a harness
    funcpy_app.run_timer("hourly")
    assert ticks == ["on time"]


def test_a_replay_bug_fails_the_instance(funcpy_app: AppHarness) -> None:
    iid = funcpy_app.start("drifting")  # runs `first`, then waits on its timer
    funcpy_app.module().STEP = "second"  # the next episode replays with another call
    with pytest.raises(NonDeterminismError, match="records a call to activity 'first'") as err:
        funcpy_app.wait(iid)
    assert err.value.status["runtimeStatus"] == "Failed"


def test_a_replay_bug_after_the_last_periodic_replay_fails_at_the_end(
        funcpy_app: AppHarness) -> None:
    # 30 activities take the history past the episodes replayed every time (100 events) and
    # short of its doubling (200): only the replay at the end of the execution sees the change.
    iid = funcpy_app.start("drifting_late", 30)  # runs to its timer
    store = funcpy_app.runtime.store()
    record = store.get_instance(iid)
    assert record is not None
    recorded = len(store.read_history(iid, record.execution_id))
    assert REPLAY_EVERY_EPISODE_EVENTS < recorded < 2 * REPLAY_EVERY_EPISODE_EVENTS
    funcpy_app.module().STEP = "second"
    with pytest.raises(NonDeterminismError, match="records a call to activity 'first'") as err:
        funcpy_app.wait(iid)
    assert err.value.status["runtimeStatus"] == "Failed"


def test_without_the_replay_check_the_same_bug_goes_unnoticed(app_dir: Path) -> None:
    # What the check is for: the live session alone never replays, so it never notices.
    with open_app(app_dir, {"FUNCPY_REPLAY_CHECK": "0"}) as harness:
        iid = harness.start("drifting")
        harness.module().STEP = "second"
        assert harness.result(iid) == ["first", "second"]


def test_a_replay_bug_nobody_waited_for_fails_at_close(app_dir: Path) -> None:
    harness = AppHarness(app_dir)
    harness.start("drifting")
    harness.module().STEP = "second"
    harness.advance(7200)
    with pytest.raises(NonDeterminismError, match="drifting"):
        harness.close()


def test_settings_override_local_settings_and_are_put_back(app_dir: Path) -> None:
    assert "GREETING" not in os.environ
    hub_path = os.environ.get("FUNCPY_TASKHUB_PATH")
    with open_app(app_dir, {"GREETING": "Hi"}) as harness:
        assert harness.http.get("/api/greet/Ada").text == "Hi, Ada!"
        assert os.environ["GREETING"] == "Hi"
        loaded = sys.modules["function_app"]
        assert harness.module() is loaded
        assert str(app_dir) in sys.path
    assert "GREETING" not in os.environ
    assert os.environ.get("FUNCPY_TASKHUB_PATH") == hub_path
    assert sys.modules.get("function_app") is not loaded
    assert str(app_dir) not in sys.path
    # The durable client's calls go out through aiohttp again.
    client_module = importlib.import_module(
        "azure.durable_functions.models.DurableOrchestrationClient")
    http_utils = importlib.import_module("azure.durable_functions.models.utils.http_utils")
    assert client_module.post_async_request is http_utils.post_async_request


def test_two_harnesses_keep_their_own_hubs(app_dir: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    shutil.copytree(app_dir, other)
    with open_app(app_dir) as one, open_app(other) as two:
        # Each app's durable client calls back to its own host (a port each, none bound).
        first = one.http.post("/api/start/sleeper", json=60).json()["id"]
        second = two.http.post("/api/start/sleeper", json=60).json()["id"]
        assert ":7071/" in one.http.post("/api/start/sleeper", json=1).json()["sendEventPostUri"]
        assert one.wait(first)["runtimeStatus"] == "Completed"
        assert two.wait(second)["runtimeStatus"] == "Completed"
        assert one.status(second) is None and two.status(first) is None


def test_an_app_that_does_not_import_fails_to_open(app_dir: Path) -> None:
    (app_dir / "function_app.py").write_text("import no_such_module_anywhere\n")
    with pytest.raises(Exception, match="no_such_module_anywhere"):
        AppHarness(app_dir)
    assert "GREETING" not in os.environ


def test_the_demo_loads_without_its_tests(tmp_path: Path) -> None:
    # The demo's tests live in function_app/tests: the host's loader imports the app package,
    # never that folder (in a fresh process, so nothing of this run's imports counts).
    import subprocess

    repo = APP.parents[2]
    script = ("import sys; from funcpy.host.config import build_config; "
              "from funcpy.host.runtime import Runtime; "
              f"rt = Runtime(build_config(app_dir={str(repo)!r}, reload=False)); "
              "rt.load_initial(); "
              "print(sorted(m for m in sys.modules if m.startswith('function_app')))")
    env = {**os.environ, "FUNCPY_TASKHUB_PATH": str(tmp_path / "hub.sqlite")}
    out = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=60, check=True).stdout
    assert "function_app.orders" in out and "function_app.tests" not in out


def test_a_closed_harness_leaves_its_app_to_the_collector(app_dir: Path) -> None:
    # Opening a harness neither freezes the test process's objects out of the collector (as
    # a host does with what it loads) nor leaves the app's modules alive after close: a test
    # session opening hundreds of harnesses does not grow with each.
    frozen = gc.get_freeze_count()
    harness = AppHarness(app_dir)
    with harness:
        module = weakref.ref(harness.module())
        assert harness.http.get("/api/greet/Ada").status_code == 200
        assert gc.get_freeze_count() == frozen
    del harness
    gc.collect()
    assert module() is None
