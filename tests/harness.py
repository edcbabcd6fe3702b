"""Runs the real `func-py start` as a subprocess on a free loopback port, for end-to-end tests.

Output goes to a file (never a pipe that could fill up); tests wait on log lines or HTTP answers
with deadlines, never with fixed sleeps.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx

FUNC_PY = str(Path(sys.executable).with_name("func-py"))
STARTED = re.compile(r"Host started in \d+ms: http://localhost:(\d+)/")


def wait_until(check: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02,
               what: str = "condition") -> Any:
    """Poll `check` until it returns something truthy; fail with `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    last_exc: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except Exception as exc:
            last_exc = exc
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}"
                         + (f" (last error: {last_exc!r})" if last_exc else ""))


class HostProcess:
    def __init__(self, app_dir: Path, *args: str, env: Mapping[str, str] | None = None,
                 log_path: Path | None = None) -> None:
        self.app_dir = Path(app_dir)
        self.args = list(args)
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.log_path = log_path or self.app_dir / ".func-py-test.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.port: int | None = None

    def start(self, wait: bool = True, timeout: float = 30.0) -> HostProcess:
        self._log = open(self.log_path, "wb")
        self._offset = 0
        cmd = [FUNC_PY, "start", "--port", "0", *self.args]
        self.proc = subprocess.Popen(cmd, cwd=self.app_dir, env=self.env, stdout=self._log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        if wait:
            m = self.wait_for_log(STARTED, timeout=timeout)
            self.port = int(m.group(1))
        return self

    @property
    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_log(self, pattern: str | re.Pattern[str], timeout: float = 10.0,
                     after: int = 0) -> re.Match[str]:
        rx = re.compile(pattern) if isinstance(pattern, str) else pattern

        def check() -> re.Match[str] | None:
            m = rx.search(self.output, after)
            if m is None and self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"func-py exited with {self.proc.returncode}:\n{self.output}")
            return m

        try:
            return wait_until(check, timeout, what=f"log line {rx.pattern!r}")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n--- output ---\n{self.output}") from None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path.lstrip('/')}"

    def client(self, **kw: Any) -> httpx.Client:
        return httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=10.0, **kw)

    def wait_exit(self, timeout: float = 15.0) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode

    def __enter__(self) -> HostProcess:
        return self.start() if self.proc is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def run_start(app_dir: Path, *args: str, env: Mapping[str, str] | None = None,
              timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
    """Run `func-py start` to completion with stdout and stderr kept apart: for apps the host
    must refuse to start (it exits by itself; `timeout` fails a host that starts instead)."""
    return subprocess.run(
        [FUNC_PY, "start", "--port", "0", "--no-reload", *args], cwd=app_dir,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}, capture_output=True,
        text=True, stdin=subprocess.DEVNULL, timeout=timeout,
    )
