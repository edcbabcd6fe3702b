"""pytest plugin (installed with func-py, entry point `funcpy`): fixtures that load the app
under test in process with func-py's harness (funcpy.host.testing).

- `funcpy_app`: an `AppHarness` for the test, on a task hub in the test's `tmp_path`; the app
  is imported afresh for each test and the host stops after it.
- `funcpy_app_dir`: the app folder. By default the ini option `funcpy_app_dir` (relative to
  the ini file), else the nearest folder above the test file holding a host.json. Override the
  fixture to choose another.
- `funcpy_settings`: app settings for the harness (a dict; `{}` by default). Override it in a
  conftest.py, or mark a test (class, module) with `@pytest.mark.funcpy_settings(KEY=value)`:
  marks closer to the test win.

Turn the plugin off with `-p no:funcpy`. Nothing of the host is imported until a test uses
`funcpy_app`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from funcpy.host.testing.harness import AppHarness

INI_APP_DIR = "funcpy_app_dir"
MARKER = "funcpy_settings"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(INI_APP_DIR, "the Functions app folder the funcpy_app fixture loads "
                  "(relative to the ini file); default: the nearest folder above the test file "
                  "with a host.json")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{MARKER}(**values): app settings for the funcpy_app "
                            "fixture (over funcpy_settings and local.settings.json)")


@pytest.fixture
def funcpy_app_dir(request: pytest.FixtureRequest) -> Path:
    configured = request.config.getini(INI_APP_DIR)
    if configured:
        base = request.config.inipath.parent if request.config.inipath is not None \
            else request.config.rootpath
        return (base / str(configured)).resolve()
    start = Path(request.path).resolve().parent
    for folder in (start, *start.parents):
        if (folder / "host.json").is_file():
            return folder
    raise pytest.UsageError(
        f"funcpy_app: no host.json in {start} or above it; set the ini option "
        f"{INI_APP_DIR} or override the funcpy_app_dir fixture")


@pytest.fixture
def funcpy_settings() -> dict[str, Any]:
    return {}


@pytest.fixture
def funcpy_app(funcpy_app_dir: Path, funcpy_settings: dict[str, Any],
               request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AppHarness]:
    from funcpy.host.testing.harness import open_app

    settings = dict(funcpy_settings)
    # iter_markers yields the closest first (the test's, its class's, its module's).
    for mark in reversed(list(request.node.iter_markers(MARKER))):
        settings.update(mark.kwargs)
    with open_app(funcpy_app_dir, settings, hub_dir=tmp_path / "funcpy-taskhub") as harness:
        yield harness
