"""What a stuck host is doing, on request, without stopping it:

- `kill -USR1 <pid>`: every asyncio task's await chain and every thread's stack, written to
  stderr by the event loop;
- `kill -USR2 <pid>`: every thread's stack, written by faulthandler from the signal itself, so
  it answers even when the event loop is blocked.

A host that serves HTTP but makes no durable progress is waiting somewhere, and only the
stacks say where.
"""

from __future__ import annotations

import asyncio
import faulthandler
import io
import signal
import sys

MARK = "=== func-py diagnostics"


def install(loop: asyncio.AbstractEventLoop) -> None:
    if not hasattr(signal, "SIGUSR1"):
        return
    faulthandler.register(signal.SIGUSR2, file=sys.stderr, all_threads=True)
    try:
        loop.add_signal_handler(signal.SIGUSR1, dump_tasks)
    except (RuntimeError, NotImplementedError, ValueError):
        pass  # not on the main thread: SIGUSR2 still dumps the threads


def dump_tasks() -> None:
    out = io.StringIO()
    tasks = sorted(asyncio.all_tasks(), key=lambda t: t.get_name())
    out.write(f"{MARK}: {len(tasks)} asyncio task(s)\n")
    for task in tasks:
        out.write(f"--- {task.get_name()}: {task.get_coro()!r}\n")
        task.print_stack(limit=12, file=out)
    out.write(f"{MARK}: threads\n")
    sys.stderr.write(out.getvalue())
    sys.stderr.flush()
    faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
    sys.stderr.write(f"{MARK}: end\n")
    sys.stderr.flush()
