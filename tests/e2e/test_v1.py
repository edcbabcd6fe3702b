"""v1 (function.json) apps through the real `func-py start`: tests/apps/v1_durable (Microsoft's v1
Durable sample patterns), tests/apps/v1_http (HTTP and timer functions), tests/apps/v1_broken
(one good function among broken ones), the model choice, and hot reload of v1 functions.

Every app is copied to a temporary folder first (its task hub lives in the copy). Tests wait on
log lines and HTTP answers with deadlines, never with fixed sleeps.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import APPS
from tests.harness import HostProcess, run_start, wait_until

API = "/runtime/webhooks/durabletask"
TERMINAL = ("Completed", "Failed", "Terminated")


def copy(name: str, dest: Path) -> Path:
    target = dest / name
    shutil.copytree(APPS / name, target, ignore=shutil.ignore_patterns(".func-py", "__pycache__"))
    return target


@pytest.fixture(scope="module")
def durable(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostProcess]:
    tmp = tmp_path_factory.mktemp("v1_durable")
    with HostProcess(copy("v1_durable", tmp), "--no-reload", log_path=tmp / "host.log") as h:
        yield h


@pytest.fixture(scope="module")
def http_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostProcess]:
    tmp = tmp_path_factory.mktemp("v1_http")
    with HostProcess(copy("v1_http", tmp), "--no-reload", log_path=tmp / "host.log") as h:
        yield h


def start(host: HostProcess, path: str, body: Any = None) -> dict[str, Any]:
    """POST an HTTP starter; return its check-status payload (202)."""
    with host.client() as c:
        r = c.post(path, json=body) if body is not None else c.post(path)
    assert r.status_code == 202, r.text
    assert r.headers["location"] == r.json()["statusQueryGetUri"]
    return dict(r.json())


def wait_done(host: HostProcess, iid: str, timeout: float = 15.0) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        with host.client() as c:
            body = c.get(f"{API}/instances/{iid}").json()
        return body if body.get("runtimeStatus") in TERMINAL else None

    try:
        return dict(wait_until(check, timeout, what=f"instance {iid} to finish"))
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n--- host ---\n{host.output[-4000:]}") from None


# -- Durable Functions in v1 --------------------------------------------------------------------


def test_function_chaining_through_the_orchestration_client_starter(durable: HostProcess) -> None:
    started = start(durable, "/api/orchestrators/E1_HelloSequence")
    status = wait_done(durable, started["id"])
    assert status["runtimeStatus"] == "Completed", status
    assert status["output"] == ["Hello Tokyo!", "Hello Seattle!", "Hello London!"]
    assert f"Started orchestration with ID = '{started['id']}'." in durable.output


def test_fan_out_fan_in(durable: HostProcess) -> None:
    status = wait_done(durable, start(durable, "/api/orchestrators/E2_FanOutFanIn", 10)["id"])
    assert status["output"] == {"items": 10, "total": 385}, status


def _verification(durable: HostProcess, answers: list[int], timeout: int) -> dict[str, Any]:
    iid = start(durable, "/api/orchestrators/E4_Verification",
                {"phone": "+1-425-555-0142", "timeout": timeout})["id"]
    with durable.client() as c:
        for answer in answers:  # raised before or while the orchestrator waits: both work
            r = c.post(f"{API}/instances/{iid}/raiseEvent/ChallengeResponse", json=answer)
            assert r.status_code == 202, r.text
    return wait_done(durable, iid, timeout=timeout + 15)


def test_human_interaction_right_answer_authorizes(durable: HostProcess) -> None:
    assert _verification(durable, [1111, 142], timeout=300)["output"] is True


def test_human_interaction_three_wrong_answers_do_not(durable: HostProcess) -> None:
    assert _verification(durable, [1, 2, 3], timeout=300)["output"] is False


def test_human_interaction_times_out_on_the_durable_timer(durable: HostProcess) -> None:
    assert _verification(durable, [], timeout=1)["output"] is False


def test_sub_orchestration(durable: HostProcess) -> None:
    iid = start(durable, "/api/orchestrators/E5_Parent", ["Ada", "Grace"])["id"]
    status = wait_done(durable, iid)
    assert status["output"] == {"parent": iid, "children": [
        {"greeting": "Hello Ada!", "parent": iid}, {"greeting": "Hello Grace!", "parent": iid}]}


def test_a_custom_class_crosses_orchestrations_and_activities(durable: HostProcess) -> None:
    # SerializeStart answers through func.Out[func.HttpResponse] and uses `durableClient`.
    status = wait_done(durable, start(durable, "/api/serialize/21")["id"])
    assert status["runtimeStatus"] == "Completed", status
    assert status["output"] == {"input": 21, "doubled": 42,
                                "module": "__app__.shared_code.MyClasses"}


def test_counter_entity_from_an_orchestration_and_a_client(durable: HostProcess) -> None:
    # E7_CountUp calls the df.Entity.create counter on key 'v1'; CounterRead signals and reads.
    status = wait_done(durable, start(durable, "/api/orchestrators/E7_CountUp", [1, 2, 3])["id"])
    assert status["runtimeStatus"] == "Completed", status
    assert status["output"] == 6
    assert "\tCounter: entityTrigger" in durable.output
    with durable.client() as c:
        assert c.get("/api/counter/nobody").json() == {"exists": False, "state": None}
        assert c.post("/api/counter/client", content="4").status_code == 202
        wait_until(lambda: c.get("/api/counter/client").json() == {"exists": True, "state": 4},
                   timeout=20, what="the signal to be applied")


def test_banner_and_admin_list_the_v1_functions(durable: HostProcess) -> None:
    base = f"http://localhost:{durable.port}/api"
    out = durable.output
    assert f"\tHttpStart: [GET,POST] {base}/orchestrators/{{functionName}}" in out
    assert "\tE1_HelloSequence: orchestrationTrigger" in out
    assert "\tE1_SayHello: activityTrigger" in out
    with durable.client() as c:
        listed = {f["name"]: f for f in c.get("/admin/functions").json()}
        status = c.get("/admin/host/status").json()
    assert status["errors"] == []
    assert set(status["functions"]) == set(listed) >= {"HttpStart", "E4_Verification", "E6_Double"}
    starter = listed["HttpStart"]["config"]["bindings"]
    assert {"name": "starter", "type": "durableClient", "direction": "in"} in starter


# -- HTTP and timers in v1 ----------------------------------------------------------------------


def test_return_binding_route_from_a_setting_and_context(http_app: HostProcess) -> None:
    with http_app.client() as c:
        r = c.get("/api/greet/ada")
    assert r.status_code == 200, r.text
    assert r.json() == {"greeting": "Hello, ada", "function_name": "HttpReturn",
                        "function_directory": str(http_app.app_dir / "HttpReturn"),
                        "module": "__app__.HttpReturn"}


def test_out_http_response_binding(http_app: HostProcess) -> None:
    with http_app.client() as c:
        r = c.post("/api/out", content=b"hi")
        assert c.get("/api/out").status_code == 404  # methods: ["post"]
    assert (r.status_code, r.text, r.headers["x-binding"]) == (201, "out:hi", "res")


def test_script_file_and_entry_point(http_app: HostProcess) -> None:
    with http_app.client() as c:
        text = c.get("/api/CustomEntry").text
    assert text == "Hello, entry from __app__.CustomEntry.handler via shared"


def test_timer_fires(http_app: HostProcess) -> None:
    http_app.wait_for_log(r"Executed 'Functions\.Ticker' \(Succeeded", timeout=10)
    assert re.search(r"\tTicker: timerTrigger: every second \(\*/1 \* \* \* \* \*\)",
                     http_app.output)


def test_disabled_functions_are_listed_and_do_not_answer(http_app: HostProcess) -> None:
    out = http_app.output
    assert "\tFunction DisabledFlag is disabled." in out
    assert "\tFunction DisabledSetting is disabled." in out
    with http_app.client() as c:
        assert c.get("/api/off/flag").status_code == 404
        assert c.get("/api/off/setting").status_code == 404
        listed = {f["name"]: f["isDisabled"] for f in c.get("/admin/functions").json()}
    assert listed == {"CustomEntry": False, "DisabledFlag": True, "DisabledSetting": True,
                      "HttpOut": False, "HttpReturn": False, "Ticker": False}


def test_admin_runs_a_v1_timer_now(http_app: HostProcess) -> None:
    with http_app.client() as c:
        r = c.post("/admin/functions/Ticker", json={"input": ""})
    assert r.status_code == 202, r.text
    http_app.wait_for_log(r"Executing 'Functions\.Ticker' \(Reason='This function was "
                          r"programmatically called via the host APIs\.'")


def test_functions_flag_loads_only_the_named_v1_functions(tmp_path: Path) -> None:
    app = copy("v1_http", tmp_path)
    with HostProcess(app, "--no-reload", "--functions", "HttpReturn", "HttpOut",
                     log_path=tmp_path / "host.log") as h, h.client() as c:
        assert sorted(c.get("/admin/host/status").json()["functions"]) == ["HttpOut",
                                                                           "HttpReturn"]
        assert c.get("/api/CustomEntry").status_code == 404


def test_host_json_functions_loads_only_the_listed_v1_functions(tmp_path: Path) -> None:
    app = copy("v1_http", tmp_path)
    (app / "host.json").write_text(json.dumps({"version": "2.0", "functions": ["customentry"]}))
    with HostProcess(app, "--no-reload", log_path=tmp_path / "host.log") as h, h.client() as c:
        assert c.get("/admin/host/status").json()["functions"] == ["CustomEntry"]
        assert c.get("/api/CustomEntry").status_code == 200


# -- broken functions ---------------------------------------------------------------------------

BROKEN = {
    "9lives": "'9lives' is not a valid function name.",
    "BadJson": "BadJson/function.json: malformed JSON at line 4, column 5: Expecting ',' "
               "delimiter",
    "BadParams": "cannot load the BadParams function: the following parameters are declared in "
                 "Python but not in function.json: {'request'}",
    "ImportFails": "ImportFails/__init__.py failed to import: ModuleNotFoundError: No module "
                   "named 'definitely_not_installed_v1_module'",
    "MissingScript": "Invalid script file name configuration. The 'scriptFile' property is set "
                     "to a file that does not exist",
    "NoEntry": "cannot load function NoEntry: function handle() is not present in "
               "NoEntry/__init__.py",
    "NoPrimary": "Unable to determine the primary function script.",
    "OutNotAnnotatedOut": 'binding res is declared to have the "out" direction, but its '
                          "annotation in Python is not a subclass of azure.functions.Out",
}


@pytest.fixture(scope="module")
def broken(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostProcess]:
    tmp = tmp_path_factory.mktemp("v1_broken")
    with HostProcess(copy("v1_broken", tmp), "--no-reload", log_path=tmp / "host.log") as h:
        yield h


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_each_broken_v1_function_is_reported_with_its_reason(
        broken: HostProcess, name: str) -> None:
    line = re.search(rf"The '{name}' function is in error: (.*)", broken.output)
    assert line is not None, broken.output
    assert BROKEN[name] in line.group(1)


def test_the_good_v1_function_serves_beside_the_broken(broken: HostProcess) -> None:
    with broken.client() as c:
        assert c.get("/api/Good").text == "good"
        assert c.get("/api/BadParams").status_code == 404
        status = c.get("/admin/host/status").json()
    assert status["functions"] == ["Good"]
    assert len(status["errors"]) == len(BROKEN)
    assert "The 'Unsupported' function is skipped: trigger 'blobTrigger'" in broken.output


# -- which model --------------------------------------------------------------------------------


def test_with_neither_model_the_host_says_what_it_looked_for(tmp_path: Path) -> None:
    result = run_start(tmp_path)
    assert result.returncode != 0
    assert "Host started" not in result.stdout
    assert (f"func-py: error: No functions found in {tmp_path.resolve()}: looked for "
            "function_app.py (or the file PYTHON_SCRIPT_FILE_NAME names) or the package "
            "function_app/ (the v2 model), and for */function.json (the v1 model"
            ) in result.stderr


def test_function_app_wins_over_function_json_folders_with_a_warning(tmp_path: Path) -> None:
    app = copy("v1_broken", tmp_path)
    (app / "function_app.py").write_text(
        "import azure.functions as func\n\napp = func.FunctionApp("
        "http_auth_level=func.AuthLevel.ANONYMOUS)\n\n\n@app.route(route='v2')\n"
        "def from_v2(req: func.HttpRequest) -> str:\n    return 'v2'\n")
    with HostProcess(app, "--no-reload", log_path=tmp_path / "host.log") as h, h.client() as c:
        assert c.get("/api/v2").text == "v2"
        assert c.get("/api/Good").status_code == 404
        h.wait_for_log(r"Detected mixed function app\. Some functions may not be indexed - "
                       r"9lives, BadJson, BadParams, Good, .* Refer to the documentation")
        assert "is in error" not in h.output  # the folders are not read at all


# -- hot reload ----------------------------------------------------------------------------------


@pytest.fixture()
def live(tmp_path: Path) -> Iterator[HostProcess]:
    app = copy("v1_http", tmp_path)
    with HostProcess(app, log_path=tmp_path / "host.log") as h:
        yield h


def _answer(host: HostProcess, path: str) -> tuple[int, str]:
    with httpx.Client(base_url=f"http://127.0.0.1:{host.port}", timeout=10) as c:
        r = c.get(path)
    return r.status_code, r.text


def _edit_greeting(app: Path, text: str) -> None:
    path = app / "HttpReturn" / "__init__.py"
    path.write_text(path.read_text().replace('"greeting": greeting(req.route_params["name"])',
                                             f'"greeting": {text!r}'))


def test_editing_a_v1_script_reloads_it_and_a_broken_edit_keeps_the_old(
        live: HostProcess) -> None:
    app = live.app_dir
    _edit_greeting(app, "edited")
    wait_until(lambda: '"edited"' in _answer(live, "/api/greet/x")[1], what="the edited code")
    live.wait_for_log(r"Reloaded after a change to HttpReturn/__init__\.py in \d+ms "
                      r"\(changed: HttpReturn\)")
    original = (app / "HttpReturn" / "__init__.py").read_text()
    mark = len(live.output)
    (app / "HttpReturn" / "__init__.py").write_text(original + "\ndef broken(:\n")
    # (A save may reach the watcher in two steps; the truncated file is in error too.)
    error = live.wait_for_log(r"The 'HttpReturn' function is in error: HttpReturn/__init__\.py "
                              r"failed to import: SyntaxError", after=mark)
    live.wait_for_log(r"'HttpReturn' keeps serving its previous version", after=error.end())
    assert '"edited"' in _answer(live, "/api/greet/x")[1]
    (app / "HttpReturn" / "__init__.py").write_text(original.replace("edited", "fixed"))
    wait_until(lambda: '"fixed"' in _answer(live, "/api/greet/x")[1], what="the fixed code")


def test_editing_function_json_reloads_and_a_broken_one_keeps_the_old(
        live: HostProcess) -> None:
    config = live.app_dir / "HttpOut" / "function.json"
    bindings = json.loads(config.read_text())
    bindings["bindings"][0]["methods"] = ["get", "post"]
    bindings["bindings"][0]["route"] = "moved"
    config.write_text(json.dumps(bindings))
    wait_until(lambda: _answer(live, "/api/moved")[0] == 201, what="the new route")
    assert _answer(live, "/api/out")[0] == 404
    mark = len(live.output)
    config.write_text('{"bindings": [')
    live.wait_for_log(r"The 'HttpOut' function is in error: .*HttpOut/function\.json: malformed "
                      r"JSON at line 1, column 15", after=mark)
    live.wait_for_log(r"'HttpOut' keeps serving its previous version", after=mark)
    assert _answer(live, "/api/moved")[0] == 201


def test_adding_and_removing_a_v1_function_folder(live: HostProcess) -> None:
    folder = live.app_dir / "Added"
    folder.mkdir()
    (folder / "__init__.py").write_text("def main(req):\n    return 'added'\n")
    (folder / "function.json").write_text(json.dumps({"bindings": [
        {"type": "httpTrigger", "direction": "in", "name": "req", "authLevel": "anonymous"},
        {"type": "http", "direction": "out", "name": "$return"}]}))
    wait_until(lambda: _answer(live, "/api/Added") == (200, "added"), what="the new function")
    live.wait_for_log(r"Reloaded after .* \(added: Added\)")
    shutil.rmtree(live.app_dir / "CustomEntry")
    wait_until(lambda: _answer(live, "/api/CustomEntry")[0] == 404, what="the removed function")
    live.wait_for_log(r"Reloaded after .* \(removed: CustomEntry\)")
