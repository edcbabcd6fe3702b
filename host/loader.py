"""Importing the app and building its function index, as the Python worker and host do.

The app is `function_app.py` (or `PYTHON_SCRIPT_FILE_NAME`), or a `function_app/` package,
imported as a top-level module with the app folder on `sys.path`; its single `FunctionRegister`
is asked for its functions. Every function is validated on its own: a bad one is reported with
its name and reason and left out, the rest load. An app that cannot be imported at all raises
`AppLoadError` and leaves the previously imported modules in place (hot reload keeps serving).
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import azure.functions as func
from funcpy.host import loader_v1
from funcpy.host.app_import import (  # noqa: F401 (re-exported: the runtime imports them from here)
    DEFAULT_SCRIPT_FILE,
    SCRIPT_FILE_SETTING,
    AppImporter,
    find_app_entry,
    locate_app,
)
from funcpy.host.binding_rules import (
    check_bindings,
    check_output_names,
    resolve_binding,
    unsupported,
)
from funcpy.host.config import HostConfig
from funcpy.host.errors import AppLoadError
from funcpy.host.index import FunctionIndex, FunctionInfo, fingerprint
from funcpy.host.logs import log
from funcpy.host.settings import SettingReferenceError
from funcpy.triggers import trigger_kinds

# The host's rules (WorkerFunctionMetadataProvider / Utility).
_FUNCTION_NAME = re.compile(r"^[a-z][a-z0-9_\-]{0,127}$", re.IGNORECASE)


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
            trigger = check_bindings(raw)
            user_fn = function.get_user_function()
            wants_context = _check_parameters(user_fn, raw)
            why = unsupported(raw, trigger, kinds)
            if why:
                skipped[name] = why
                continue
            try:
                bindings = [resolve_binding(b, environ) for b in raw]
            except SettingReferenceError as exc:
                raise ValueError(str(exc)) from None
            check_output_names(bindings)
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
