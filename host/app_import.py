"""Finding and importing the app's v2 entry module, fresh on every (re)load.

The app is `function_app.py` (or `PYTHON_SCRIPT_FILE_NAME`), or a `function_app/` package,
imported as a top-level module with the app folder on `sys.path`. An app that cannot be
imported raises `AppLoadError` and leaves the previously imported modules in place (hot reload
keeps serving). Shared by the v2 loader (`host/loader.py`) and the v1 one (`host/loader_v1.py`).
"""

from __future__ import annotations

import functools
import importlib
import os
import re
import sys
import traceback
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType, TracebackType

from funcpy.host.config import DATA_DIR_NAME
from funcpy.host.errors import AppLoadError

SCRIPT_FILE_SETTING = "PYTHON_SCRIPT_FILE_NAME"
DEFAULT_SCRIPT_FILE = "function_app.py"
_SCRIPT_NAME = re.compile(r"^[a-zA-Z0-9_][a-zA-Z0-9_\-]*\.py$")
# Folders under the app whose modules are third-party code, never re-imported on reload.
_VENDOR_DIRS = frozenset(
    {".venv", "venv", "env", ".python_packages", "site-packages", "node_modules", DATA_DIR_NAME}
)


def find_app_entry(app_dir: Path, environ: Mapping[str, str]) -> tuple[str, Path] | None:
    """(module name, path) of the v2 entry module, or None when the app has none."""
    script = environ.get(SCRIPT_FILE_SETTING) or DEFAULT_SCRIPT_FILE
    if not _SCRIPT_NAME.match(script):
        raise AppLoadError(
            f"{SCRIPT_FILE_SETTING}={script!r} is not a valid script file name "
            "(a bare file name ending in .py, no folders)"
        )
    stem = script[:-3]
    file = app_dir / script
    if file.is_file():
        return stem, file
    package = app_dir / stem / "__init__.py"
    if package.is_file():
        return stem, package
    return None


def locate_app(app_dir: Path, environ: Mapping[str, str]) -> tuple[str, Path]:
    """(module name, path) of the app's entry module."""
    found = find_app_entry(app_dir, environ)
    if found is not None:
        return found
    script = environ.get(SCRIPT_FILE_SETTING) or DEFAULT_SCRIPT_FILE
    named = f" ({SCRIPT_FILE_SETTING})" if environ.get(SCRIPT_FILE_SETTING) else \
        f" (or the file {SCRIPT_FILE_SETTING} names)"
    raise AppLoadError(
        f"No functions found in {app_dir}: looked for {script}{named} or the package "
        f"{script[:-3]}/ (the v2 model), and for */function.json (the v1 model: one folder per "
        "function). Run func-py in your app folder or pass --script-root"
    )


@functools.cache
def _real_absolute_path(path: str) -> str:
    # Remembered per process: a harness asks about every loaded module (over a thousand) at
    # each open and close, and resolving them all again took most of an open's time. Module
    # files do not change what they resolve to while they are loaded.
    return os.path.realpath(path)


def _real_path(path: str) -> str:
    return _real_absolute_path(path) if os.path.isabs(path) else os.path.realpath(path)


def _is_app_module(module: ModuleType, app_dir: Path) -> bool:
    """Whether the module's file is in the app folder (symbolic links resolved) and not in
    one of its vendored or virtual-environment folders. `app_dir` is resolved."""
    files = [getattr(module, "__file__", None)]
    files += list(getattr(module, "__path__", None) or [])
    folder = str(app_dir)
    prefix = os.path.join(folder, "")
    for f in files:
        if not f or not isinstance(f, str):
            continue
        real = _real_path(f)
        if real == folder:
            return True
        if not real.startswith(prefix):
            continue
        return not any(part in _VENDOR_DIRS for part in real[len(prefix):].split(os.sep))
    return False


def _app_frames(tb: TracebackType | None) -> TracebackType | None:
    """Skip the import machinery's frames: the traceback starts in the app's own code."""
    while tb is not None and (tb.tb_frame.f_code.co_filename == __file__
                              or "importlib" in tb.tb_frame.f_code.co_filename):
        tb = tb.tb_next
    return tb


# func-py's own package (`funcpy.host`, `funcpy.triggers`): never re-imported, even when the
# app folder contains its folders (as this repository's demo app does) and its modules are
# imported lazily after the app. An app's own `host` or `triggers` module is the app's.
_HOST_PACKAGES = frozenset({"funcpy"})


class AppImporter:
    """Imports the app fresh each time: app modules are dropped from `sys.modules` first and put
    back if the new import fails. Modules that were loaded before the app (the host's own, even
    when they live under the app folder, as in this repository) are never touched."""

    def __init__(self, app_dir: Path) -> None:
        self.app_dir = app_dir
        self._baseline = frozenset(sys.modules)
        # A .pyc records its source's mtime in whole seconds and its size: an edit within the
        # same second that keeps the size would import stale bytecode. App modules are small;
        # compiling them afresh costs less than a wrong reload.
        sys.dont_write_bytecode = True

    def _app_module_names(self) -> list[str]:
        return [
            name for name, mod in list(sys.modules.items())
            if name not in self._baseline and name.partition(".")[0] not in _HOST_PACKAGES
            and mod is not None and _is_app_module(mod, self.app_dir)
        ]

    def import_app(self, environ: Mapping[str, str]) -> ModuleType:
        name, path = locate_app(self.app_dir, environ)
        if str(self.app_dir) not in sys.path:
            sys.path.insert(0, str(self.app_dir))
        removed = {n: sys.modules.pop(n) for n in self._app_module_names()}
        importlib.invalidate_caches()
        try:
            return importlib.import_module(name)
        except (Exception, SystemExit) as exc:
            for n in self._app_module_names():
                sys.modules.pop(n, None)
            sys.modules.update(removed)
            tb = "".join(traceback.format_exception(type(exc), exc, _app_frames(exc.__traceback__)))
            raise AppLoadError(
                f"{path} failed to import: {type(exc).__name__}: {exc}\n{tb.rstrip()}"
            ) from exc
