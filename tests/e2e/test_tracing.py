"""Trace context through the real `func-py start` (tests/apps/tracing): an HTTP request's
traceparent reaches the starter's `context.trace_context`, the orchestration it starts, each
activity and the sub-orchestration's activity, one trace throughout; with OpenTelemetry on,
the exported spans form that trace (request -> create_orchestration -> episodes -> activities).
Spans go to FUNCPY_OTEL_TEST_FILE (JSON lines, test-only), or to a local OTLP/HTTP receiver."""

from __future__ import annotations

import http.server
import json
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import APPS
from tests.harness import HostProcess, wait_until

API = "/runtime/webhooks/durabletask"
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"
OTEL_ON = {"AzureFunctionsJobHost__telemetryMode": "openTelemetry"}


def _ids(traceparent: str) -> tuple[str, str, str]:
    version, trace_id, span_id, flags = traceparent.split("-")
    assert version == "00"
    return trace_id, span_id, flags


def _host(tmp: Path, env: dict[str, str] | None = None) -> HostProcess:
    app = tmp / "app"
    shutil.copytree(APPS / "tracing", app, ignore=shutil.ignore_patterns(".func-py",
                                                                         "__pycache__"))
    return HostProcess(app, "--no-reload", env=env, log_path=tmp / "host.log")


def _start(host: HostProcess, headers: dict[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """GET /api/start with `headers`; the starter's answer and the finished orchestration's
    output (what its activities reported)."""
    with host.client() as http:
        r = http.get("/api/start", headers=headers)
        assert r.status_code == 200, r.text
        started = r.json()

        def done() -> dict[str, Any] | None:
            body = http.get(f"{API}/instances/{started['id']}").json()
            assert body["runtimeStatus"] in ("Pending", "Running", "Completed"), body
            return body if body["runtimeStatus"] == "Completed" else None

        return started, wait_until(done, 20, what="the orchestration to complete")["output"]


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostProcess]:
    with _host(tmp_path_factory.mktemp("tracing")) as h:
        yield h


def test_one_trace_from_the_request_through_every_activity(host: HostProcess) -> None:
    started, output = _start(host, {"traceparent": f"00-{TRACE}-{PARENT}-01",
                                    "tracestate": "congo=t61rcWkgMzE"})
    seen = [started, output["a"], output["b"], output["sub"]]
    assert [o.get("label") for o in seen[1:]] == ["a", "b", "c"]
    spans = set()
    for o in seen:
        trace_id, span_id, flags = _ids(o["trace_parent"])
        assert (trace_id, flags) == (TRACE, "01"), o
        assert o["trace_state"] == "congo=t61rcWkgMzE"
        spans.add(span_id)
    assert len(spans) == 4 and PARENT not in spans  # each a span of its own, a child


def test_without_a_traceparent_the_starter_begins_the_trace(host: HostProcess) -> None:
    started, output = _start(host, {})
    trace_id, _, flags = _ids(started["trace_parent"])
    assert trace_id != TRACE and flags == "00"
    assert {_ids(output[k]["trace_parent"])[0] for k in ("a", "b", "sub")} == {trace_id}


def test_an_invalid_traceparent_starts_a_new_trace(host: HostProcess) -> None:
    with host.client() as http:
        r = http.get("/api/plain", headers={"traceparent": f"00-{TRACE.upper()}-{PARENT}-01",
                                            "tracestate": "a=b"})
    trace_id = _ids(r.json()["trace_parent"])[0]
    assert trace_id != TRACE and r.json()["trace_state"] == ""


def test_a_start_over_the_management_api_takes_its_caller_s_trace(host: HostProcess) -> None:
    with host.client() as http:
        r = http.post(f"{API}/orchestrators/main",
                      headers={"traceparent": f"00-{TRACE}-{PARENT}-00"})
        assert r.status_code == 202, r.text
        iid = r.json()["id"]
        body = wait_until(lambda: (b := http.get(f"{API}/instances/{iid}").json())
                          ["runtimeStatus"] == "Completed" and b, 20, what="completion")
    for k in ("a", "b", "sub"):
        assert _ids(body["output"][k]["trace_parent"])[::2] == (TRACE, "00")


# -- OpenTelemetry spans ----------------------------------------------------------------------

def _spans(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line]


def test_the_exported_spans_form_one_trace(tmp_path: Path) -> None:
    spans_file = tmp_path / "spans.jsonl"
    with _host(tmp_path, {**OTEL_ON, "FUNCPY_OTEL_TEST_FILE": str(spans_file)}) as h:
        h.wait_for_log(r"OpenTelemetry: func-py exports spans to .*spans\.jsonl")
        started, output = _start(h, {"traceparent": f"00-{TRACE}-{PARENT}-01"})
    spans = _spans(spans_file)
    assert {s["trace_id"] for s in spans} == {TRACE}
    by_id = {s["span_id"]: s for s in spans}
    assert len(by_id) == len(spans)  # every span id is its own

    def named(name: str) -> list[dict[str, Any]]:
        return [s for s in spans if s["name"] == name]

    (request,) = named("GET /api/start")
    assert request["parent_id"] == PARENT and request["kind"] == "SERVER"
    assert request["span_id"] == _ids(started["trace_parent"])[1]  # what the function saw
    attrs = request["attributes"]
    assert attrs["faas.trigger"] == "http" and attrs["faas.name"] == "starter"
    assert attrs["http.route"] == "/api/start" and attrs["http.response.status_code"] == 200
    assert attrs["faas.invocation_id"] and attrs["faas.coldstart"] is True

    (create,) = named("create_orchestration:main")
    assert create["parent_id"] == request["span_id"] and create["kind"] == "PRODUCER"
    main = named("orchestration:main")
    assert len(main) == 4  # start, after a, after b, after the sub-orchestration
    assert {s["parent_id"] for s in main} == {create["span_id"]}
    assert {s["attributes"]["durabletask.task.instance_id"] for s in main} == {started["id"]}
    sub = named("orchestration:sub")
    assert len(sub) == 2 and {s["parent_id"] for s in sub} <= {s["span_id"] for s in main}

    activities = named("activity:where")
    assert len(activities) == 3
    reported = {_ids(output[k]["trace_parent"])[1]: k for k in ("a", "b", "sub")}
    assert {s["span_id"] for s in activities} == set(reported)  # the functions' own spans
    for s in activities:
        parent = by_id[s["parent_id"]]
        expected = "orchestration:sub" if reported[s["span_id"]] == "sub" else \
            "orchestration:main"
        assert parent["name"] == expected
        assert s["attributes"]["durabletask.type"] == "activity"
        assert s["attributes"]["faas.trigger"] == "activityTrigger"
    # Every span leads up to the request's caller: one tree.
    for s in spans:
        node = s
        while node["parent_id"] != PARENT:
            node = by_id[node["parent_id"]]
    resource = spans[0]["resource"]
    assert resource["service.name"] == "app" and "faas.version" in resource


class _Receiver(http.server.BaseHTTPRequestHandler):
    bodies: list[tuple[str, str, bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        self.bodies.append((self.path, self.headers.get("content-type", ""), body))
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return None


def test_spans_go_to_an_otlp_endpoint(tmp_path: Path) -> None:
    pytest.importorskip("opentelemetry.exporter.otlp.proto.http")
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = {**OTEL_ON, "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{server.server_port}",
           "OTEL_BSP_SCHEDULE_DELAY": "50", "OTEL_SERVICE_NAME": "tracing-test"}
    try:
        with _host(tmp_path, env) as h:
            with h.client() as http_client:
                http_client.get("/api/plain", headers={"traceparent": f"00-{TRACE}-{PARENT}-01"})
            path, media, body = wait_until(lambda: _Receiver.bodies and _Receiver.bodies[0],
                                           10, what="an OTLP export")
    finally:
        server.shutdown()
    assert path == "/v1/traces" and media == "application/x-protobuf"
    request = ExportTraceServiceRequest.FromString(body)
    (resource_spans,) = request.resource_spans
    service = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
    assert service["service.name"] == "tracing-test"
    (span,) = [s for scope in resource_spans.scope_spans for s in scope.spans]
    assert span.name == "GET /api/plain" and span.trace_id.hex() == TRACE
    assert span.parent_span_id.hex() == PARENT
