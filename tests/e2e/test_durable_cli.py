"""`func-py durable …` as a user runs it: real subprocesses against an app folder's own task hub,
first with no host running (the commands work on the store directly), then with a real
`func-py start` host that runs what the commands enqueue."""

from __future__ import annotations

import json
import os
import re
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.harness import FUNC_PY, HostProcess, wait_until

APP = '''
import pathlib

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)
FAIL_FLAG = pathlib.Path(__file__).with_name("fail.flag")


@app.orchestration_trigger(context_name="context")
def greet(context: df.DurableOrchestrationContext):
    data = context.get_input() or {}
    greeting = yield context.call_activity("say_hello", data.get("name", "world"))
    if data.get("wait"):
        approval = yield context.wait_for_external_event("Approval")
        return {"greeting": greeting, "approval": approval}
    return {"greeting": greeting}


@app.activity_trigger(input_name="name")
def say_hello(name: str) -> str:
    if FAIL_FLAG.exists():
        raise RuntimeError("fail.flag is present")
    return f"Hello, {name}!"
'''

HUB = "CliHub"


def make_app(root: Path, *, durable_task: dict[str, Any] | None = None,
             values: dict[str, str] | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "function_app.py").write_text(APP)
    conf = {"hubName": HUB} if durable_task is None else durable_task
    (root / "host.json").write_text(json.dumps(
        {"version": "2.0", "extensions": {"durableTask": conf}}))
    (root / "local.settings.json").write_text(json.dumps({"IsEncrypted": False, "Values": {
        "FUNCTIONS_WORKER_RUNTIME": "python", "AzureWebJobsStorage": "UseDevelopmentStorage=true",
        **(values or {})}}))
    return root


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    # The runner's own hub overrides must not leak into the app under test.
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("FUNCPY_") and k != "AzureWebJobsScriptRoot"}
    return {**env, "PYTHONUNBUFFERED": "1", **(extra or {})}


def durable(app: Path, *args: str,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([FUNC_PY, "durable", *args], cwd=app, env=_env(env),
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60)


def ok(app: Path, *args: str, env: dict[str, str] | None = None) -> Any:
    r = durable(app, *args, env=env)
    assert r.returncode == 0, f"func-py durable {' '.join(args)} failed:\n{r.stderr}"
    return json.loads(r.stdout)


def fails(app: Path, *args: str, env: dict[str, str] | None = None) -> str:
    """The one error line of a refused command (no traceback, non-zero exit)."""
    r = durable(app, *args, env=env)
    assert r.returncode != 0, f"expected failure, got:\n{r.stdout}"
    assert "Traceback" not in r.stderr, r.stderr
    assert r.stdout == ""
    last = r.stderr.strip().splitlines()[-1]
    assert re.match(r"func-py( durable [a-z-]+)?: error: ", last), r.stderr
    return last


def status(app: Path, iid: str, *flags: str) -> dict[str, Any]:
    return ok(app, "get-runtime-status", "--id", iid, *flags)  # type: ignore[no-any-return]


def wait_status(app: Path, iid: str, runtime_status: str,
                timeout: float = 30.0) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        body = status(app, iid, "--show-input", "--show-output")
        return body if body["runtimeStatus"] == runtime_status else None

    return wait_until(check, timeout, interval=0.1,  # type: ignore[no-any-return]
                      what=f"instance '{iid}' to be {runtime_status}")


# -- no host running: the commands work on the store ---------------------------------------------


def test_read_commands_on_an_app_without_a_hub_create_nothing(tmp_path: Path) -> None:
    app = make_app(tmp_path / "app")
    assert ok(app, "get-instances") == []
    assert ok(app, "purge-history") == {"instancesDeleted": 0}
    assert "No instance with ID 'x' is found." in fails(app, "get-runtime-status", "--id", "x")
    assert not (app / ".func-py").exists()


def test_start_new_queues_a_pending_instance_without_a_host(tmp_path: Path) -> None:
    app = make_app(tmp_path / "app")
    body = ok(app, "start-new", "--function-name", "greet", "--id", "inline",
              "--input", '{"name": "Ada"}')
    assert body["instanceId"] == "inline"
    assert body["name"] == "greet"
    assert body["runtimeStatus"] == "Pending"
    assert body["input"] == {"name": "Ada"}
    assert (app / ".func-py" / "taskhub.sqlite").exists()

    (app / "input.json").write_text('{"name": "from a file"}')
    generated = ok(app, "start-new", "--function-name", "greet", "--input", "@input.json")
    assert re.fullmatch(r"[0-9a-f]{32}", generated["instanceId"])
    assert generated["input"] == {"name": "from a file"}
    # A JSON string stays a string, even one whose text is JSON too (nothing double-encodes).
    assert ok(app, "start-new", "--function-name", "greet", "--id", "text",
              "--input", '"42"')["input"] == "42"

    # No --show-input / --show-output: both left out, as Core Tools does.
    plain = status(app, "inline")
    assert (plain["runtimeStatus"], plain["input"], plain["output"]) == ("Pending", None, None)
    assert status(app, "inline", "--show-input")["input"] == {"name": "Ada"}
    listed = ok(app, "get-instances")
    assert {i["instanceId"] for i in listed} == {"inline", "text", generated["instanceId"]}
    # A Pending instance has no history until a host runs it.
    assert ok(app, "get-history", "--id", "inline") == []


def test_get_instances_pages_and_filters(tmp_path: Path) -> None:
    app = make_app(tmp_path / "app")
    for iid in ("a1", "a2", "a3"):
        ok(app, "start-new", "--function-name", "greet", "--id", iid)
    first = durable(app, "get-instances", "--top", "2")
    assert first.returncode == 0, first.stderr
    assert [i["instanceId"] for i in json.loads(first.stdout)] == ["a1", "a2"]
    m = re.search(r"--continuation-token '?([A-Za-z0-9_=-]+)'?", first.stderr)
    assert m, first.stderr
    rest = durable(app, "get-instances", "--top", "2", "--continuation-token", m.group(1))
    assert [i["instanceId"] for i in json.loads(rest.stdout)] == ["a3"]
    assert rest.stderr == ""  # last page: no token

    # A page over the maximum is cut there (it overflowed the store's LIMIT before).
    assert len(ok(app, "get-instances", "--top", "99999999999999999999")) == 3
    assert len(ok(app, "get-instances", "--runtime-status", "pending", "running")) == 3
    assert len(ok(app, "get-instances", "--runtime-status", "Pending Completed")) == 3
    assert ok(app, "get-instances", "--runtime-status", "completed") == []
    assert len(ok(app, "get-instances", "--created-after", "2000-01-01T00:00:00Z")) == 3
    assert ok(app, "get-instances", "--created-before", "2000-01-01") == []
    assert ok(app, "get-instances", "--created-after", "2999-01-01T00:00:00+02:00") == []


def test_task_hub_name_chooses_the_hub(tmp_path: Path) -> None:
    app = make_app(tmp_path / "app")
    ok(app, "start-new", "--function-name", "greet", "--id", "in-default")
    ok(app, "--task-hub-name", "OtherHub", "start-new", "--function-name", "greet",
       "--id", "in-other")
    assert [i["instanceId"] for i in ok(app, "get-instances")] == ["in-default"]
    assert [i["instanceId"] for i in ok(app, "get-instances", "--task-hub-name", HUB)] == \
        ["in-default"]
    other = ok(app, "get-instances", "--task-hub-name", "OtherHub")
    assert [i["instanceId"] for i in other] == ["in-other"]
    # --script-root works before or after the command's name, from any directory.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert len(ok(elsewhere, "--script-root", str(app), "get-instances")) == 1
    assert len(ok(elsewhere, "get-instances", "--script-root", str(app))) == 1
    # An Azure Storage connection setting means the embedded hub, which stands in for it.
    assert len(ok(app, "get-instances", "--connection-string-setting", "AzureWebJobsStorage")) == 1


def test_host_json_with_comments_and_trailing_commas(tmp_path: Path) -> None:
    # The Functions host accepts these; the Durable SDK's own strict read of ./host.json at
    # import must not turn them into a traceback.
    app = make_app(tmp_path / "app")
    (app / "host.json").write_text('{\n  // the hub\n  "version": "2.0",\n  "extensions": '
                                   '{"durableTask": {"hubName": "Commented",},},\n}\n')
    assert ok(app, "start-new", "--function-name", "greet", "--id", "c")["instanceId"] == "c"
    assert [i["instanceId"] for i in ok(app, "get-instances", "--task-hub-name",
                                        "Commented")] == ["c"]


def test_purge_history_and_delete_task_hub(tmp_path: Path) -> None:
    app = make_app(tmp_path / "app")
    for iid in ("p1", "p2"):
        ok(app, "start-new", "--function-name", "greet", "--id", iid)
    ok(app, "--task-hub-name", "KeptHub", "start-new", "--function-name", "greet", "--id", "k")
    assert ok(app, "purge-history", "--runtime-status", "completed", "failed") == \
        {"instancesDeleted": 0}
    assert ok(app, "purge-history", "--created-before", "2000-01-01") == {"instancesDeleted": 0}
    # Without --runtime-status every status goes, as with Core Tools.
    assert ok(app, "purge-history", "--created-after", "2000-01-01") == {"instancesDeleted": 2}
    assert ok(app, "get-instances") == []

    ok(app, "start-new", "--function-name", "greet", "--id", "p3")
    assert ok(app, "delete-task-hub") == {"taskHub": HUB, "deleted": True}
    assert ok(app, "get-instances") == []
    assert [i["instanceId"] for i in ok(app, "get-instances", "--task-hub-name", "KeptHub")] \
        == ["k"]


# -- errors: one line on stderr, a non-zero exit, never a traceback ------------------------------


@pytest.fixture(scope="module")
def pending_app(tmp_path_factory: pytest.TempPathFactory) -> Path:
    app = make_app(tmp_path_factory.mktemp("errors") / "app")
    ok(app, "start-new", "--function-name", "greet", "--id", "p1")
    return app


@pytest.mark.parametrize(("args", "message"), [
    (["get-runtime-status", "--id", "nope"], "No instance with ID 'nope' is found."),
    (["get-history", "--id", "nope"], "No instance with ID 'nope' is found."),
    (["raise-event", "--id", "nope", "--event-name", "E"], "No instance with ID 'nope'"),
    (["terminate", "--id", "nope", "--reason", "r"], "No instance with ID 'nope'"),
    (["rewind", "--id", "p1"], "Instance 'p1' is Pending and cannot be rewound"),
    (["start-new", "--function-name", "greet", "--id", "p1"],
     "An instance with id 'p1' already exists"),
    (["start-new", "--function-name", "greet", "--id", "bad/id"], "Instance id 'bad/id' is"),
    (["start-new", "--function-name", "greet", "--id", "@entity"],
     "Instance id '@entity' is invalid: ids starting with '@' are reserved"),
    # argv bytes that are not UTF-8 (the shell's $'\xfe'): refused, not a traceback
    (["start-new", "--function-name", "greet", "--id", os.fsdecode(b"\xfe")],
     "is invalid: it is not valid Unicode text"),
    (["get-runtime-status", "--id", os.fsdecode(b"\xff")], "--id is not valid UTF-8 text"),
    (["terminate", "--id", os.fsdecode(b"\xff")], "--id is not valid UTF-8 text"),
    (["start-new", "--function-name", "greet", "--input", "{not json"],
     "The input is not valid JSON"),
    (["start-new", "--function-name", "greet", "--input", "hello"],
     "quote a plain string as JSON"),
    (["start-new", "--function-name", "greet", "--input", "@missing.json"],
     "Cannot read the input file 'missing.json'"),
    (["raise-event", "--id", "p1", "--event-name", "E", "--event-data", "[1,"],
     "The event data is not valid JSON"),
    (["get-instances", "--continuation-token", "zzz"], "--continuation-token 'zzz' is not"),
    (["get-instances", "--task-hub-name", "no-dashes"], "is not a valid task hub name"),
    (["get-instances", "--script-root", "no/such/dir"], "The app folder 'no/such/dir' does "
                                                       "not exist"),
    (["get-instances", "--connection-string-setting", "NoSuchSetting"],
     "The app setting 'NoSuchSetting' (--connection-string-setting) is not set"),
    # argparse's own refusals
    (["get-instances", "--runtime-status", "sleeping"], "unknown runtime status 'sleeping'"),
    (["get-instances", "--created-after", "yesterday"], "'yesterday' is not an ISO 8601"),
    (["get-instances", "--top", "0"], "must be a whole number of at least 1"),
    (["get-runtime-status"], "the following arguments are required: --id"),
])
def test_refused_commands_print_one_error_line(pending_app: Path, args: list[str],
                                                message: str) -> None:
    assert message in fails(pending_app, *args)


def test_a_store_that_cannot_be_opened_is_one_error_line(tmp_path: Path) -> None:
    app = make_app(tmp_path / "app")
    (app / ".func-py").mkdir()
    (app / ".func-py" / "taskhub.sqlite").write_bytes(b"this is not a database" * 100)
    line = fails(app, "get-instances")
    assert "Cannot open the SQLite task hub at" in line
    assert "file is not a database" in line


def test_unusable_storage_settings_are_one_error_line(tmp_path: Path) -> None:
    app = make_app(tmp_path / "odd", durable_task={"storageProvider": {"type": "redis"}})
    assert "storageProvider.type 'redis' is not supported" in fails(app, "get-instances")
    app = make_app(tmp_path / "pg", durable_task={
        "storageProvider": {"type": "postgres", "connectionStringName": "TaskHubDb"}})
    assert "The app setting 'TaskHubDb'" in fails(app, "get-instances")
    app = make_app(tmp_path / "hub", durable_task={"hubName": "x"})
    assert "hubName 'x' is not a valid task hub name" in fails(app, "get-instances")


# -- with a running host: it picks up what the commands enqueue ----------------------------------


@pytest.fixture(scope="module")
def hosted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    app = make_app(tmp_path_factory.mktemp("hosted") / "app")
    # HostProcess starts from os.environ: blank out the runner's hub overrides instead.
    blank = {k: "" for k in os.environ if k.startswith("FUNCPY_")}
    with HostProcess(app, "--no-reload", env=blank) as host:
        host.wait_for_log(r"Task hub 'CliHub' on ")
        yield app


def test_start_new_is_completed_by_the_running_host(hosted: Path) -> None:
    body = ok(hosted, "start-new", "--function-name", "greet", "--id", "hosted-1",
              "--input", '{"name": "Ada"}')
    assert body["runtimeStatus"] == "Pending"
    wait_status(hosted, "hosted-1", "Completed")
    done = status(hosted, "hosted-1", "--show-output")
    assert done["output"] == {"greeting": "Hello, Ada!"}
    assert done["input"] is None  # not asked for
    assert status(hosted, "hosted-1")["output"] is None

    history = ok(hosted, "get-history", "--id", "hosted-1")
    kinds = [e["EventType"] for e in history]
    assert kinds[:2] == ["OrchestratorStarted", "ExecutionStarted"]
    assert kinds[-1] == "ExecutionCompleted"
    scheduled = next(e for e in history if e["EventType"] == "TaskScheduled")
    assert scheduled["Name"] == "say_hello"
    assert json.loads(history[-1]["Result"]) == {"greeting": "Hello, Ada!"}
    assert [i["runtimeStatus"] for i in ok(hosted, "get-instances", "--runtime-status",
                                           "completed")] == ["Completed"]


def test_raise_event_and_terminate_reach_the_running_host(hosted: Path) -> None:
    ok(hosted, "start-new", "--function-name", "greet", "--id", "waits",
       "--input", '{"name": "Bo", "wait": true}')
    ok(hosted, "start-new", "--function-name", "greet", "--id", "stopped",
       "--input", '{"name": "Cy", "wait": true}')
    wait_status(hosted, "waits", "Running")
    (hosted / "event.json").write_text('{"approved": true}')
    assert ok(hosted, "raise-event", "--id", "waits", "--event-name", "Approval",
              "--event-data", "@event.json") == {
        "instanceId": "waits", "operation": "raise-event", "accepted": True,
        "eventName": "Approval"}
    done = wait_status(hosted, "waits", "Completed")
    assert done["output"] == {"greeting": "Hello, Bo!", "approval": {"approved": True}}

    wait_status(hosted, "stopped", "Running")
    assert ok(hosted, "terminate", "--id", "stopped", "--reason", "no longer needed")[
        "accepted"] is True
    terminated = wait_status(hosted, "stopped", "Terminated")
    assert terminated["output"] == "no longer needed"
    # A finished instance refuses further changes (the HTTP API's 410).
    assert "Instance 'stopped' is terminated and cannot be terminated." in fails(
        hosted, "terminate", "--id", "stopped")
    assert "cannot be sent events" in fails(hosted, "raise-event", "--id", "waits",
                                            "--event-name", "Approval")


def test_rewind_runs_the_failed_activity_again(hosted: Path) -> None:
    flag = hosted / "fail.flag"
    flag.write_text("")
    try:
        ok(hosted, "start-new", "--function-name", "greet", "--id", "rewound",
           "--input", '{"name": "Di"}')
        failed = wait_status(hosted, "rewound", "Failed")
        assert "fail.flag is present" in failed["output"]
    finally:
        flag.unlink()
    assert ok(hosted, "rewind", "--id", "rewound", "--reason", "flag removed")["accepted"]
    assert wait_status(hosted, "rewound", "Completed")["output"] == {"greeting": "Hello, Di!"}


def test_unknown_orchestrator_name_fails_when_the_host_runs_it(hosted: Path) -> None:
    # The CLI does not load the app, so it cannot refuse the name up front.
    ok(hosted, "start-new", "--function-name", "no_such_orchestrator", "--id", "unknown")
    failed = wait_status(hosted, "unknown", "Failed")
    assert "no_such_orchestrator" in failed["output"]


# -- PostgreSQL: the hub host.json names, or the one --connection-string-setting names -----------


@pytest.mark.postgres
def test_commands_on_a_postgres_hub(tmp_path: Path) -> None:
    url = os.environ.get("FUNCPY_TEST_POSTGRES")
    if not url:
        pytest.skip("set FUNCPY_TEST_POSTGRES to a PostgreSQL URL to run this test")
    hub = f"cli{uuid.uuid4().hex[:12]}"
    app = make_app(tmp_path / "pg", values={"TaskHubDb": url}, durable_task={
        "hubName": hub,
        "storageProvider": {"type": "postgres", "connectionStringName": "TaskHubDb"}})
    try:
        ok(app, "start-new", "--function-name", "greet", "--id", "pg-1", "--input", "[1, 2]")
        assert status(app, "pg-1", "--show-input")["input"] == [1, 2]
        assert [i["instanceId"] for i in ok(app, "get-instances")] == ["pg-1"]
        assert not (app / ".func-py").exists()  # nothing went to SQLite
        # The same database reached from an app whose host.json names no provider.
        plain = make_app(tmp_path / "plain", values={"PgUrl": url},
                         durable_task={"hubName": hub})
        assert [i["instanceId"] for i in ok(plain, "get-instances",
                                            "--connection-string-setting", "PgUrl")] == ["pg-1"]
        assert ok(plain, "get-instances") == []  # its own SQLite hub
    finally:
        assert ok(app, "delete-task-hub")["taskHub"] == hub
    assert ok(app, "get-instances") == []
