"""Trace context: the W3C `traceparent`/`tracestate` of each invocation, carried through the
task hub, and the invoker's hook for OpenTelemetry spans.

Every invocation runs in a span of its own: a child of the caller's span (the HTTP request's
`traceparent`, the orchestration episode that scheduled an activity), or the root of a new trace
(timers, queue messages, requests without a `traceparent`), as the host's `Activity` is. Its ids
are what `context.trace_context.trace_parent` shows. The task hub records the parent of an
orchestration in its ExecutionStarted event (`ParentTraceContext`, as DTFx does), and an episode
stamps its own span on the work items and sub-orchestrations it schedules, so one trace runs
from the starter through every episode, activity and sub-orchestration.

Spans are exported only when host/tracing_otel.py is switched on (host.json `telemetryMode`
plus an exporter, see `configure`); otherwise the ids are made up here and nothing else happens.
The OpenTelemetry context is attached around the call (so the durable SDK's `start_new` sends the
invocation's `traceparent`, and user spans nest) when spans are on, when
PYTHON_ENABLE_OPENTELEMETRY is set (the worker's switch, for apps that set up OpenTelemetry
themselves), or for functions with a durable client binding (propagation into orchestrations).
"""

from __future__ import annotations

import contextlib
import contextvars
import random
import re
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from funcpy.host.context import TraceContext

if TYPE_CHECKING:
    from funcpy.host.index import FunctionInfo
    from funcpy.host.settings import HostJson

# version-traceid-parentid-flags; a version other than 00 may carry more fields (W3C 3.2.4).
_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?")
_ZERO_TRACE, _ZERO_SPAN = "0" * 32, "0" * 16
MAX_TRACESTATE = 512  # W3C: a vendor must pass on at least 512 characters; longer may be cut


class SpanRef(NamedTuple):
    """One span, by its W3C ids: the invocation's own (`parent_id` names its caller's span) or,
    parsed from a header, the caller's. `attributes` are what the span is about (durable ids),
    for the exported span's attributes; they are not propagated. (A NamedTuple: several times
    cheaper to make than a frozen dataclass, and one is made per request with a traceparent.)"""

    trace_id: str  # 32 lower-case hex digits
    span_id: str  # 16 lower-case hex digits
    parent_id: str | None = None
    sampled: bool = False
    state: str = ""  # tracestate, passed on unchanged
    attributes: Mapping[str, Any] | None = None

    @property
    def traceparent(self) -> str:
        return f"00-{self.trace_id}-{self.span_id}-{'01' if self.sampled else '00'}"

    def child(self) -> SpanRef:
        return SpanRef(self.trace_id, new_span_id(), self.span_id, self.sampled, self.state)

    def about(self, attributes: Mapping[str, Any]) -> SpanRef:
        return self._replace(attributes=attributes)


def new_span_id() -> str:
    # Uniqueness, not secrecy (as invocation ids): random is several times cheaper than urandom,
    # and bytes.hex() than format(). All zeros is invalid in W3C.
    return (random.getrandbits(64) or 1).to_bytes(8, "big").hex()


def new_root(sampled: bool = False) -> SpanRef:
    ids = random.getrandbits(192).to_bytes(24, "big").hex()
    trace_id, span_id = ids[:32], ids[32:]
    if trace_id == _ZERO_TRACE or span_id == _ZERO_SPAN:  # 2**-64: for correctness only
        return new_root(sampled)
    return SpanRef(trace_id, span_id, None, sampled)


def child_of(parent: SpanRef | None) -> SpanRef:
    """The span of work called by `parent` (a new trace without one)."""
    return parent.child() if parent is not None else new_root(_spans is not None)


def parse(traceparent: str | None, tracestate: str | None = None) -> SpanRef | None:
    """The caller's span from W3C headers, or None when `traceparent` is absent or invalid
    (then `tracestate` is ignored too, as the spec says). Repeated headers, which the HTTP
    trigger joins with commas, make an invalid traceparent and a valid tracestate."""
    if not traceparent:
        return None
    m = _TRACEPARENT.fullmatch(traceparent.strip())
    if m is None:
        return None
    version, trace_id, span_id, flags, rest = m.groups()
    if version == "ff" or (version == "00" and rest) or trace_id == _ZERO_TRACE \
            or span_id == _ZERO_SPAN:
        return None
    return SpanRef(trace_id, span_id, None, bool(int(flags, 16) & 1),
                   _trim_state(tracestate or ""))


def _trim_state(state: str) -> str:
    state = state.strip()
    if len(state) <= MAX_TRACESTATE:
        return state
    # Whole list members only, left to right (the most recent vendor comes first).
    kept: list[str] = []
    size = 0
    for member in state.split(","):
        member = member.strip()
        if size + len(member) + (1 if kept else 0) > MAX_TRACESTATE:
            break
        kept.append(member)
        size += len(member) + (1 if len(kept) > 1 else 0)
    return ",".join(kept)


def incoming(headers: Mapping[str, str]) -> SpanRef | None:
    """The span of an HTTP invocation whose request carries a `traceparent` (lower-cased
    header names, as the HTTP trigger builds them); None without one (the invoker then starts
    a new trace when something needs it)."""
    value = headers.get("traceparent")
    if value is None:  # the common case, on every request: one look-up
        return None
    parent = parse(value, headers.get("tracestate"))
    return parent.child() if parent is not None else None


def to_record(ref: SpanRef) -> dict[str, str]:
    """The ExecutionStarted event's `ParentTraceContext` (DTFx's DistributedTraceContext)."""
    return {"TraceParent": ref.traceparent, "TraceState": ref.state}


def from_record(record: Any) -> SpanRef | None:
    if not isinstance(record, dict):
        return None
    return parse(record.get("TraceParent"), record.get("TraceState"))


def trace_context(ref: SpanRef | None) -> TraceContext:
    """`context.trace_context`: the invocation's own span (the host's Activity)."""
    ref = ref or new_root()
    return TraceContext(ref.traceparent, ref.state, {})


# The span of the next target invocation (an orchestrator episode) in this context: the task
# hub's invoke callbacks take no trace argument, so the episode sets it around its call.
_TARGET: contextvars.ContextVar[SpanRef | None] = contextvars.ContextVar(
    "funcpy_target_span", default=None)


@contextlib.contextmanager
def running(ref: SpanRef) -> Iterator[None]:
    token = _TARGET.set(ref)
    try:
        yield
    finally:
        _TARGET.reset(token)


def target_span() -> SpanRef | None:
    return _TARGET.get()


# -- the invoker's hook ----------------------------------------------------------------------

class Call(Protocol):
    """One traced invocation: `span` is its span (ids as exported); `close` ends it."""

    span: SpanRef

    def close(self, value: Any = None, outputs: Mapping[str, Any] | None = None,
              error: BaseException | None = None) -> None: ...


_spans: Any = None  # tracing_otel.Spans when spans are exported
_attach_all = False  # PYTHON_ENABLE_OPENTELEMETRY: the app set up OpenTelemetry itself
_clients: dict[int, tuple[FunctionInfo, bool]] = {}  # id(fn) -> (fn, has a durable client)


def enabled() -> bool:
    return _spans is not None


def begin(fn: FunctionInfo, ref: SpanRef | None, invocation_id: str,
          value: Any) -> Call | None:
    """Start what tracing does for one invocation, or None (nearly free) when nothing is on."""
    if _spans is not None:
        return _spans.begin(fn, ref or new_root(True), invocation_id, value)  # type: ignore
    if not _attach_all:
        known = _clients.get(id(fn))
        if (known[1] if known is not None and known[0] is fn else _has_client(fn)) is False:
            return None
    from funcpy.host import tracing_otel

    return tracing_otel.attach_only(ref or new_root())


def _has_client(fn: FunctionInfo) -> bool:
    # The function object is kept with its answer, so its id cannot be reused meanwhile.
    answer = any(b.get("type") == "durableClient" for b in fn.bindings)
    if answer:
        from funcpy.host import tracing_otel

        answer = tracing_otel.available(api_only=True)
    if len(_clients) > 4096:  # reloads make new function objects; drop the old ones
        _clients.clear()
    _clients[id(fn)] = (fn, answer)
    return answer


def creating_orchestration(parent: SpanRef | None, name: str, instance_id: str,
                           execution_id: str) -> tuple[SpanRef, Any]:
    """The span a new orchestration's episodes are children of, to record in its
    ExecutionStarted event, and (spans on) the `create_orchestration` span to end once the
    instance is committed (None otherwise). Without spans the caller's span itself is
    recorded, or a new trace's root when there is no caller."""
    if _spans is None:
        return (parent or new_root()), None
    return _spans.create_orchestration(parent, name, instance_id, execution_id)  # type: ignore


def configure(host_json: HostJson, environ: Mapping[str, str], app_name: str) -> None:
    """Switch spans on when the app asks for them (once per process, before the app is
    imported: the tracer provider becomes OpenTelemetry's global one)."""
    global _spans, _attach_all
    from funcpy.host import tracing_otel

    # True-like, as the 3.13+ worker reads it (4.34 took any non-empty value, even "false").
    _attach_all = environ.get("PYTHON_ENABLE_OPENTELEMETRY", "").strip().lower() in (
        "1", "true", "yes", "y") and tracing_otel.available(api_only=True)
    if _spans is not None:
        return
    mode = str(host_json.raw.get("telemetrymode") or "")
    _spans = tracing_otel.setup(mode, host_json.route_prefix, environ, app_name)
