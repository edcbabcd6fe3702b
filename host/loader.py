"""Importing the app and building its function index, as the Python worker and host do.

The app is `function_app.py` (or `PYTHON_SCRIPT_FILE_NAME`), or a `function_app/` package,
imported as a top-level module with the app folder on `sys.path`; its single `FunctionRegister`
is asked for its functions. Every function is validated on its own: a bad one is reported with
its name and reason and left out, the rest load. An app that cannot be imported at all raises
`AppLoadError` and leaves the previously imported modules in place (hot reload keeps serving).
"""

from __future__ import annotations

import importlib
import inspect
import json
import re
import sys
import traceback
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Any

import azure.functions as func

from host.config import DATA_DIR_NAME, HostConfig
from host.errors import AppLoadError
from host.index import Binding, FunctionIndex, FunctionInfo, fingerprint
from host.logs import log
from host.settings import SettingReferenceError, resolve_setting_refs
from triggers import INPUT_BINDING_TYPES, OUTPUT_BINDING_TYPES, trigger_kinds

SCRIPT_FILE_SETTING = "PYTHON_SCRIPT_FILE_NAME"
DEFAULT_SCRIPT_FILE = "function_app.py"
_SCRIPT_NAME = re.compile(r"^[a-zA-Z0-9_][a-zA-Z0-9_\-]*\.py$")
# The host's rules (WorkerFunctionMetadataProvider / Utility).
_FUNCTION_NAME = re.compile(r"^[a-z][a-z0-9_\-]{0,127}$", re.IGNORECASE)
_BINDING_NAME = re.compile(r"^([a-zA-Z][a-zA-Z0-9]{0,127}|\$return)$")
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


def _is_app_module(module: ModuleType, app_dir: Path) -> bool:
    files = [getattr(module, "__file__", None)]
    files += list(getattr(module, "__path__", None) or [])
    for f in files:
        if not f:
            continue
        try:
            rel = Path(f).resolve().relative_to(app_dir)
        except (ValueError, OSError):
            continue
        return not any(part in _VENDOR_DIRS for part in rel.parts)
    return False


def _app_frames(tb: TracebackType | None) -> TracebackType | None:
    """Skip the import machinery's frames: the traceback starts in the app's own code."""
    while tb is not None and (tb.tb_frame.f_code.co_filename == __file__
                              or "importlib" in tb.tb_frame.f_code.co_filename):
        tb = tb.tb_next
    return tb


# func-py's own packages: never re-imported, even when the app folder contains them (as this
# repository's demo app does) and they are imported lazily after the app.
_HOST_PACKAGES = frozenset({"host", "triggers"})


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


def find_function_app(module: ModuleType) -> func.FunctionRegister:
    found = [
        (attr, value) for attr in module.__dir__()
        if isinstance(value := getattr(module, attr, None), func.FunctionRegister)
    ]
    if not found:
        raise AppLoadError(
            f"Could not find top level function app instances in {module.__name__}: define "
            "`app = func.FunctionApp()` (or df.DFApp, AsgiFunctionApp, WsgiFunctionApp)"
        )
    if len({id(v) for _, v in found}) > 1:
        names = ", ".join(f"{a} ({type(v).__name__})" for a, v in found)
        raise AppLoadError(
            "More than one FunctionApp or other top level function app instances are defined "
            f"in {module.__name__}: {names}"
        )
    return found[0][1]


def _raw_bindings(function: Any) -> list[dict[str, Any]]:
    out = []
    for text in function.get_raw_bindings():
        b = json.loads(text)
        b["direction"] = str(b.get("direction", "in")).lower()
        out.append(b)
    return out


def _resolve(binding: dict[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    resolved = dict(binding)
    for key, value in binding.items():
        if key in ("name", "type", "direction") or not isinstance(value, str) or "%" not in value:
            continue
        resolved[key] = resolve_setting_refs(value, environ)
    return resolved


def _check_bindings(bindings: list[dict[str, Any]]) -> dict[str, Any]:
    """Host and worker binding rules; returns the trigger binding."""
    seen: set[str] = set()
    triggers = []
    for b in bindings:
        name = str(b.get("name", ""))
        if not _BINDING_NAME.match(name):
            raise ValueError(
                f"The binding name {name} is invalid. Please assign a valid name to the binding "
                "(letters and digits, starting with a letter; no underscores)."
            )
        if name.lower() in seen:
            raise ValueError(f"Multiple bindings with name '{name}' discovered.")
        seen.add(name.lower())
        if name == "$return" and b["direction"] != "out":
            raise ValueError("$return binding must have direction set to 'out'")
        if b["direction"] == "inout":
            raise ValueError(f"binding {name} has an 'inout' direction, which is not supported")
        if str(b.get("type", "")).endswith("Trigger"):
            triggers.append(b)
    if len(triggers) != 1:
        raise ValueError("A function must have exactly one trigger binding "
                         f"(found {len(triggers)})")
    return triggers[0]


def _check_parameters(user_fn: Any, bindings: list[dict[str, Any]]) -> bool:
    """The worker's rule: parameters (minus `context`) equal the non-$return binding names.
    Returns whether the function receives a `context`."""
    params = set(inspect.signature(user_fn).parameters)
    names = {str(b["name"]) for b in bindings if b["name"] != "$return"}
    wants_context = "context" in params and "context" not in names
    if wants_context:
        params.discard("context")
    if params - names:
        raise ValueError("the following parameters are declared in Python but not in the "
                         f"bindings: {sorted(params - names)}")
    if names - params:
        raise ValueError("the following bindings have no matching Python parameter: "
                         f"{sorted(names - params)}")
    return wants_context


def _unsupported(bindings: list[dict[str, Any]], trigger: Binding, kinds: Mapping[str, Any]) -> str:
    if trigger["type"] not in kinds:
        return f"trigger '{trigger['type']}' is not supported by func-py yet"
    for b in bindings:
        if b is trigger or (b["name"] == "$return" and b["type"] in OUTPUT_BINDING_TYPES):
            continue
        ok = INPUT_BINDING_TYPES if b["direction"] == "in" else OUTPUT_BINDING_TYPES
        if b["type"] not in ok:
            return f"{b['direction']} binding '{b['type']}' ({b['name']}) is not supported yet"
    return ""


def build_index(module: ModuleType, config: HostConfig, environ: Mapping[str, str],
                generation: int = 0) -> FunctionIndex:
    app = find_function_app(module)
    kinds = trigger_kinds()
    auth_level = getattr(app, "auth_level", None)
    functions: dict[str, FunctionInfo] = {}
    errors: dict[str, str] = {}
    skipped: dict[str, str] = {}
    only = {n.lower() for n in config.functions} if config.functions else None
    for builder in list(getattr(app, "_function_builders", [])):
        name = "?"
        try:
            name = builder._function.get_function_name()
            function = builder.build(auth_level)
            if only is not None and name.lower() not in only:
                continue
            if not _FUNCTION_NAME.match(name) or name.lower() == "host":
                raise ValueError(f"'{name}' is not a valid function name (letters, digits, "
                                 "'_' and '-', starting with a letter; not 'host')")
            if name.lower() in {n.lower() for n in functions}:
                raise ValueError(f"Function {name} does not have a unique function name.")
            raw = _raw_bindings(function)
            trigger = _check_bindings(raw)
            user_fn = function.get_user_function()
            wants_context = _check_parameters(user_fn, raw)
            why = _unsupported(raw, trigger, kinds)
            if why:
                skipped[name] = why
                continue
            try:
                bindings = [_resolve(b, environ) for b in raw]
            except SettingReferenceError as exc:
                raise ValueError(str(exc)) from None
            trigger = bindings[raw.index(trigger)]
            directory = str(Path(inspect.getfile(user_fn)).parent)
            info = FunctionInfo(
                name=name, trigger=trigger, bindings=tuple(bindings), func=user_fn,
                is_async=inspect.iscoroutinefunction(user_fn), wants_context=wants_context,
                directory=directory, script_file=str(getattr(function, "function_script_file",
                                                             "function_app.py")),
                fingerprint=fingerprint(user_fn, tuple(bindings)),
            )
            kinds[info.trigger_type].validate(info, config)
        except Exception as exc:
            errors[name] = f"The '{name}' function is in error: {exc}"
            continue
        functions[name] = info
    for kind in kinds.values():
        mine = [f for f in functions.values() if f.trigger_type == kind.binding_type]
        for name, reason in kind.validate_all(mine, config).items():
            errors[name] = f"The '{name}' function is in error: {reason}"
            functions.pop(name, None)
    disabled = frozenset(
        n for n in functions
        if str(environ.get(f"AzureWebJobs.{n}.Disabled", "")).lower() in ("true", "1")
    )
    return FunctionIndex(functions=functions, errors=errors, skipped=skipped,
                         disabled=disabled, generation=generation)


def load(importer: AppImporter, config: HostConfig, environ: Mapping[str, str],
         generation: int = 0) -> FunctionIndex:
    index = _index_app(importer, config, environ, generation)
    for reason in index.errors.values():
        log.error(reason)
    for name, why in index.skipped.items():
        log.warning("The '%s' function is skipped: %s.", name, why)
    return index


def _index_app(importer: AppImporter, config: HostConfig, environ: Mapping[str, str],
               generation: int) -> FunctionIndex:
    """The worker's choice of model (dispatcher.load_function_metadata): the v2 entry module when
    it exists and registers at least one function, else the function.json folders (v1)."""
    from host import loader_v1  # builds on this module's helpers

    folders = loader_v1.function_folders(importer.app_dir)
    if folders and find_app_entry(importer.app_dir, environ) is None:
        return loader_v1.build_index(importer, folders, config, environ, generation)
    module = importer.import_app(environ)  # neither model found: says what was looked for
    if folders:
        if not getattr(find_function_app(module), "_function_builders", None):
            log.debug("Fallback to host indexing as worker denied indexing")
            return loader_v1.build_index(importer, folders, config, environ, generation)
        if generation <= 1:  # Core Tools warns once per start, not on every reload
            log.warning(loader_v1.mixed_app_warning(folders))
    return build_index(module, config, environ, generation)
