"""Trace context (host/tracing.py): W3C traceparent parsing and child spans, what the task hub
records, the invoker's `context.trace_context`, and the OpenTelemetry spans (host/tracing_otel.py)
exported to the SDK's in-memory exporter, in process."""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from funcpy.host import tracing, tracing_otel
from funcpy.host.index import FunctionInfo
from funcpy.host.invocation import InvocationError
from funcpy.host.invoke import Invoker
from funcpy.host.taskhub.client import TaskHubClient
from funcpy.host.taskhub.history import ControlMessage, WorkItem, execution_started

TRACE = "0af7651916cd43dd8448eb211c80319c"
PARENT = "b7ad6b7169203331"
HEADER = f"00-{TRACE}-{PARENT}-01"


# -- parsing and child spans ------------------------------------------------------------------

def test_a_valid_traceparent_is_the_caller_s_span() -> None:
    ref = tracing.parse(HEADER, "congo=t61rcWkgMzE")
    assert ref is not None
    assert (ref.trace_id, ref.span_id, ref.parent_id, ref.sampled, ref.state) == (
        TRACE, PARENT, None, True, "congo=t61rcWkgMzE")
    assert ref.traceparent == HEADER
    assert tracing.parse(f" 00-{TRACE}-{PARENT}-00 ").sampled is False  # type: ignore[union-attr]


@pytest.mark.parametrize("value", [
    "", "garbage", f"00-{TRACE.upper()}-{PARENT}-01",  # upper-case hex is invalid
    f"00-{'0' * 32}-{PARENT}-01", f"00-{TRACE}-{'0' * 16}-01",  # all-zero ids
    f"ff-{TRACE}-{PARENT}-01",  # version ff is forbidden
    f"00-{TRACE}-{PARENT}-01-extra",  # version 00 has exactly four fields
    f"00-{TRACE[:-1]}-{PARENT}-01", f"00-{TRACE}-{PARENT}1-01", f"00-{TRACE}-{PARENT}-1",
    f"{HEADER},{HEADER}",  # a repeated header, as the HTTP trigger joins it
])
def test_an_invalid_traceparent_is_ignored_with_its_tracestate(value: str) -> None:
    assert tracing.parse(value, "a=b") is None


def test_a_later_version_may_carry_more_fields() -> None:
    ref = tracing.parse(f"01-{TRACE}-{PARENT}-01-what-comes-next")
    assert ref is not None and ref.trace_id == TRACE


def test_a_child_keeps_the_trace_flags_and_state_with_a_new_span_id() -> None:
    parent = tracing.parse(HEADER, "a=1")
    assert parent is not None
    kids = {parent.child() for _ in range(50)}
    assert len({k.span_id for k in kids}) == 50
    for kid in kids:
        assert (kid.trace_id, kid.parent_id, kid.sampled, kid.state) == (TRACE, PARENT, True,
                                                                         "a=1")
        assert len(kid.span_id) == 16 and kid.span_id != PARENT
        assert tracing.parse(kid.traceparent) is not None


def test_a_new_trace_without_a_caller() -> None:
    a, b = tracing.child_of(None), tracing.child_of(None)
    assert a.parent_id is None and a.trace_id != b.trace_id
    assert tracing.parse(a.traceparent) is not None
    assert a.traceparent.endswith("-00")  # not sampled while no spans are exported


def test_incoming_headers() -> None:
    assert tracing.incoming({"host": "x"}) is None
    assert tracing.incoming({"traceparent": "nonsense"}) is None
    ref = tracing.incoming({"traceparent": HEADER, "tracestate": "k=v"})
    assert ref is not None and ref.trace_id == TRACE and ref.parent_id == PARENT
    assert ref.state == "k=v"


def test_a_long_tracestate_is_cut_at_whole_members() -> None:
    members = [f"k{i}={'v' * 40}" for i in range(20)]
    ref = tracing.parse(HEADER, ",".join(members))
    assert ref is not None
    assert len(ref.state) <= tracing.MAX_TRACESTATE
    assert ref.state.split(",") == members[:len(ref.state.split(","))]


# -- what the task hub records ----------------------------------------------------------------

def test_the_record_round_trips() -> None:
    ref = tracing.parse(HEADER, "a=1")
    assert ref is not None
    record = tracing.to_record(ref)
    assert record == {"TraceParent": HEADER, "TraceState": "a=1"}
    back = tracing.from_record(record)
    assert back is not None and back.traceparent == HEADER and back.state == "a=1"
    assert tracing.from_record(None) is None and tracing.from_record("x") is None


def test_execution_started_carries_the_parent_trace_context_only_when_given() -> None:
    plain = execution_started(0.0, "i", "x", "o", None)
    assert "ParentTraceContext" not in plain
    traced = execution_started(0.0, "i", "x", "o", None, trace={"TraceParent": HEADER,
                                                                 "TraceState": ""})
    assert traced["ParentTraceContext"]["TraceParent"] == HEADER


def test_work_items_carry_the_trace_and_old_payloads_still_decode() -> None:
    old = '{"i":"i1","x":"x1","t":3,"n":"hello","in":"1"}'
    item = WorkItem.decode(old)
    assert item == WorkItem("i1", "x1", 3, "hello", "1")
    assert item.traceparent is None and item.encode() == old  # unchanged without a trace
    traced = WorkItem("i1", "x1", 3, "hello", "1", HEADER, "a=1")
    assert WorkItem.decode(traced.encode()) == traced


class _Tx:
    def __init__(self, sent: list[str]) -> None:
        self.sent = sent

    def __enter__(self) -> _Tx:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def create_instance(self, record: Any, replace_statuses: Any) -> None:
        return None

    def put_message(self, queue: str, payload: str, instance_id: str) -> None:
        self.sent.append(payload)


class _Store:
    def __init__(self) -> None:
        self.sent: list[str] = []

    def transaction(self) -> _Tx:
        return _Tx(self.sent)


def _started(store: _Store) -> dict[str, Any]:
    return ControlMessage.decode(store.sent[-1]).event


def test_a_start_records_the_caller_s_span_or_a_new_trace() -> None:
    store = _Store()
    client = TaskHubClient(store, 4)
    client.start("orch", "a", trace=tracing.parse(HEADER, "s=1"))
    assert _started(store)["ParentTraceContext"] == {"TraceParent": HEADER, "TraceState": "s=1"}
    client.start("orch", "b")
    recorded = tracing.from_record(_started(store)["ParentTraceContext"])
    assert recorded is not None and recorded.trace_id != TRACE


# -- the invoker ------------------------------------------------------------------------------

def _fn(func: Any, *, is_async: bool = False, trigger_type: str = "httpTrigger",
        client: bool = False, route: str = "r") -> FunctionInfo:
    trigger = {"type": trigger_type, "name": "req", "direction": "in", "route": route}
    bindings: list[Any] = [trigger, {"type": "http", "name": "$return", "direction": "out"}]
    if client:
        bindings.append({"type": "durableClient", "name": "client", "direction": "in"})
    wants_context = "context" in inspect.signature(func).parameters
    return FunctionInfo("f", trigger, tuple(bindings), func, is_async, wants_context, ".",
                        "f.py", "f")


class _Client:
    def value(self, fn: FunctionInfo, binding: Any, invocation_id: str) -> Any:
        return "{}"


def _invoke(fn: FunctionInfo, value: Any = None, **kw: Any) -> Any:
    invoker = Invoker(timeout=None, environ={})
    invoker.add_provider("durableClient", _Client())
    try:
        return asyncio.run(invoker.invoke(fn, value, reason="test", **kw))
    finally:
        invoker.shutdown()


def test_the_context_shows_the_invocation_s_own_span() -> None:
    seen: list[Any] = []

    def user(req: Any, context: Any) -> str:
        seen.append(context.trace_context)
        return "ok"

    span = tracing.incoming({"traceparent": HEADER, "tracestate": "a=1"})
    assert span is not None
    _invoke(_fn(user), trace=span)
    assert seen[0].trace_parent == span.traceparent and seen[0].trace_state == "a=1"
    assert seen[0].attributes == {}
    _invoke(_fn(user))  # no caller: a new trace, as the host's Activity
    assert tracing.parse(seen[1].trace_parent) is not None
    assert TRACE not in seen[1].trace_parent


def test_tracing_off_costs_a_plain_function_no_hook() -> None:
    assert tracing.begin(_fn(lambda req: None), None, "i", None) is None


def test_a_durable_client_function_runs_with_its_span_current() -> None:
    """So the durable SDK's start_new sends it as traceparent (spans off)."""
    from opentelemetry import trace
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    carriers: list[dict[str, str]] = []
    seen: list[str] = []

    def user(req: Any, client: Any, context: Any) -> str:
        carrier: dict[str, str] = {}
        TraceContextTextMapPropagator().inject(carrier)
        carriers.append(carrier)
        seen.append(context.trace_context.trace_parent)
        return "ok"

    span = tracing.incoming({"traceparent": HEADER})
    _invoke(_fn(user, client=True), trace=span)
    assert carriers[0]["traceparent"] == seen[0] == span.traceparent  # type: ignore[union-attr]
    assert not trace.get_current_span().get_span_context().is_valid  # detached afterwards


# -- OpenTelemetry spans, in memory ------------------------------------------------------------

@contextmanager
def _exported() -> Iterator[Any]:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider(id_generator=tracing_otel._preset_ids())
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    saved = tracing._spans
    # Not OpenTelemetry's global provider: the test leaves no state behind.
    tracing._spans = tracing_otel.Spans(provider.get_tracer("test"), "api", "host-1")
    try:
        yield exporter
    finally:
        tracing._spans = saved
        provider.shutdown()


class _Request:
    method = "POST"
    url = "http://localhost:7071/api/r?code=secret"
    headers = {"user-agent": "tests"}


class _Response:
    status_code = 201


def test_an_http_invocation_s_span_has_the_preset_ids_and_azure_s_attributes() -> None:
    from opentelemetry import trace

    seen: list[str] = []
    seen_current: list[int] = []

    def user(req: Any, context: Any) -> _Response:
        seen.append(context.trace_context.trace_parent)
        seen_current.append(trace.get_current_span().get_span_context().span_id)
        return _Response()

    with _exported() as exporter:
        span = tracing.incoming({"traceparent": HEADER})
        _invoke(_fn(user), _Request(), trace=span)
        (server,) = [s for s in exporter.get_finished_spans() if s.name != "user-span"]
    ctx = server.get_span_context()
    assert span is not None and seen == [span.traceparent]
    assert (f"{ctx.trace_id:032x}", f"{ctx.span_id:016x}") == (TRACE, span.span_id)
    assert f"{server.parent.span_id:016x}" == PARENT and server.parent.is_remote
    assert server.name == "POST /api/r" and server.kind.name == "SERVER"
    attrs = dict(server.attributes)
    assert attrs["faas.trigger"] == "http" and attrs["faas.name"] == "f"
    assert attrs["faas.instance"] == "host-1" and attrs["faas.invocation_id"]
    assert attrs["http.request.method"] == "POST" and attrs["http.route"] == "/api/r"
    assert attrs["url.path"] == "/api/r" and "url.query" not in attrs
    assert attrs["server.address"] == "localhost" and attrs["server.port"] == 7071
    assert attrs["user_agent.original"] == "tests"
    assert attrs["http.response.status_code"] == 201
    # The function ran with its span current (a user span of the global provider, which the
    # host sets when spans are on, would nest under it).
    assert seen_current == [ctx.span_id]


def test_a_failed_invocation_s_span_is_an_error() -> None:
    def user(req: Any) -> None:
        raise ValueError("boom")

    with _exported() as exporter, pytest.raises(InvocationError):
        _invoke(_fn(user), _Request())
    (span,) = exporter.get_finished_spans()
    assert span.status.status_code.name == "ERROR"
    assert span.attributes["http.response.status_code"] == 500
    assert [e.name for e in span.events] == ["exception"]
    assert span.parent is None  # no traceparent: the root of a new trace


def test_durable_spans_are_named_after_the_work() -> None:
    ids = {"durabletask.type": "activity", "durabletask.task.name": "hello",
           "durabletask.task.instance_id": "i1", "durabletask.task.task_id": 2}
    with _exported() as exporter:
        created, end = tracing.creating_orchestration(tracing.parse(HEADER), "orch", "i1", "x1")
        end()
        activity = tracing.child_of(created).about(ids)
        _invoke(_fn(lambda req: 1, trigger_type="activityTrigger"), None, trace=activity)
        create, run = exporter.get_finished_spans()
    assert create.name == "create_orchestration:orch" and create.kind.name == "PRODUCER"
    assert f"{create.parent.span_id:016x}" == PARENT
    assert f"{create.get_span_context().span_id:016x}" == created.span_id
    assert run.name == "activity:hello" and run.parent.span_id == create.context.span_id
    assert run.attributes["durabletask.task.task_id"] == 2
    assert run.attributes["faas.trigger"] == "activityTrigger"


def test_the_test_exporter_writes_json_lines(tmp_path: Any) -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    path = tmp_path / "spans.jsonl"
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(tracing_otel._json_lines_exporter(
        str(path))))
    with provider.get_tracer("t").start_as_current_span("outer"):
        with provider.get_tracer("t").start_as_current_span("inner"):
            pass
    provider.shutdown()
    inner, outer = (json.loads(line) for line in path.read_text().splitlines())
    assert (inner["name"], outer["name"]) == ("inner", "outer")
    assert inner["parent_id"] == outer["span_id"] and outer["parent_id"] is None


class _Log:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def info(self, msg: str, *args: Any) -> None:
        self.lines.append(msg % args)

    warning = info


def test_spans_stay_off_without_telemetry_mode_or_an_exporter(
        monkeypatch: pytest.MonkeyPatch) -> None:
    said = _Log()
    monkeypatch.setattr(tracing_otel, "log", said)
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1"}
    assert tracing_otel.setup("", "api", env, "app") is None
    assert "telemetryMode" in said.lines[-1]
    assert tracing_otel.setup("openTelemetry", "api", {}, "app") is None
    assert "no exporter" in said.lines[-1]
    assert tracing_otel.setup("OpenTelemetry", "api", {**env, "OTEL_SDK_DISABLED": "true"},
                              "app") is None
    assert "OTEL_SDK_DISABLED" in said.lines[-1]


def test_python_enable_opentelemetry_makes_every_invocation_s_span_current(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from funcpy.host.settings import HostJson

    monkeypatch.setattr(tracing, "_attach_all", False)
    tracing.configure(HostJson(), {"PYTHON_ENABLE_OPENTELEMETRY": "false"}, "app")
    plain = _fn(lambda req: None)
    assert tracing.begin(plain, None, "i", None) is None
    tracing.configure(HostJson(), {"PYTHON_ENABLE_OPENTELEMETRY": "true"}, "app")
    call = tracing.begin(plain, None, "i", None)
    assert call is not None
    call.close()
    assert not tracing.enabled()  # spans need host.json's telemetryMode
