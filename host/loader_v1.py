"""The worker's half of the v1 model: importing each function folder and checking its code against
its function.json, giving the same `FunctionIndex` entries `host.loader` gives for v2 functions.

Imports follow azure_functions_worker.loader.load_function: `__app__` is a namespace package over
the app folder, a function's script is imported as `__app__.<Folder>` (its `__init__.py`) or
`__app__.<Folder>.<stem>`, and the app folder is on `sys.path` too, so `from ..shared import x`,
`from __app__.shared import x` and `from shared import x` all work as on Azure. The checks follow
azure_functions_worker.functions.Registry.add_function, with its messages. Every function is loaded
and checked on its own: one that fails is in error with its name and reason; the others load. This
module never raises for one function's sake and never decides which model an app uses (the caller,
`host.loader.load`, does).
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import inspect
import sys
import traceback
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from azure.functions import meta
from funcpy.host.app_import import AppImporter
from funcpy.host.binding_rules import (
    check_bindings,
    check_output_names,
    resolve_binding,
    unsupported,
)
from funcpy.host.config import HostConfig
from funcpy.host.function_json import (
    FunctionFolder,
    function_folders,
    is_disabled,
    read_function_folder,
)
from funcpy.host.index import Binding, FunctionIndex, FunctionInfo, fingerprint
from funcpy.host.settings import SettingReferenceError
from funcpy.triggers import INPUT_BINDING_TYPES, OUTPUT_BINDING_TYPES, trigger_kinds

__all__ = ["APP_PACKAGE", "build_index", "function_folders", "mixed_app_warning"]

APP_PACKAGE = "__app__"
DEFAULT_ENTRY_POINT = "main"
MIXED_APP_DOCS = ("Refer to the documentation to filter warning - "
                  "https://docs.microsoft.com/en-us/azure/azure-functions/configure-monitoring"
                  "?tabs=v2")


class FunctionLoadError(ValueError):
    """The worker's error for a function whose code does not fit its function.json."""

    def __init__(self, function_name: str, message: str) -> None:
        super().__init__(f"cannot load the {function_name} function: {message}")


def mixed_app_warning(folders: list[Path]) -> str:
    """What Core Tools prints when function_app.py wins over function.json folders."""
    names = ", ".join(f.name for f in folders)
    return f"Detected mixed function app. Some functions may not be indexed - {names} " \
           f"{MIXED_APP_DOCS}"


def build_index(importer: AppImporter, folders: list[Path], config: HostConfig,
                environ: Mapping[str, str], generation: int = 0) -> FunctionIndex:
    """Load every function folder afresh (edited modules are re-imported) into a new index."""
    app_dir = importer.app_dir.resolve()  # scripts are resolved paths: compare like with like
    _fresh_app_package(importer, app_dir)
    kinds = trigger_kinds()
    known = frozenset(kinds) | INPUT_BINDING_TYPES | OUTPUT_BINDING_TYPES | _library_types()
    only = {n.lower() for n in config.functions} if config.functions else None
    functions: dict[str, FunctionInfo] = {}
    errors: dict[str, str] = {}
    skipped: dict[str, str] = {}
    disabled: set[str] = set()
    seen: set[str] = set()
    for folder in folders:
        name = folder.name
        if only is not None and name.lower() not in only:
            continue  # the host drops them before reading: their errors stay hidden
        try:
            if name.lower() in seen:  # Foo/ and foo/ on a case-sensitive file system
                raise ValueError(f"Function {name} does not have a unique function name.")
            seen.add(name.lower())
            spec = read_function_folder(folder, known)
            raw = list(spec.bindings)
            trigger = check_bindings(raw)
            user_fn = load_function(spec, app_dir)
            wants_context = check_signature(name, user_fn, raw)
            why = unsupported(raw, trigger, kinds)
            if why:
                skipped[name] = why
                continue
            try:
                bindings = tuple(resolve_binding(b, environ) for b in raw)
            except SettingReferenceError as exc:
                raise ValueError(str(exc)) from None
            check_output_names(bindings)
            info = FunctionInfo(
                name=name, trigger=bindings[raw.index(trigger)], bindings=bindings,
                func=user_fn, is_async=inspect.iscoroutinefunction(user_fn),
                wants_context=wants_context, directory=str(spec.directory),
                script_file=spec.script_file.relative_to(app_dir).as_posix(),
                fingerprint=fingerprint(user_fn, bindings),
            )
            kinds[info.trigger_type].validate(info, config)
        except Exception as exc:
            errors[name] = f"The '{name}' function is in error: {exc}"
            continue
        functions[name] = info
        if any(is_disabled(v, environ) for v in spec.disabled):
            disabled.add(name)
    for kind in kinds.values():
        mine = [f for f in functions.values() if f.trigger_type == kind.binding_type]
        for name, reason in kind.validate_all(mine, config).items():
            errors[name] = f"The '{name}' function is in error: {reason}"
            functions.pop(name, None)
    # The app setting works for both models (the v2 loader applies the same rule).
    disabled |= {n for n in functions
                 if str(environ.get(f"AzureWebJobs.{n}.Disabled", "")).lower() in ("true", "1")}
    return FunctionIndex(functions=functions, errors=errors, skipped=skipped,
                         disabled=frozenset(disabled & set(functions)), generation=generation)


# -- importing ----------------------------------------------------------------------------------


def _fresh_app_package(importer: AppImporter, app_dir: Path) -> None:
    """Drop the app's modules (so every load imports edited code) and install a new `__app__`.
    Functions of the previous index keep their modules alive through their own references."""
    stale = set(importer._app_module_names())
    # An `__app__` over another folder (an earlier app in this process) goes too.
    stale |= {n for n in sys.modules if n == APP_PACKAGE or n.startswith(APP_PACKAGE + ".")}
    for name in stale:
        sys.modules.pop(name, None)
    if str(app_dir) not in sys.path:
        sys.path.insert(0, str(app_dir))
    spec = importlib.machinery.ModuleSpec(APP_PACKAGE, None, is_package=True)
    spec.submodule_search_locations = [str(app_dir)]
    sys.modules[APP_PACKAGE] = importlib.util.module_from_spec(spec)
    importlib.invalidate_caches()


def module_name(script: Path, app_dir: Path) -> str:
    """`__app__.Folder` for Folder/__init__.py, `__app__.Folder.stem` for any other file."""
    rel = script.relative_to(app_dir)
    parts = [APP_PACKAGE, *rel.parts[:-1]]
    if rel.stem.lower() != "__init__":
        parts.append(rel.stem)
    return ".".join(parts)


def load_function(spec: FunctionFolder, app_dir: Path) -> Callable[..., Any]:
    """Import the function's script and return its entry point (the worker's load_function)."""
    name, script = spec.name, spec.script_file
    try:
        rel = script.relative_to(app_dir)
    except ValueError:
        raise ValueError(f"script path {script} is not relative to the specified directory "
                         f"{spec.directory}") from None
    if script.suffix != ".py":
        raise ValueError(f"cannot load function {name}: invalid Python filename {script}")
    try:
        module = importlib.import_module(module_name(script, app_dir))
    except (Exception, SystemExit) as exc:
        tb = "".join(traceback.format_exception(type(exc), exc, _app_frames(exc.__traceback__)))
        missing = getattr(exc, "name", None) if isinstance(exc, ModuleNotFoundError) else None
        # The worker's hint for a package that is not installed, not for the app's own modules.
        hint = (". Please check the requirements.txt file for the missing module "
                "(https://aka.ms/functions-modulenotfound)"
                if missing and not missing.startswith(APP_PACKAGE) else "")
        raise ValueError(f"{rel.as_posix()} failed to import: {type(exc).__name__}: "
                         f"{exc}{hint}\n{tb.rstrip()}") from None
    entry = spec.entry_point or DEFAULT_ENTRY_POINT
    fn = getattr(module, entry, None)
    if fn is None or not callable(fn):
        raise ValueError(f"cannot load function {name}: function {entry}() is not present in "
                         f"{rel.as_posix()}")
    return typing.cast(Callable[..., Any], fn)


def _app_frames(tb: TracebackType | None) -> TracebackType | None:
    """Start the traceback in the app's code: skip this module's and the import system's frames."""
    while tb is not None and (tb.tb_frame.f_code.co_filename == __file__
                              or "importlib" in tb.tb_frame.f_code.co_filename):
        tb = tb.tb_next
    return tb


# -- the worker's checks of code against bindings ----------------------------------------------


def _library_types() -> frozenset[str]:
    """The binding types azure.functions has converters for (queueTrigger, blob, ...)."""
    registered = getattr(meta.get_binding_registry(), "_bindings", {})
    return frozenset(k for k in registered if isinstance(k, str))


def _converter(binding_type: str) -> Any:
    return meta.get_binding_registry().get(binding_type)


def _has_implicit_output(binding_type: str) -> bool:
    # orchestrationTrigger / activityTrigger / entityTrigger: the return value is the output.
    check = getattr(_converter(binding_type), "has_implicit_output", None)
    return bool(check()) if check is not None else False


def _accepts(binding_type: str, pytype: Any, output: bool) -> bool:
    """The library's converter decides; types without one use the worker's generic binding."""
    converter = _converter(binding_type) if binding_type != "generic" else None
    method = "check_output_type_annotation" if output else "check_input_type_annotation"
    check = getattr(converter, method, None) if converter is not None else None
    try:
        if check is not None:
            return bool(check(pytype))
        return issubclass(pytype, (str, bytes, bytearray) if output else (str, bytes))
    except TypeError:  # a generic alias such as list[str]: no converter takes it
        return False


def _is_out(annotation: Any) -> bool:
    origin = typing.get_origin(annotation) or annotation
    return isinstance(origin, type) and origin.__name__ == "Out"


def _type_name(t: Any) -> str:
    return str(getattr(t, "__name__", t))


def _set_text(names: set[str]) -> str:
    # The worker prints a Python set; sorted here so the message is the same on every run.
    return "{" + ", ".join(repr(n) for n in sorted(names)) + "}"


def check_signature(name: str, fn: Callable[..., Any], bindings: list[dict[str, Any]]) -> bool:
    """Registry.add_function's checks; returns whether the function takes a `context`."""
    params = dict(inspect.signature(fn).parameters)
    try:
        hints = typing.get_type_hints(fn)
    except Exception as exc:  # an annotation naming something that does not exist
        raise FunctionLoadError(name, f"its annotations cannot be resolved: "
                                      f"{type(exc).__name__}: {exc}") from None
    by_name: dict[str, Binding] = {str(b["name"]): b for b in bindings if b["name"] != "$return"}
    returns = next((b for b in bindings if b["name"] == "$return"), None)
    wants_context = "context" in params and "context" not in by_name
    if wants_context:
        params.pop("context")
        anno = hints.get("context")
        if anno is not None and not (isinstance(anno, type) and anno.__name__ == "Context"):
            raise FunctionLoadError(name, 'the "context" parameter is expected to be of type '
                                          f"azure.functions.Context, got {anno!r}")
    if set(params) - set(by_name):
        raise FunctionLoadError(name, "the following parameters are declared in Python but not "
                                      f"in function.json: {_set_text(set(params) - set(by_name))}")
    if set(by_name) - set(params):
        raise FunctionLoadError(name, "the following parameters are declared in function.json "
                                      f"but not in Python: {_set_text(set(by_name) - set(params))}")
    for param in params:
        if param in hints:
            _check_parameter(name, param, hints[param], by_name[param])
    if returns is not None and "return" in hints:
        _check_return(name, hints["return"], str(returns["type"]))
    return wants_context


def _check_parameter(name: str, param: str, anno: Any, binding: Binding) -> None:
    is_out, binding_out = _is_out(anno), binding["direction"] == "out"
    pytype = anno
    if is_out:
        args = typing.get_args(anno)
        if len(args) != 1:
            raise FunctionLoadError(name, f"binding {param} has invalid Out annotation {anno!r}")
        pytype = args[0]
    if not isinstance(pytype, type) and typing.get_origin(pytype) is None:
        raise FunctionLoadError(name, f"binding {param} has invalid non-type annotation "
                                      f"{anno!r}")
    if binding_out and not is_out:
        raise FunctionLoadError(name, f'binding {param} is declared to have the "out" '
                                      "direction, but its annotation in Python is not a subclass "
                                      "of azure.functions.Out")
    if is_out and not binding_out:
        raise FunctionLoadError(name, f'binding {param} is declared to have the "in" direction '
                                      "in function.json, but its annotation is "
                                      "azure.functions.Out in Python")
    kind = str(binding["type"])
    # `str`/`bytes` take the raw value (the generic binding), except for the durable triggers.
    check_as = "generic" if pytype in (str, bytes) and not _has_implicit_output(kind) else kind
    if _accepts(check_as, pytype, output=is_out):
        return
    if binding.get("dataType") not in (None, "UNDEFINED"):
        raise FunctionLoadError(name, f'{param!r} binding type "{kind}" and dataType '
                                      f'"{binding["dataType"].lower()}" in function.json do not '
                                      "match the corresponding function parameter's Python type "
                                      f'annotation "{_type_name(pytype)}"')
    raise FunctionLoadError(name, f'type of {param} binding in function.json "{kind}" does not '
                                  f'match its Python annotation "{_type_name(pytype)}"')


def _check_return(name: str, anno: Any, kind: str) -> None:
    if _is_out(anno):
        raise FunctionLoadError(name, "return annotation should not be azure.functions.Out")
    if not isinstance(anno, type):
        raise FunctionLoadError(name, f"has invalid non-type return annotation {anno!r}")
    if not _accepts(kind, anno, output=True):
        raise FunctionLoadError(name, f'Python return annotation "{anno.__name__}" does not '
                                      f'match binding type "{kind}"')
