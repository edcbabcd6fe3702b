"""The pytest plugin func-py installs, as a user meets it: a project in a temporary folder (the
scratch app of tests/apps/harness under app/, its tests under tests/) run by `pytest` in a
subprocess, with nothing but the installed entry point providing the fixtures."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

APP = Path(__file__).resolve().parents[1] / "apps" / "harness"

PYTEST_INI = """\
[pytest]
funcpy_app_dir = app
"""

CONFTEST = '''\
import pytest


@pytest.fixture
def funcpy_settings():
    return {"GREETING": "Hey"}
'''

TESTS = '''\
import pytest


def test_settings_from_the_fixture(funcpy_app):
    assert funcpy_app.http.get("/api/greet/Ada").text == "Hey, Ada!"


@pytest.mark.funcpy_settings(GREETING="Hi")
def test_settings_from_the_marker(funcpy_app):
    assert funcpy_app.http.get("/api/greet/Ada").text == "Hi, Ada!"


def test_a_week_long_timer(funcpy_app):
    instance_id = funcpy_app.start("sleeper", 7 * 86400)
    assert funcpy_app.wait(instance_id)["runtimeStatus"] == "Completed"


def test_entity_state(funcpy_app):
    funcpy_app.signal_entity("Counter", "k", "add", 3)
    assert funcpy_app.entity_state("Counter", "k") == 3


def test_a_replay_bug(funcpy_app):
    # Not caught here: the harness must fail this test.
    instance_id = funcpy_app.start("drifting")
    funcpy_app.module().STEP = "second"
    funcpy_app.wait(instance_id)


def test_a_replay_bug_nobody_waits_for(funcpy_app):
    funcpy_app.start("drifting")
    funcpy_app.module().STEP = "second"
    funcpy_app.advance(7200)  # passes; the harness fails the test at teardown
'''


def test_the_plugin_in_a_users_project(tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(APP, project / "app", ignore=shutil.ignore_patterns("__pycache__"))
    (project / "tests").mkdir()
    (project / "pytest.ini").write_text(PYTEST_INI)
    (project / "tests" / "conftest.py").write_text(CONFTEST)
    (project / "tests" / "test_app.py").write_text(TESTS)
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          "-rfE", "tests"], cwd=project, capture_output=True, text=True,
                         timeout=300)
    out = run.stdout + run.stderr
    assert run.returncode == 1, out
    summary = out.strip().splitlines()[-1]
    assert all(part in summary for part in ("1 failed", "5 passed", "1 error")), out
    assert "FAILED tests/test_app.py::test_a_replay_bug - " in out, out
    assert "ERROR at teardown of test_a_replay_bug_nobody_waits_for" in out, out
    assert out.count("NonDeterminismError") >= 2, out
