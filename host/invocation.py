"""What an invocation hands back and what it is built from: results, errors, binding protocols.

Owns the values and protocols that callers of `invoke.Invoker` and the binding extensions
share (an invocation's result and error, a function timeout, the input-provider and
output-writer protocols, the converted outputs a trigger commits itself), plus invocation ids
and the trimming of host frames from a user's traceback. Separate from invoke.py, which owns
the calling itself, so that a trigger or a writer depends on these small types and not on the
thread pool, the watchdog and the logging of every call.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from types import TracebackType
from typing import Any, Protocol

from funcpy.host.index import Binding, FunctionInfo


class InputProvider(Protocol):
    """Supplies the value of a non-trigger input binding (e.g. `durableClient`)."""

    def value(self, fn: FunctionInfo, binding: Binding, invocation_id: str) -> Any: ...


class OutputWriter(Protocol):
    """Carries one kind of output binding's values out of the host (e.g. `queue`)."""

    def convert(self, fn: FunctionInfo, binding: Binding, value: Any,
                binding_data: Mapping[str, Any]) -> list[Any]:
        """What `value` becomes (items for `write`); raise to fail the invocation.
        `binding_data` is the trigger's metadata, for binding expressions."""
        ...

    async def write(self, items: list[Any]) -> None:
        """Write converted items in a transaction of their own."""
        ...


@dataclass(frozen=True)
class PendingOutput:
    """Converted output values not written yet: the caller commits them with its own effects."""

    binding_type: str
    writer: OutputWriter
    items: list[Any]


class InvocationError(Exception):
    """The user function raised, timed out or returned something its bindings cannot carry."""

    def __init__(self, fn_name: str, invocation_id: str, cause: BaseException) -> None:
        super().__init__(f"{type(cause).__name__}: {cause}")
        self.function_name = fn_name
        self.invocation_id = invocation_id
        self.cause = cause


@dataclass
class InvocationResult:
    invocation_id: str
    value: Any
    outputs: dict[str, Any] = field(default_factory=dict)
    duration_ms: float = 0.0
    pending: list[PendingOutput] = field(default_factory=list)  # with defer_outputs only


_random_bits = random.getrandbits
# Version 4 and the RFC 4122 variant, set in the 128 random bits before they are formatted.
_UUID_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))
_UUID_SET = (0x4000 << 64) | (0x8000 << 48)


def new_invocation_id() -> str:
    """A random (version 4) UUID: invocation ids need uniqueness, not secrecy, and this is
    several times cheaper than uuid.uuid4() (urandom) on the per-request path."""
    h = "%032x" % (_random_bits(128) & _UUID_CLEAR | _UUID_SET)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def format_duration(td: timedelta) -> str:
    total = int(td.total_seconds())
    return f"{total // 3600:02d}:{total % 3600 // 60:02d}:{total % 60:02d}"


_HOST_FILES = (os.path.dirname(__file__), os.path.dirname(asyncio.__file__),
               os.path.dirname(concurrent.futures.__file__))


def user_frames(tb: TracebackType | None) -> TracebackType | None:
    """Drop the host's own leading frames so a traceback starts in the user's code."""
    first = tb
    while tb is not None and tb.tb_frame.f_code.co_filename.startswith(_HOST_FILES):
        tb = tb.tb_next
    return tb or first


class FunctionTimeout(Exception):
    def __init__(self, name: str, timeout: timedelta) -> None:
        super().__init__(
            f"Timeout value of {format_duration(timeout)} exceeded by function 'Functions.{name}'"
        )
