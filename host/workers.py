"""Worker processes, the child's side: `func-py start --workers N` (or the setting
FUNCTIONS_WORKER_PROCESS_COUNT) makes the started process a supervisor (host/supervisor.py) of
N children, each a full host listening on the same port with SO_REUSEPORT. The kernel spreads
new connections over the listening workers by a hash of their addresses, whichever worker is
busy. (One socket shared by all, accepted by whoever wakes first, was tried: a worker's event
loop accepts every waiting connection at each wake-up, so a burst of keep-alive connections
could all land on one worker, and a 2-worker benchmark ran at 1.1x instead of 1.9x.)

A child learns who it is from the environment the supervisor gives it (read once, then removed,
so that programs the app starts do not believe they are workers). What differs in a child:

- it binds its own SO_REUSEPORT socket on the supervisor's port;
- its log lines carry `[worker I]` (Core Tools' ready lines and the banner come once, from the
  supervisor and worker 0);
- on an SQLite task hub only worker 0 runs the durable engine, the timers and the queue
  listeners: the hub serves one consumer (its host lock), and the other workers write to it
  as the durable client and the queue output binding only. On PostgreSQL every worker runs
  everything, as separate hosts sharing one hub do (partition leases, timer claims);
- it tells the supervisor when it serves, through a pipe whose end-of-file also says it died.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from funcpy.host.runtime import Runtime

INDEX_VAR = "FUNCPY_WORKER_INDEX"
COUNT_VAR = "FUNCPY_WORKER_COUNT"
PORT_VAR = "FUNCPY_WORKER_PORT"
READY_FD_VAR = "FUNCPY_WORKER_READY_FD"
PIDS_FILE_VAR = "FUNCPY_WORKER_PIDS_FILE"
PARENT_VAR = "FUNCPY_WORKER_PARENT"
CHILD_VARS = (INDEX_VAR, COUNT_VAR, PORT_VAR, READY_FD_VAR, PIDS_FILE_VAR, PARENT_VAR)
PR_SET_PDEATHSIG = 1


def _stop_with(parent: int) -> None:
    """SIGTERM (a drain) when the supervisor dies, even by `kill -9` (Linux's prctl; elsewhere
    the worker outlives it). The check after it covers a supervisor gone before the call."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if parent and os.getppid() != parent:
        os.kill(os.getpid(), signal.SIGTERM)


@dataclass
class Worker:
    """This process, when it is one of a supervisor's workers."""

    index: int
    count: int
    port: int
    ready_fd: int | None
    pids_file: str | None

    @classmethod
    def from_environ(cls, environ: MutableMapping[str, str]) -> Worker | None:
        if INDEX_VAR not in environ:
            return None
        values = {name: environ.pop(name, "") for name in CHILD_VARS}
        ready = int(values[READY_FD_VAR]) if values[READY_FD_VAR] else None
        worker = cls(int(values[INDEX_VAR]), int(values[COUNT_VAR]),
                     int(values[PORT_VAR]), ready, values[PIDS_FILE_VAR] or None)
        _stop_with(int(values[PARENT_VAR] or 0))
        # Nothing this process starts needs it (and a fork would keep the pipe open).
        if ready is not None:
            os.set_inheritable(ready, False)
        return worker

    def ready(self) -> None:
        """Tell the supervisor this worker serves (once)."""
        if self.ready_fd is None:
            return
        try:
            os.write(self.ready_fd, b"ready\n")
        except OSError:
            pass  # the supervisor is gone; this worker stops on its own signal

    def runs_engine(self, runtime: Runtime) -> bool:
        """Whether this worker runs the task hub's consumers (see the module docstring)."""
        if self.index == 0:
            return True
        try:
            return runtime.taskhub_settings().provider == "postgres"
        except Exception:  # worker 0 reports bad settings; this one stays client-only
            return False

    def serve_only(self, runtime: Runtime) -> None:
        """Keep HTTP only: no durable engine, timers or queue listeners in this process. The
        durable client (runtime.durable.client()) and the queue output writer need no running
        service, so they keep working; worker 0 picks their messages up from the hub."""
        runtime.services = [s for s in runtime.services if s is runtime.http]

    def tag_log_lines(self) -> None:
        """`[worker I]` after each console line's timestamp; `"worker": I` in JSON lines."""
        from funcpy.host import logs

        logs.tag_worker(self.index)


_worker: Worker | None = None


def become(worker: Worker | None) -> None:
    """Record who this process is, for the status endpoint and the banner."""
    global _worker
    _worker = worker


def current() -> Worker | None:
    return _worker


def processes_status(workers: int) -> dict[str, Any]:
    """`/admin/host/status` "processes": how many serve the app, which one answered, and every
    worker's pid as the supervisor last wrote them (null for one being restarted)."""
    me = _worker
    pid = os.getpid()
    if me is None:
        return {"count": workers, "index": 0, "pid": pid, "pids": [pid]}
    pids: list[int | None] = []
    if me.pids_file is not None:
        try:
            with open(me.pids_file, encoding="utf-8") as f:
                pids = json.load(f)
        except (OSError, ValueError):
            pids = []
    return {"count": me.count, "index": me.index, "pid": pid, "pids": pids,
            "supervisor": os.getppid()}
