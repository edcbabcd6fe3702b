"""Log output: Core Tools' console format (or JSON lines in production), with each record tied
to the invocation that emitted it.

The current invocation is a context variable (set by the invoker, copied into executor threads)
with a thread-local fallback that user threads set through `context.thread_local_storage`, as the
Python worker does. Levels follow host.json `logging.logLevel` categories, on top of the
worker's own rules: the root logger is pinned to INFO (DEBUG with PYTHON_ENABLE_DEBUG_LOGGING),
so host.json can hide the root logger's debug records but not reveal them; and the worker's
system categories (`azure_functions_worker*`, `azure.functions*`) are never shown.
"""

from __future__ import annotations

import collections
import contextvars
import datetime as dt
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Mapping
from typing import NamedTuple, TextIO

HOST_LOGGER = "func_py"
log = logging.getLogger(HOST_LOGGER)


class InvocationTag(NamedTuple):
    # A NamedTuple, not a frozen dataclass: one is made per invocation, and a frozen
    # dataclass's __init__ costs several times more.
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


# The worker's is_system_log_category: its own and the SDK's loggers. Their records go to the
# platform's internal tables only, never to the console or the customer's App Insights.
SYSTEM_CATEGORIES = ("azure_functions_worker", "azure.functions")
DEBUG_LOGGING_SETTING = "PYTHON_ENABLE_DEBUG_LOGGING"
_TRUE_LIKE = frozenset({"1", "true", "t", "yes", "y"})  # the worker's is_envvar_true


def worker_root_level(environ: Mapping[str, str]) -> int:
    """The level the worker gives the root logger (`dispatch_forever`)."""
    raw = environ.get(DEBUG_LOGGING_SETTING, "")
    return logging.DEBUG if raw.strip().lower() in _TRUE_LIKE else logging.INFO


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

    def __init__(self, levels: Mapping[str, str], verbose: bool,
                 environ: Mapping[str, str] | None = None) -> None:
        self._levels = {k.lower(): dotnet_level(v) for k, v in levels.items()}
        self.default = self._levels.get("default", logging.INFO)
        self.host = min(self._levels.get("host", self.default), logging.DEBUG if verbose else 99)
        self._invocation_levels: dict[str, int] = {}
        self.root = worker_root_level(os.environ if environ is None else environ)

    def for_function(self, name: str) -> int:
        name = name.lower()
        for key in (f"function.{name}.user", f"function.{name}", "function"):
            if key in self._levels:
                return self._levels[key]
        return self.default

    def for_invocations(self, name: str) -> int:
        """Level of a function's Executing/Executed lines: category `Function.<name>` (as in
        Azure, where host.json `"Function": "Warning"` silences them)."""
        level = self._invocation_levels.get(name)
        if level is None:
            lower = name.lower()
            level = next((self._levels[k] for k in (f"function.{lower}", "function")
                          if k in self._levels), self.default)
            self._invocation_levels[name] = level
        return level

    def lowest(self) -> int:
        """The root logger's level: the lowest level at which a record of a logger with no
        level of its own (the root logger, most user loggers) is made at all. The worker's,
        not host.json's: host.json `Trace` does not reveal `logging.debug` unless
        PYTHON_ENABLE_DEBUG_LOGGING is set; loggers given a level keep it (func_py's own is
        set by `setup_logging`)."""
        return self.root


class _Filter(logging.Filter):
    def __init__(self, policy: LevelPolicy) -> None:
        super().__init__()
        self.policy = policy

    def filter(self, record: logging.LogRecord) -> bool:
        name = record.name
        if name.startswith(HOST_LOGGER):
            record.invocation = invocation_of(record)
            return record.levelno >= min(self.policy.host, logging.INFO)
        if name.startswith(SYSTEM_CATEGORIES):
            return False
        tag = invocation_of(record)
        record.invocation = tag
        if tag is not None:
            return record.levelno >= self.policy.for_function(tag.function_name)
        return record.levelno >= self.policy.default


_second_cache: tuple[int, str] = (-1, "")
# "123Z" for each millisecond: formatting the number costs more than the rest of a line.
_MILLIS = tuple(f"{ms:03d}Z" for ms in range(1000))


def _timestamp_at(created: float) -> str:
    # Formatting the date once per second keeps logging off the hot path's profile.
    global _second_cache
    whole = int(created)
    if _second_cache[0] != whole:
        t = dt.datetime.fromtimestamp(whole, dt.UTC)
        _second_cache = (whole, t.strftime("%Y-%m-%dT%H:%M:%S."))
    return _second_cache[1] + _MILLIS[int((created - whole) * 1000)]


def _timestamp(record: logging.LogRecord) -> str:
    return _timestamp_at(record.created)


class ConsoleFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        msg = record.getMessage()
        tag: InvocationTag | None = getattr(record, "invocation", None)
        if tag is not None and not record.name.startswith(HOST_LOGGER):
            msg = f"{tag.function_name}[{tag.invocation_id[:8]}] {msg}"
        if record.exc_info:
            msg = f"{msg}\n{self.formatException(record.exc_info)}"
        return f"[{_timestamp(record)}] {_worker_tag}{msg}"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        tag: InvocationTag | None = getattr(record, "invocation", None)
        out = {
            **_worker_field,
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


class _Console(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to stdout. On a terminal each line goes out at once. Otherwise (a pipe, a file,
    a container log) lines are queued in order, with neither a write nor a lock per line, and
    written in one system call: at the end of every invocation, by the invoker (so a
    function's lines, its Executed line included, are out before its response is sent), and
    every 100 ms by a daemon thread for lines logged outside invocations.

    A reader that stops reading a pipe stalls the writer, as any blocking log write would:
    the queue does not grow without bound behind a stuck consumer."""

    def __init__(self) -> None:
        super().__init__(sys.stdout)
        self.interactive = sys.stdout.isatty()
        # deque.append and popleft are thread-safe: no lock on the hot path.
        self.pending: collections.deque[str] = collections.deque()
        if not self.interactive:
            threading.Thread(target=self._flusher, name="log-flush", daemon=True).start()

    def write_line(self, line: str) -> None:
        if self.interactive:
            with self.lock:  # type: ignore[union-attr]
                try:
                    self.stream.write(line + "\n")
                    self.stream.flush()
                except (OSError, ValueError):
                    pass
        else:
            self.pending.append(line)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.write_line(self.format(record))
        except Exception:
            self.handleError(record)

    def flush(self) -> None:
        if self.interactive:
            super().flush()

    def drain(self, timeout: float = -1) -> None:
        """Write what is queued (the invoker, the flusher, and at exit). With a `timeout`,
        give up if another writer has held the lock that long (stuck on a full pipe)."""
        # Taken under the lock, not just written under it, and the lock taken even when the
        # queue looks empty: two drains (the loop thread's and the flusher's) would otherwise
        # write their batches in either order, and a drain finding the queue empty could
        # return while the other one's batch, holding this invocation's lines, is unwritten.
        lock = self.lock
        assert lock is not None
        if not lock.acquire(timeout=timeout):
            return
        try:
            pending = self.pending
            lines = [pending.popleft() for _ in range(len(pending))]
            if lines:
                self.stream.write("\n".join(lines) + "\n")
                self.stream.flush()
        except (OSError, ValueError):
            pass
        finally:
            lock.release()

    def close(self) -> None:
        # logging.shutdown() at exit calls flush() (a no-op here), then close().
        self.drain()
        super().close()

    def _flusher(self) -> None:
        while True:
            time.sleep(0.1)
            self.drain()


_console: _Console | None = None
_policy: LevelPolicy | None = None
_json_lines = False
# One of several worker processes (host/workers.py): "[worker I] " after each line's timestamp,
# `"worker": I` first in JSON lines. Empty in a single process.
_worker_tag = ""
_worker_field: dict[str, int] = {}


def tag_worker(index: int) -> None:
    """Mark every line this process writes from now on as worker `index`'s."""
    global _worker_tag, _worker_field
    _worker_tag, _worker_field = f"[worker {index}] ", {"worker": index}


def flush_logs() -> None:
    """Write the queued lines now: the invoker calls this as an invocation ends, so what it
    logged is in the output before anything (an HTTP response, a committed result) tells a
    reader it finished. One write for all that is queued; none on a terminal (lines went out
    as they were logged) or when the flusher has just written them."""
    console = _console
    if console is not None and not console.interactive:
        console.drain()


def flush_all() -> None:
    """Everything buffered, for an exit that skips the interpreter's own clean-up
    (`os._exit`): the queued log lines, then print()ed output. Bounded: an exit must not
    hang behind a log reader that stopped reading."""
    console = _console
    if console is not None and not console.interactive:
        console.drain(timeout=0.2)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass


def host_line(message: str, invocation: InvocationTag | None = None) -> None:
    """An INFO line from the host, written without the logging machinery: the invoker emits
    two per invocation (Executing/Executed), and LogRecord creation would cost more than
    the rest of an HTTP request. Same output as `log.info`."""
    console = _console
    if console is None or not log.isEnabledFor(logging.INFO):
        log.info("%s", message)
        return
    if invocation is not None and _policy is not None and \
            _policy.for_invocations(invocation.function_name) > logging.INFO:
        return
    if _json_lines:
        out: dict[str, object] = {**_worker_field, "time": _timestamp_at(time.time()),
                                  "level": "INFO", "category": HOST_LOGGER, "message": message}
        if invocation is not None:
            out["invocationId"] = invocation.invocation_id
            out["functionName"] = invocation.function_name
        console.write_line(json.dumps(out, ensure_ascii=False))
    else:
        console.write_line(f"[{_timestamp_at(time.time())}] {_worker_tag}{message}")


def setup_logging(levels: Mapping[str, str], *, verbose: bool, json_lines: bool,
                  json_file: TextIO | None = None, user_log_level: str | None = None) -> None:
    global _console, _json_lines, _policy
    if user_log_level and not any(k.lower() == "function" for k in levels):
        # Core Tools' --user-log-level sets the "Function" category unless host.json does.
        levels = {**levels, "Function": user_log_level}
    policy = _policy = LevelPolicy(levels, verbose)
    # Caller lookup walks the stack for every record; no format here shows file or line.
    logging._srcfile = None  # type: ignore[attr-defined]
    logging.logMultiprocessing = False
    logging.logProcesses = False
    handler = _console = _Console()
    _json_lines = json_lines or json_file is not None
    if json_file is not None:  # --json-output-file: JSON to the file, readable on the console
        from funcpy.host.json_output import JsonFileTee

        handler.stream = JsonFileTee(handler.stream, json_file)  # type: ignore[assignment]
    handler.setFormatter(JsonFormatter() if _json_lines else ConsoleFormatter())
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
