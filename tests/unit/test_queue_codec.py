"""Queue messages in and out of functions: the trigger metadata and argument the worker builds,
and what output values become (the worker's encoding, then the host's JSON split)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import azure.functions as func
import pytest
from funcpy.host.index import FunctionInfo
from funcpy.host.taskhub.store import Message
from funcpy.triggers.queue_codec import (
    BINARY,
    binding_data,
    body_of,
    dotnet_double,
    host_messages,
    host_time,
    resolve_expressions,
    to_store,
    trigger_value,
    worker_encode,
)

TRIGGER = {"type": "queueTrigger", "direction": "in", "name": "msg", "queueName": "q"}


def info(user: Any, *bindings: dict[str, Any], trigger: dict[str, Any] = TRIGGER) -> FunctionInfo:
    return FunctionInfo(name="f", trigger=trigger, bindings=(trigger, *bindings), func=user,
                        is_async=False, wants_context=False, directory=".",
                        script_file="function_app.py", fingerprint="x")


def message(payload: str = "hello", **kw: Any) -> Message:
    fields: dict[str, Any] = dict(queue="queue:q", id=41, payload=payload, instance_id=None,
                                  dequeue_count=2, pop_receipt="abc.41",
                                  inserted_at=1_730_000_000.25, visible_at=1_730_000_030.5)
    fields.update(kw)
    return Message(**fields)


def test_queue_message_is_built_by_the_library_converter_from_the_metadata() -> None:
    def f(msg: func.QueueMessage) -> None: ...

    m = message()
    value = trigger_value(info(f), body_of(m), binding_data(m, body_of(m)))
    assert isinstance(value, func.QueueMessage)
    assert (value.id, value.get_body(), value.dequeue_count, value.pop_receipt) == \
        ("41", b"hello", 2, "abc.41")
    assert value.insertion_time == datetime(2024, 10, 27, 3, 33, 20, tzinfo=UTC)
    assert value.time_next_visible == datetime(2024, 10, 27, 3, 33, 50, tzinfo=UTC)
    assert value.expiration_time == datetime(2024, 11, 3, 3, 33, 20, tzinfo=UTC)


def test_unannotated_parameters_get_a_queue_message_and_str_bytes_the_raw_body() -> None:
    def plain(msg): ...  # type: ignore[no-untyped-def]

    def text(msg: str) -> None: ...

    def raw(msg: bytes) -> None: ...

    m = message()
    data = binding_data(m, b"hello")
    assert isinstance(trigger_value(info(plain), b"hello", data), func.QueueMessage)
    assert trigger_value(info(text), b"hello", data) == "hello"
    # the generic binding passes the host's value as it is: a string unless dataType binary
    assert trigger_value(info(raw), b"hello", data) == "hello"
    binary = {**TRIGGER, "dataType": "binary"}
    assert trigger_value(info(raw, trigger=binary), b"hello", data) == b"hello"


def test_binary_bodies_survive_the_text_store_and_have_no_queue_trigger_text() -> None:
    for body in (b"\xff\xfe", b"nul\x00inside", "héllo".encode()):
        payload, marker = to_store(body)
        m = message(payload, instance_id=marker)
        assert body_of(m) == body
    assert to_store(b"\xff")[1] == BINARY and to_store(b"text") == ("text", None)
    data = binding_data(message(), b"\xff")
    assert "QueueTrigger" not in data and data["Id"] == "41"


def test_host_times_look_like_jsonconvert_output_to_the_second() -> None:
    assert host_time(1_730_000_000.75) == "2024-10-27T03:33:20+00:00"
    assert host_time(1_730_000_000.0) == "2024-10-27T03:33:20+00:00"


def encoded(value: Any, annotation: Any = None, name: str = "out") -> list[bytes]:
    def f(msg, out):  # type: ignore[no-untyped-def]
        ...

    f.__annotations__ = {"msg": func.QueueMessage, **({"out": annotation} if annotation else {})}
    binding = {"type": "queue", "direction": "out", "name": name, "queueName": "o"}
    fn = info(f, binding)
    return host_messages(worker_encode(fn, binding, value))


def test_worker_and_host_conversions() -> None:
    assert encoded("plain") == [b"plain"]
    assert encoded(b"\xff\x00") == [b"\xff\x00"]
    assert encoded(func.QueueMessage(id="7", body="x")) == [b'{\n  "id": "7",\n  "body": "x"\n}']
    assert encoded(func.QueueMessage(body="x")) == [b'{\n  "id": null,\n  "body": "x"\n}']
    assert encoded(["a", func.QueueMessage(body="b")]) == \
        [b"a", b'{\n  "id": null,\n  "body": "b"\n}']
    assert encoded({"k1": 1, "k2": 2}) == [b"k1", b"k2"]  # an iterable: its keys
    # A string that looks like JSON is parsed: an array splits, an object is re-indented.
    assert encoded(json.dumps({"a": 1, "b": [True, None]})) == \
        [b'{\n  "a": 1,\n  "b": [\n    true,\n    null\n  ]\n}']
    assert encoded(json.dumps(["x", 2, 1.5, 1.0, {"k": "v"}, None, False, [1]])) == \
        [b"x", b"2", b"1.5", b"1", b'{\n  "k": "v"\n}', b"", b"False", b"[\n  1\n]"]
    assert encoded("  [1]  ") == [b"1"]
    assert encoded("{not json") == [b"{not json"]  # does not end with }: plain text
    with pytest.raises(ValueError, match="looks like JSON"):
        encoded("[not json]")


def test_out_str_uses_the_generic_binding() -> None:
    assert encoded("text", func.Out[str]) == [b"text"]
    assert encoded(b"raw", func.Out[bytes]) == [b"raw"]
    assert encoded('["a", "b"]', func.Out[str]) == [b"a", b"b"]  # the host still splits
    with pytest.raises(TypeError, match='unsupported type "generic" for Python type "list"'):
        encoded(["a"], func.Out[str])
    assert encoded(["a"], func.Out[list[str]]) == [b"a"]
    with pytest.raises(TypeError, match='unsupported type "queue" for Python type "int"'):
        encoded(7)
    with pytest.raises(TypeError, match='unsupported type "queue" for Python type "list"'):
        encoded([1, 2])  # the library refuses the item; the worker reports the value
    # $return is always the queue converter (the worker's `is (str, bytes)` never matches)
    assert encoded(["a", "b"], name="$return") == [b"a", b"b"]


def test_newtonsoft_escapes_and_numbers() -> None:
    assert encoded(json.dumps({"s": "a\u2028b"})) == [b'{\n  "s": "a\\u2028b"\n}']
    assert [dotnet_double(x) for x in (1e15, 1e14, 1e-05, 0.0001, -2.5, 1.25e20)] == \
        ["1E+15", "100000000000000", "1E-05", "0.0001", "-2.5", "1.25E+20"]


def test_binding_expressions_in_output_names() -> None:
    data = binding_data(message("Orders"), b"Orders")
    assert resolve_expressions("out-{queueTrigger}", data) == "out-Orders"
    assert resolve_expressions("n{DEQUEUECOUNT}-{id}", data) == "n2-41"
    assert len(resolve_expressions("{rand-guid}", data)) == 36
    assert resolve_expressions("plain", {}) == "plain"
    with pytest.raises(ValueError, match="No value for named parameter 'missing'"):
        resolve_expressions("q-{missing}", data)
