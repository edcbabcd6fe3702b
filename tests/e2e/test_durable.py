"""Durable Functions features through the real `func-py start`, against tests/apps/durable.

Orchestrations are started and managed both with the SDK's own DurableOrchestrationClient
(the app's HTTP starters and its `client/{method}` proxy) and with raw HTTP against
/runtime/webhooks/durabletask. One host serves the module; every test uses its own instance
ids, so tests don't interfere. `Durable` (the driver) and `durable_host` are shared with the
other test_durable_*.py modules.
"""

from __future__ import annotations

import datetime as dt
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import APPS
from tests.harness import HostProcess, wait_until

API = "/runtime/webhooks/durabletask"
TERMINAL = ("Completed", "Failed", "Terminated", "Canceled")
_NO_BODY = object()


def copy_app(dest: Path) -> Path:
    """A fresh copy of the durable test app (its task hub and attempt files live in it)."""
    shutil.copytree(APPS / "durable", dest,
                    ignore=shutil.ignore_patterns(".func-py", "attempts", "__pycache__"))
    return dest


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


class Durable:
    """The test's side of a durable app: raw management API calls and SDK client calls."""

    def __init__(self, host: HostProcess, app_dir: Path) -> None:
        self.host = host
        self.app_dir = app_dir
        self.http = host.client()

    # raw management API
    def start(self, name: str, body: Any = _NO_BODY, instance_id: str | None = None,
              **kw: Any) -> str:
        r = self.start_raw(name, body, instance_id, **kw)
        assert r.status_code == 202, r.text
        return str(r.json()["id"])

    def start_raw(self, name: str, body: Any = _NO_BODY, instance_id: str | None = None,
                  **kw: Any) -> httpx.Response:
        path = f"{API}/orchestrators/{name}" + (f"/{instance_id}" if instance_id else "")
        if body is _NO_BODY:
            return self.http.post(path, **kw)
        return self.http.post(path, json=body, **kw)

    def status(self, iid: str, **params: Any) -> httpx.Response:
        return self.http.get(f"{API}/instances/{iid}", params=params)

    def wait(self, iid: str, *statuses: str, timeout: float = 15.0, **params: Any) -> dict:
        """Poll the status API until the instance is in one of `statuses` (default: done)."""
        want = statuses or TERMINAL

        def check() -> dict | None:
            r = self.status(iid, **params)
            body = r.json() if r.status_code in (200, 202) else None
            return body if body and body["runtimeStatus"] in want else None

        try:
            return wait_until(check, timeout, interval=0.02,
                              what=f"instance {iid} to be {'/'.join(want)}")
        except AssertionError as exc:
            r = self.status(iid, showHistory="true", showHistoryOutput="true")
            raise AssertionError(f"{exc}\nstatus: {r.status_code} {r.text}\n--- host ---\n"
                                 f"{self.host.output[-4000:]}") from None

    def wait_for(self, iid: str, check: Any, what: str, timeout: float = 10.0,
                 **params: Any) -> dict:
        """Poll the status until `check(status_json)` is truthy."""
        return wait_until(lambda: (lambda b: b if check(b) else None)(
            self.status(iid, **params).json()), timeout, what=what)

    def history(self, iid: str, output: bool = True) -> list[dict]:
        r = self.status(iid, showHistory="true", showHistoryOutput=str(output).lower())
        return list(r.json()["historyEvents"])

    def raise_event(self, iid: str, name: str, data: Any) -> httpx.Response:
        return self.http.post(f"{API}/instances/{iid}/raiseEvent/{name}", json=data)

    def post(self, iid: str, op: str, **params: Any) -> httpx.Response:
        return self.http.post(f"{API}/instances/{iid}/{op}", params=params)

    # the SDK's DurableOrchestrationClient, called inside the app
    def sdk(self, method: str, **kwargs: Any) -> Any:
        """Call a client method; return its result or raise AssertionError with its error."""
        r = self.http.post(f"/api/client/{method}", json=kwargs)
        body = r.json()
        if r.status_code != 200:
            raise SdkError(body["error"])
        return body["result"]

    def attempts(self, key: str) -> int:
        f = self.app_dir / "attempts" / f"{key}.txt"
        return int(f.read_text()) if f.exists() else 0


class SdkError(Exception):
    pass


@contextmanager
def durable_host(tmp: Path, *args: str) -> Iterator[Durable]:
    app = copy_app(tmp / "app")
    with HostProcess(app, *args, log_path=tmp / "host.log") as h:
        d = Durable(h, app)
        try:
            yield d
        finally:
            d.http.close()


@pytest.fixture(scope="module")
def durable(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Durable]:
    with durable_host(tmp_path_factory.mktemp("durable"), "--no-reload") as d:
        yield d


def run(d: Durable, name: str, body: Any, timeout_ms: int = 10_000) -> httpx.Response:
    """The app's start-and-wait starter (wait_for_completion_or_create_check_status_response)."""
    return d.http.post(f"/api/run/{name}", params={"timeout": timeout_ms}, json=body,
                       timeout=timeout_ms / 1000 + 10)


# -- patterns ---------------------------------------------------------------------------------

def test_function_chaining_with_case_insensitive_and_aliased_activities(durable: Durable
                                                                         ) -> None:
    r = run(durable, "chain", "Paris")
    assert r.status_code == 200, r.text
    assert r.json() == ["Hello Tokyo!", "Hello Seattle!", "Hello Paris!",
                        "renamed got [1, 2]"]


def test_fan_out_fan_in_with_task_all_keeps_child_order(durable: Durable) -> None:
    r = run(durable, "fan_out", 12)
    assert r.status_code == 200, r.text
    assert r.json() == {"results": [2 * i for i in range(12)], "sum": 132}


def test_many_instances_at_once(durable: Durable) -> None:
    ids = [durable.start("fan_out", n) for n in range(1, 21)]
    ids += [durable.sdk("start_new", orchestration_function_name="chain", client_input=str(n))
            for n in range(10)]
    outputs = [durable.wait(iid, timeout=30)["output"] for iid in ids]
    assert outputs[:20] == [{"results": [2 * i for i in range(n)], "sum": n * (n - 1)}
                            for n in range(1, 21)]
    assert [o[2] for o in outputs[20:]] == [f"Hello {n}!" for n in range(10)]


def test_task_any_returns_the_first_finished_activity(durable: Durable) -> None:
    r = run(durable, "first_of", None)
    assert r.status_code == 200, r.text
    assert r.json() == {"winner": 0, "fast_won": True}


def test_task_any_event_beats_a_timer(durable: Durable) -> None:
    iid = durable.start("race", 60)
    durable.wait_for(iid, lambda s: any(e["EventType"] == "ExecutionStarted"
                                        for e in s.get("historyEvents", [])),
                     "the race to start", showHistory="true")
    assert durable.raise_event(iid, "answer", {"v": 1}).status_code == 202
    status = durable.wait(iid)
    assert status["runtimeStatus"] == "Completed"
    assert status["output"] == {"winner": "event", "value": {"v": 1}}


def test_task_any_timer_beats_a_missing_event(durable: Durable) -> None:
    started = dt.datetime.now(dt.UTC)
    iid = durable.start("race", 1)
    status = durable.wait(iid)
    assert status["output"] == {"winner": "timer"}
    assert dt.datetime.now(dt.UTC) - started >= dt.timedelta(seconds=1)
    fired = [e for e in durable.history(iid) if e["EventType"] == "TimerFired"]
    assert len(fired) == 1
    # A late event for the finished instance is refused, not lost silently.
    assert durable.raise_event(iid, "answer", 1).status_code == 410


def test_durable_timer_waits_in_orchestration_time(durable: Durable) -> None:
    iid = durable.start("timer", 1)
    status = durable.wait(iid)
    out = status["output"]
    before = dt.datetime.fromisoformat(out["before"].replace("Z", "+00:00"))
    after = dt.datetime.fromisoformat(out["after"].replace("Z", "+00:00"))
    assert after - before >= dt.timedelta(seconds=1)
    fired = [e for e in durable.history(iid) if e["EventType"] == "TimerFired"]
    assert len(fired) == 1
    fire_at = dt.datetime.fromisoformat(fired[0]["FireAt"].replace("Z", "+00:00"))
    assert fire_at == before + dt.timedelta(seconds=1)


# -- retries ----------------------------------------------------------------------------------

def test_activity_retry_succeeds_after_failures(durable: Durable) -> None:
    key = new_id("retry-ok")
    r = run(durable, "retry_ok", {"key": key, "fail_times": 2, "max": 4})
    assert r.status_code == 200, r.text
    assert r.json() == {"succeeded_on_attempt": 3}
    assert durable.attempts(key) == 3


def test_activity_retry_history_waits_between_attempts(durable: Durable) -> None:
    key = new_id("retry-hist")
    iid = durable.start("retry_ok", {"key": key, "fail_times": 2, "max": 3})
    assert durable.wait(iid)["output"] == {"succeeded_on_attempt": 3}
    kinds = [e["EventType"] for e in durable.history(iid)
             if e["EventType"] in ("TaskFailed", "TaskCompleted", "TimerFired")]
    assert kinds == ["TaskFailed", "TimerFired", "TaskFailed", "TimerFired", "TaskCompleted"]
    events = durable.history(iid)
    failed = [e for e in events if e["EventType"] == "TaskFailed"]
    fired = [e for e in events if e["EventType"] == "TimerFired"]
    for f, t in zip(failed, fired, strict=True):
        assert f["Reason"].startswith("Activity function 'flaky' failed: ValueError: attempt")
        gap = (dt.datetime.fromisoformat(t["FireAt"].replace("Z", "+00:00"))
               - dt.datetime.fromisoformat(f["Timestamp"].replace("Z", "+00:00")))
        assert gap >= dt.timedelta(milliseconds=190)  # first_retry_interval 200 ms


def test_activity_retry_surfaces_the_last_error_after_max_attempts(durable: Durable) -> None:
    key = new_id("retry-fail")
    iid = durable.start("retry_fail", {"key": key, "fail_times": 99, "max": 3})
    status = durable.wait(iid)
    assert status["runtimeStatus"] == "Completed"
    error = status["output"]["error"]
    assert error.startswith("Activity function 'flaky' failed: ValueError: attempt 3 failed")
    assert durable.attempts(key) == 3
    kinds = [e["EventType"] for e in durable.history(iid)
             if e["EventType"] in ("TaskFailed", "TimerFired")]
    # DTFx's interceptor: a timer after every failed attempt, the last one a "dummy" due now.
    assert kinds == ["TaskFailed", "TimerFired"] * 3


# -- sub-orchestrations -----------------------------------------------------------------------

def test_sub_orchestrations_with_ids_parents_retries_aliases_and_failures(durable: Durable
                                                                          ) -> None:
    key = new_id("kid")
    iid = new_id("parent")
    durable.start("parent", key, iid)
    status = durable.wait(iid, timeout=20)
    assert status["runtimeStatus"] == "Completed", status
    out = status["output"]
    assert out["first"]["doubled"] == 2 and out["first"]["parent"] == iid
    assert out["named"] == {"doubled": 4, "me": f"{iid}-kid", "parent": iid}
    assert [c["doubled"] for c in out["both"]] == [6, 8]
    assert len({out["first"]["me"], *(c["me"] for c in out["both"])}) == 3
    assert out["retried"]["attempt"] == 2 and durable.attempts(key) == 2
    assert out["alias"] == {"greeting": "Hello alias!", "parent": iid}
    assert out["failed"].startswith("Orchestrator function 'boom' failed: kaboom: from parent")
    assert out["parent_of_parent"] is None
    # The children are instances of their own, visible through the API.
    kid = durable.status(f"{iid}-kid").json()
    assert kid["runtimeStatus"] == "Completed" and kid["name"] == "child"
    assert kid["input"] == {"n": 2}
    retried_child = durable.status(out["retried"]["me"]).json()
    assert retried_child["name"] == "flaky_child"
    # The sub-orchestration history of the parent records each call by name.
    names = [e.get("FunctionName") for e in durable.history(iid)
             if e["EventType"].startswith("SubOrchestrationInstance")]
    assert names.count("child") == 4 and names.count("flaky_child") == 2
    assert "aliased_child" in names and "boom" in names


def test_aliased_orchestrator_starts_by_its_registered_name(durable: Durable) -> None:
    r = durable.start_raw("aliased_child", "direct")  # case-insensitive, like the extension
    assert r.status_code == 202, r.text
    status = durable.wait(r.json()["id"])
    assert status["output"] == {"greeting": "Hello direct!", "parent": None}
    assert status["name"] == "Aliased_Child"


def test_calls_to_functions_that_do_not_exist_fail_catchably(durable: Durable) -> None:
    status = durable.wait(durable.start("missing"))
    assert status["runtimeStatus"] == "Completed", status
    activity, orchestrator = status["output"]
    assert activity.startswith("The function 'no_such_activity' doesn't exist, is disabled, or "
                               "is not an activity function.")
    assert "'hello'" in activity and "'Renamed_Activity'" in activity  # the known ones
    assert orchestrator.startswith("The orchestrator function 'no_such_orchestrator' doesn't "
                                   "exist")


# -- events, custom status, continue-as-new ---------------------------------------------------

def test_external_event_with_custom_status_through_the_sdk(durable: Durable) -> None:
    iid = new_id("approval")
    assert durable.sdk("start_new", orchestration_function_name="approval",
                       instance_id=iid) == iid
    durable.wait_for(iid, lambda s: s["customStatus"] == "waiting for approval",
                     "the custom status")
    assert durable.sdk("raise_event", instance_id=iid, event_name="approve",
                       event_data={"by": "ada"}) is None
    status = durable.wait(iid)
    assert status["output"] == {"approved_with": {"by": "ada"}}
    assert status["customStatus"] == {"approved": True}
    sdk_status = durable.sdk("get_status", instance_id=iid)
    assert sdk_status["runtimeStatus"] == "Completed"
    assert sdk_status["customStatus"] == {"approved": True}
    with pytest.raises(SdkError, match="is gone"):
        durable.sdk("raise_event", instance_id=iid, event_name="approve", event_data=1)
    with pytest.raises(SdkError, match="No instance"):
        durable.sdk("raise_event", instance_id=new_id("nobody"), event_name="approve",
                    event_data=1)


def test_event_raised_before_the_wait_is_buffered(durable: Durable) -> None:
    iid = durable.start("two_events")
    durable.wait_for(iid, lambda s: s["runtimeStatus"] == "Running", "the instance to run")
    assert durable.raise_event(iid, "second", "B").status_code == 202
    durable.wait_for(iid, lambda s: any(e.get("Name") == "second"
                                        for e in s.get("historyEvents", [])),
                     "the early event in history", showHistory="true")
    assert durable.status(iid).json()["customStatus"] is None  # still waiting for `first`
    assert durable.raise_event(iid, "first", "A").status_code == 202
    assert durable.wait(iid)["output"] == ["A", "B"]


def test_continue_as_new_carries_over_unprocessed_events(durable: Durable) -> None:
    iid = durable.start("ticker", {"seen": [], "want": 3})
    durable.wait_for(iid, lambda s: s["runtimeStatus"] == "Running", "the instance to run")
    # Suspended, the instance keeps its events queued; resumed, it gets all three in one
    # batch: the first ends the execution (continue_as_new), the others must carry over.
    assert durable.post(iid, "suspend", reason="batch").status_code == 202
    durable.wait_for(iid, lambda s: s["runtimeStatus"] == "Suspended", "suspension")
    for n in (1, 2, 3):
        assert durable.raise_event(iid, "tick", n).status_code == 202
    assert durable.post(iid, "resume", reason="go").status_code == 202
    status = durable.wait(iid)
    assert status["runtimeStatus"] == "Completed"
    assert status["output"] == [1, 2, 3]
    assert status["input"] == {"seen": [1, 2], "want": 3}  # the last execution's input


def test_continue_as_new_restarts_with_new_input_and_fresh_history(durable: Durable) -> None:
    iid = durable.start("counter", 0)
    status = durable.wait(iid)
    assert status["output"] == 3 and status["input"] == 3
    history = durable.history(iid)
    assert [e["EventType"] for e in history] == [
        "ExecutionStarted", "TaskCompleted", "ExecutionCompleted"]
    assert history[1]["Input"] == 3  # only the last execution's history remains


# -- inputs and outputs -----------------------------------------------------------------------

@pytest.mark.parametrize(("body", "expected", "raw_expected"), [
    ({"a": [1, 2]}, {"type": "dict", "value": {"a": [1, 2]}}, None),
    ("plain text", {"type": "str", "value": "plain text"}, None),
    # The SDK's client double-encodes, so its "42" arrives as the string; a raw body that is a
    # JSON string holding JSON text is that text, as on Azure (the extension stores the string
    # and the SDK's get_input parses its content): a raw "42" is 42.
    ("42", {"type": "str", "value": "42"}, {"type": "int", "value": 42}),
    ('{"looks": "like json"}', {"type": "str", "value": '{"looks": "like json"}'},
     {"type": "dict", "value": {"looks": "like json"}}),
    (42, {"type": "int", "value": 42}, None),
    (None, {"type": "NoneType", "value": None}, None),
])
def test_get_input_values_started_raw_and_through_the_sdk(durable: Durable, body: Any,
                                                          expected: Any,
                                                          raw_expected: Any) -> None:
    raw = durable.start("inputs", body) if body is not None else durable.start("inputs")
    assert durable.wait(raw)["output"] == (raw_expected or expected)
    sdk = durable.sdk("start_new", orchestration_function_name="inputs", client_input=body)
    assert durable.wait(sdk)["output"] == expected


def test_custom_class_input_round_trips_through_orchestrator_and_activity(durable: Durable
                                                                         ) -> None:
    point = {"__class__": "Point", "__module__": "shapes", "__data__": {"x": 1, "y": 2}}
    for iid in (durable.start("inputs", point),
                durable.sdk("start_new", orchestration_function_name="inputs",
                            client_input=point)):
        status = durable.wait(iid)
        assert status["runtimeStatus"] == "Completed", status
        assert status["output"] == {"type": "Point", "x": 1, "moved": ["Point", 2, 3]}
        # The activity's result was stored in the envelope the SDK decodes.
        completed = [e for e in durable.history(iid) if e["EventType"] == "TaskCompleted"]
        assert completed[0]["Result"] == {"__class__": "Point", "__module__": "shapes",
                                          "__data__": {"x": 2, "y": 3}}


def test_custom_object_as_orchestrator_output_fails_as_in_azure(durable: Durable) -> None:
    # SDK 1.x json.dumps-checks the output (no to_json): the instance fails, in Azure as well.
    status = durable.wait(durable.start("inputs", "return a point"))
    assert status["runtimeStatus"] == "Failed"
    assert status["output"] == ("Orchestrator function 'inputs' failed: Object of type Point "
                                "is not JSON serializable")


def test_orchestrator_without_yield(durable: Durable) -> None:
    assert durable.wait(durable.start("plain", [1]))["output"] == {"plain": [1]}
    failed = durable.wait(durable.start("plain", "raise"))
    assert failed["runtimeStatus"] == "Failed"
    assert failed["output"] == "Orchestrator function 'plain' failed: plain failure"


# -- failures ---------------------------------------------------------------------------------

def test_orchestrator_exception_fails_the_instance(durable: Durable) -> None:
    r = run(durable, "boom", "bad input")
    assert r.status_code == 500
    assert r.json()["runtimeStatus"] == "Failed"
    iid = r.json()["instanceId"]
    status = durable.status(iid).json()
    assert status["runtimeStatus"] == "Failed"
    assert status["output"] == "Orchestrator function 'boom' failed: kaboom: bad input"
    # Work scheduled before the crash was recorded and ran.
    kinds = [e["EventType"] for e in durable.history(iid)]
    assert kinds == ["ExecutionStarted", "TaskCompleted", "ExecutionCompleted"]
    assert durable.status(iid, returnInternalServerErrorOnFailure="true").status_code == 500
    assert durable.status(iid).status_code == 200


def test_activity_exception_is_catchable_in_the_orchestrator(durable: Durable) -> None:
    status = durable.wait(durable.start("catcher"))
    caught = status["output"]["caught"]
    assert caught.startswith(
        "Activity function 'always_fails' failed: ValueError: no luck with catcher")


def test_sub_orchestration_id_already_running_fails_the_call_not_the_parent(
        durable: Durable) -> None:
    busy = durable.start("approval", instance_id=new_id("busy"))
    durable.wait(busy, "Running")
    status = durable.wait(durable.start("call_busy", busy))
    assert status["runtimeStatus"] == "Completed", status
    assert status["output"].startswith(
        f"refused: An orchestration instance with id '{busy}' already exists and is still "
        "running."), status["output"]
    assert durable.status(busy).json()["runtimeStatus"] == "Running"  # left alone
