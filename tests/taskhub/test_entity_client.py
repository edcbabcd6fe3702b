"""The client side of Durable Entities (TaskHubClient) on real stores, SQLite and PostgreSQL:
what a signal writes, how entity rows (inserted here by the convention of entity_ids.py, as
the scheduler writes them) are read, listed and deleted, and that orchestration queries never
see them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from funcpy.host.taskhub.api_json import entity_json
from funcpy.host.taskhub.client import MAX_ENTITY_SCANS, ClientError, TaskHubClient
from funcpy.host.taskhub.entity_ids import request_of, scheduler_id
from funcpy.host.taskhub.history import (
    ControlMessage,
    EventType,
    control_queue,
    partition_of,
    status_time,
    timestamp,
)
from funcpy.host.taskhub.sqlstore import SqlStore
from funcpy.host.taskhub.store import InstanceQuery, InstanceRecord

from tests.taskhub.conftest import FakeClock

PARTITIONS = 4


def make_client(store: SqlStore, clock: FakeClock, **kw: Any) -> TaskHubClient:
    return TaskHubClient(store, PARTITIONS, clock=clock, **kw)


def put_entity(store: SqlStore, name: str, key: str, state: str | None, *,
               created: float, last_op: float | None = None) -> str:
    """An entity row as entity_ids.py says the scheduler keeps one."""
    iid = scheduler_id(name, key)
    with store.transaction() as tx:
        tx.put_instance(InstanceRecord(
            instance_id=iid, name=name.lower(), execution_id="e-" + key,
            runtime_status="Running", input=state, output=None, custom_status=None,
            created_at=created, last_updated=created if last_op is None else last_op))
    return iid


def control_messages(store: SqlStore) -> dict[str, list[ControlMessage]]:
    """Every control queue's messages, decoded, by queue (empty queues included)."""
    out: dict[str, list[ControlMessage]] = {}
    for p in range(PARTITIONS):
        q = control_queue(p)
        out[q] = [ControlMessage.decode(m.payload) for m in store.peek_messages(q, 100)]
    return out


def all_pages(fetch: Callable[[str | None], tuple[list[InstanceRecord], str | None]]
              ) -> tuple[list[str], int]:
    """Follow the tokens to the end: the ids in order, and how many answers it took."""
    ids: list[str] = []
    token: str | None = None
    answers = 0
    while True:
        page, token = fetch(token)
        answers += 1
        ids += [r.instance_id for r in page]
        if token is None:
            return ids, answers
        assert answers < 200, "the tokens never end"


# -- signals ------------------------------------------------------------------------------------


def test_a_signal_is_one_operation_request_on_the_entitys_partition(store: SqlStore,
                                                                    clock: FakeClock) -> None:
    woken: list[str] = []
    client = make_client(store, clock, notify=woken.append)
    request_id = client.signal_entity("Counter", "k1", "add", "5")

    entity_id = "@counter@k1"
    home = control_queue(partition_of(entity_id, PARTITIONS))
    queues = control_messages(store)
    assert {q: len(ms) for q, ms in queues.items() if ms} == {home: 1}
    [raw] = store.peek_messages(home, 10)
    assert raw.instance_id == entity_id  # the queue row names its instance too
    [message] = queues[home]
    assert message.instance_id == entity_id and message.execution_id is None
    assert message.event["EventType"] == EventType.EventRaised
    assert message.event["Name"] == "add"
    assert message.event["Timestamp"] == timestamp(clock.now)  # the client's clock
    request = request_of(message.event)
    assert request is not None
    assert (request.operation, request.input, request.signal) == ("add", "5", True)
    assert request.request_id == request_id
    assert request.parent is None and request.parent_execution is None
    assert woken == [entity_id]
    assert store.get_instance(entity_id) is None  # the scheduler creates it, not the signal


def test_names_are_case_insensitive_keys_are_not_and_input_may_be_absent(
        store: SqlStore, clock: FakeClock) -> None:
    client = make_client(store, clock)
    client.signal_entity("COUNTER", "k", "reset", None)
    client.signal_entity("counter", "K", "reset", None)
    client.signal_entity("c", "a@b", "x", '"text"')  # '@' is fine in a key
    got = sorted((m.instance_id, request_of(m.event).input)  # type: ignore[union-attr]
                 for ms in control_messages(store).values() for m in ms)
    assert got == [("@c@a@b", '"text"'), ("@counter@K", None), ("@counter@k", None)]


@pytest.mark.parametrize(("name", "key", "problem"), [
    ("", "k", "the entity name is blank"),
    ("  ", "k", "the entity name is blank"),
    ("a@b", "k", "the entity name 'a@b' contains '@'"),
    ("c/d", "k", "the entity name 'c/d' contains '/'"),
    ("counter", "a/b", "the entity key 'a/b' contains '/'"),
    ("counter", "a#b", "the entity key 'a#b' contains '/', '\\', '#', '?'"),
    ("counter", "a?b", "the entity key 'a?b' contains"),
    ("counter", "a\\b", "the entity key 'a\\\\b' contains"),
    ("counter", "a\nb", "the entity key 'a\\nb' contains"),
    ("counter", "\ud800", "the entity key is not valid Unicode text"),
])
def test_bad_entity_ids_are_400_naming_the_problem_and_write_nothing(
        store: SqlStore, clock: FakeClock, name: str, key: str, problem: str) -> None:
    client = make_client(store, clock)
    calls: list[Callable[[], Any]] = [
        lambda: client.signal_entity(name, key, "add", "1"),
        lambda: client.read_entity(name, key),
        lambda: client.delete_entity(name, key)]
    if not key:
        calls.append(lambda: client.list_entities(name))
    for call in calls:
        with pytest.raises(ClientError) as info:
            call()
        assert info.value.status == 400
        assert problem in info.value.message, info.value.message
    assert not any(control_messages(store).values())


def test_an_operation_name_is_required(store: SqlStore, clock: FakeClock) -> None:
    with pytest.raises(ClientError) as info:
        make_client(store, clock).signal_entity("counter", "k", "", None)
    assert info.value.status == 400 and "operation name is required" in info.value.message
    assert not any(control_messages(store).values())


def test_entity_names_are_checked_when_the_client_knows_them(store: SqlStore,
                                                             clock: FakeClock) -> None:
    client = make_client(store, clock, entity_names=lambda: ["Counter", "Cart"])
    client.signal_entity("counter", "k", "add", "1")  # case-insensitive, as the extension
    with pytest.raises(ClientError) as info:
        client.signal_entity("Nope", "k", "add", "1")
    assert info.value.status == 400
    assert "'Nope' doesn't exist" in info.value.message
    assert "Known entities: 'Cart', 'Counter'." in info.value.message
    assert sum(len(ms) for ms in control_messages(store).values()) == 1


# -- reading, listing, deleting -----------------------------------------------------------------


def test_read_entity_finds_the_row_by_case_insensitive_name_and_exact_key(
        store: SqlStore, clock: FakeClock) -> None:
    put_entity(store, "counter", "k1", '{"n": 5}', created=clock.now)
    client = make_client(store, clock)
    record = client.read_entity("Counter", "k1")
    assert record is not None and record.input == '{"n": 5}'
    assert client.read_entity("COUNTER", "k1") is not None
    assert client.read_entity("counter", "K1") is None
    assert client.read_entity("other", "k1") is None


def test_entity_json_is_the_extensions_entity_status(store: SqlStore, clock: FakeClock) -> None:
    put_entity(store, "counter", "a@b", '{"n": [1, 2]}', created=clock.now - 10,
               last_op=clock.now)
    record = make_client(store, clock).read_entity("counter", "a@b")
    assert record is not None
    assert entity_json(record, fetch_state=True) == {
        "entityId": {"name": "counter", "key": "a@b"},
        "lastOperationTime": status_time(clock.now), "state": {"n": [1, 2]}}
    assert entity_json(record, fetch_state=False)["state"] is None


def test_list_entities_by_name_pages_through_every_row_once(store: SqlStore,
                                                            clock: FakeClock) -> None:
    counters = [put_entity(store, "counter", f"k{i}", str(i), created=clock.now + i)
                for i in range(5)]
    other = put_entity(store, "cart", "k0", "[]", created=clock.now + 2.5)
    client = make_client(store, clock)
    every, _ = client.list_entities()
    assert [r.instance_id for r in every] == [*counters[:3], other, *counters[3:]]
    mine, token = client.list_entities("Counter")
    assert [r.instance_id for r in mine] == counters and token is None
    ids, answers = all_pages(lambda t: client.list_entities("counter", top=2, continuation=t))
    assert ids == counters and answers == 3
    assert client.list_entities("nothing") == ([], None)


def test_list_entities_filters_by_last_operation_time(store: SqlStore,
                                                      clock: FakeClock) -> None:
    t0 = clock.now
    ids = [put_entity(store, "counter", f"k{i}", "0", created=t0 + i, last_op=t0 + 100 - i)
           for i in range(6)]  # k0 ran last
    client = make_client(store, clock)
    page, token = client.list_entities("counter", last_op_from=t0 + 97, top=10)
    assert [r.instance_id for r in page] == ids[:4] and token is None  # bounds are inclusive
    page, _ = client.list_entities("counter", last_op_from=t0 + 96, last_op_to=t0 + 98)
    assert [r.instance_id for r in page] == ids[2:5]
    got, _ = all_pages(lambda t: client.list_entities(
        "counter", last_op_to=t0 + 96.5, top=1, continuation=t))
    assert got == ids[4:]


def test_a_filtered_list_reads_a_bounded_number_of_pages(store: SqlStore,
                                                         clock: FakeClock) -> None:
    """One match behind many rows that do not match: each answer reads at most
    MAX_ENTITY_SCANS pages, answers short with a token, and the tokens reach the match."""
    t0 = clock.now
    rows = 3 * MAX_ENTITY_SCANS
    for i in range(rows):
        put_entity(store, "counter", f"k{i:03d}", "0", created=t0 + i,
                   last_op=t0 + (1000 if i == rows - 1 else 0))
    reads: list[InstanceQuery] = []
    real = store.query_instances

    def counted(query: InstanceQuery) -> Any:
        reads.append(query)
        return real(query)

    client = make_client(store, clock)
    store.query_instances = counted  # type: ignore[method-assign]
    try:
        page, token = client.list_entities(last_op_from=t0 + 500, top=1)
        assert page == [] and token is not None
        assert len(reads) == MAX_ENTITY_SCANS
        assert all(q.entities and q.top == 1 for q in reads)
        got, _ = all_pages(lambda t: client.list_entities(last_op_from=t0 + 500, top=1,
                                                          continuation=t))
    finally:
        del store.query_instances
    assert got == [scheduler_id("counter", f"k{rows - 1:03d}")]


def test_orchestration_queries_and_purges_never_touch_entity_rows(store: SqlStore,
                                                                  clock: FakeClock) -> None:
    client = make_client(store, clock)
    entity = put_entity(store, "counter", "k", "1", created=clock.now - 5)
    orchestration = client.start("hello", "plain-id", '"x"')
    assert [r.instance_id for r in client.query(InstanceQuery())[0]] == [orchestration]
    page, token = client.query(InstanceQuery(top=1))
    assert [r.instance_id for r in page] == [orchestration] and token is None
    assert client.query(InstanceQuery(instance_id_prefix="@"))[0] == []
    assert client.query(InstanceQuery(runtime_status=frozenset({"Running"})))[0] == []
    assert [r.instance_id for r in client.list_entities()[0]] == [entity]
    assert client.purge_by(InstanceQuery(created_from=0, created_to=clock.now + 10)) == 1
    assert client.read_entity("counter", "k") is not None
    assert client.get(orchestration) is None


def test_delete_entity_removes_the_row_and_leaves_queued_operations(store: SqlStore,
                                                                    clock: FakeClock) -> None:
    client = make_client(store, clock)
    put_entity(store, "counter", "k", "1", created=clock.now)
    kept = put_entity(store, "counter", "k2", "2", created=clock.now)
    client.signal_entity("counter", "k", "add", "1")
    assert client.delete_entity("Counter", "k") is True
    assert client.read_entity("counter", "k") is None
    assert client.delete_entity("counter", "k") is False
    assert store.get_instance(kept) is not None
    assert sum(len(ms) for ms in control_messages(store).values()) == 1


def test_a_row_whose_id_is_not_name_and_key_is_no_entity(store: SqlStore,
                                                         clock: FakeClock) -> None:
    """An orchestration an app gave an id like '@x' (a sub-orchestration's id is not checked)
    shares the entity rows' '@' prefix: the entity list skips it rather than fail."""
    with store.transaction() as tx:
        tx.put_instance(InstanceRecord("@x", "sub", "e", "Running", None, None, None,
                                       clock.now, clock.now))
    entity = put_entity(store, "counter", "k", "1", created=clock.now + 1)
    page, token = make_client(store, clock).list_entities(top=1)
    assert [r.instance_id for r in page] == [entity] and token is None
