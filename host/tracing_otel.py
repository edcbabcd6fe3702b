"""OpenTelemetry spans for invocations and orchestrations (optional: `pip install func-py[otel]`).

Switched on as Functions' OpenTelemetry mode is: host.json `"telemetryMode": "openTelemetry"`
plus an exporter, OTLP (OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, the
SDK's other OTEL_* variables apply) and/or Azure Monitor (APPLICATIONINSIGHTS_CONNECTION_STRING
with azure-monitor-opentelemetry installed). Without an exporter nothing is exported, as in
Azure. FUNCPY_OTEL_TEST_FILE=path is for func-py's own tests: spans as JSON lines in that file.

Spans (every invocation a SERVER span, with the host's `faas.*` attributes):
- HTTP: `{METHOD} /{route}`, with `http.request.method`, `http.route`, `url.*`, `server.*`,
  `user_agent.original`, `http.response.status_code`, `faas.coldstart` on the first request;
- an orchestrator episode: `orchestration:{name}`; an activity: `activity:{name}`, with DTFx's
  `durabletask.*` attributes (distributed tracing V2 names);
- other triggers: the function's name;
- starting an orchestration: a PRODUCER span `create_orchestration:{name}`, child of the caller
  and parent of the orchestration's episodes.

The ids of each span are the ones host/tracing.py chose (and showed to the function as
`context.trace_context`, and stamped on the work it scheduled): a small id generator hands them
to the SDK while the span starts.
"""

from __future__ import annotations

import contextvars
import json
import os
import threading
import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from funcpy.host.logs import log
from funcpy.host.routing import join_route
from funcpy.host.tracing import SpanRef, child_of, new_root

if TYPE_CHECKING:
    from funcpy.host.index import FunctionInfo

_PRESET: contextvars.ContextVar[tuple[int, int] | None] = contextvars.ContextVar(
    "funcpy_preset_ids", default=None)
TEST_FILE = "FUNCPY_OTEL_TEST_FILE"


def available(api_only: bool = False) -> bool:
    try:
        import opentelemetry.context
        import opentelemetry.trace

        if not api_only:
            import opentelemetry.sdk.trace  # noqa: F401
    except ImportError:
        return False
    return True


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("func-py")
    except PackageNotFoundError:
        return "0"


def setup(mode: str, route_prefix: str, environ: Mapping[str, str], app_name: str) -> Any:
    """A `Spans` when spans are to be exported, else None (saying why when the app seems to
    want them)."""
    otlp = environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") \
        or environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    if mode.strip().lower() != "opentelemetry":
        if otlp:
            log.info("OTEL_EXPORTER_OTLP_ENDPOINT is set, but host.json has no \"telemetryMode\":"
                     " \"openTelemetry\": func-py exports no spans (nor does Azure).")
        return None
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        log.info("OpenTelemetry: OTEL_SDK_DISABLED=true, no spans are exported.")
        return None
    if not available():
        log.warning("host.json asks for OpenTelemetry, but opentelemetry-sdk is not installed: "
                    "no spans are exported (pip install 'func-py[otel]').")
        return None
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider

    processors, names = _processors(environ, otlp)
    if not processors:
        log.warning("host.json asks for OpenTelemetry, but no exporter is set "
                    "(OTEL_EXPORTER_OTLP_ENDPOINT or APPLICATIONINSIGHTS_CONNECTION_STRING): "
                    "no spans are exported.")
        return None
    version = _version()
    base = Resource.create({})
    extra: dict[str, Any] = {"process.pid": os.getpid(), "faas.version": version,
                             "service.version": version}
    if str(base.attributes.get("service.name", "")).startswith("unknown_service"):
        extra["service.name"] = environ.get("WEBSITE_SITE_NAME") or app_name
    resource = base.merge(Resource({k: v for k, v in extra.items()
                                    if k == "service.name" or k not in base.attributes}))
    provider = TracerProvider(resource=resource, id_generator=_preset_ids())
    for p in processors:
        provider.add_span_processor(p)
    # The global provider: user spans (and instrumentations) export through the same pipeline.
    trace.set_tracer_provider(provider)
    instance = str(resource.attributes.get("service.instance.id") or uuid.uuid4())
    log.info("OpenTelemetry: func-py exports spans to %s.", ", ".join(names))
    return Spans(provider.get_tracer("func-py", version), route_prefix, instance)


def _processors(environ: Mapping[str, str], otlp: str | None) -> tuple[list[Any], list[str]]:
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    processors: list[Any] = []
    names: list[str] = []
    if otlp:
        protocol = (environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
                    or environ.get("OTEL_EXPORTER_OTLP_PROTOCOL") or "http/protobuf").strip()
        try:
            if protocol == "grpc":
                from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
                    OTLPSpanExporter,
                )
            else:
                from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # type: ignore[assignment]
                    OTLPSpanExporter,
                )
            # The exporter reads the endpoint, headers and timeout from OTEL_* itself.
            processors.append(BatchSpanProcessor(OTLPSpanExporter()))
            names.append(f"OTLP ({protocol}) at {otlp}")
        except ImportError:
            package = "grpc" if protocol == "grpc" else "http"
            log.warning("OTLP export needs opentelemetry-exporter-otlp-proto-%s "
                        "(pip install 'func-py[otel]'); no spans go to %s.", package, otlp)
    connection = environ.get("APPLICATIONINSIGHTS_CONNECTION_STRING")
    if connection:
        try:
            from azure.monitor.opentelemetry.exporter import (  # type: ignore[import-not-found]
                AzureMonitorTraceExporter,
            )

            processors.append(BatchSpanProcessor(
                AzureMonitorTraceExporter(connection_string=connection)))
            names.append("Azure Monitor")
        except ImportError:
            log.warning("APPLICATIONINSIGHTS_CONNECTION_STRING is set, but Azure Monitor export "
                        "needs azure-monitor-opentelemetry (pip install it).")
    test_file = environ.get(TEST_FILE)
    if test_file:
        # Written at once (not batched): func-py's tests read the file while the host runs.
        processors.append(SimpleSpanProcessor(_json_lines_exporter(test_file)))
        names.append(f"{test_file} (tests)")
    return processors, names


def _preset_ids() -> Any:
    from opentelemetry.sdk.trace.id_generator import IdGenerator, RandomIdGenerator

    class PresetIds(IdGenerator):
        """The ids host/tracing.py chose, for the span starting now; random ones otherwise
        (user spans)."""

        def __init__(self) -> None:
            self._random = RandomIdGenerator()

        def generate_span_id(self) -> int:
            preset = _PRESET.get()
            return preset[1] if preset is not None else self._random.generate_span_id()

        def generate_trace_id(self) -> int:
            preset = _PRESET.get()
            return preset[0] if preset is not None else self._random.generate_trace_id()

    return PresetIds()


def _remote_parent(ref: SpanRef) -> Any:
    """An OpenTelemetry context whose current span is `ref`'s parent (empty for a root)."""
    from opentelemetry import context, trace
    from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, TraceState

    if ref.parent_id is None:
        return context.Context()
    state = TraceState.from_header([ref.state]) if ref.state else None
    return trace.set_span_in_context(NonRecordingSpan(SpanContext(
        int(ref.trace_id, 16), int(ref.parent_id, 16), is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED if ref.sampled else TraceFlags.DEFAULT),
        trace_state=state)))


class Spans:
    def __init__(self, tracer: Any, route_prefix: str, instance: str) -> None:
        from opentelemetry.trace import SpanKind

        self.tracer = tracer
        self.route_prefix = route_prefix
        self.instance = instance
        self.cold = True
        self._server, self._producer = SpanKind.SERVER, SpanKind.PRODUCER

    def _start(self, name: str, ref: SpanRef, kind: Any,
               attributes: Mapping[str, Any]) -> tuple[Any, SpanRef]:
        token = _PRESET.set((int(ref.trace_id, 16), int(ref.span_id, 16)))
        try:
            span = self.tracer.start_span(name, context=_remote_parent(ref), kind=kind,
                                          attributes=attributes, record_exception=False,
                                          set_status_on_exception=False)
        finally:
            _PRESET.reset(token)
        # The sampler has the last word on the sampled flag (a root's, or a custom sampler's).
        sampled = bool(span.get_span_context().trace_flags.sampled)
        return span, ref if sampled == ref.sampled else ref._replace(sampled=sampled)

    def begin(self, fn: FunctionInfo, ref: SpanRef, invocation_id: str, value: Any) -> Traced:
        from opentelemetry import context, trace

        trigger = fn.trigger_type
        attrs: dict[str, Any] = {"faas.name": fn.name,
                                 "faas.trigger": "http" if trigger == "httpTrigger" else trigger,
                                 "faas.invocation_id": invocation_id,
                                 "faas.instance": self.instance}
        if ref.attributes:
            attrs.update(ref.attributes)
        durable = attrs.get("durabletask.task.name")
        if trigger == "httpTrigger":
            name = self._http(fn, value, attrs)
        elif trigger == "orchestrationTrigger" and durable:
            name = f"orchestration:{durable}"
        elif trigger == "activityTrigger" and durable:
            name = f"activity:{durable}"
        else:
            name = fn.name
        span, ref = self._start(name, ref, self._server, attrs)
        token = context.attach(trace.set_span_in_context(span))
        return Traced(span, ref, token, trigger == "httpTrigger")

    def _http(self, fn: FunctionInfo, request: Any, attrs: dict[str, Any]) -> str:
        route = "/" + join_route(self.route_prefix, str(fn.trigger.get("route") or fn.name))
        method = str(getattr(request, "method", "") or "").upper()
        attrs["http.request.method"] = method
        attrs["http.route"] = route
        url = urlsplit(str(getattr(request, "url", "") or ""))
        # No query: Azure's OpenTelemetry mode redacts it (keys travel as ?code=).
        attrs["url.scheme"], attrs["url.path"] = url.scheme, url.path
        if url.hostname:
            attrs["server.address"] = url.hostname
            attrs["server.port"] = url.port or (443 if url.scheme == "https" else 80)
        headers = getattr(request, "headers", None)
        agent = headers.get("user-agent") if headers is not None else None
        if agent:
            attrs["user_agent.original"] = agent
        if self.cold:
            self.cold = False
            attrs["faas.coldstart"] = True
        return f"{method} {route}"

    def create_orchestration(self, parent: SpanRef | None, name: str, instance_id: str,
                             execution_id: str) -> tuple[SpanRef, Any]:
        ref = child_of(parent) if parent is not None else new_root(True)
        span, ref = self._start(f"create_orchestration:{name}", ref, self._producer, {
            "durabletask.type": "orchestration", "durabletask.task.name": name,
            "durabletask.task.instance_id": instance_id,
            "durabletask.task.execution_id": execution_id})
        return ref, span.end


def _status_of(value: Any, outputs: Mapping[str, Any] | None) -> int:
    """The HTTP status the client gets: the returned response's, or the http output's, or the
    host's empty 200."""
    for candidate in (value, *(outputs or {}).values()):
        status = getattr(candidate, "status_code", None)
        if isinstance(status, int):
            return status
    return 200


class Traced:
    """An invocation's exported span, current (attached) while the function runs."""

    __slots__ = ("http", "span", "token", "traced")

    def __init__(self, traced: Any, span: SpanRef, token: Any, http: bool) -> None:
        self.traced, self.span, self.token, self.http = traced, span, token, http

    def close(self, value: Any = None, outputs: Mapping[str, Any] | None = None,
              error: BaseException | None = None) -> None:
        from opentelemetry import context
        from opentelemetry.trace import Status, StatusCode

        otel = self.traced
        if self.http:
            status = 500 if error is not None else _status_of(value, outputs)
            otel.set_attribute("http.response.status_code", status)
            if status >= 500 and error is None:
                otel.set_status(Status(StatusCode.ERROR))
        if error is not None:
            otel.record_exception(error)
            otel.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))
        context.detach(self.token)
        otel.end()


class Attached:
    """Spans off: the invocation's span only made current (not recorded), so the durable
    SDK's client sends it as the `traceparent` of the orchestrations it starts."""

    __slots__ = ("span", "token")

    def __init__(self, span: SpanRef, token: Any) -> None:
        self.span, self.token = span, token

    def close(self, value: Any = None, outputs: Mapping[str, Any] | None = None,
              error: BaseException | None = None) -> None:
        from opentelemetry import context

        context.detach(self.token)


def attach_only(ref: SpanRef) -> Attached:
    from opentelemetry import context, trace
    from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, TraceState

    state = TraceState.from_header([ref.state]) if ref.state else None
    span = NonRecordingSpan(SpanContext(
        int(ref.trace_id, 16), int(ref.span_id, 16), is_remote=False,
        trace_flags=TraceFlags(TraceFlags.SAMPLED if ref.sampled else TraceFlags.DEFAULT),
        trace_state=state))
    return Attached(ref, context.attach(trace.set_span_in_context(span)))


def _json_lines_exporter(path: str) -> Any:
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

    class JsonLinesExporter(SpanExporter):
        """For func-py's tests only (FUNCPY_OTEL_TEST_FILE): each finished span as one JSON
        line, appended to `path`."""

        def __init__(self) -> None:
            self._lock = threading.Lock()

        def export(self, spans: Sequence[Any]) -> Any:
            lines = "".join(json.dumps(_span_json(s)) + "\n" for s in spans)
            with self._lock, open(path, "a", encoding="utf-8") as f:
                f.write(lines)
            return SpanExportResult.SUCCESS

        def shutdown(self) -> None:
            return None

    return JsonLinesExporter()


def _span_json(span: Any) -> dict[str, Any]:
    ctx = span.get_span_context()
    return {"name": span.name, "kind": span.kind.name,
            "trace_id": f"{ctx.trace_id:032x}", "span_id": f"{ctx.span_id:016x}",
            "parent_id": f"{span.parent.span_id:016x}" if span.parent is not None else None,
            "sampled": bool(ctx.trace_flags.sampled), "start": span.start_time,
            "end": span.end_time, "status": span.status.status_code.name,
            "attributes": dict(span.attributes or {}),
            "events": [e.name for e in span.events],
            "resource": dict(span.resource.attributes)}
