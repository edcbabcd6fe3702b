"""Log output: Core Tools' console format (or JSON lines in production), with each record tied
to the invocation that emitted it.

The current invocation is a context variable (set by the invoker, copied into executor threads)
with a thread-local fallback that user threads set through `context.thread_local_storage`, as the
Python worker does. Levels follow host.json `logging.logLevel` categories.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass

HOST_LOGGER = "func_py"
log = logging.getLogger(HOST_LOGGER)


@dataclass(frozen=True)
class InvocationTag:
    invocation_id: str
    function_name: str


current_invocation: contextvars.ContextVar[InvocationTag | None] = contextvars.ContextVar(
    "current_invocation", default=None
)
# Shared by every Context: user threads set `.invocation_id` on it (worker semantics).
thread_local_storage = threading.local()
_function_by_invocation: dict[str, str] = {}

_DOTNET_LEVELS = {
    "trace": 5, "debug": logging.DEBUG, "information": logging.INFO, "warning": logging.WARNING,
    "error": logging.ERROR, "critical": logging.CRITICAL, "none": logging.CRITICAL + 10,
}


def dotnet_level(name: str, default: int = logging.INFO) -> int:
    return _DOTNET_LEVELS.get(name.strip().lower(), default)


def invocation_of(record: logging.LogRecord) -> InvocationTag | None:
    tag = current_invocation.get()
    if tag is not None:
        return tag
    inv = getattr(thread_local_storage, "invocation_id", None)
    if inv and inv in _function_by_invocation:
        return InvocationTag(inv, _function_by_invocation[inv])
    return None


def remember_invocation(tag: InvocationTag) -> None:
    _function_by_invocation[tag.invocation_id] = tag.function_name


def forget_invocation(invocation_id: str) -> None:
    _function_by_invocation.pop(invocation_id, None)


class LevelPolicy:
    """Picks the minimum level for a record from host.json's category table."""

    def __init__(self, levels: Mapping[str, str], verbose: bool) -> None:
        self._levels = {k.lower(): dotnet_level(v) for k, v in levels.items()}
        self.default = self._levels.get("default", logging.INFO)
        self.host = min(self._levels.get("host", self.default), logging.DEBUG if verbose else 99)

    def for_function(self, name: str) -> int:
        name = name.lower()
        for key in (f"function.{name}.user", f"function.{name}", "function"):
            if key in self._levels:
                return self._levels[key]
        return self.default

    def lowest(self) -> int:
        return min([self.default, self.host, *self._levels.values()])


class _Filter(logging.Filter):
    def __init__(self, policy: LevelPolicy) -> None:
        super().__init__()
        self.policy = policy

    def filter(self, record: logging.LogRecord) -> bool:
        tag = invocation_of(record)
        record.invocation = tag
        if tag is not None and not record.name.startswith(HOST_LOGGER):
            return record.levelno >= self.policy.for_function(tag.function_name)
        if record.name.startswith(HOST_LOGGER):
            return record.levelno >= min(self.policy.host, logging.INFO)
        if record.name.startswith("azure.functions") and record.levelno < logging.ERROR:
            # e.g. "Auth level is not applied to non http function app": noise for a host.
            return False
        return record.levelno >= self.policy.default


def _timestamp(record: logging.LogRecord) -> str:
    t = dt.datetime.fromtimestamp(record.created, dt.UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


class ConsoleFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        msg = record.getMessage()
        tag: InvocationTag | None = getattr(record, "invocation", None)
        if tag is not None and not record.name.startswith(HOST_LOGGER):
            msg = f"{tag.function_name}[{tag.invocation_id[:8]}] {msg}"
        if record.exc_info:
            msg = f"{msg}\n{self.formatException(record.exc_info)}"
        return f"[{_timestamp(record)}] {msg}"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        tag: InvocationTag | None = getattr(record, "invocation", None)
        out = {
            "time": _timestamp(record),
            "level": record.levelname,
            "category": record.name,
            "message": record.getMessage(),
        }
        if tag is not None:
            out["invocationId"] = tag.invocation_id
            out["functionName"] = tag.function_name
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


def setup_logging(levels: Mapping[str, str], *, verbose: bool, json_lines: bool) -> None:
    policy = LevelPolicy(levels, verbose)
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter() if json_lines else ConsoleFormatter())
    handler.addFilter(_Filter(policy))
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    root.addHandler(handler)
    root.setLevel(min(policy.lowest(), logging.INFO))
    log.setLevel(logging.DEBUG if verbose else logging.INFO)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        lg = logging.getLogger(name)
        lg.handlers.clear()
        lg.propagate = True
    logging.getLogger("uvicorn.error").setLevel(logging.WARNING)
    logging.getLogger("watchdog").setLevel(logging.WARNING)
