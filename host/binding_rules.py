"""The host's and the worker's rules for a function's bindings, for both programming models."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from funcpy.host.index import Binding
from funcpy.host.settings import resolve_setting_refs
from funcpy.triggers import INPUT_BINDING_TYPES, OUTPUT_BINDING_TYPES
from funcpy.triggers.queue_options import normalize_queue_name

_BINDING_NAME = re.compile(r"^([a-zA-Z][a-zA-Z0-9]{0,127}|\$return)$")


def resolve_binding(binding: dict[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    resolved = dict(binding)
    for key, value in binding.items():
        if key in ("name", "type", "direction") or not isinstance(value, str) or "%" not in value:
            continue
        resolved[key] = resolve_setting_refs(value, environ)
    return resolved


def check_bindings(bindings: list[dict[str, Any]]) -> dict[str, Any]:
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

def unsupported(bindings: list[dict[str, Any]], trigger: Binding, kinds: Mapping[str, Any]) -> str:
    if trigger["type"] not in kinds:
        return f"trigger '{trigger['type']}' is not supported by func-py yet"
    for b in bindings:
        if b is trigger or (b["name"] == "$return" and b["type"] in OUTPUT_BINDING_TYPES):
            continue
        ok = INPUT_BINDING_TYPES if b["direction"] == "in" else OUTPUT_BINDING_TYPES
        if b["type"] not in ok:
            return f"{b['direction']} binding '{b['type']}' ({b['name']}) is not supported yet"
    return ""


def check_output_names(bindings: Sequence[Binding]) -> None:
    """A queue output whose name needs no binding expression is checked at load time (with the
    extension's message), so a bad name puts its function in error instead of failing every
    call; names with `{...}` are checked when filled in."""
    for b in bindings:
        name = str(b.get("queueName") or "")
        if b.get("type") == "queue" and b.get("direction") == "out" and "{" not in name:
            try:
                normalize_queue_name(name)
            except ValueError as exc:
                raise ValueError(f"its queue output binding '{b.get('name')}': {exc}") from None
