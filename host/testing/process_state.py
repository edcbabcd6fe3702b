"""What a harness changes in the test process, and puts back when it closes.

- **App settings**: the app reads them from `os.environ` as on a server, so they are set there
  (the harness's overrides, then local.settings.json's values for what is still unset, as
  `func-py start` applies them); every variable the harness set or changed is restored.
- **The app's modules**: each harness imports the app afresh, so module-level state (caches, a
  flag a test flips) never leaks from one test into the next, even when pytest imported the
  app's package to collect a test inside it. Modules from the app folder that were loaded
  before are set aside for the import (the app's fresh import must not find them) and come
  back afterwards if the app did not import them again (the test modules themselves); when the
  harness closes, every module it imported goes and the set-aside ones return.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType

# The host's own rule for which modules are the app's (hot reload re-imports the same ones).
from funcpy.host.app_import import _HOST_PACKAGES, _is_app_module

_UNSET = object()


class Environ:
    """`os.environ` changes made through this object, or observed by `watch`, are undone by
    `restore`."""

    def __init__(self) -> None:
        self._saved: dict[str, object] = {}

    def set(self, key: str, value: str) -> None:
        self._saved.setdefault(key, os.environ.get(key, _UNSET))
        os.environ[key] = value

    def watch(self, before: Mapping[str, str]) -> None:
        """Adopt what changed since `before` (a copy of os.environ) as ours to undo."""
        for key, value in os.environ.items():
            if before.get(key) != value:
                self._saved.setdefault(key, before.get(key, _UNSET))

    def restore(self) -> None:
        for key, old in self._saved.items():
            if old is _UNSET:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old  # type: ignore[assignment]
        self._saved.clear()


class AppModules:
    """`entry`: the app's entry module name; modules under it are the app's wherever they
    come from (another app folder's `function_app`, loaded by a harness still open)."""

    def __init__(self, app_dir: Path, entry: str | None) -> None:
        self.app_dir = app_dir.resolve()
        self.entry = entry
        self._set_aside: dict[str, ModuleType] = {}
        self._path_added = False
        self._bytecode = sys.dont_write_bytecode

    def _loaded(self) -> dict[str, ModuleType]:
        return {name: mod for name, mod in list(sys.modules.items())
                if mod is not None and name.partition(".")[0] not in _HOST_PACKAGES
                and (_is_app_module(mod, self.app_dir)
                     or (self.entry is not None and name.partition(".")[0] == self.entry))}

    def set_aside(self) -> None:
        """Before the import: nothing of the app folder is in sys.modules."""
        self._path_added = str(self.app_dir) not in sys.path
        self._set_aside = self._loaded()
        for name in self._set_aside:
            del sys.modules[name]

    def imported(self) -> None:
        """After the import: what it did not import again returns (a test module in the app
        folder, a helper the app does not use)."""
        for name, mod in self._set_aside.items():
            sys.modules.setdefault(name, mod)

    def restore(self) -> None:
        for name, mod in self._loaded().items():
            if self._set_aside.get(name) is not mod:
                del sys.modules[name]
        sys.modules.update(self._set_aside)
        self._set_aside = {}
        if self._path_added and str(self.app_dir) in sys.path:
            sys.path.remove(str(self.app_dir))
        sys.dont_write_bytecode = self._bytecode  # the app importer turns bytecode off
