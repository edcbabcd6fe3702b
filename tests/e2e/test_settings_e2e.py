"""local.settings.json, host.json and their environment overrides, through the real `func-py start`
(tests/apps/settings: routePrefix "" and functionTimeout 00:00:01 in host.json)."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import APPS
from tests.harness import HostProcess, run_start

SKIP_WARNING = ("Skipping 'FROM_ENV_WINS' from local settings as it's already defined in current "
                "environment variables.")


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostProcess]:
    log = tmp_path_factory.mktemp("settings") / "host.log"
    env = {"FROM_ENV_WINS": "from the environment", "EMPTY_IN_ENV": ""}
    with HostProcess(APPS / "settings", "--no-reload", log_path=log, env=env) as h:
        yield h


def _env(host: HostProcess, *names: str) -> dict[str, str | None]:
    with host.client() as c:
        r = c.get("/env", params={"names": ",".join(names)})
    assert r.status_code == 200, r.text
    return r.json()


def test_values_reach_functions_as_environment_variables(host: HostProcess) -> None:
    assert _env(host, "GREETING", "EMPTY_VALUE", "A_NULL") == {
        "GREETING": "hello from local settings",
        "EMPTY_VALUE": "",  # empty strings are set too
        "A_NULL": None,  # null values are skipped
    }


def test_non_string_values_become_dotnet_text(host: HostProcess) -> None:
    assert _env(host, "A_BOOL", "A_FALSE", "A_NUMBER", "A_FLOAT", "A_WHOLE_FLOAT") == {
        "A_BOOL": "True", "A_FALSE": "False", "A_NUMBER": "42", "A_FLOAT": "1.5",
        "A_WHOLE_FLOAT": "2",
    }


def test_a_variable_already_set_wins_with_a_warning(host: HostProcess) -> None:
    assert _env(host, "FROM_ENV_WINS") == {"FROM_ENV_WINS": "from the environment"}
    assert host.output.count(SKIP_WARNING) == 1
    # An empty variable counts as unset: the local value is applied, without a warning.
    assert _env(host, "EMPTY_IN_ENV") == {"EMPTY_IN_ENV": "local fills an empty variable"}
    assert "Skipping 'EMPTY_IN_ENV'" not in host.output


def test_connection_strings_become_prefixed_variables(host: HostProcess) -> None:
    assert _env(host, "ConnectionStrings:Plain", "ConnectionStrings:Shaped") == {
        "ConnectionStrings:Plain": "Server=plain;Database=x",
        "ConnectionStrings:Shaped": "Server=shaped",
    }


def test_host_sets_the_core_tools_environment(host: HostProcess) -> None:
    env = _env(host, "AZURE_FUNCTIONS_ENVIRONMENT", "WEBSITE_HOSTNAME")
    assert env == {"AZURE_FUNCTIONS_ENVIRONMENT": "Development",
                   "WEBSITE_HOSTNAME": f"localhost:{host.port}"}


def test_empty_route_prefix_puts_routes_at_the_root(host: HostProcess) -> None:
    assert f"\tenv: http://localhost:{host.port}/env\n" in host.output
    with host.client() as c:
        assert c.get("/api/env").status_code == 404


def test_setting_reference_in_a_route_is_resolved(host: HostProcess) -> None:
    with host.client() as c:
        assert c.get("/configured/hello").text == "resolved route"
        assert c.get("/%ROUTE_SEGMENT%/hello").status_code == 404


def test_function_timeout_answers_500_and_logs_the_timeout(host: HostProcess) -> None:
    with host.client() as c:
        started = time.monotonic()
        r = c.get("/slow", params={"seconds": "30"})
        elapsed = time.monotonic() - started
        assert (r.status_code, r.content) == (500, b"")
        assert elapsed < 10  # cut at one second, not after the function's thirty
        assert c.get("/slow", params={"seconds": "0"}).text == "finished"
    host.wait_for_log(r"Executed 'Functions.slow' \(Failed, Id=[0-9a-f-]+, Duration=\d+ms\)")
    host.wait_for_log(r"Timeout value of 00:00:01 exceeded by function 'Functions.slow'")


def test_disabled_function_is_listed_and_answers_404(host: HostProcess) -> None:
    assert "\tFunction disabled_fn is disabled." in host.output
    with host.client() as c:
        assert c.get("/disabled").status_code == 404
        assert c.get("/admin/functions/disabled_fn").json()["isDisabled"] is True
    assert "Functions.disabled_fn" not in host.output  # never invoked


# -- an environment override of host.json, and --functions ---------------------------------------


@pytest.fixture(scope="module")
def overridden(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostProcess]:
    log = tmp_path_factory.mktemp("settings-override") / "host.log"
    env = {"AzureFunctionsJobHost__extensions__http__routePrefix": "v1"}
    with HostProcess(APPS / "settings", "--no-reload", "--functions", "env", "slow",
                     log_path=log, env=env) as h:
        yield h


def test_environment_overrides_host_json_route_prefix(overridden: HostProcess) -> None:
    assert f"\tenv: http://localhost:{overridden.port}/v1/env\n" in overridden.output
    with overridden.client() as c:
        r = c.get("/v1/env", params={"names": "GREETING"})
        assert r.json() == {"GREETING": "hello from local settings"}
        assert c.get("/env").status_code == 404


def test_functions_flag_loads_only_those(overridden: HostProcess) -> None:
    with overridden.client() as c:
        assert c.get("/admin/host/status").json()["functions"] == ["env", "slow"]
        assert c.get("/v1/configured/hello").status_code == 404
    assert "from_setting" not in overridden.output


# -- settings files the host refuses -------------------------------------------------------------


def _app(tmp_path: Path, local_settings: str | None, host_json: str = '{"version": "2.0"}'
         ) -> Path:
    shutil.copy(APPS / "settings" / "function_app.py", tmp_path / "function_app.py")
    (tmp_path / "host.json").write_text(host_json)
    if local_settings is not None:
        (tmp_path / "local.settings.json").write_text(local_settings)
    return tmp_path


def _refused(app: Path) -> str:
    result = run_start(app)
    assert result.returncode != 0
    assert "Host started" not in result.stdout
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("func-py: error: "), result.stderr
    return last


def test_encrypted_local_settings_are_refused_with_the_fix(tmp_path: Path) -> None:
    app = _app(tmp_path, '{"IsEncrypted": true, "Values": {"A": "QUFBQQ=="}}')
    reason = _refused(app)
    assert str(app / "local.settings.json") in reason
    assert '"IsEncrypted": true' in reason
    assert "func settings decrypt" in reason and '"IsEncrypted": false' in reason


def test_missing_is_encrypted_counts_as_encrypted(tmp_path: Path) -> None:
    reason = _refused(_app(tmp_path, '{"Values": {"A": "x"}}'))
    assert 'no "IsEncrypted" key' in reason and '"IsEncrypted": false' in reason


def test_malformed_local_settings_name_line_and_column(tmp_path: Path) -> None:
    text = '{\n  "IsEncrypted": false,\n  "Values": {\n    "A": "x"\n    "B": "y"\n  }\n}\n'
    reason = _refused(_app(tmp_path, text))
    assert "local.settings.json: malformed JSON at line 5, column 5" in reason


def test_malformed_host_json_names_line_and_column(tmp_path: Path) -> None:
    reason = _refused(_app(tmp_path, None, host_json='{\n  "version": "2.0"\n  "x": 1\n}'))
    assert "host.json: malformed JSON at line 3, column 3" in reason


def test_comments_and_trailing_commas_are_accepted_as_json_net_does(tmp_path: Path) -> None:
    local = ('{\n  // local settings\n  "IsEncrypted": false,\n'
             '  "Values": {"GREETING": "hi // not a comment", /* inline */ "X": "1",},\n}\n')
    host_json = ('{\n  "version": "2.0", // schema\n'
                 '  "extensions": {"http": {"routePrefix": "p",},},\n}')
    app = _app(tmp_path, local, host_json)
    with HostProcess(app, "--no-reload", log_path=tmp_path / "host.log") as h, h.client() as c:
        r = c.get("/p/env", params={"names": "GREETING,X"})
        assert r.json() == {"GREETING": "hi // not a comment", "X": "1"}
