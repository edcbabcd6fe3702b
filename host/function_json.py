"""The host's half of the v1 model: finding function folders and reading their `function.json`.

This is what the Functions host does before the Python worker sees a function
(HostFunctionMetadataProvider, Utility, BindingMetadata): the direct sub-folders of the app that
hold a `function.json` are functions named after the folder; each file is parsed and checked on
its own, its primary script is chosen, and its bindings are normalised. Nothing here imports user
code (that is `host.loader_v1`'s job); every problem is a `FunctionJsonError` naming the reason,
which puts only that function in error.

Bindings come out in the shape the v2 library gives the v2 loader for the same function
(`direction` lower-case; `authLevel`, `methods`, `dataType` and `cardinality` upper-case; known
binding types and keys spelled canonically; the legacy `orchestrationClient` as `durableClient`),
so nothing downstream can tell the two models apart.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from funcpy.host.errors import SettingsError
from funcpy.host.settings import SettingReferenceError, read_json_file, resolve_setting_refs

FUNCTION_JSON = "function.json"
# Utility.IsValidFunctionName: letters first, then letters, digits, '_' and '-'; never "host".
_FUNCTION_NAME = re.compile(r"^[a-z][a-z0-9_\-]{0,127}$", re.IGNORECASE)
_DIRECTIONS = frozenset({"in", "out", "inout"})
_DATA_TYPES = frozenset({"STRING", "BINARY", "STREAM", "UNDEFINED"})
_CARDINALITIES = frozenset({"ONE", "MANY"})
# The Durable extension's 1.x name for the client binding; the host and the library treat it as
# `durableClient` (the v1 template DurableFunctionsHttpStart-Python-1.x still writes it).
TYPE_ALIASES = {"orchestrationclient": "durableClient"}
# Keys Json.NET binds case-insensitively (`BindingMetadata` properties and the trigger attributes
# func-py reads): written here in the casing the v2 library emits.
_CANONICAL_KEYS = {k.lower(): k for k in (
    "name", "type", "direction", "dataType", "cardinality", "authLevel", "methods", "route",
    "schedule", "runOnStartup", "useMonitor", "orchestration", "activity", "taskHub",
    "connectionName", "disabled",
)}
_UPPER_VALUES = ("authLevel", "dataType", "cardinality")
# DeterminePrimaryScriptFile: with several files, the first of these names is the primary.
_PRIMARY_NAMES = ("__init__.py", "index.js", "index.mjs", "index.cjs")
NO_PRIMARY_SCRIPT = (
    "Unable to determine the primary function script. Make sure at least one script file is "
    "present. Try renaming your entry point script to 'run' or alternatively you can specify the "
    "name of the entry point script explicitly by adding a 'scriptFile' property to your "
    "function metadata.")


class FunctionJsonError(ValueError):
    """One function folder is unusable; the message says why (the loader adds the name)."""


@dataclass(frozen=True)
class FunctionFolder:
    """One v1 function as the host hands it to the worker (RpcFunctionMetadata)."""

    name: str
    directory: Path
    script_file: Path  # absolute
    entry_point: str  # "" means the worker's default, main
    bindings: tuple[dict[str, Any], ...]
    # `disabled` of the function and of its trigger binding: either disables it (`is_disabled`)
    disabled: tuple[Any, ...]


def function_folders(app_dir: Path) -> list[Path]:
    """The app's direct sub-folders holding a function.json, ordered by name as the host orders
    its functions (case-insensitively). Deeper folders are never functions."""
    try:
        children = list(app_dir.iterdir())
    except OSError:
        return []
    found = [c for c in children if c.is_dir() and (c / FUNCTION_JSON).is_file()]
    return sorted(found, key=lambda p: (p.name.lower(), p.name))


def read_function_folder(folder: Path, known_types: frozenset[str]) -> FunctionFolder:
    """Parse and check one folder; `known_types` are the binding types to spell canonically."""
    name = folder.name
    if not _FUNCTION_NAME.match(name) or name.lower() == "host":
        raise FunctionJsonError(f"'{name}' is not a valid function name.")
    try:
        config = read_json_file(folder / FUNCTION_JSON)
    except SettingsError as exc:  # names the file, line and column
        raise FunctionJsonError(str(exc)) from None
    if not isinstance(config, dict):
        raise FunctionJsonError(f"{folder / FUNCTION_JSON}: must hold a JSON object")
    raw_bindings = config.get("bindings")
    if not isinstance(raw_bindings, list) or not raw_bindings:
        raise FunctionJsonError("At least one binding must be declared.")
    canonical = {t.lower(): t for t in known_types} | TYPE_ALIASES
    bindings = tuple(_binding(b, i, canonical) for i, b in enumerate(raw_bindings))
    source = config.get("configurationSource")
    if source is not None and str(source).lower() not in ("attributes", "config"):
        raise FunctionJsonError(
            f"Illegal value '{source}' for 'configurationSource' property in {name}'.")
    entry = config.get("entryPoint")
    if entry is not None and not isinstance(entry, str):
        raise FunctionJsonError(f"'entryPoint' must be a function name, not {entry!r}")
    script = primary_script(folder, config.get("scriptFile"))
    # Host metadata, not a property of the binding: kept out of it, as in a v2 binding.
    triggers = [b.pop("disabled", None) for b in bindings
                if str(b["type"]).lower().endswith("trigger")]
    disabled = (raw_value(config, "disabled"), *triggers)
    return FunctionFolder(name, folder, script, entry or "", bindings, disabled)


def _binding(raw: Any, position: int, canonical: Mapping[str, str]) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise FunctionJsonError(f"binding {position + 1} must be a JSON object, not {raw!r}")
    b = {_CANONICAL_KEYS.get(k.lower(), k): v for k, v in raw.items()}
    kind = b.get("type")
    if not isinstance(kind, str) or not kind:
        raise FunctionJsonError(f"binding '{b.get('name', position + 1)}' has no 'type'")
    b["type"] = canonical.get(kind.lower(), kind)
    direction = b.get("direction") or "in"  # BindingDirection's default is In
    if not isinstance(direction, str) or direction.lower() not in _DIRECTIONS:
        raise FunctionJsonError(f"'{direction}' is not a valid binding direction.")
    b["direction"] = direction.lower()
    for key in _UPPER_VALUES:
        if isinstance(b.get(key), str):
            b[key] = b[key].upper()
    if "dataType" in b and b["dataType"] not in _DATA_TYPES:
        raise FunctionJsonError(f"binding '{b.get('name')}': '{raw_value(raw, 'dataType')}' is "
                                "not a valid dataType (string, binary or stream)")
    if "cardinality" in b and b["cardinality"] not in _CARDINALITIES:
        raise FunctionJsonError(f"binding '{b.get('name')}': '{raw_value(raw, 'cardinality')}' "
                                "is not a valid cardinality (one or many)")
    if isinstance(b.get("methods"), list):
        b["methods"] = [m.upper() if isinstance(m, str) else m for m in b["methods"]]
    return b


def raw_value(raw: Mapping[str, Any], key: str) -> Any:
    """A key's value as the user wrote it, whatever its casing."""
    return next((v for k, v in raw.items() if k.lower() == key.lower()), None)


def primary_script(folder: Path, configured: Any) -> Path:
    """DeterminePrimaryScriptFile: `scriptFile` if set (it must exist); else the only file beside
    function.json; else, among several, the first `run.*` or `__init__.py`."""
    if configured:
        path = folder / str(configured)
        if not path.is_file():
            raise FunctionJsonError(
                "Invalid script file name configuration. The 'scriptFile' property is set to a "
                f"file that does not exist ({configured!r} in {folder.name}/).")
        return path.resolve()
    files = sorted(p for p in folder.iterdir()
                   if p.is_file() and p.name.lower() != FUNCTION_JSON)
    if len(files) == 1:
        return files[0].resolve()
    for p in files:
        if p.stem.lower() == "run" or p.name.lower() in _PRIMARY_NAMES:
            return p.resolve()
    raise FunctionJsonError(NO_PRIMARY_SCRIPT)


def is_disabled(value: Any, environ: Mapping[str, str]) -> bool:
    """The host's rule for `disabled`: a JSON bool is the answer; a string names an app setting
    (bare, or as `%NAME%`) that disables the function when it is "true" or "1" (any case).
    (The v4 host no longer reads the property; func-py keeps the documented behaviour.)"""
    if isinstance(value, bool):
        return value
    if not isinstance(value, str) or not value.strip():
        return False
    name = value.strip()
    reference = name if name.startswith("%") and name.endswith("%") and len(name) > 2 \
        else f"%{name}%"
    try:
        setting = resolve_setting_refs(reference, environ)
    except SettingReferenceError:  # an unset setting leaves the function enabled
        return False
    return setting.strip().lower() in ("true", "1")
