"""The function listing `func-py start` prints once the app is loaded (Core Tools' format,
§3.6 of the reference), with what func-py adds: skipped and failed functions, each function's
retry policy, and why nothing loaded. And the two lines tools wait for before they attach.

VS Code's `func` task ends its background problem matcher (`$func-python-watch`) on a line
matching `Worker process started and initialized|Host lock lease acquired by instance ID`:
until one is printed, its preLaunchTask never finishes and the debugger never attaches. Core
Tools prints the first before the function list and the second after the host started.
"""

from __future__ import annotations

import os
import socket
import zlib
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from funcpy.host.runtime import Runtime


def banner(runtime: Runtime) -> str:
    index = runtime.index
    lines = ["", "Functions:", ""]
    for name in sorted(index.functions, key=str.lower):
        fn = index.functions[name]
        lines.append(f"\t{name}: {runtime.describe(fn)}")
        if name in index.disabled:
            lines.append(f"\tFunction {name} is disabled.")
        policy = runtime.retry_policy(fn)
        if policy is not None:
            lines.append(f"\t\t{policy.describe()}")
        lines.append("")
    for name, why in sorted(index.skipped.items()):
        lines.append(f"\t{name}: skipped ({why})")
        lines.append("")
    for reason in index.errors.values():
        lines.append(f"\t{reason}")
        lines.append("")
    if not index.functions:
        lines.append("\tNo functions loaded.")
        if runtime.load_error is not None:
            fix = " Saving a fix loads it." if runtime.config.reload else ""
            lines.append(f"\tThe app failed to load (the error is above).{fix}")
        lines.append("")
    if runtime.config.workers > 1:
        lines += [f"{runtime.config.workers} worker processes serve {runtime.config.base_url} "
                  "(each a host of its own: see /admin/host/status \"processes\").", ""]
    lines += [f"Dashboard: {runtime.config.base_url}/runtime/dashboard/", ""]
    return "\n".join(lines)


# Exact texts: the host's source says VS Code relies on the first to know when to attach.
WORKER_READY = "Worker process started and initialized."


def host_lock_line(environ: Mapping[str, str] | None = None) -> str:
    return f"Host lock lease acquired by instance ID '{instance_id(environ)}'."


def instance_id(environ: Mapping[str, str] | None = None) -> str:
    """WEBSITE_INSTANCE_ID when set; else what a local host shows: 32 hex digits, a hash of
    the machine name zero-padded (stable across restarts of the same machine)."""
    env = os.environ if environ is None else environ
    given = env.get("WEBSITE_INSTANCE_ID")
    if given:
        return given
    return f"{zlib.crc32(socket.gethostname().encode()):032X}"
