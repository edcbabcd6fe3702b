"""The function index: an immutable picture of the loaded app that every trigger reads.

A new index is built by the loader on start and on every reload, then swapped in whole; nothing
mutates one after it is built, so requests in flight keep a consistent view of the old app.
"""

from __future__ import annotations

import functools
import hashlib
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

# One binding as JSON: "type", "name", "direction" ("in"/"out"/"inout"), type-specific keys.
Binding = Mapping[str, Any]


@dataclass(frozen=True)
class FunctionInfo:
    """One indexed function: its trigger, its bindings (with %NAME% resolved) and its callable."""

    name: str
    trigger: Binding
    bindings: tuple[Binding, ...]
    func: Callable[..., Any]
    is_async: bool
    wants_context: bool
    directory: str
    script_file: str
    fingerprint: str  # changes when the code or the bindings change (reload reports it)

    @property
    def trigger_type(self) -> str:
        return str(self.trigger["type"])

    @functools.cached_property
    def has_return(self) -> bool:
        """Whether a `$return` binding carries the return value (read on every call)."""
        return any(b.get("name") == "$return" for b in self.bindings)

    def binding(self, name: str) -> Binding | None:
        for b in self.bindings:
            if b.get("name") == name:
                return b
        return None

    @property
    def input_bindings(self) -> tuple[Binding, ...]:
        return tuple(b for b in self.bindings if b is not self.trigger and b["direction"] == "in")

    @property
    def output_bindings(self) -> tuple[Binding, ...]:
        return tuple(b for b in self.bindings if b["direction"] == "out")


@dataclass(frozen=True)
class FunctionIndex:
    functions: Mapping[str, FunctionInfo] = field(default_factory=dict)
    errors: Mapping[str, str] = field(default_factory=dict)  # name -> reason (full message)
    skipped: Mapping[str, str] = field(default_factory=dict)  # name -> why (unsupported kinds)
    disabled: frozenset[str] = frozenset()
    generation: int = 0

    def get(self, name: str) -> FunctionInfo | None:
        # Function names are case-insensitive in the host.
        found = self.functions.get(name)
        if found is not None:
            return found
        lower = name.lower()
        for key, info in self.functions.items():
            if key.lower() == lower:
                return info
        return None

    def of_type(self, trigger_type: str) -> list[FunctionInfo]:
        return [f for f in self.functions.values() if f.trigger_type == trigger_type]

    def diff(self, other: FunctionIndex) -> tuple[list[str], list[str], list[str]]:
        """(added, removed, changed) names going from `self` to `other`."""
        added = sorted(set(other.functions) - set(self.functions))
        removed = sorted(set(self.functions) - set(other.functions))
        changed = sorted(
            n for n in set(self.functions) & set(other.functions)
            if self.functions[n].fingerprint != other.functions[n].fingerprint
        )
        return added, removed, changed


def _code_parts(code: types.CodeType, out: list[bytes]) -> None:
    out.append(code.co_code)
    out.append(repr(code.co_names).encode())
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            _code_parts(const, out)
        else:
            out.append(repr(const).encode())


def fingerprint(func: Callable[..., Any], bindings: tuple[Binding, ...]) -> str:
    """A digest of what a function does: bytecode, constants and bindings (not line numbers)."""
    target: Any = func
    # Durable decorators wrap the user's code; look through to it.
    for attr in ("orchestrator_function", "entity_function", "__wrapped__"):
        target = getattr(target, attr, target)
    parts: list[bytes] = [repr(sorted(map(lambda b: sorted(b.items()), bindings))).encode()]
    code = getattr(target, "__code__", None)
    if code is not None:
        _code_parts(code, parts)
    return hashlib.blake2b(b"\0".join(parts), digest_size=12).hexdigest()
