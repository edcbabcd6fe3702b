"""Which loaded modules are the app's (host/app_import.py): hot reload re-imports them and a
test harness puts them back when it closes."""

from __future__ import annotations

import types
from pathlib import Path

from funcpy.host.app_import import _is_app_module


def _module(name: str, file: Path | None = None, path: list[str] | None = None) -> types.ModuleType:
    mod = types.ModuleType(name)
    mod.__file__ = str(file) if file is not None else None
    if path is not None:
        mod.__path__ = path
    return mod


def test_modules_of_the_app_folder_and_not_its_vendored_code(tmp_path: Path) -> None:
    app = tmp_path / "app"
    (app / "pkg").mkdir(parents=True)
    (app / ".venv" / "lib").mkdir(parents=True)
    (app / ".python_packages").mkdir()
    app = app.resolve()
    assert _is_app_module(_module("function_app", app / "function_app.py"), app)
    assert _is_app_module(_module("pkg", app / "pkg" / "__init__.py", [str(app / "pkg")]), app)
    assert not _is_app_module(_module("lib", app / ".venv" / "lib" / "lib.py"), app)
    assert not _is_app_module(_module("vendored", app / ".python_packages" / "v.py"), app)
    assert not _is_app_module(_module("json", tmp_path / "elsewhere.py"), app)
    # A sibling folder whose name starts like the app's is not inside it.
    assert not _is_app_module(_module("other", tmp_path / "app2" / "m.py"), app)
    assert not _is_app_module(_module("builtin"), app)
    # A namespace package whose path is the app folder itself.
    assert _is_app_module(_module("app", path=[str(app)]), app)


def test_a_module_reached_through_a_link_to_the_app_folder(tmp_path: Path) -> None:
    app = tmp_path / "real"
    app.mkdir()
    link = tmp_path / "link"
    link.symlink_to(app, target_is_directory=True)
    assert _is_app_module(_module("function_app", link / "function_app.py"), app.resolve())
