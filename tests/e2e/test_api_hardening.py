"""Hardening of the durable management API and of the client binding's RPC path (issue #9),
through a real `func-py start --production` on tests/apps/hardening: the RPC secret never
leaks and opens nothing on its own, bad ids and bad parameters are 4xx (never a spin, a 500 or
a forgotten poller), bodies are bounded, and lists are paged yet complete for the SDK and
`func-py durable get-instances`. (Non-ASCII keys: tests/e2e/test_keys.py.)

Every response the module's client sees is kept; the last test looks for the RPC secret in all
of them and in the host's whole log.
"""

from __future__ import annotations

import base64
import json
import os
import re
import select
import shutil
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from funcpy.triggers.durable_client import RPC_SECRET, RPC_USER, is_rpc_caller

from tests.conftest import APPS
from tests.e2e.test_durable_cli import durable as durable_cli
from tests.harness import HostProcess, wait_until

API = "/runtime/webhooks/durabletask"
MASTER = "hardening-master-key-0123456789"
LIMIT = 1_000_000  # FUNCPY_MAX_REQUEST_BODY_BYTES for this host


class Host:
    def __init__(self, proc: HostProcess, app: Path) -> None:
        self.proc = proc
        self.app = app
        self.seen: list[str] = []  # every response: status, headers and body
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{proc.port}", timeout=30.0,
                                 event_hooks={"response": [self._keep]})
        with proc.client() as plain:  # this one answer holds the secret by design
            self.rpc_url = plain.get("/api/rpc-url").json()["rpcBaseUrl"]
        parts = urlsplit(self.rpc_url)
        self.secret = str(parts.password)
        self.rpc_path = parts.path
        self.rpc_auth = "Basic " + base64.b64encode(f"{parts.username}:{self.secret}".encode()
                                                    ).decode()

    def _keep(self, response: httpx.Response) -> None:
        response.read()
        self.seen.append(f"{response.status_code} {dict(response.headers)} {response.text}")

    @property
    def pid(self) -> int:
        return self.proc.proc.pid  # type: ignore[union-attr]

    def api(self, method: str, path: str, *, params: dict[str, str] | None = None,
            **kw: Any) -> httpx.Response:
        """The public API, with the master key."""
        return self.http.request(method, f"{API}/{path}", params={"code": MASTER,
                                                                  **(params or {})}, **kw)

    def rpc(self, method: str, path: str, *, headers: dict[str, str] | None = None,
            **kw: Any) -> httpx.Response:
        """The RPC path, as the SDK calls it (the secret in an Authorization header)."""
        return self.http.request(method, f"{self.rpc_path}{path}", headers={
            "Authorization": self.rpc_auth, **(headers or {})}, **kw)


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Host]:
    tmp = tmp_path_factory.mktemp("hardening")
    app = tmp / "app"
    shutil.copytree(APPS / "hardening", app, ignore=shutil.ignore_patterns(".func-py",
                                                                          "__pycache__"))
    env = {"FUNCPY_MASTER_KEY": MASTER, "FUNCPY_FUNCTION_KEYS": "", "FUNCPY_SYSTEM_KEY": "",
           "FUNCPY_MAX_REQUEST_BODY_BYTES": str(LIMIT)}
    with HostProcess(app, "--production", env=env, log_path=tmp / "host.log") as proc:
        h = Host(proc, app)
        try:
            yield h
        finally:
            h.http.close()


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


# -- /proc probes and raw sockets ----------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def cpu_rate(pid: int, window: float = 1.0) -> float:
    """CPU seconds per second the host used over `window` (1.0 = one core busy)."""
    c0, t0 = cpu_seconds(pid), time.monotonic()
    time.sleep(window)
    return (cpu_seconds(pid) - c0) / (time.monotonic() - t0)


def wait_quiet(pid: int, what: str) -> None:
    # Idle, the host uses about 0.5% of a core; a spinning wait used 64%, 60 forgotten pollers
    # about 15%. Quiet means under 4% over a whole second, within a deadline.
    wait_until(lambda: cpu_rate(pid) < 0.04, timeout=20, interval=0, what=what)


def memory_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def raw_connect(port: int, head: str) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(head.encode())
    return s


def read_status(s: socket.socket) -> int:
    data = s.recv(4096)  # the status line comes in one segment
    m = re.match(rb"HTTP/1\.1 (\d{3}) ", data)
    assert m, data[:200]
    return int(m.group(1))


# -- 1. the RPC secret ---------------------------------------------------------------------------


def test_the_rpc_path_needs_this_machine_and_the_secret(host: Host) -> None:
    # The secret is in the URL's user-info (sent as Authorization), never in its path.
    assert len(host.secret) >= 32 and host.rpc_path == f"{API}/_rpc/"
    assert urlsplit(host.rpc_url).hostname == "127.0.0.1"
    assert host.rpc("GET", "instances").status_code == 200
    no_secret = host.http.get(f"{API}/_rpc/instances")
    assert no_secret.status_code == 404 and no_secret.text == ""
    wrong = host.rpc("GET", "instances", headers={"Authorization": "Basic " + base64.b64encode(
        b"funcpy:guess").decode()})
    assert wrong.status_code == 404
    # The master key opens the public API, never the RPC path.
    assert host.http.get(f"{API}/_rpc/instances", params={"code": MASTER}).status_code == 404
    # Relayed by a proxy on this machine (uvicorn trusts X-Forwarded-For from 127.0.0.1):
    # a caller from outside, even with the secret.
    relayed = host.rpc("GET", "instances", headers={"X-Forwarded-For": "203.0.113.9"})
    assert relayed.status_code == 404
    # The old secret-in-the-path form opens nothing either.
    assert host.http.get(f"{API}/_rpc/{host.secret}/instances").status_code == 404

    # The two checks side by side (this process's own secret, forged peers).
    auth = "Basic " + base64.b64encode(f"{RPC_USER}:{RPC_SECRET}".encode()).decode()
    for client, server, ok in ((("127.0.0.1", 5), ("127.0.0.1", 80), True),
                               (("::1", 5), ("::1", 80), True),
                               (("::ffff:127.0.0.1", 5), ("::", 80), True),
                               (("10.1.2.3", 5), ("10.1.2.3", 80), True),  # bound to one IP
                               (("203.0.113.9", 5), ("10.1.2.3", 80), False),
                               (("not-an-ip", 5), ("127.0.0.1", 80), False)):
        scope = {"client": client, "server": server}
        assert is_rpc_caller(scope, auth) is ok, client
        assert is_rpc_caller(scope, auth[:-2]) is False, client
    assert is_rpc_caller({"client": None, "server": None}, auth) is False


def test_sdk_errors_name_the_id_never_the_secret(host: Host) -> None:
    for bad in ("a/b", "a#b", "a?b", "x\ny", "@entity", "z" * 300):
        r = host.http.post("/api/start", json={"id": bad})
        assert r.status_code == 500, (bad, r.text)
        error = r.json()["error"]
        assert repr(bad[:100])[1:-1] in error and "invalid" in error, error
    # Nothing was started under a truncated id ('a#b' used to start 'a').
    for ghost in ("a", "x", "xy", "z" * 256):
        assert host.api("GET", f"instances/{ghost}").status_code == 404, ghost
    ok = host.http.post("/api/start", json={"id": new_id("fine"), "input": 1})
    assert ok.status_code == 200, ok.text

    # Other client methods: 'victim#x' would address 'victim' (a purge would delete it).
    victim = new_id("victim")
    assert host.http.post("/api/start", json={"id": victim}).status_code == 200
    for method, kwargs in (("purge_instance_history", {}), ("get_status", {}),
                           ("terminate", {"reason": "r"}), ("raise_event", {"event_name": "e"}),
                           ("restart", {})):
        for bad in (f"{victim}#x", f"{victim}?x", f"{victim}\n", f"{victim}/x"):
            r = host.http.post("/api/call", json={"method": method, "id": bad,
                                                  "kwargs": kwargs})
            assert r.status_code == 500, (method, bad, r.text)
            assert repr(bad)[1:-1] in r.json()["error"], r.text
    assert host.api("GET", f"instances/{victim}").status_code == 200  # still there
    r = host.http.post("/api/call", json={"method": "get_status", "id": victim})
    assert r.status_code == 200, r.text


def test_raw_rpc_and_public_calls_with_ids_the_api_cannot_carry_are_400(host: Host) -> None:
    r = host.rpc("POST", "orchestrators/echo/a/b")
    assert r.status_code == 400 and "'a/b'" in r.json()["ExceptionMessage"]
    assert host.rpc("GET", "nowhere").status_code == 404
    cases = [("POST", "orchestrators/echo/a/b", "'a/b'"),
             ("POST", "orchestrators/echo/a%2Fb", "'a/b'"),
             ("POST", "orchestrators/echo/%40x", "'@x'"),
             ("POST", "orchestrators/echo/a%5Cb", "'a\\\\b'"),
             ("POST", "orchestrators/echo/a%0Ab", "'a\\nb'"),
             ("POST", "orchestrators/echo/%C2%85", "'\\x85'"),  # a C1 control character
             ("POST", f"orchestrators/echo/{'y' * 257}", "256"),
             ("GET", "instances/a/b", "'a/b'"),
             ("DELETE", "instances/a/b", "'a/b'"),
             ("POST", "instances/a/b/terminate", "'a/b'"),
             ("POST", "instances/a/b/raiseEvent/go", "'a/b'")]
    for method, path, named in cases:
        r = host.api(method, path, json=1)
        assert r.status_code == 400, (method, path, r.status_code, r.text)
        assert named in r.json()["Message"], (path, r.text)


def test_ids_that_are_not_utf8_are_400_and_do_not_collide(host: Host) -> None:
    for method, path in (("POST", "orchestrators/echo/%FF"), ("POST", "orchestrators/echo/%FE"),
                         ("GET", "instances/%FF"), ("POST", "instances/%FE/terminate")):
        r = host.api(method, path)
        assert r.status_code == 400, (path, r.text)
        assert "not valid UTF-8" in r.json()["Message"]
    r = host.api("GET", "instances", params={"instanceIdPrefix": "\N{REPLACEMENT CHARACTER}"})
    assert r.status_code == 200 and r.json() == []  # nothing was started under U+FFFD
    bad_prefix = host.http.get(f"{API}/instances?instanceIdPrefix=%FF&code={MASTER}")
    assert bad_prefix.status_code == 400 and "query string" in bad_prefix.json()["Message"]
    body = host.api("POST", f"orchestrators/echo/{new_id('latin1')}", content=b'"caf\xe9"',
                    headers={"Content-Type": "application/json"})
    assert body.status_code == 400 and "UTF-8" in body.json()["Message"]
    # A real U+FFFD and other non-ASCII text are fine.
    iid = new_id("caf\N{LATIN SMALL LETTER E WITH ACUTE}\N{REPLACEMENT CHARACTER}")
    assert host.api("POST", f"orchestrators/echo/{iid}").status_code == 202
    got = host.api("GET", f"instances/{iid}")
    assert got.json().get("instanceId") == iid, (got.status_code, got.text)


# -- 2. waits, bodies, pages ---------------------------------------------------------------------


def test_wait_parameters_are_checked_before_anything_starts(host: Host) -> None:
    for params in ({"timeout": "nan"}, {"timeout": "inf"}, {"timeout": "-inf"},
                   {"timeout": "1e9"}, {"timeout": "-1"}, {"timeout": "231"},
                   {"timeout": "soon"}, {"timeout": "5", "pollingInterval": "nan"},
                   {"timeout": "5", "pollingInterval": "-0.5"}):
        iid = new_id("wait")
        r = host.api("POST", f"orchestrators/wait_for_go/{iid}", params=params)
        assert r.status_code == 400, (params, r.text)
        name = "pollingInterval" if "pollingInterval" in params else "timeout"
        assert name in r.json()["Message"] and "230" in r.json()["Message"], r.text
        assert host.api("GET", f"instances/{iid}").status_code == 404, params
    wait_quiet(host.pid, "the host to be idle after the refused waits")
    done = host.api("POST", "orchestrators/echo", params={"timeout": "30",
                                                          "pollingInterval": "0"}, json=7)
    assert done.status_code == 200 and done.json() == 7


def test_waits_stop_when_their_clients_disconnect(host: Host) -> None:
    assert host.proc.port is not None
    ids = [new_id("left") for _ in range(60)]
    socks = [raw_connect(host.proc.port, f"POST {API}/orchestrators/wait_for_go/{iid}?timeout="
                         f"200&pollingInterval=0.05&code={MASTER} HTTP/1.1\r\nHost: t\r\n"
                         "Content-Length: 0\r\n\r\n") for iid in ids]
    try:
        for iid in ids:  # each wait has started its instance, so it is polling now
            wait_until(lambda i=iid: host.api("GET", f"instances/{i}").status_code == 202,
                       timeout=20, what=f"instance {iid}")
    finally:
        for s in socks:
            s.close()
    wait_quiet(host.pid, "the 60 waits to stop polling once their clients left")
    for iid in ids:
        assert host.api("POST", f"instances/{iid}/terminate").status_code == 202


def test_a_declared_body_over_the_limit_is_413_before_it_is_read(host: Host) -> None:
    assert host.proc.port is not None
    for path in (f"{API}/orchestrators/echo?code={MASTER}",
                 f"{API}/instances/x/raiseEvent/go?code={MASTER}",
                 f"/admin/functions/echo?code={MASTER}",
                 "/api/start"):
        s = raw_connect(host.proc.port, f"POST {path} HTTP/1.1\r\nHost: t\r\nContent-Type: "
                                        "application/json\r\nContent-Length: 200000000\r\n\r\n")
        with s:
            assert read_status(s) == 413, path  # no body was sent at all


def test_a_chunked_body_is_cut_off_at_the_limit(host: Host) -> None:
    assert host.proc.port is not None
    chunk = b"7" * 65_536
    frame = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    for path in (f"{API}/orchestrators/echo?code={MASTER}",
                 f"/admin/functions/echo?code={MASTER}"):
        try:  # the peak RSS from here on (Linux: writing 5 to clear_refs resets VmHWM)
            Path(f"/proc/{host.pid}/clear_refs").write_text("5")
            peak_field = "VmHWM"
        except OSError:
            peak_field = "VmRSS"
        before = memory_kb(host.pid, "VmRSS")
        s = raw_connect(host.proc.port, f"POST {path} HTTP/1.1\r\nHost: t\r\nContent-Type: "
                                        "application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
        with s:
            sent = 0
            while sent < 60_000_000:  # 60 MB if the host never stops reading
                readable, writable, _ = select.select([s], [s], [], 10)
                if readable:
                    break
                assert writable, "the host neither reads nor answers"
                s.sendall(frame)
                sent += len(chunk)
            assert read_status(s) == 413, path
        assert sent < 20 * LIMIT, f"the host read {sent} bytes before refusing"
        grown = memory_kb(host.pid, peak_field) - before
        assert grown < 20_000, f"{path}: {peak_field} grew by {grown} kB"


def test_lists_are_paged_by_default_and_complete_for_the_sdk_and_the_cli(host: Host) -> None:
    prefix = new_id("bulk")
    expected = [f"{prefix}-{i:04d}" for i in range(260)]
    r = host.http.post("/api/many", json={"n": 260, "prefix": prefix}, timeout=120)
    assert r.status_code == 200, r.text

    # Public API: pages of 100 (the extension's default) and a continuation token.
    seen: list[str] = []
    sizes = []
    token = None
    while True:
        r = host.api("GET", "instances", params={"instanceIdPrefix": prefix},
                     headers={"x-ms-continuation-token": token} if token else {})
        assert r.status_code == 200, r.text
        sizes.append(len(r.json()))
        seen += [s["instanceId"] for s in r.json()]
        token = r.headers.get("x-ms-continuation-token")
        if not token:
            break
    assert sizes == [100, 100, 60] and seen == expected
    huge = host.api("GET", "instances", params={"instanceIdPrefix": prefix,
                                                "top": "99999999999999999999"})
    assert huge.status_code == 200 and len(huge.json()) == 260  # cut to 1000, no 500
    for top in ("0", "-3", "ten", "1e3"):
        bad = host.api("GET", "instances", params={"top": top})
        assert bad.status_code == 400 and "top" in bad.json()["Message"], top

    # The SDK (get_status_all / get_status_by follow no token) still gets every instance.
    listed = host.http.post("/api/listed", json={"prefix": prefix}, timeout=60).json()
    assert sorted(listed["by_prefix"]) == expected
    assert set(expected) <= set(listed["all"]) and len(listed["all"]) >= 260

    # `func-py durable get-instances` pages from the store, and following its tokens is whole.
    got: list[str] = []
    args = ["get-instances", "--top", "100"]
    for _ in range(10):
        out = durable_cli(host.app, *args)
        assert out.returncode == 0, out.stderr
        got += [i["instanceId"] for i in json.loads(out.stdout)]
        m = re.search(r"--continuation-token '?([A-Za-z0-9_=-]+)'?", out.stderr)
        if not m:
            break
        args = ["get-instances", "--top", "100", "--continuation-token", m.group(1)]
    assert set(expected) <= set(got) and len(got) == len(set(got))
    big = durable_cli(host.app, "get-instances", "--top", "99999999999999999999")
    assert big.returncode == 0 and "Traceback" not in big.stderr, big.stderr
    assert len(json.loads(big.stdout)) == len(got)


# -- last: the secret is nowhere -----------------------------------------------------------------


def test_zz_no_response_or_log_line_holds_the_rpc_secret(host: Host) -> None:
    # A few calls of its own (the module's other tests add theirs): SDK errors, RPC errors.
    assert host.http.post("/api/start", json={"id": "p/q"}).status_code == 500
    assert host.rpc("POST", "orchestrators/nope").status_code == 400
    assert host.rpc("GET", "instances/p/q").status_code == 400
    assert host.rpc("PUT", "instances/p").status_code == 405
    assert host.http.get(f"{API}/_rpc/{host.secret}/x").status_code == 404
    # Answers that carry URLs: a running instance's Location, a restart's status payload.
    waiting = new_id("zz-wait")
    assert host.api("POST", f"orchestrators/wait_for_go/{waiting}").status_code == 202
    running = host.rpc("GET", f"instances/{waiting}")
    assert running.status_code == 202
    assert running.headers["Location"].startswith(f"http://127.0.0.1:{host.proc.port}{API}/"
                                                  f"instances/{waiting}")
    done = host.http.post("/api/start", json={"id": new_id("zz-done")}).json()["id"]
    wait_until(lambda: host.api("GET", f"instances/{done}").status_code == 200, timeout=20,
               what=f"instance {done} to complete")
    restarted = host.http.post("/api/call", json={"method": "restart", "id": done})
    assert restarted.status_code == 200 and "statusQueryGetUri" in restarted.text
    assert host.api("POST", f"instances/{waiting}/terminate").status_code == 202
    forms = (host.secret, host.rpc_auth.split()[1])
    for text in host.seen:
        for form in forms:
            assert form not in text, text[:300]
    log = host.proc.output
    assert "Host started" in log
    for form in forms:
        assert form not in log
