"""Replay through the real `func-py start`: an instance survives a host restart (replayed
cold from its stored history, with the same time, uuids and is_replaying answers), and a hot
edit that changes what an in-flight orchestrator schedules fails it as non-deterministic."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

from tests.e2e.test_durable import API, Durable, copy_app, new_id
from tests.harness import HostProcess, wait_until


def _new_uuid(instance_id: str, when: str, counter: int) -> str:
    # The SDK's DurableOrchestrationContext.new_uuid (durable-protocol §3.6).
    namespace = uuid.uuid5(uuid.NAMESPACE_OID, "9e952958-5e33-4daf-827f-2fa12937b875")
    return str(uuid.uuid5(namespace, f"{instance_id}_{when}_{counter}"))


def test_instance_survives_a_restart_with_stable_time_uuids_and_replay_flag(tmp_path: Path
                                                                           ) -> None:
    app = copy_app(tmp_path / "app")
    iid = new_id("clock")
    with HostProcess(app, "--no-reload", log_path=tmp_path / "first.log") as h1:
        d = Durable(h1, app)
        d.start("clock", None, iid)
        first = d.wait_for(iid, lambda s: s["customStatus"] is not None, "the custom status")
        sleeper = d.start("timer", 1)  # its timer is due after the restart
        d.wait_for(sleeper, lambda s: s["runtimeStatus"] == "Running", "the timer instance")
        d.http.close()
    before = first["customStatus"]
    with HostProcess(app, "--no-reload", log_path=tmp_path / "second.log") as h2:
        d = Durable(h2, app)
        assert d.status(iid).json()["runtimeStatus"] == "Running"
        assert d.raise_event(iid, "go", "after restart").status_code == 202
        status = d.wait(iid)
        assert d.wait(sleeper)["runtimeStatus"] == "Completed"
        d.http.close()
        for step in (1, 2):  # logged by this host, after the event
            h2.wait_for_log(re.escape(f"clock step={step} instance={iid}"))
    logs = [h1.output, h2.output]  # both hosts have exited: their output is complete
    out = status["output"]
    assert status["runtimeStatus"] == "Completed", status
    # The second host replayed the first episode: same clock, same uuids.
    assert out["t0"] == before["t0"] and out["u0"] == before["u0"]
    assert out["u0"] == [_new_uuid(iid, out["t0"], 0), _new_uuid(iid, out["t0"], 1)]
    assert out["u1"] == _new_uuid(iid, out["t1"], 2)
    assert out["t0"] < out["t1"] <= out["t2"]
    assert out["greeting"] == "Hello after restart!"
    assert out["replaying_at_end"] is False
    # `if not context.is_replaying` code ran once per step across both hosts.
    for step in (0, 1, 2):
        line = f"clock step={step} instance={iid}"
        assert sum(log.count(line) for log in logs) == 1, (step, logs)
    assert f"clock step=0 instance={iid}" in logs[0]


def _edit(app: Path, old: str, new: str) -> None:
    f = app / "function_app.py"
    text = f.read_text()
    assert old in text
    f.write_text(text.replace(old, new))


def test_hot_edits_replay_compatible_changes_and_fail_non_deterministic_ones(tmp_path: Path
                                                                             ) -> None:
    app = copy_app(tmp_path / "app")
    with HostProcess(app, log_path=tmp_path / "host.log") as h:  # hot reload on
        d = Durable(h, app)

        def waiting(iid: str) -> None:
            d.wait_for(iid, lambda s: any(e["EventType"] == "TaskCompleted"
                                          for e in s.get("historyEvents", [])),
                       "the first activity", showHistory="true")

        # A compatible edit (same calls, another result): the instance finishes on new code.
        compatible = d.start("call_then_wait")
        waiting(compatible)
        _edit(app, '"version": 1}', '"version": 2}')
        _wait_reloads(h, 1)
        assert d.raise_event(compatible, "go", "v2").status_code == 202
        assert d.wait(compatible)["output"] == {"first": "Hello original!", "go": "v2",
                                                "version": 2}

        # An incompatible edit: the replay schedules another activity at the same point.
        changed = d.start("call_then_wait")
        waiting(changed)
        _edit(app, 'context.call_activity("hello", "original")',
              'context.call_activity("double", 21)')
        _wait_reloads(h, 2)
        assert d.raise_event(changed, "go", "v3").status_code == 202
        status = d.wait(changed)
        assert status["runtimeStatus"] == "Failed", status
        message = status["output"]
        assert message.startswith("Orchestrator function 'call_then_wait' failed: "
                                  "Non-deterministic workflow detected")
        assert "'hello'" in message and "'double'" in message
        # New instances run the new code from the start.
        fresh = d.start("call_then_wait")
        waiting(fresh)
        assert d.raise_event(fresh, "go", "v3").status_code == 202
        assert d.wait(fresh)["output"] == {"first": 42, "go": "v3", "version": 2}
        d.http.close()


def _wait_reloads(h: HostProcess, count: int) -> None:
    wait_until(lambda: h.output.count("Reloaded after a change to function_app.py") >= count,
               10, what=f"{count} reloads")


def test_a_non_deterministic_orchestrator_fails_at_its_next_episode_without_a_restart(
        tmp_path: Path) -> None:
    """Development mode replays each episode as Azure does: an orchestrator that branches on a
    file is failed with the non-determinism message at the episode after the file changed;
    FUNCPY_REPLAY_CHECK=0 (and production) keeps the live session, which never notices."""
    choice = tmp_path / "choice.txt"
    for check, expected in (("1", "Failed"), ("0", "Completed")):
        choice.write_text("hello")
        app = copy_app(tmp_path / f"app{check}")
        with HostProcess(app, "--no-reload", env={"FUNCPY_REPLAY_CHECK": check},
                         log_path=tmp_path / f"host{check}.log") as h:
            d = Durable(h, app)
            iid = d.start("branchy", str(choice))
            d.wait_for(iid, lambda b: any(e.get("EventType") == "TaskCompleted"
                                          for e in b.get("historyEvents", [])),
                       "the first activity to complete", showHistory="true")
            choice.write_text("Renamed_Activity")  # the code now takes another branch
            assert d.raise_event(iid, "go", 1).status_code == 202
            status = d.wait(iid)
            assert status["runtimeStatus"] == expected, status
            if expected == "Failed":
                assert ("Non-deterministic workflow detected: at task 0 the history records a "
                        "call to activity 'hello', but the orchestrator now schedules a call to "
                        "activity 'Renamed_Activity'") in status["output"], status
            else:
                assert status["output"] == "Hello x!"


def test_host_json_default_version_reaches_new_instances_and_sub_orchestrations(
        tmp_path: Path) -> None:
    import json

    app = copy_app(tmp_path / "app")
    (app / "host.json").write_text(json.dumps({"version": "2.0", "extensions": {"durableTask": {
        "hubName": "DurableTests", "defaultVersion": "2.0"}}}))
    with HostProcess(app, "--no-reload", log_path=tmp_path / "host.log") as h:
        d = Durable(h, app)
        assert d.wait(d.start("versions"))["output"] == {"me": "2.0", "child": "2.0",
                                                         "pinned": "9.9"}
        r = d.http.post(f"{API}/orchestrators/versions", params={"version": "3.1"})
        assert r.status_code == 202, r.text
        assert d.wait(r.json()["id"])["output"] == {"me": "3.1", "child": "2.0", "pinned": "9.9"}
        # The SDK's client (the app's durableClient binding) without a version: the default.
        iid = d.sdk("start_new", orchestration_function_name="my_version")
        assert d.wait(iid)["output"] == "2.0"
