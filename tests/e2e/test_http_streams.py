"""HTTP streams (azurefunctions-extensions-http-fastapi) through the real `func-py start`, on
tests/apps/streams: a FastAPI Request in, the returned response sent as it is produced.

The extension is never imported into the test process itself: its registration is global,
and every other app loaded in-process would then be served as HTTP streams."""

from __future__ import annotations

import shutil
import sys
import types
from collections.abc import Iterator

import httpx
import pytest
from funcpy.triggers import http_streams

from tests.conftest import APPS
from tests.harness import HostProcess, wait_until

BODY_LIMIT = 4096
TIMEOUT = httpx.Timeout(10.0)


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostProcess]:
    log = tmp_path_factory.mktemp("streams") / "host.log"
    with HostProcess(APPS / "streams", "--no-reload", log_path=log,
                     env={"FUNCPY_MAX_REQUEST_BODY_BYTES": str(BODY_LIMIT)}) as h:
        yield h


def test_the_app_is_served_as_http_streams(host: HostProcess) -> None:
    out = host.output
    assert "HTTP streams are on (azurefunctions-extensions-http-fastapi is imported)" in out
    assert "need the app setting PYTHON_ENABLE_INIT_INDEXING=1" not in out  # it is set
    # The worker's load-time check: a func.HttpRequest trigger parameter cannot be served.
    assert ('The \'wrong_annotation\' function is in error: type of req binding in '
            'function.json "httpTrigger" does not match its Python annotation "HttpRequest"'
            ) in out
    assert ('The \'wrong_return\' function is in error: Python return annotation "HttpResponse" '
            'does not match binding type "http"') in out
    with host.client() as c:
        assert c.get("/api/wrong").status_code == 404
        assert c.get("/api/wrong_return").status_code == 404


def test_server_sent_events_arrive_as_they_are_produced(host: HostProcess) -> None:
    # The stream holds its second event until /api/release is called: the first must reach
    # the client before that, or the response is being buffered.
    seen = b""
    with httpx.Client(base_url=f"http://127.0.0.1:{host.port}", timeout=TIMEOUT) as c, \
            c.stream("GET", "/api/sse") as r:
        assert r.status_code == 200
        assert r.headers["content-type"] == "text/event-stream; charset=utf-8"
        chunks = r.iter_raw()
        while b"\n\n" not in seen:
            seen += next(chunks)  # bounded by the read timeout
        assert seen == b"data: first\n\n"
        with httpx.Client(base_url=f"http://127.0.0.1:{host.port}", timeout=TIMEOUT) as other:
            assert other.get("/api/release").json() == {"released": True}
        seen += b"".join(chunks)
    assert seen == b"data: first\n\ndata: event 0\n\ndata: event 1\n\ndata: event 2\n\n"
    # The invocation ended when the response object was returned, as in Azure.
    host.wait_for_log(r"Executed 'Functions.sse' \(Succeeded, Id=")


def test_the_request_is_the_live_fastapi_request(host: HostProcess) -> None:
    with host.client() as c:
        r = c.post("/api/items/5?a=1&a=2", content=b"hello", headers={"X-Thing": "v"})
    assert r.status_code == 201
    body = r.json()
    inv = body.pop("invocation_header")
    assert body == {"method": "POST", "path": "/api/items/5", "query": {"a": "2"},
                    "path_params": {"id": "5"}, "header": "v", "body": "hello"}
    # The header the host adds when it forwards the request, with the invocation's id.
    host.wait_for_log(rf"Executed 'Functions.echo' \(Succeeded, Id={inv},")


def test_the_body_is_read_as_it_arrives(host: HostProcess) -> None:
    def parts() -> Iterator[bytes]:
        yield b"x" * 1000
        yield b"y" * 1000

    with host.client() as c:
        r = c.post("/api/upload", content=parts())  # chunked: no Content-Length
    assert r.json() == {"bytes": 2000}


def test_bodies_over_the_limit_are_413(host: HostProcess) -> None:
    with host.client() as c:
        r = c.post("/api/upload", content=b"x" * (BODY_LIMIT + 1))  # declared: not invoked
        assert r.status_code == 413
        r = c.post("/api/upload", content=iter([b"x" * BODY_LIMIT, b"y"]))  # found reading
        assert r.status_code == 413
        assert c.post("/api/upload", content=b"x" * BODY_LIMIT).json() == {"bytes": BODY_LIMIT}


def test_sync_functions_run_in_the_pool_and_values_are_serialised_as_fastapi_does(
        host: HostProcess) -> None:
    with host.client() as c:
        assert c.get("/api/sync?name=x").text.startswith("x in func")
        r = c.get("/api/value")
        assert (r.headers["content-type"], r.json()) == ("application/json",
                                                        {"answer": 42, "items": [1, 2]})
        assert c.get("/api/text").text == '"Hello Async World!"'


@pytest.mark.parametrize(("route", "name", "what"), [
    ("none", "returns_none", "None"), ("classic", "returns_classic", "func.HttpResponse"),
])
def test_a_result_that_is_no_response_fails_the_invocation(
        host: HostProcess, route: str, name: str, what: str) -> None:
    start = len(host.output)
    with host.client() as c:
        r = c.get(f"/api/{route}")
    assert (r.status_code, r.content) == (500, b"")
    m = host.wait_for_log(rf"Executed 'Functions.{name}' \(Failed, Id=([0-9a-f-]+)",
                          after=start)
    assert f"(Succeeded, Id={m.group(1)}" not in host.output
    host.wait_for_log(rf"Exception: TypeError: function '{name}' returned {what}: with "
                      "azurefunctions-extensions-http-fastapi imported", after=start)


def test_a_stream_that_breaks_closes_the_connection_and_says_why(host: HostProcess) -> None:
    start = len(host.output)
    got = b""
    with httpx.Client(base_url=f"http://127.0.0.1:{host.port}", timeout=TIMEOUT) as c, \
            pytest.raises(httpx.RemoteProtocolError), c.stream("GET", "/api/broken") as r:
        for chunk in r.iter_raw():
            got += chunk
    assert got == b"data: one\n\n"  # what was sent before the error, then no clean end
    host.wait_for_log(r"The response of 'Functions.broken' \(Id=[0-9a-f-]+\) failed while it "
                      r"was being sent; the connection is closed\nException: ValueError: "
                      r"stream broke", after=start)
    with host.client() as c:  # the host serves on
        wait_until(lambda: c.get("/api/text").status_code == 200, what="the next request")


def test_without_init_indexing_set_the_host_warns_that_azure_needs_it(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    app = tmp_path_factory.mktemp("streams-no-setting")
    for name in ("function_app.py", "host.json"):  # no local.settings.json
        shutil.copy(APPS / "streams" / name, app / name)
    with HostProcess(app, "--no-reload", env={"PYTHON_ENABLE_INIT_INDEXING": ""}) as h:
        if sys.version_info < (3, 13):
            h.wait_for_log("HTTP streams \\(azurefunctions-extensions-http-fastapi\\) on Python "
                           "3.12 and earlier need the app setting PYTHON_ENABLE_INIT_INDEXING=1 "
                           "in Azure")
        with h.client() as c:  # served all the same
            assert c.get("/api/text").text == '"Hello Async World!"'


def test_a_false_like_init_indexing_turns_streams_off(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    # The worker's switch: the same app is then served with func.HttpRequest / HttpResponse.
    log = tmp_path_factory.mktemp("streams-off") / "host.log"
    with HostProcess(APPS / "streams", "--no-reload", log_path=log,
                     env={"PYTHON_ENABLE_INIT_INDEXING": "0"}) as h, h.client() as c:
        assert "HTTP streams are on" not in h.output
        r = c.get("/api/text")
        assert (r.text, r.headers["content-type"]) == ("Hello Async World!",
                                                      "text/plain; charset=utf-8")
        assert c.get("/api/wrong").text == "never loaded"


@pytest.fixture
def registered_extension(monkeypatch: pytest.MonkeyPatch) -> None:
    """A stand-in for azurefunctions.extensions.base with a web extension registered."""
    checker = types.SimpleNamespace(http_v2_enabled=lambda: True)
    fake = types.SimpleNamespace(HttpV2FeatureChecker=checker)
    monkeypatch.setitem(sys.modules, http_streams.EXTENSION_BASE, fake)


def test_streams_follow_the_workers_switches(registered_extension: None) -> None:
    assert http_streams.enabled({})
    assert http_streams.enabled({"PYTHON_ENABLE_INIT_INDEXING": "1"})
    for off in ("0", "false", "No"):
        assert not http_streams.enabled({"PYTHON_ENABLE_INIT_INDEXING": off})


def test_no_streams_without_the_extension(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, http_streams.EXTENSION_BASE, raising=False)
    assert not http_streams.enabled({"PYTHON_ENABLE_INIT_INDEXING": "1"})
