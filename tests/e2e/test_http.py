"""HTTP triggers through the real `func-py start`, against tests/apps/single."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest

from tests.conftest import APPS
from tests.harness import HostProcess, wait_until

BODY_LIMIT = 65_536


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostProcess]:
    log = tmp_path_factory.mktemp("single") / "host.log"
    with HostProcess(APPS / "single", "--no-reload", log_path=log,
                     env={"FUNCPY_MAX_REQUEST_BODY_BYTES": str(BODY_LIMIT)}) as h:
        yield h


def test_banner_lists_functions_with_methods_and_urls(host: HostProcess) -> None:
    out = host.output
    assert f"\techo: [POST,PUT] http://localhost:{host.port}/api/echo" in out
    assert f"\titem: [GET] http://localhost:{host.port}/api/items/{{id:int}}" in out
    assert f"\ttext: http://localhost:{host.port}/api/text" in out


def test_constraints_pick_the_route_and_sync_runs_in_the_pool(host: HostProcess) -> None:
    with host.client() as c:
        r = c.get("/api/items/5")
        assert r.status_code == 200
        assert r.json() == {"id": 5, "thread": "MainThread"}  # async: on the loop
        r = c.get("/api/items/abc")
        assert r.text.startswith("name=abc thread=func")  # sync: in the thread pool
        assert c.get("/api/items/5x").status_code == 404
        assert c.get("/api/ITEMS/7").json()["id"] == 7  # literals are case-insensitive


def test_method_mismatch_is_404_and_unknown_route_is_404(host: HostProcess) -> None:
    with host.client() as c:
        assert c.get("/api/echo").status_code == 404
        assert c.get("/api/nowhere").status_code == 404
        assert c.delete("/api/items/5").status_code == 404


def test_request_is_built_as_the_worker_builds_it(host: HostProcess) -> None:
    with host.client() as c:
        r = c.post("/api/echo?a=1&b=&a=2", content=b"hello", headers={"X-Thing": "v"})
    body = r.json()
    assert body["method"] == "POST"
    assert body["url"] == f"http://127.0.0.1:{host.port}/api/echo?a=1&b=&a=2"
    assert body["params"] == {"a": "1,2"}  # empty values dropped, repeats comma-joined
    assert body["headers"] == {"x-thing": "v"}  # names lower-cased
    assert body["body"] == "hello"
    assert r.headers["content-type"] == "application/json"


def test_malformed_json_reaches_the_function_as_bytes(host: HostProcess) -> None:
    with host.client() as c:
        r = c.post("/api/json", content=b"{not json")
        assert r.status_code == 400
        assert r.text.startswith("bad json:")
        assert c.post("/api/json", json={"k": [1, 2]}).json() == {"got": {"k": [1, 2]}}


def test_optional_default_and_catch_all_parameters(host: HostProcess) -> None:
    with host.client() as c:
        assert c.get("/api/opt").json() == {"a": "x"}
        assert c.get("/api/opt/q/r").json() == {"a": "q", "b": "r"}
        assert c.get("/api/files/a/b/c.txt").text == "rest=a/b/c.txt"
        assert c.get("/api/files").text == "rest="


def test_context_is_injected(host: HostProcess) -> None:
    with host.client() as c:
        ctx = c.get("/api/ctx").json()
    assert ctx["function_name"] == "ctx"
    assert ctx["function_directory"] == str(APPS / "single")
    assert re.fullmatch(r"00-[0-9a-f]{32}-[0-9a-f]{16}-00", ctx["trace_parent"])
    assert ctx["retry_count"] == 0
    host.wait_for_log(rf"Executed 'Functions.ctx' \(Succeeded, Id={ctx['invocation_id']}, "
                      r"Duration=\d+ms\)")


def test_exception_and_none_give_500_with_empty_body_and_a_logged_traceback(
        host: HostProcess) -> None:
    with host.client() as c:
        r = c.get("/api/boom")
        assert (r.status_code, r.content) == (500, b"")
        r = c.get("/api/none")
        assert (r.status_code, r.content) == (500, b"")
    m = host.wait_for_log(r"Executed 'Functions.boom' \(Failed, Id=[0-9a-f-]+, Duration=\d+ms\)")
    tail = host.output[m.end():]
    assert "Exception: ValueError: kaboom" in tail
    assert 'function_app.py", line' in tail and "in boom" in tail


def test_return_conversions(host: HostProcess) -> None:
    with host.client() as c:
        r = c.get("/api/text")
        assert (r.status_code, r.text) == (200, "plain text")
        assert r.headers["content-type"] == "text/plain; charset=utf-8"
        r = c.get("/api/shape")  # the host's JSON-object-with-body quirk
        assert (r.status_code, r.text, r.headers["x-shape"]) == (201, "from shape", "yes")
        r = c.get("/api/headers")
        assert (r.status_code, r.content) == (203, b"\x00\x01")
        assert r.headers["content-type"] == "application/octet-stream"
        assert r.headers["x-one"] == "1"
        # Re-written as Azure writes them (tests/e2e/test_http_parity.py has the rules).
        assert r.headers.get_list("set-cookie") == ["a=1; domain=; path=/", "b=2; domain=; path=/"]
        assert c.get("/api/html").headers["content-type"] == "text/html; charset=latin-1"


def test_user_logs_are_tied_to_their_invocation(host: HostProcess) -> None:
    with host.client() as c:
        inv = c.get("/api/user-log").text
    host.wait_for_log(rf"user_log\[{inv[:8]}\] user warning marker")
    host.wait_for_log(rf"user_log\[{inv[:8]}\] thread marker")


def test_body_over_the_limit_is_413_and_the_host_keeps_serving(host: HostProcess) -> None:
    with host.client() as c:
        r = c.post("/api/echo", content=b"x" * (BODY_LIMIT + 1))
        assert r.status_code == 413
        assert "limit" in r.text
        assert c.post("/api/echo", content=b"x" * BODY_LIMIT).json()["length"] == BODY_LIMIT


def test_home_page_and_admin_status(host: HostProcess) -> None:
    with host.client() as c:
        home = c.get("/")
        assert home.status_code == 200 and "up and running" in home.text
        status = c.get("/admin/host/status").json()
        assert status["state"] == "Running"
        assert "echo" in status["functions"] and status["errors"] == []
        assert c.get("/admin/host/ping").status_code == 200
        fn = c.get("/admin/functions/echo").json()
        assert fn["trigger"] == "httpTrigger"
        assert c.get("/admin/functions/nope").status_code == 404
        r = c.post("/admin/functions/echo", json={"input": "x"})
        assert r.status_code == 400 and "own URL" in r.json()["error"]
        assert c.post("/admin/functions/echo", content=b"{oops").status_code == 400


def test_executing_and_executed_lines(host: HostProcess) -> None:
    with host.client() as c:
        c.get("/api/text")
    host.wait_for_log(r"Executing 'Functions.text' \(Reason='This function was programmatically "
                      r"called via the host APIs.', Id=[0-9a-f-]{36}\)")


def test_concurrent_requests_all_answer(host: HostProcess) -> None:
    import concurrent.futures

    with host.client() as c, concurrent.futures.ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(lambda i: c.get(f"/api/items/{i}").json()["id"], range(64)))
    assert codes == list(range(64))
    wait_until(lambda: "Executed 'Functions.item'" in host.output, what="item log")
    json.dumps(codes)
