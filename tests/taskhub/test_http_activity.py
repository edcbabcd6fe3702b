"""call_http's built-in activity (host/taskhub/http_activity.py) against a real HTTP server on
loopback: the SDK's httpRequest JSON in, the extension's DurableHttpResponse JSON (or a failure
reason) out."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from funcpy.host.taskhub.history import EventType, WorkItem
from funcpy.host.taskhub.http_activity import (
    HTTP_ACTIVITY,
    HttpActivity,
    HttpCallFailed,
    is_http_activity,
    new_client,
    parse_request,
    perform,
)

RELEASE = threading.Event()  # lets /hang answer when the test is over
GATE_ENTERED, GATE_OPEN = threading.Event(), threading.Event()  # /gate: the test lets it answer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _send(self, status: int, body: bytes, headers: Sequence[tuple[str, str]] = (),
              chunked: bool = False) -> None:
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(0, len(body), 1000):
                part = body[i:i + 1000]
                self.wfile.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
            return
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path = self.path.split("?", 1)[0]
        if path == "/json":
            self._send(200, b'{"a": [1, 2]}', [("Content-Type", "application/json")])
        elif path == "/missing":
            self._send(404, b"no such thing", [("Content-Type", "text/plain")])
        elif path == "/multi":
            self._send(200, b"", [("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"),
                                  ("X-One", "x")])
        elif path == "/echo":
            echo = {"method": self.command, "path": self.path, "body": body.decode(),
                    "headers": {k.lower(): v for k, v in self.headers.items()}}
            self._send(201, json.dumps(echo).encode(), [("Content-Type", "application/json")])
        elif path == "/redirect":
            self._send(302, b"", [("Location", "/json")])
        elif path == "/big":
            self._send(200, b"x" * 5000, chunked="chunked" in self.path)
        elif path == "/latin1":
            self._send(200, "café".encode("latin-1"), [("Content-Type",
                                                        "text/plain; charset=iso-8859-1")])
        elif path == "/gate":
            GATE_ENTERED.set()
            GATE_OPEN.wait(30)
            self._send(200, b"through")
        elif path == "/hang":
            RELEASE.wait(30)
            self._send(200, b"late")
        else:
            self._send(500, b"unexpected path")

    do_GET = do_POST = do_PUT = do_DELETE = _handle


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    RELEASE.clear()
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    RELEASE.set()
    GATE_OPEN.set()
    srv.shutdown()
    srv.server_close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def request(method: str, uri: str, content: str | None = None,
            headers: dict[str, Any] | None = None, **extra: Any) -> str:
    """The work item input the lead's scheduler writes: the action's httpRequest as JSON."""
    return json.dumps({"method": method, "uri": uri, "content": content, "headers": headers,
                       **extra})


def call(input_text: str, timeout: float = 10.0, max_bytes: int = 16 * 1024 * 1024
         ) -> dict[str, Any]:
    async def go() -> str:
        async with new_client() as client:
            return await perform(client, parse_request(input_text), timeout, max_bytes)

    return dict(json.loads(asyncio.run(go())))


def failure(input_text: str, **kw: Any) -> str:
    with pytest.raises(HttpCallFailed) as info:
        call(input_text, **kw)
    return str(info.value)


def test_name_is_matched_case_insensitively() -> None:
    assert is_http_activity("BuiltIn::HttpActivity")
    assert is_http_activity("builtin::httpactivity")
    assert not is_http_activity("HttpActivity")


def test_200_json(server: str) -> None:
    out = call(request("GET", f"{server}/json"))
    assert out["statusCode"] == 200
    assert json.loads(out["content"]) == {"a": [1, 2]}
    assert out["headers"]["Content-Type"] == "application/json"
    assert out["headers"]["Content-Length"] == "13"


def test_404_is_a_result_with_its_body(server: str) -> None:
    out = call(request("GET", f"{server}/missing"))
    assert out["statusCode"] == 404
    assert out["content"] == "no such thing"


def test_a_header_sent_twice_is_a_list(server: str) -> None:
    out = call(request("GET", f"{server}/multi"))
    assert out["headers"]["Set-Cookie"] == ["a=1", "b=2"]
    assert out["headers"]["X-One"] == "x"
    assert out["content"] == ""


def test_json_content_and_headers_are_sent(server: str) -> None:
    # What the SDK sends for content={"k": 1}: json.dumps'd, with the caller's headers.
    out = call(request("post", f"{server}/echo?q=1", json.dumps({"k": 1}),
                       {"Content-Type": "application/json", "X-Many": ["1", "2"]}))
    assert out["statusCode"] == 201
    echo = json.loads(out["content"])
    assert echo["method"] == "POST"
    assert echo["path"] == "/echo?q=1"
    assert json.loads(echo["body"]) == {"k": 1}
    assert echo["headers"]["content-type"] == "application/json"
    # No httpx defaults: the request carries what the orchestrator asked for.
    assert "user-agent" not in echo["headers"]
    assert "accept-encoding" not in echo["headers"]


def test_raw_string_content_is_sent_as_is_as_text_plain(server: str) -> None:
    # is_raw_str=True: the SDK passes the string unquoted; .NET's StringContent labels it.
    echo = json.loads(call(request("PUT", f"{server}/echo", "plain <text> ü"))["content"])
    assert echo["body"] == "plain <text> ü"
    assert echo["headers"]["content-type"] == "text/plain; charset=utf-8"


def test_no_content_sends_no_body(server: str) -> None:
    echo = json.loads(call(request("DELETE", f"{server}/echo"))["content"])
    assert echo["body"] == ""
    assert "content-type" not in echo["headers"]


def test_redirects_are_followed(server: str) -> None:
    out = call(request("GET", f"{server}/redirect"))
    assert out["statusCode"] == 200
    assert json.loads(out["content"]) == {"a": [1, 2]}


def test_the_declared_charset_decodes_the_content(server: str) -> None:
    assert call(request("GET", f"{server}/latin1"))["content"] == "café"


def test_connection_refused_fails_naming_method_and_uri() -> None:
    uri = f"http://127.0.0.1:{free_port()}/x"
    assert failure(request("GET", uri + "?sig=secret")) == \
        f"call_http GET {uri} failed: connection refused"


def test_an_unresolvable_host_fails() -> None:
    reason = failure(request("GET", "http://no-such-host.invalid/x"))
    assert reason.startswith("call_http GET http://no-such-host.invalid/x failed: the host "
                             "name could not be resolved")


def test_no_answer_in_time_fails(server: str) -> None:
    assert failure(request("GET", f"{server}/hang"), timeout=0.3) == \
        f"call_http GET {server}/hang failed: no response within 0.3 s"


def test_a_token_source_is_refused() -> None:
    reason = failure(request("GET", "https://management.azure.com/subscriptions",
                             tokenSource={"resource": "https://management.core.windows.net",
                                          "kind": "AzureManagedIdentity"}))
    assert reason.startswith("call_http GET https://management.azure.com/subscriptions failed:"
                             " it asks for a managed identity token (resource "
                             "'https://management.core.windows.net')")
    assert "'Authorization' header" in reason


@pytest.mark.parametrize("how", ["length", "chunked"])
def test_a_body_over_the_cap_fails(server: str, how: str) -> None:
    reason = failure(request("GET", f"{server}/big?{how}"), max_bytes=4096)
    assert reason.startswith(f"call_http GET {server}/big failed: the response body is larger "
                             "than the 4096 bytes call_http accepts")
    assert call(request("GET", f"{server}/big?{how}"), max_bytes=5000)["content"] == "x" * 5000


@pytest.mark.parametrize("uri", ["", "relative/path", "ftp://example.com/f"])
def test_a_uri_that_is_not_absolute_http_fails(uri: str) -> None:
    assert "not an absolute http or https URI" in failure(request("GET", uri))


def test_the_activity_answers_with_task_events_and_logs_no_secrets(
        server: str, caplog: pytest.LogCaptureFixture) -> None:
    async def go() -> list[dict[str, Any]]:
        http = HttpActivity(lambda: 1_700_000_000.0)
        try:
            items = [WorkItem("i", "x", 3, HTTP_ACTIVITY,
                              request("GET", f"{server}/echo?sig=hush",
                                      headers={"Authorization": "Bearer s3cret"})),
                     WorkItem("i", "x", 4, "builtin::httpactivity",
                              request("GET", f"http://127.0.0.1:{free_port()}/gone?sig=hush")),
                     WorkItem("i", "x", 5, HTTP_ACTIVITY, "not json")]
            return [await http.run(item, None) for item in items]
        finally:
            await http.aclose()

    with caplog.at_level(logging.DEBUG):
        done, refused, broken = asyncio.run(go())
    assert done["EventType"] == EventType.TaskCompleted and done["TaskScheduledId"] == 3
    result = json.loads(done["Result"])
    assert result["statusCode"] == 201
    assert json.loads(result["content"])["headers"]["authorization"] == "Bearer s3cret"
    assert refused["EventType"] == EventType.TaskFailed and refused["TaskScheduledId"] == 4
    assert refused["Reason"].endswith("/gone failed: connection refused")
    assert json.loads(refused["Details"])["message"] == refused["Reason"]
    assert broken["EventType"] == EventType.TaskFailed
    assert "not JSON" in broken["Reason"]
    text = caplog.text
    assert f"Executing '{HTTP_ACTIVITY}' (Reason='call_http GET {server}/echo'" in text
    assert f"Executed '{HTTP_ACTIVITY}' (Succeeded" in text
    assert f"Executed '{HTTP_ACTIVITY}' (Failed" in text
    assert "s3cret" not in text and "hush" not in text  # nor httpx's own request line


def test_a_closed_activity_opens_a_new_client(server: str) -> None:
    async def go() -> tuple[str, str]:
        http = HttpActivity(lambda: 0.0)
        item = WorkItem("i", "x", 1, HTTP_ACTIVITY, request("GET", f"{server}/json"))
        first = await http.run(item, None)
        await http.aclose()
        second = await http.run(item, None)
        await http.aclose()
        return first["Result"], second["Result"]

    first, second = asyncio.run(go())
    assert json.loads(first)["statusCode"] == json.loads(second)["statusCode"] == 200


def test_closing_waits_for_the_requests_in_flight(server: str) -> None:
    async def go() -> tuple[dict[str, Any], bool, bool]:
        http = HttpActivity(lambda: 0.0)
        item = WorkItem("i", "x", 1, HTTP_ACTIVITY, request("GET", f"{server}/gate"))
        running = asyncio.ensure_future(http.run(item, None))
        assert await asyncio.to_thread(GATE_ENTERED.wait, 10)
        await http.aclose()  # the stop's grace ran out: the request keeps its connection
        open_while_running = http._client is not None
        GATE_OPEN.set()
        done = await asyncio.wait_for(running, 10)
        return done, open_while_running, http._client is None

    done, open_while_running, closed_after = asyncio.run(go())
    assert json.loads(done["Result"])["content"] == "through"
    assert open_while_running and closed_after


def test_the_orchestration_trace_is_carried_to_the_called_service(server: str) -> None:
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

    async def go() -> list[dict[str, Any]]:
        http = HttpActivity(lambda: 0.0)
        try:
            echo = f"{server}/echo"
            items = [WorkItem("i", "x", 1, HTTP_ACTIVITY, request("GET", echo), parent, "k=v"),
                     WorkItem("i", "x", 2, HTTP_ACTIVITY, request(
                         "GET", echo, headers={"traceparent": "00-" + "1" * 32 + "-" + "2" * 16
                                               + "-00"}), parent),
                     WorkItem("i", "x", 3, HTTP_ACTIVITY, request("GET", echo))]
            answers = [await http.run(item, None) for item in items]
        finally:
            await http.aclose()
        return [json.loads(json.loads(a["Result"])["content"])["headers"] for a in answers]

    child, own, untraced = asyncio.run(go())
    version, trace_id, span_id, flags = child["traceparent"].split("-")
    # A child span of the episode's: same trace and sampling, a new span id.
    assert (version, trace_id, flags) == ("00", "0af7651916cd43dd8448eb211c80319c", "01")
    assert span_id != "b7ad6b7169203331" and len(span_id) == 16
    assert child["tracestate"] == "k=v"
    assert own["traceparent"] == "00-" + "1" * 32 + "-" + "2" * 16 + "-00"  # the caller's wins
    assert "traceparent" not in untraced
