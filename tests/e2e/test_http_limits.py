"""HTTP at the edges, through the real `func-py start`: request heads are bounded in size,
header count and the time taken to send them (431 and 408, Kestrel's defaults, overridable),
normal requests are not affected, and a response never arrives before the log lines of the
invocation that produced it."""

from __future__ import annotations

import re
import select
import shutil
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import APPS
from tests.harness import HostProcess

HEAD_TIMEOUT = 1.0


def _app(tmp: Path) -> Path:
    return Path(shutil.copytree(APPS / "stopping", tmp / "app",
                                ignore=shutil.ignore_patterns(".func-py", "__pycache__")))


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostProcess]:
    tmp = tmp_path_factory.mktemp("limits")
    env = {"FUNCPY_REQUEST_HEADERS_TIMEOUT_SECONDS": str(HEAD_TIMEOUT)}
    with HostProcess(_app(tmp), "--no-reload", env=env, log_path=tmp / "host.log") as h:
        yield h


def _connect(host: HostProcess) -> socket.socket:
    assert host.port is not None
    sock = socket.create_connection(("127.0.0.1", host.port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _read_all(sock: socket.socket, deadline: float) -> bytes:
    """What the server sends until it closes the connection (fails at `deadline`)."""
    data = b""
    while True:
        left = deadline - time.monotonic()
        assert left > 0, f"the server kept the connection open; got {data[:200]!r}"
        sock.settimeout(left)
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk


def _request(host: HostProcess, head: bytes) -> bytes:
    with _connect(host) as sock:
        sock.sendall(head)
        return _read_all(sock, time.monotonic() + 10)


def _get(path: str, headers: list[tuple[str, str]]) -> bytes:
    lines = [f"GET {path} HTTP/1.1", "Host: localhost", *(f"{k}: {v}" for k, v in headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def test_a_head_sent_a_byte_at_a_time_is_cut_off_with_408(host: HostProcess) -> None:
    with _connect(host) as sock:
        sock.sendall(b"GET /api/logline/1 HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
        started = time.monotonic()
        deadline = started + HEAD_TIMEOUT + 3
        answer = b""
        while time.monotonic() < deadline:
            # The client's pace (a byte every 0.1 s), not a wait for the server.
            readable, _, _ = select.select([sock], [], [], 0.1)
            if readable:
                answer = _read_all(sock, deadline)
                break
            try:
                sock.sendall(b"a")
            except (BrokenPipeError, ConnectionResetError):
                break
        took = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
    assert b"connection: close" in answer.lower()
    # (The server's clock starts at its accept, a moment before or after ours.)
    assert HEAD_TIMEOUT - 0.2 <= took < HEAD_TIMEOUT + 2, f"closed after {took:.1f}s"


def test_a_connection_that_sends_nothing_is_closed(host: HostProcess) -> None:
    with _connect(host) as sock:
        started = time.monotonic()
        assert _read_all(sock, started + HEAD_TIMEOUT + 3) == b""  # closed, no answer
        assert time.monotonic() - started >= HEAD_TIMEOUT - 0.2


def test_a_100_kb_header_gets_431(host: HostProcess) -> None:
    answer = _request(host, _get("/api/logline/1", [("X-Big", "a" * 100_000)]))
    assert answer.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n"), answer[:200]


def test_a_head_over_32_kb_in_many_headers_gets_431(host: HostProcess) -> None:
    headers = [(f"X-H{i}", "b" * 500) for i in range(70)]  # 70 headers, about 35 KB
    answer = _request(host, _get("/api/logline/1", headers))
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]


def test_2000_headers_get_431(host: HostProcess) -> None:
    answer = _request(host, _get("/api/logline/1", [(f"X-N{i}", "1") for i in range(2000)]))
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
    assert b"more than 100 request headers" in answer


def test_requests_within_the_limits_are_served(host: HostProcess) -> None:
    with host.client() as c:
        # 98 headers (httpx adds 5), a 30 KB header, kept-alive requests, a large body.
        many = {f"x-h{i}": "v" for i in range(93)}
        assert c.get("/api/logline/1", headers=many).status_code == 200
        big = {"x-big": "c" * 30_000}
        assert c.get("/api/logline/2", headers=big).status_code == 200
        for i in range(20):
            assert c.get(f"/api/logline/{i}").status_code == 200
        r = c.post("/admin/functions/logline", content=b"x" * 2_000_000)
        assert r.status_code in (400, 202)  # answered (not 431): the body is not head
    # Pipelined requests arriving in one read, the last one's head split across reads.
    one = _get("/api/logline/7", [])
    with _connect(host) as sock:
        sock.sendall(one * 3 + one[:20])
        sock.sendall(one[20:] + _get("/api/logline/8", [("Connection", "close")]))
        answer = _read_all(sock, time.monotonic() + 10)
    assert answer.count(b"HTTP/1.1 200 OK") == 5, answer[:500]


def test_the_limits_are_settings(tmp_path: Path) -> None:
    env = {"FUNCPY_MAX_REQUEST_HEADER_COUNT": "10", "FUNCPY_MAX_REQUEST_HEADER_BYTES": "2048"}
    with HostProcess(_app(tmp_path), "--no-reload", env=env,
                     log_path=tmp_path / "host.log") as h, h.client() as c:
        assert c.get("/api/logline/1", headers={f"x-h{i}": "v" for i in range(5)}
                     ).status_code == 200
        assert c.get("/api/logline/1", headers={f"x-h{i}": "v" for i in range(12)}
                     ).status_code == 431
        assert c.get("/api/logline/1", headers={"x-big": "d" * 3000}).status_code == 431


@pytest.mark.parametrize("path", ["logline", "logline-async"])
def test_a_response_arrives_after_its_invocation_s_log_lines(host: HostProcess,
                                                              path: str) -> None:
    fn = path.replace("-", "_")
    with host.client() as c:
        for n in range(50):
            r = c.get(f"/api/{path}/{n}")
            assert r.status_code == 200
            inv = r.text
            out = host.output  # read once, now: the response has arrived
            assert f"logline {n} from {inv}\n" in out, f"request {n}: user line missing"
            assert re.search(rf"Executed 'Functions\.{fn}' \(Succeeded, Id={inv}, ", out), \
                f"request {n}: Executed line missing"
