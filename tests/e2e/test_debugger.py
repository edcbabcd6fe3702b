"""Debugging through the real `func-py start --debug`: a Debug Adapter Protocol client written
here attaches to debugpy as VS Code does, sets a breakpoint, triggers the function, and checks
where it stopped. Each trigger kind runs its user code in a different place (a pool thread,
the event loop, the SDK's orchestrator replay), so each is hit once."""

from __future__ import annotations

import json
import re
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from tests.conftest import APPS
from tests.harness import STARTED, HostProcess, run_start, wait_until

T = TypeVar("T")
LISTENING = re.compile(r"Debugger listening on 127\.0\.0\.1:(\d+) \(attach with VS Code's ")
DURABLE = "/runtime/webhooks/durabletask"
DEADLINE = 30.0  # debugpy's adapter is a second process; this machine is shared
POOL = r"func_\d+"  # the invoker's threads (sync functions), started after listen()
LOOP = "MainThread"  # async functions and orchestrator generators run on the event loop


class Dap:
    """A DAP client: `Content-Length: N\\r\\n\\r\\n{json}` messages over TCP, read by a thread
    into a list that waiters search (and take from) under a condition."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE)
        self.sock.settimeout(None)
        self.seq = 0
        self.inbox: list[dict[str, Any]] = []
        self.cond = threading.Condition()
        self.closed = False
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        stream = self.sock.makefile("rb")
        try:
            while True:
                length = 0
                while (line := stream.readline()) not in (b"\r\n", b""):
                    name, _, value = line.decode().partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value)
                if not line:
                    break
                message = json.loads(stream.read(length))
                with self.cond:
                    self.inbox.append(message)
                    self.cond.notify_all()
        except OSError:
            pass
        finally:
            with self.cond:
                self.closed = True
                self.cond.notify_all()

    def send(self, command: str, **arguments: Any) -> int:
        self.seq += 1
        data = json.dumps({"seq": self.seq, "type": "request", "command": command,
                           "arguments": arguments}).encode()
        self.sock.sendall(b"Content-Length: %d\r\n\r\n%s" % (len(data), data))
        return self.seq

    def take(self, match: Callable[[dict[str, Any]], bool], what: str) -> dict[str, Any]:
        deadline = time.monotonic() + DEADLINE
        with self.cond:
            while True:
                for i, message in enumerate(self.inbox):
                    if match(message):
                        return self.inbox.pop(i)
                left = deadline - time.monotonic()
                if left <= 0 or self.closed:
                    raise AssertionError(f"no {what} from debugpy; got {self.inbox}")
                self.cond.wait(left)

    def response(self, seq: int) -> dict[str, Any]:
        r = self.take(lambda m: m["type"] == "response" and m["request_seq"] == seq,
                      f"response to request {seq}")
        assert r["success"], r
        return r.get("body") or {}

    def request(self, command: str, **arguments: Any) -> dict[str, Any]:
        return self.response(self.send(command, **arguments))

    def event(self, name: str) -> dict[str, Any]:
        return self.take(lambda m: m["type"] == "event" and m["event"] == name,
                         f"{name!r} event").get("body") or {}

    def attach(self, breakpoints: dict[Path, list[int]] | None = None) -> None:
        """VS Code's order: initialize, attach, (initialized) breakpoints, configurationDone;
        debugpy answers the attach only after configurationDone."""
        self.request("initialize", clientID="func-py-tests", adapterID="debugpy",
                     pathFormat="path", linesStartAt1=True, columnsStartAt1=True)
        attach = self.send("attach", justMyCode=True)
        self.event("initialized")
        for path, lines in (breakpoints or {}).items():
            self.set_breakpoints(path, lines)
        self.request("configurationDone")
        self.response(attach)

    def set_breakpoints(self, path: Path, lines: list[int]) -> None:
        self.request("setBreakpoints", source={"path": str(path)}, lines=lines,
                     breakpoints=[{"line": n} for n in lines])

    def close(self) -> None:
        try:
            self.request("disconnect", terminateDebuggee=False)
        finally:
            self.sock.close()


def marker_line(path: Path, marker: str) -> int:
    lines = path.read_text().splitlines()
    return next(n for n, text in enumerate(lines, 1) if text.endswith(f"# BP:{marker}"))


def hit(dap: Dap, path: Path, marker: str, trigger: Callable[[], T],
        thread_name: str | None = None) -> T:
    """Break on the marked line, run `trigger` on another thread (an HTTP call blocks until
    the function returns), check the stop (and the thread's name when given), clear the
    breakpoint and continue."""
    line = marker_line(path, marker)
    dap.set_breakpoints(path, [line])
    with ThreadPoolExecutor(1) as pool:
        result = pool.submit(trigger)
        stopped = dap.event("stopped")
        assert stopped["reason"] == "breakpoint", stopped
        thread = stopped["threadId"]
        frame = dap.request("stackTrace", threadId=thread, startFrame=0, levels=1)[
            "stackFrames"][0]
        assert (frame["line"], Path(frame["source"]["path"])) == (line, path), frame
        if thread_name is not None:
            names = {t["id"]: t["name"] for t in dap.request("threads")["threads"]}
            assert re.fullmatch(thread_name, names[thread]), names[thread]
        dap.set_breakpoints(path, [])  # an orchestrator replays: it must not stop again
        dap.request("continue", threadId=thread)
        return result.result(timeout=DEADLINE)


def copy_app(dest: Path) -> Path:
    shutil.copytree(APPS / "debug", dest, ignore=shutil.ignore_patterns(".func-py",
                                                                          "__pycache__"))
    return dest.resolve()


def debug_port(host: HostProcess) -> int:
    return int(host.wait_for_log(LISTENING, timeout=DEADLINE).group(1))


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[HostProcess, Dap, Path]]:
    tmp = tmp_path_factory.mktemp("debug")
    app = copy_app(tmp / "app")
    with HostProcess(app, "--no-reload", "--debug", "127.0.0.1:0",
                     log_path=tmp / "host.log") as host:
        dap = Dap(debug_port(host))
        dap.attach()
        try:
            yield host, dap, app / "function_app.py"
        finally:
            dap.close()


def get(host: HostProcess, path: str) -> str:
    r = httpx.get(host.url(path), timeout=DEADLINE + 10)
    assert r.status_code == 200, r.text
    return r.text


def run_orchestration(host: HostProcess, word: str) -> str:
    r = httpx.post(host.url(f"{DURABLE}/orchestrators/shouting"), json=word, timeout=10)
    assert r.status_code == 202, r.text
    return str(r.json()["id"])


def output_of(host: HostProcess, instance: str) -> Any:
    def done() -> dict[str, Any] | None:
        body = httpx.get(host.url(f"{DURABLE}/instances/{instance}"), timeout=10).json()
        return body if body["runtimeStatus"] in ("Completed", "Failed") else None

    status = wait_until(done, DEADLINE, what=f"instance {instance} to finish")
    assert status["runtimeStatus"] == "Completed", status
    return status["output"]


def test_the_ready_lines_vs_code_waits_for_and_one_listening_line(session: Any) -> None:
    host, _, _ = session
    out = host.output
    assert len(LISTENING.findall(out)) == 1
    # Core Tools' order: the worker line, the function list, then the host lock after start.
    worker = out.index("] Worker process started and initialized.\n")
    assert out.index("Debugger listening on") < worker < out.index("\nFunctions:\n")
    lock = re.search(r"\] Host lock lease acquired by instance ID '([0-9A-F]{32})'\.\n", out)
    assert lock is not None and lock.start() > STARTED.search(out).start()  # type: ignore


def test_a_breakpoint_in_a_sync_http_function_stops_its_pool_thread(session: Any) -> None:
    host, dap, source = session
    assert hit(dap, source, "sync", lambda: get(host, "/api/sync?name=dbg"),
               POOL) == "sync dbg"


def test_a_breakpoint_in_an_async_http_function_stops_the_loop(session: Any) -> None:
    host, dap, source = session
    assert hit(dap, source, "async", lambda: get(host, "/api/async?name=dbg"),
               LOOP) == "async dbg"


def test_a_breakpoint_in_an_activity(session: Any) -> None:
    host, dap, source = session
    instance = hit(dap, source, "activity", lambda: run_orchestration(host, "act"), POOL)
    assert output_of(host, instance) == "ACT!"


def test_a_breakpoint_in_an_orchestrator_generator(session: Any) -> None:
    host, dap, source = session
    instance = hit(dap, source, "orchestrator", lambda: run_orchestration(host, "orch"),
                   LOOP)
    assert output_of(host, instance) == "ORCH!"


def test_a_breakpoint_in_a_timer_run_through_the_admin_api(session: Any) -> None:
    host, dap, source = session
    offset = len(host.output)

    def run_timer() -> int:
        return httpx.post(host.url("/admin/functions/yearly"), json={"input": ""},
                          timeout=10).status_code

    assert hit(dap, source, "timer", run_timer, POOL) == 202
    host.wait_for_log(r"Executed 'Functions\.yearly' \(Succeeded", DEADLINE, after=offset)


def test_breakpoints_bind_to_the_code_a_hot_reload_imports(tmp_path: Path) -> None:
    """The address comes from local.settings.json here, as `func start` users write it."""
    app = copy_app(tmp_path / "app")
    settings = app / "local.settings.json"
    values = json.loads(settings.read_text())
    values["Values"]["languageWorkers:python:arguments"] = "-m debugpy --listen 127.0.0.1:0"
    settings.write_text(json.dumps(values))
    source = app / "function_app.py"
    with HostProcess(app, log_path=tmp_path / "host.log") as host:
        dap = Dap(debug_port(host))
        try:
            line = marker_line(source, "edited")
            dap.attach({source: [line]})  # set before the edit, kept across it
            offset = len(host.output)
            source.write_text(source.read_text().replace('return "before"', 'return "after"'))
            host.wait_for_log(r"Reloaded after a change to function_app\.py", DEADLINE,
                              after=offset)
            with ThreadPoolExecutor(1) as pool:
                answer = pool.submit(get, host, "/api/edited")
                stopped = dap.event("stopped")
                frame = dap.request("stackTrace", threadId=stopped["threadId"], levels=1)[
                    "stackFrames"][0]
                assert frame["line"] == line
                dap.set_breakpoints(source, [])
                dap.request("continue", threadId=stopped["threadId"])
                assert answer.result(timeout=DEADLINE) == "after"
            # An edit that moves the function: a breakpoint set on its new line binds too.
            offset = len(host.output)
            source.write_text(source.read_text().replace(
                '@app.route(route="edited")', '# moved down\n\n@app.route(route="edited")'
            ).replace('return "after"', 'return "moved"'))
            host.wait_for_log(r"Reloaded after a change to function_app\.py", DEADLINE,
                              after=offset)
            assert marker_line(source, "edited") == line + 2
            assert hit(dap, source, "edited", lambda: get(host, "/api/edited")) == "moved"
        finally:
            dap.close()


def test_debug_wait_holds_the_host_until_a_debugger_attaches(tmp_path: Path) -> None:
    app = copy_app(tmp_path / "app")
    source = app / "function_app.py"
    host = HostProcess(app, "--no-reload", "--debug", "127.0.0.1:0", "--debug-wait",
                       log_path=tmp_path / "host.log").start(wait=False)
    try:
        waiting = host.wait_for_log(r"Waiting for a debugger to attach on 127\.0\.0\.1:(\d+) "
                                    r"before loading the app\.\.\.", DEADLINE)
        out = host.output
        # VS Code attaches once it sees the worker line: it must come before the wait.
        assert out.index("Worker process started and initialized.") < waiting.start()
        assert "Functions:" not in out and not STARTED.search(out)
        dap = Dap(int(waiting.group(1)))
        try:
            # Set before the app is imported: it binds when the module loads.
            dap.attach({source: [marker_line(source, "sync")]})
            host.port = int(host.wait_for_log(STARTED, DEADLINE).group(1))
            assert host.output.index("Debugger attached.") < STARTED.search(host.output).start()
            assert hit(dap, source, "sync", lambda: get(host, "/api/sync")) == "sync world"
        finally:
            dap.close()
    finally:
        host.stop()


# -- refusals ----------------------------------------------------------------------------------


@pytest.fixture()
def busy_port() -> Iterator[int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


def test_a_debug_port_in_use_names_the_port_and_the_flag(tmp_path: Path, busy_port: int) -> None:
    result = run_start(copy_app(tmp_path / "app"), "--debug", str(busy_port))
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"func-py: error: Debugger port {busy_port} is unavailable (from --debug)" \
        in result.stderr


def test_a_debug_port_in_use_names_the_setting(tmp_path: Path, busy_port: int) -> None:
    vscode = f"/home/me/.vscode/extensions/ms-python.debugpy/bundled/libs/debugpy --listen " \
             f"127.0.0.1:{busy_port}"
    result = run_start(copy_app(tmp_path / "app"),
                       env={"languageWorkers__python__arguments": vscode})
    assert result.returncode == 1, result.stdout + result.stderr
    assert (f"Debugger port {busy_port} is unavailable (from the environment variable "
            "languageWorkers__python__arguments)") in result.stderr


def test_production_refuses_the_debug_flags(tmp_path: Path) -> None:
    result = run_start(copy_app(tmp_path / "app"), "--production", "--debug", "9091")
    assert result.returncode == 1
    assert "--debug and --debug-wait are refused in production" in result.stderr
    assert "Debugger listening" not in result.stdout
