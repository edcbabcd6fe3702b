"""Debugging with debugpy: `func-py start --debug [HOST:]PORT [--debug-wait]`, and the setting
VS Code's Azure Functions extension injects, `languageWorkers__python__arguments`.

The Functions host puts that setting before the worker script on the Python command line, so
VS Code's value (the path of its bundled debugpy, then `--listen 127.0.0.1:9091`) makes the
worker process listen for the debugger. func-py has no worker process: the app runs in the
host's own, so func-py reads the listen address out of the setting and calls
`debugpy.listen()` itself, before the app is imported. Everything else a worker command line
could hold (interpreter options, other debugpy options) cannot apply and is reported, never
fatal: a setting VS Code wrote must not stop the host from starting.

debugpy traces every thread started after `listen()` (and, checked with debugpy 1.8 on
Python 3.11, threads already running), and the threads that run user code (the invoker's
pool, the event loop's executor) start lazily, after it; the event loop runs on the main
thread, which `listen()` traces. So sync and async functions, activities, timers
and orchestrator generators all hit breakpoints with no tracing calls elsewhere. A hot reload
compiles new code objects for the same file paths, and debugpy binds breakpoints by path.
"""

from __future__ import annotations

import dataclasses
import os
import shlex
from collections.abc import Mapping
from dataclasses import dataclass

from funcpy.host.errors import FuncPyError
from funcpy.host.logs import flush_logs, log
from funcpy.host.start_flags import CORE_TOOLS_DEBUG_TARGETS

SETTING = "languageWorkers__python__arguments"  # the environment's spelling
SETTING_KEY = "languageWorkers:python:arguments"  # .NET configuration's (local.settings.json)
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9091  # VS Code's "Attach to Python Functions" connects here
# The options this module applies; anything else in the setting is reported as not applied.
APPLIED = "--listen [HOST:]PORT, --wait-for-client, --log-to DIR"


class DebugArgumentError(ValueError):
    """An address or debugpy argument that cannot be used (the message says why)."""


def parse_address(text: str) -> tuple[str, int]:
    """`PORT`, `HOST:PORT` or `[IPv6]:PORT`, as debugpy's `--listen` takes them; the host
    defaults to 127.0.0.1 (a debugger lets its client run any code: loopback unless asked)."""
    raw = text.strip()
    host, sep, port_text = raw.rpartition(":")
    if not sep:
        host, port_text = "", raw
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise DebugArgumentError(f"{raw!r}: write an IPv6 address in brackets, as [::1]:9091")
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise DebugArgumentError(f"{raw!r} is not [HOST:]PORT with PORT from 0 to 65535")
    return host or DEFAULT_HOST, int(port_text)


@dataclass(frozen=True)
class WorkerArguments:
    """What a `languageWorkers:python:arguments` value asks of the debugger."""

    listen: tuple[str, int] | None = None
    wait: bool = False
    log_dir: str | None = None
    not_applied: tuple[str, ...] = ()  # tokens func-py cannot apply, as written
    problem: str | None = None  # why a debugpy option present could not be read


def _tokens(text: str) -> list[str]:
    # Not POSIX mode: a Windows path's backslashes are separators, not escapes; quotes are
    # kept by shlex then and taken off here. An unbalanced quote still splits on blanks.
    try:
        parts = shlex.split(text, posix=False)
    except ValueError:
        parts = text.split()
    return [p[1:-1] if len(p) >= 2 and p[0] == p[-1] and p[0] in "\"'" else p for p in parts]


def _is_debugpy(token: str) -> bool:
    """debugpy named by path: VS Code passes the folder of the debugpy it bundles
    (`.../bundled/libs/debugpy`); a path to its `__main__.py` or `launcher` means the same."""
    if token == "debugpy":  # the console script
        return True
    if "/" not in token and "\\" not in token:
        return False
    parts = [p for p in token.replace("\\", "/").split("/") if p]
    return bool(parts) and (parts[-1] in ("debugpy", "debugpy.py") or (
        parts[-1] in ("__main__.py", "launcher") and "debugpy" in parts[:-1]))


def parse_worker_arguments(text: str) -> WorkerArguments:
    """Read the debugger part of a worker command line: `<path>/debugpy --listen
    127.0.0.1:9091` (VS Code), `-m debugpy --listen 0.0.0.0:9091` (the documented manual
    form), or the options alone (`--listen 9091`), each with `--wait-for-client` optional."""
    tokens = _tokens(text)
    listen: tuple[str, int] | None = None
    wait = False
    log_dir: str | None = None
    not_applied: list[str] = []
    problem: str | None = None
    i = 0
    while i < len(tokens):
        token = tokens[i]
        name, eq, inline = token.partition("=")
        value = inline if eq else tokens[i + 1] if i + 1 < len(tokens) else None
        step = 1 if eq else 2
        if (token == "-m" and value == "debugpy") or _is_debugpy(token):
            i += 2 if token == "-m" else 1
            continue
        if name == "--listen" or name == "--log-to":
            if value is None or value.startswith("-"):
                problem = problem or f"{name} needs a value"
                i += 1
                continue
            if name == "--log-to":
                log_dir = value
            else:
                try:
                    listen = parse_address(value)
                except DebugArgumentError as exc:
                    problem = problem or f"--listen {exc}"
            i += step
            continue
        if token == "--wait-for-client":
            wait = True
        else:
            not_applied.append(token)
        i += 1
    return WorkerArguments(listen, wait, log_dir, tuple(not_applied), problem)


def find_setting(environ: Mapping[str, str],
                 local_values: Mapping[str, str]) -> tuple[str, str] | None:
    """(value, where it came from) of the setting, under either spelling and in any case
    (.NET configuration keys ignore case). A variable set outside local.settings.json wins."""
    found: list[tuple[bool, str, str]] = []
    for key, value in environ.items():
        if key.replace("__", ":").lower() != SETTING_KEY.lower() or not value.strip():
            continue
        local = local_values.get(key) == value
        where = f"{key} in local.settings.json" if local else f"the environment variable {key}"
        found.append((local, value, where))
    if not found:
        return None
    _, value, where = min(found)  # False (the real environment) sorts first
    return value, where


@dataclass(frozen=True)
class DebugPlan:
    host: str
    port: int
    wait: bool
    origin: str  # the flag or setting that asked for it, for messages
    log_dir: str | None = None


def plan_debugging(flag: str | None, wait_flag: bool, *, production: bool,
                   environ: Mapping[str, str],
                   local_values: Mapping[str, str]) -> DebugPlan | None:
    """The debugger to open: `--debug`'s address, else the setting's, else (with
    `--debug-wait` alone) 127.0.0.1:9091; None for none. `--debug-wait` waits whichever
    address is used. Bad flags raise FuncPyError; a setting func-py cannot use is a warning."""
    if flag is not None and flag.strip().lower() in CORE_TOOLS_DEBUG_TARGETS:
        flag = None  # Core Tools 2.x's `--debug VSCode`: reported as a flag with no effect
    if production and (flag is not None or wait_flag):
        raise FuncPyError("--debug and --debug-wait are refused in production (--production or "
                          "FUNCPY_PRODUCTION): func-py never opens a debugger there, since an "
                          "attached client can run any code in the host.")
    setting = find_setting(environ, local_values)
    if flag is not None:
        try:
            host, port = parse_address(flag) if flag else (DEFAULT_HOST, DEFAULT_PORT)
        except DebugArgumentError as exc:
            raise FuncPyError(f"--debug {exc}; for example --debug 9091 or "
                              "--debug 0.0.0.0:9091") from None
        if setting is not None and parse_worker_arguments(setting[0]).listen is not None:
            log.info("--debug given: the debugpy arguments in %s are not applied.", setting[1])
        return DebugPlan(host, port, wait_flag, "--debug")
    plan = _from_setting(*setting, production=production) if setting is not None else None
    if plan is not None:
        return dataclasses.replace(plan, wait=True) if wait_flag else plan
    if wait_flag:
        return DebugPlan(DEFAULT_HOST, DEFAULT_PORT, True, "--debug-wait")
    return None


def _from_setting(value: str, where: str, *, production: bool) -> DebugPlan | None:
    parsed = parse_worker_arguments(value)
    if production and parsed.listen is not None:
        log.warning("%s asks for a debugger (%r); not opened: func-py never opens a debugger "
                    "in production.", where, value)
        return None
    if parsed.listen is None or parsed.problem is not None:
        why = parsed.problem or "it holds no debugpy --listen"
        log.warning("%s = %r is not applied (%s): func-py runs the app in its own process and "
                    "applies only debugpy's %s from it.", where, value, why, APPLIED)
        return None
    if parsed.not_applied:
        log.warning("%s: %s not applied (func-py runs the app in its own process and applies "
                    "only debugpy's %s).", where, " ".join(parsed.not_applied), APPLIED)
    return DebugPlan(parsed.listen[0], parsed.listen[1], parsed.wait, where, parsed.log_dir)


def start_debugger(plan: DebugPlan) -> DebugPlan:
    """Listen for a debugger client (before the app is imported). Returns the plan with the
    address bound (port 0 picks a free one)."""
    # pydevd otherwise warns on every start that the stdlib's frozen modules may miss
    # breakpoints; app code is never frozen. Read when debugpy is imported.
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    try:
        import debugpy
    except ImportError:
        raise FuncPyError(f"{plan.origin} asks for a debugger, but debugpy is not installed "
                          "in this environment: pip install debugpy") from None
    if plan.log_dir:
        debugpy.log_to(plan.log_dir)
    try:
        host, port = debugpy.listen((plan.host, plan.port))
    except (RuntimeError, OSError) as exc:
        text = str(exc)
        if "in use" in text.lower() or "10048" in text:
            raise FuncPyError(
                f"Debugger port {plan.port} is unavailable (from {plan.origin}): another "
                "process listens on it. Close it, or pick another port.") from None
        raise FuncPyError(f"cannot start the debugger on {plan.host}:{plan.port} (from "
                          f"{plan.origin}): {text}") from None
    log.info("Debugger listening on %s:%d (attach with VS Code's \"Attach to Python "
             "Functions\")", host, port)
    return dataclasses.replace(plan, host=host, port=port)


def wait_for_client(plan: DebugPlan) -> None:
    """Block until a debugger client has attached (and sent its breakpoints)."""
    import debugpy

    log.info("Waiting for a debugger to attach on %s:%d before loading the app...",
             plan.host, plan.port)
    flush_logs()
    debugpy.wait_for_client()
    log.info("Debugger attached.")
