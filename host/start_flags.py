"""The flags of `func-py start` (and its alias `func-py host start`): Core Tools' `func start`
flags, spelled and aliased as Core Tools spells them, plus func-py's own (`--debug [HOST:]PORT`
and `--debug-wait`, acted on by `host.debugging`).

Core Tools parses with FluentCommandLineParser, so a flag that takes a boolean also takes an
explicit value (`--useHttps true`); `--language-worker -- "<args>"` is its documented form. Flags
that configure parts func-py does not have (the .NET build, the in-process .NET host, a worker
process) are accepted and said to be ignored, so that VS Code tasks and scripts written for
`func start` run unchanged. This module only parses; `host.cli` acts on the result.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence

USER_LOG_LEVELS = ("Trace", "Debug", "Information", "Warning", "Error", "Critical", "None")
LANGUAGE_FLAGS = ("--python", "--csharp", "--dotnet", "--dotnet-isolated", "--javascript",
                  "--typescript", "--node", "--java", "--powershell", "--custom")
# Core Tools 2.x's `--debug VSCode|VS` picked an IDE; any other value is func-py's address.
CORE_TOOLS_DEBUG_TARGETS = ("vscode", "vs")
_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")


def _bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _flag(p: argparse.ArgumentParser, *names: str, dest: str, help: str) -> None:
    """A boolean flag: `--x` alone is true; `--x true|false` says so explicitly."""
    p.add_argument(*names, dest=dest, nargs="?", const=True, default=None, type=_bool,
                   metavar="true|false", help=help)


def add_start_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--script-root", "--prefix", dest="script_root", metavar="DIR",
                   help="the app folder (default: the current directory)")
    p.add_argument("-p", "--port", type=int, help="port (default 7071, or Host.LocalHttpPort)")
    p.add_argument("--address", help="address to bind (default 127.0.0.1)")
    p.add_argument("--cors", help="comma-separated allowed origins (or Host.CORS)")
    _flag(p, "--cors-credentials", dest="cors_credentials", help="allow credentialed CORS")
    p.add_argument("--functions", nargs="+", metavar="NAME", help="load only these functions")
    _flag(p, "--verbose", dest="verbose", help="more host output")
    _flag(p, "--enable-auth", "--enableAuth", dest="enable_auth",
          help="enforce function keys locally (see README: keys)")
    p.add_argument("--no-reload", dest="reload", action="store_false",
                   help="do not watch the app folder for changes")
    p.add_argument("--workers", type=int, metavar="N",
                   help="serve with N worker processes on one port, 1 to 10 (default: "
                        "FUNCTIONS_WORKER_PROCESS_COUNT, else 1); see README: Worker processes")
    p.add_argument("--production", action="store_true",
                   default=os.environ.get("FUNCPY_PRODUCTION", "").lower() in ("1", "true"),
                   help="production mode: keys enforced, no reload, env-only settings, JSON logs")
    # -- Core Tools' flags ------------------------------------------------------------------
    p.add_argument("-t", "--timeout", type=int, metavar="SECONDS",
                   help="seconds to wait for the host to start (Core Tools' flag; func-py "
                        "starts without waiting, so it is accepted and has no effect)")
    _flag(p, "--useHttps", "--use-https", dest="use_https",
          help="serve HTTPS (with --cert, else a self-signed localhost certificate)")
    p.add_argument("--cert", metavar="FILE.pfx", help="with --useHttps: a PKCS#12 file with "
                   "the certificate, its chain and private key")
    p.add_argument("--password", metavar="PASSWORD|FILE",
                   help="with --cert: the pfx password, or a file that holds it")
    p.add_argument("--user-log-level", dest="user_log_level", metavar="LEVEL",
                   help=f"the lowest level of function (user) logs shown: "
                        f"{', '.join(USER_LOG_LEVELS)}")
    _flag(p, "--enable-json-output", dest="enable_json_output",
          help="write logs as JSON lines (the format production writes)")
    p.add_argument("--json-output-file", dest="json_output_file", metavar="FILE",
                   help="append the JSON log lines to FILE (the console stays readable)")
    p.add_argument("--language-worker", dest="language_worker", metavar="ARGS",
                   help="arguments for a Python worker process (Core Tools' flag; func-py runs "
                        "the app in its own process, so they are not applied)")
    _flag(p, "--no-build", dest="no_build", help=".NET only (ignored)")
    _flag(p, "--dotnet-isolated-debug", dest="dotnet_isolated_debug", help=".NET only (ignored)")
    p.add_argument("--runtime", metavar="default|inproc6|inproc8",
                   help="which .NET host to start (.NET only; ignored)")
    p.add_argument("--debug", nargs="?", const="", metavar="[HOST:]PORT",
                   help="listen for a debugger (debugpy) on PORT, loopback unless HOST is "
                        "given; alone: 127.0.0.1:9091, where VS Code's \"Attach to Python "
                        "Functions\" connects (Core Tools 2.x's `--debug VSCode|VS` is "
                        "accepted and ignored)")
    p.add_argument("--debug-wait", dest="debug_wait", action="store_true",
                   help="wait for the debugger to attach before loading the app (on "
                        "--debug's address, else languageWorkers__python__arguments' debugpy "
                        "--listen, else 127.0.0.1:9091)")
    _flag(p, "--offline", dest="offline", help="no network (func-py never needs one)")
    for language in LANGUAGE_FLAGS:
        p.add_argument(language, dest="languages", action="append_const", const=language,
                       help=argparse.SUPPRESS)


def normalize_argv(argv: Sequence[str]) -> list[str]:
    """Core Tools' documented `--language-worker -- "-m debugpy ..."`: argparse reads `--` as
    the end of the flags, so the value is attached to the flag here."""
    out: list[str] = []
    items = list(argv)
    i = 0
    while i < len(items):
        arg = items[i]
        if arg == "--language-worker" and i + 1 < len(items):
            j = i + 2 if items[i + 1] == "--" and i + 2 < len(items) else i + 1
            out.append(f"--language-worker={items[j]}")
            i = j + 1
            continue
        out.append(arg)
        i += 1
    return out


def ignored_flags(args: argparse.Namespace) -> list[str]:
    """The Core Tools flags given that change nothing here, as they were given."""
    ignored = []
    if args.timeout is not None:
        ignored.append(f"--timeout {args.timeout}")
    if args.language_worker is not None:
        ignored.append(f"--language-worker {args.language_worker!r}")
    for dest, flag in (("no_build", "--no-build"), ("dotnet_isolated_debug",
                                                    "--dotnet-isolated-debug"),
                       ("offline", "--offline")):
        if getattr(args, dest):
            ignored.append(flag)
    if args.runtime is not None:
        ignored.append(f"--runtime {args.runtime}")
    if args.debug is not None and args.debug.strip().lower() in CORE_TOOLS_DEBUG_TARGETS:
        ignored.append(f"--debug {args.debug}")
    ignored.extend(lang for lang in args.languages or () if lang != "--python")
    return ignored


def user_log_level(args: argparse.Namespace) -> tuple[str | None, str | None]:
    """(level, warning): `--user-log-level`, else FUNCTIONS_USER_LOG_LEVEL, as Core Tools reads
    them (case-insensitive; a value that is not a level is ignored, with a warning here)."""
    raw = args.user_log_level or os.environ.get("FUNCTIONS_USER_LOG_LEVEL") or None
    if raw is None:
        return None, None
    for level in USER_LOG_LEVELS:
        if raw.strip().lower() == level.lower():
            return level, None
    return None, (f"--user-log-level {raw!r} is not a level ({', '.join(USER_LOG_LEVELS)}); "
                  "ignored")
