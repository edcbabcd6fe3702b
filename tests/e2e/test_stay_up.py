"""An app that cannot be loaded, through the real `func-py start`: in development the host stays
up with no functions, as the Functions host does (the Python worker's own tests expect 404s, not
a refused connection), shows the error, and loads the app as soon as an edit fixes it. In
production it exits non-zero (tests/e2e/test_apps.py)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import APPS
from tests.harness import HostProcess, wait_until

IMPORT_ERROR = ("function_app.py failed to import: ModuleNotFoundError: No module named "
                "'definitely_not_installed_funcpy_module'")


def _get(host: HostProcess, path: str) -> httpx.Response:
    with host.client() as c:
        return c.get(path)


@pytest.fixture()
def broken(tmp_path: Path) -> Iterator[HostProcess]:
    app = tmp_path / "app"
    shutil.copytree(APPS / "broken_import", app)
    with HostProcess(app, log_path=tmp_path / "host.log") as host:
        yield host


def test_a_broken_import_serves_home_status_and_404s_then_loads_when_fixed(
        broken: HostProcess) -> None:
    assert "The app could not be loaded, so no functions are serving" in broken.output
    assert IMPORT_ERROR in broken.output
    assert "No functions loaded." in broken.output
    home = _get(broken, "/")
    assert home.status_code == 200
    assert "Your Functions 4.0 app is up and running" in home.text
    assert "definitely_not_installed_funcpy_module" in home.text  # the error, for the developer
    assert _get(broken, "/api/never").status_code == 404
    status = _get(broken, "/admin/host/status").json()
    assert status["state"] == "Error" and status["functions"] == []
    assert IMPORT_ERROR in status["errors"][0]
    assert _get(broken, "/runtime/health/ready").status_code == 503

    # The edit that fixes the import loads the app: the reload watcher runs without an app.
    (broken.app_dir / "helper_that_imports_a_missing_module.py").write_text("FIXED = True\n")
    wait_until(lambda: _get(broken, "/api/never").text == "unreachable", timeout=15,
               what="the fixed app to answer")
    broken.wait_for_log(r"Reloaded after a change to helper_that_imports_a_missing_module\.py "
                        r"in \d+ms \(added: never\)")
    broken.wait_for_log(r"\tnever: http://localhost:\d+/api/never")  # listed, as at start
    status = _get(broken, "/admin/host/status").json()
    assert (status["state"], status["functions"], status["errors"]) == ("Running", ["never"], [])
    assert "definitely_not" not in _get(broken, "/").text


def test_an_edit_that_still_fails_says_so_and_keeps_serving(broken: HostProcess) -> None:
    mark = len(broken.output)
    (broken.app_dir / "helper_that_imports_a_missing_module.py").write_text(
        "import another_missing_funcpy_module  # noqa: F401\n")
    broken.wait_for_log(r"The app still cannot be loaded \(after a change to "
                        r"helper_that_imports_a_missing_module\.py\); no functions are serving",
                        after=mark)
    assert _get(broken, "/").status_code == 200
    assert "another_missing_funcpy_module" in _get(broken, "/admin/host/status").json()[
        "errors"][0]


def test_an_app_that_defines_no_function_app_stays_up_too(tmp_path: Path) -> None:
    app = tmp_path / "app"
    app.mkdir()
    (app / "function_app.py").write_text("import azure.functions as func\n\nFUNCTIONS = []\n")
    with HostProcess(app, log_path=tmp_path / "host.log") as host:
        status = _get(host, "/admin/host/status").json()
        assert status["state"] == "Error"
        assert "Could not find top level function app instances" in status["errors"][0]
        assert _get(host, "/api/hello").status_code == 404
        (app / "function_app.py").write_text(
            "import azure.functions as func\n\napp = func.FunctionApp(http_auth_level="
            "func.AuthLevel.ANONYMOUS)\n\n\n@app.route(route='hello')\ndef hello(req: "
            "func.HttpRequest) -> str:\n    return 'now loaded'\n")
        wait_until(lambda: _get(host, "/api/hello").text == "now loaded", timeout=15,
                   what="the app to load")
