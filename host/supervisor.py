"""The supervisor `func-py start` becomes with N > 1 worker processes (see host/workers.py).

It binds the port without listening (host/cli.py: it holds the port and reports one in use),
starts N children that run `func-py start` again, each listening on that port with
SO_REUSEPORT, and then only watches them:

- a child that dies (a crash, `os._exit`, SIGKILL) is logged with its exit code or signal and
  started again, after a delay that doubles while restarts keep failing quickly. New
  connections go to the workers still listening meanwhile (the ones already queued on the
  dead worker's socket are reset unless the sysctl net.ipv4.tcp_migrate_req is 1); durable
  work it had claimed goes back to the hub (SQLite: the next worker 0 takes the host lock and
  releases the claims at once; PostgreSQL: the leases expire). A child that fails before the
  host has ever started stops everything instead: the error is in its output, and retrying
  it would not help;
- SIGTERM or Ctrl+C is passed on to every child, which drains as a single host does; the
  supervisor exits once they all have, with the first non-zero status among them. A second
  signal is passed on too (the children stop at once).

The children run in a process group of their own, so a terminal's Ctrl+C reaches them only
through the supervisor (once, not twice: a second signal means "stop now"), and they get
SIGTERM if the supervisor itself is killed.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from funcpy.host.banner import host_lock_line
from funcpy.host.config import HostConfig
from funcpy.host.logs import log
from funcpy.host.workers import (
    COUNT_VAR,
    INDEX_VAR,
    PARENT_VAR,
    PIDS_FILE_VAR,
    PORT_VAR,
    READY_FD_VAR,
)
from funcpy.triggers.durable_client import RPC_SECRET_VAR

_CHILD_MAIN = "import sys; from funcpy.host.cli import main; sys.exit(main())"
FIRST_DELAY = 0.5  # seconds before restarting a child that died
MAX_DELAY = 30.0
STABLE_SECONDS = 10.0  # a child that lived this long restarts after FIRST_DELAY again


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = "an unknown signal"
        return f"was killed by signal {-code} ({name})"
    return f"exited with code {code}"


@dataclass
class Child:
    index: int
    proc: subprocess.Popen[bytes] | None = None
    ready_fd: int | None = None
    started: float = 0.0
    ready: bool = False
    delay: float = FIRST_DELAY
    restart_at: float | None = None  # when a dead child is due to start again
    buffer: bytes = field(default=b"")


class Supervisor:
    def __init__(self, config: HostConfig, sock: socket.socket, argv: Sequence[str],
                 environ: Mapping[str, str], started_at: float) -> None:
        self.config = config
        self.count = config.workers
        self.sock = sock
        self.argv = list(argv)
        # One secret for the durable client's call-backs, which any worker may receive.
        self.environ = {**environ, RPC_SECRET_VAR: secrets.token_urlsafe(32)}
        self.started_at = started_at  # perf_counter at process start, for "Host started in"
        self.children = [Child(i) for i in range(self.count)]
        self.selector = selectors.DefaultSelector()
        self.signals: list[int] = []
        self.stopping = False
        self.host_started = False
        self.exit_code = 0
        fd, self.pids_path = tempfile.mkstemp(prefix="func-py-workers-", suffix=".json")
        os.close(fd)

    # -- running ----------------------------------------------------------------------------

    def run(self) -> int:
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_w, False)
        os.set_blocking(wake_r, False)
        self.selector.register(wake_r, selectors.EVENT_READ, None)
        old_wakeup = signal.set_wakeup_fd(wake_w)
        previous = {sig: signal.signal(sig, self._on_signal)
                    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
        try:
            for child in self.children:
                self._spawn(child)
            while not (self.stopping and not self._alive()):
                self._step(wake_r)
        finally:
            signal.set_wakeup_fd(old_wakeup)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            os.close(wake_r)
            os.close(wake_w)
            with contextlib.suppress(OSError):
                os.unlink(self.pids_path)
        return self.exit_code

    def _step(self, wake_r: int) -> None:
        now = time.monotonic()
        due = [c.restart_at for c in self.children if c.restart_at is not None]
        # Poll at least twice a second: a child whose ready pipe a grandchild kept open
        # (a fork in the app) is still noticed when it dies.
        timeout = max(0.0, min([0.5, *(t - now for t in due)]))
        for key, _ in self.selector.select(timeout):
            if key.data is None:
                with contextlib.suppress(OSError):
                    os.read(wake_r, 512)  # the signal itself is in self.signals
            else:
                self._read_ready(key.data)
        while self.signals:
            sig = self.signals.pop(0)
            # A closed terminal's SIGHUP would end a worker without its drain.
            self._forward(signal.SIGTERM if sig == signal.SIGHUP else sig)
        for child in self.children:
            if child.proc is not None and child.proc.poll() is not None:
                self._reaped(child)
            elif (child.proc is None and child.restart_at is not None
                  and time.monotonic() >= child.restart_at and not self.stopping):
                self._spawn(child)

    def _on_signal(self, sig: int, frame: object) -> None:
        self.signals.append(sig)

    def _alive(self) -> bool:
        return any(c.proc is not None for c in self.children)

    # -- children ---------------------------------------------------------------------------

    def _spawn(self, child: Child) -> None:
        ready_r, ready_w = os.pipe()
        env = {**self.environ, INDEX_VAR: str(child.index), COUNT_VAR: str(self.count),
               PARENT_VAR: str(os.getpid()),
               PORT_VAR: str(self.config.port), READY_FD_VAR: str(ready_w),
               PIDS_FILE_VAR: self.pids_path}
        try:
            child.proc = subprocess.Popen(
                [sys.executable, "-c", _CHILD_MAIN, *self.argv], env=env,
                pass_fds=(ready_w,), stdin=subprocess.DEVNULL,
                process_group=0)
        finally:
            os.close(ready_w)
        child.ready_fd = ready_r
        child.started = time.monotonic()
        child.ready = False
        child.restart_at = None
        child.buffer = b""
        self.selector.register(ready_r, selectors.EVENT_READ, child)
        self._write_pids()

    def _read_ready(self, child: Child) -> None:
        assert child.ready_fd is not None
        try:
            data = os.read(child.ready_fd, 64)
        except OSError:
            data = b""
        if not data:  # end of file: the child is gone (reaped by the poll in _step)
            self._close_pipe(child)
            return
        child.buffer += data
        if b"ready\n" in child.buffer and not child.ready:
            child.ready = True
            if self.host_started:
                assert child.proc is not None
                log.info("Worker process %d is serving again (pid %d).", child.index,
                         child.proc.pid)
            elif all(c.ready for c in self.children):
                self._host_started()

    def _host_started(self) -> None:
        self.host_started = True
        config = self.config
        log.info("Host started in %dms: %s/ (hot reload %s, %d worker processes). Press "
                 "Ctrl+C to stop.", (time.perf_counter() - self.started_at) * 1000,
                 config.base_url, "on" if config.reload else "off", self.count)
        if not config.production:
            log.info("%s", host_lock_line())

    def _close_pipe(self, child: Child) -> None:
        if child.ready_fd is not None:
            self.selector.unregister(child.ready_fd)
            os.close(child.ready_fd)
            child.ready_fd = None

    def _reaped(self, child: Child) -> None:
        assert child.proc is not None
        code = child.proc.returncode
        pid = child.proc.pid
        self._close_pipe(child)
        child.proc = None
        self._write_pids()
        if self.stopping:
            if code != 0 and self.exit_code == 0:
                self.exit_code = code if code > 0 else 128 - code
            return
        if not self.host_started and code > 0:
            log.error("Worker process %d (pid %d) %s before the host started; stopping.",
                      child.index, pid, describe_exit(code))
            self.exit_code = code
            self._forward(signal.SIGTERM)
            return
        lived = time.monotonic() - child.started
        child.delay = FIRST_DELAY if lived >= STABLE_SECONDS else child.delay
        child.restart_at = time.monotonic() + child.delay
        log.error("Worker process %d (pid %d) %s; starting it again in %.1fs.",
                  child.index, pid, describe_exit(code), child.delay)
        child.delay = min(MAX_DELAY, child.delay * 2)

    def _forward(self, sig: int) -> None:
        if not self.stopping:
            self.stopping = True
            # The port is released once the workers have closed their sockets (their drain
            # begins with that), so new connections are refused, as a single host's are.
            self.sock.close()
            for child in self.children:
                child.restart_at = None
        for child in self.children:
            if child.proc is not None and child.proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    child.proc.send_signal(sig)

    def _write_pids(self) -> None:
        pids = [c.proc.pid if c.proc is not None else None for c in self.children]
        tmp = f"{self.pids_path}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(pids, f)
        os.replace(tmp, self.pids_path)
