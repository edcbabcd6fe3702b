"""`context.call_http` end to end through the real `func-py start`, against tests/apps/call_http:
the orchestrator calls HTTP functions of its own app (a 200 and a 404, both results) and a
refused port (a failed task the orchestrator catches); a host killed between the response and
its commit makes the request again after the restart."""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import APPS
from tests.harness import FUNC_PY, HostProcess, wait_until

API = "/runtime/webhooks/durabletask"
SECRET = "e2e-call-http-secret"
HTTP = "BuiltIn::HttpActivity"


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostProcess]:
    tmp = tmp_path_factory.mktemp("call_http")
    app = copy_app(tmp)
    with HostProcess(app, "--no-reload", log_path=tmp / "host.log") as h:
        yield h


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def copy_app(tmp: Path) -> Path:
    return Path(shutil.copytree(APPS / "call_http", tmp / "app",
                                ignore=shutil.ignore_patterns(".func-py", "__pycache__")))


def finished(c: httpx.Client, iid: str) -> dict[str, Any] | None:
    r = c.get(f"{API}/instances/{iid}")
    body = r.json() if r.status_code in (200, 202) else None
    return body if body and body["runtimeStatus"] in ("Completed", "Failed", "Terminated") \
        else None


def test_call_http_results_failures_and_history(host: HostProcess) -> None:
    refused = f"http://127.0.0.1:{free_port()}/nobody/home"
    with host.client() as c:
        r = c.post("/api/orchestrators/call_http_orchestrator",
                   json={"base": f"http://127.0.0.1:{host.port}", "refused": refused + "?sig=hush"})
        assert r.status_code == 202, r.text
        iid = r.json()["id"]
        try:
            status = wait_until(lambda: finished(c, iid), 30.0, interval=0.05,
                                what=f"instance {iid} to finish")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n--- host ---\n{host.output[-4000:]}") from None
        assert status["runtimeStatus"] == "Completed", (status, host.output[-4000:])
        out = status["output"]
        assert out["ok"] == {"status": 200, "body": {"hello": "world", "authorized": True},
                             "target": "ok"}
        assert out["missing"] == {"status": 404, "body": "nothing here for 7"}
        assert out["error"].startswith(f"call_http GET {refused} failed: connection refused")

        history = c.get(f"{API}/instances/{iid}", params={"showHistory": "true"}
                        ).json()["historyEvents"]
    # The API shows each task as its completion, named after what was scheduled.
    done = [(e["EventType"], e.get("FunctionName")) for e in history
            if e["EventType"] in ("TaskCompleted", "TaskFailed")]
    assert done == [("TaskCompleted", HTTP), ("TaskCompleted", HTTP), ("TaskFailed", HTTP)]
    # The stored history: TaskScheduled named BuiltIn::HttpActivity, the request its input.
    raw = subprocess.run([FUNC_PY, "durable", "get-history", "--id", iid], cwd=host.app_dir,
                         env=host.env, capture_output=True, text=True, timeout=60,
                         stdin=subprocess.DEVNULL)
    assert raw.returncode == 0, raw.stderr
    scheduled = [e for e in json.loads(raw.stdout) if e["EventType"] == "TaskScheduled"]
    assert [e["Name"] for e in scheduled] == [HTTP] * 3
    assert [(q["method"], q["uri"]) for q in (json.loads(e["Input"]) for e in scheduled)] == [
        ("GET", f"http://127.0.0.1:{host.port}/api/target/ok"),
        ("POST", f"http://127.0.0.1:{host.port}/api/target/missing"),
        ("GET", refused + "?sig=hush")]
    log = host.output
    assert log.count(f"Executed '{HTTP}' (Succeeded") == 2
    assert f"Executed '{HTTP}' (Failed" in log
    assert SECRET not in log and "hush" not in log


class Counting(BaseHTTPRequestHandler):
    hits = 0
    lock = threading.Lock()

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        with Counting.lock:
            Counting.hits += 1
            n = Counting.hits
        body = f"hit {n}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_a_host_killed_before_the_result_is_committed_makes_the_request_again(
        tmp_path: Path) -> None:
    Counting.hits = 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), Counting)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    app = copy_app(tmp_path)
    url = f"http://127.0.0.1:{server.server_address[1]}/count"
    try:
        # Killed once the response is in, before TaskCompleted is committed.
        first = HostProcess(app, "--no-reload", env={"FUNCPY_FAULTS": "activity-finished:1"},
                            log_path=tmp_path / "first.log").start()
        try:
            with first.client() as c:
                r = c.post("/api/orchestrators/call_once", json=url)
                assert r.status_code == 202, r.text
                iid = r.json()["id"]
            assert first.wait_exit(30) == -signal.SIGKILL
        finally:
            first.stop()
        assert Counting.hits == 1
        with HostProcess(app, "--no-reload", log_path=tmp_path / "second.log") as again, \
                again.client() as c:
            status = wait_until(lambda: finished(c, iid), 30.0, interval=0.05,
                                what=f"instance {iid} to finish after the restart")
    finally:
        server.shutdown()
        server.server_close()
    # The work item was delivered again: at-least-once, like any activity.
    assert status["runtimeStatus"] == "Completed", status
    assert status["output"] == {"status": 200, "body": "hit 2"}
    assert Counting.hits == 2
