"""Storage-queue messages in and out of a function, converted as the worker and the host do.

In: a stored message becomes the trigger metadata the host sends (`QueueTrigger`, `DequeueCount`,
`ExpirationTime`, `Id`, `InsertionTime`, `NextVisibleTime`, `PopReceipt`, as typed data) and the
argument the worker builds from it: `func.QueueMessage` through the azure.functions converter,
or the raw body for a parameter annotated `str`/`bytes` (the worker's generic binding).

Out: a value set on an output binding is encoded as the worker encodes it (the library's queue
converter, or the generic binding for `func.Out[str]`/`func.Out[bytes]`), then split into
messages as the host does (a JSON array is one message per element, a JSON object is
re-serialised indented, anything else is one message of its bytes).

Bodies are bytes; the store keeps text, so a body that is not UTF-8 text (or holds a NUL, which
PostgreSQL text cannot) is stored as base64, marked in the message's `instance_id` column, which
user queues do not otherwise use. Nothing here touches the store or runs user code.
"""

from __future__ import annotations

import base64
import json
import math
import re
import typing
import uuid
import weakref
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from azure.functions import meta
from funcpy.host.index import Binding, FunctionInfo
from funcpy.host.taskhub.store import Message

BINARY = "base64"  # `instance_id` of a stored message whose payload is its body in base64
TIME_TO_LIVE = timedelta(days=7)  # Azure's default; reported as ExpirationTime, not enforced
MAX_TIME = "9999-12-31T23:59:59.9999999+00:00"  # DateTimeOffset.MaxValue as the host sends it
_IN = meta.get_binding_registry().get("queueTrigger")
_OUT = meta.get_binding_registry().get("queue")
# Newtonsoft escapes these in strings; Python's JSON writer leaves them as they are.
_NEWTONSOFT_ESCAPES = str.maketrans({"\u0085": "\\u0085", "\u2028": "\\u2028",
                                     "\u2029": "\\u2029"})


# -- bodies in the store -------------------------------------------------------------------------


def to_store(body: bytes) -> tuple[str, str | None]:
    """(payload, instance_id) to store `body` with."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is None or "\x00" in text:
        return base64.b64encode(body).decode("ascii"), BINARY
    return text, None


def body_of(message: Message) -> bytes:
    if message.instance_id == BINARY:
        return base64.b64decode(message.payload)
    return message.payload.encode("utf-8")


def text_of(body: bytes) -> str | None:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return None


# -- in: trigger metadata and the argument ---------------------------------------------------------


def host_time(seconds: float) -> str:
    """A message time as the host sends it: JsonConvert's ISO 8601 of a DateTimeOffset that
    Azure Storage keeps to the second ("2024-10-27T03:33:20+00:00"). Whole seconds also let
    the library's parser match its first format instead of its third."""
    return datetime.fromtimestamp(math.floor(seconds), UTC).isoformat()


def binding_data(message: Message, body: bytes) -> dict[str, Any]:
    """The trigger's binding data (QueueTriggerBinding.CreateBindingData), as plain values:
    `QueueTrigger` is left out when the body is not text."""
    data: dict[str, Any] = {}
    text = text_of(body)
    if text is not None:
        data["QueueTrigger"] = text
    data.update(DequeueCount=message.dequeue_count,
                ExpirationTime=host_time(message.inserted_at + TIME_TO_LIVE.total_seconds()),
                Id=str(message.id), InsertionTime=host_time(message.inserted_at),
                NextVisibleTime=host_time(message.visible_at), PopReceipt=message.pop_receipt)
    return data


def trigger_metadata(data: Mapping[str, Any]) -> dict[str, meta.Datum]:
    """Binding data as the host sends it: strings as `string`, the rest JSON-serialised."""
    out = {}
    for key, value in data.items():
        if value is None:
            continue
        if isinstance(value, str) and key not in ("ExpirationTime", "InsertionTime",
                                                  "NextVisibleTime"):
            out[key] = meta.Datum(value, "string")
        else:
            out[key] = meta.Datum(json.dumps(value), "json")
    return out


_HINTS: weakref.WeakKeyDictionary[Callable[..., Any], dict[str, Any]] = \
    weakref.WeakKeyDictionary()


def annotations_of(fn: FunctionInfo) -> dict[str, Any]:
    """The function's resolved annotations, read once per function object."""
    hints = _HINTS.get(fn.func)
    if hints is None:
        try:
            hints = typing.get_type_hints(fn.func)
        except Exception:  # the loader reported unresolvable annotations already
            hints = {}
        _HINTS[fn.func] = hints
    return hints


def _binary(binding: Binding) -> bool:
    return str(binding.get("dataType") or "").lower() == "binary"


def trigger_value(fn: FunctionInfo, body: bytes, data: Mapping[str, Any]) -> Any:
    """The argument the worker passes for this message. The host sends the body as `string`
    (as `bytes` for dataType binary or a body that is not text); a parameter annotated
    `str`/`bytes` takes that value as it is (the generic binding), any other gets the
    `func.QueueMessage` the library's converter builds from it and the metadata."""
    text = None if _binary(fn.trigger) else text_of(body)
    datum = meta.Datum(text, "string") if text is not None else meta.Datum(body, "bytes")
    if annotations_of(fn).get(str(fn.trigger["name"])) in (str, bytes):
        return datum.value
    return _IN.decode(datum, trigger_metadata=trigger_metadata(data))


# -- out: the worker's encoding, then the host's split -------------------------------------------


def _generic(fn: FunctionInfo, binding: Binding) -> bool:
    """Whether the worker encodes this output with its generic binding: a parameter annotated
    `func.Out[str]` or `func.Out[bytes]` (a `$return` always uses the queue converter)."""
    anno = annotations_of(fn).get(str(binding["name"]))
    args = typing.get_args(anno) if anno is not None else ()
    return len(args) == 1 and args[0] in (str, bytes)


def worker_encode(fn: FunctionInfo, binding: Binding, value: Any) -> meta.Datum:
    """What the worker sends the host for `value` (raises TypeError as the worker does)."""
    generic = _generic(fn, binding)
    try:
        if generic:
            if isinstance(value, str):
                return meta.Datum(value, "string")
            if isinstance(value, bytes | bytearray):
                return meta.Datum(bytes(value), "bytes")
            raise NotImplementedError
        return _OUT.encode(value, expected_type=None)
    except NotImplementedError:
        kind = "generic" if generic else "queue"
        raise TypeError(f'unable to encode outgoing TypedData: unsupported type "{kind}" for '
                        f'Python type "{type(value).__name__}"') from None


def looks_like_json(text: str) -> bool:
    """Utility.IsJson: trimmed, it starts with { and ends with }, or [ and ]."""
    t = text.strip()
    return (t.startswith("{") and t.endswith("}")) or (t.startswith("[") and t.endswith("]"))


def host_messages(datum: meta.Datum) -> list[bytes]:
    """The message bodies the host enqueues for one output value (FunctionBinding.
    ReadAsEnumerable, then the byte[] collector)."""
    if datum.type == "bytes":
        return [bytes(datum.value)]
    if datum.type == "json" or (datum.type == "string" and looks_like_json(datum.value)):
        try:
            token = json.loads(datum.value)
        except ValueError as exc:
            raise ValueError(f"the output looks like JSON but is not: {exc}") from None
        items = token if isinstance(token, list) else [token]
        return [_token_text(item).encode("utf-8") for item in items]
    return [str(datum.value).encode("utf-8")]


def _token_text(token: Any) -> str:
    """JToken.ToString(): objects and arrays as indented JSON, a string as its raw text, other
    values as .NET prints them."""
    if isinstance(token, dict | list):
        return json.dumps(token, indent=2, ensure_ascii=False).translate(_NEWTONSOFT_ESCAPES)
    if isinstance(token, str):
        return token
    if token is None:
        return ""
    if isinstance(token, bool):
        return "True" if token else "False"
    if isinstance(token, float):
        return dotnet_double(token)
    return str(token)


def dotnet_double(x: float) -> str:
    """double.ToString() of .NET Core 3.0+: the shortest round-trip digits, in exponent form
    ("1E+15", "1E-05") when the exponent is -5 or below, or 15 or above."""
    if x != x:
        return "NaN"
    if x in (float("inf"), float("-inf")):
        return "Infinity" if x > 0 else "-Infinity"  # the invariant culture's symbols
    sign, digits, exp = Decimal(repr(x)).normalize().as_tuple()
    if not isinstance(exp, int) or digits == (0,):
        return "-0" if sign and digits == (0,) else "0"
    text = "".join(map(str, digits))
    point = len(text) + exp  # position of the decimal point from the left
    scientific = point - 1
    lead = "-" if sign else ""
    if -5 < scientific < 15:
        if point <= 0:
            return f"{lead}0.{'0' * -point}{text}"
        if point >= len(text):
            return f"{lead}{text}{'0' * (point - len(text))}"
        return f"{lead}{text[:point]}.{text[point:]}"
    mantissa = text[0] + (f".{text[1:]}" if len(text) > 1 else "")
    return f"{lead}{mantissa}E{'+' if scientific >= 0 else '-'}{abs(scientific):02d}"


# -- binding expressions in output queue names --------------------------------------------------

_EXPRESSION = re.compile(r"\{([^{}]*)\}")


def resolve_expressions(template: str, data: Mapping[str, Any]) -> str:
    """Fill `{name}` from the trigger's binding data (names case-insensitive), `{rand-guid}`
    and `{DateTime}` (the WebJobs system expressions). Raises ValueError for an unknown name."""
    if "{" not in template:
        return template
    lower = {k.lower(): v for k, v in data.items()}

    def fill(m: re.Match[str]) -> str:
        name = m.group(1).strip()
        key = name.lower()
        if key == "rand-guid":
            return str(uuid.uuid4())
        if key == "datetime":
            return datetime.now(UTC).strftime("%Y-%m-%dT%H-%M-%SZ")
        if key not in lower:
            raise ValueError(f"No value for named parameter '{name}'.")
        return str(lower[key])

    return _EXPRESSION.sub(fill, template)
