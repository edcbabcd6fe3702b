"""The task hub storage contract (`host/taskhub/store.py`), run against every backend.

Time is a `FakeClock` the tests advance; nothing sleeps. Thread tests start their threads on a
barrier and join them with a deadline.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from funcpy.host.taskhub import (
    HistoryConflict,
    InstanceExists,
    InstanceQuery,
    InstanceRecord,
    LeaseLost,
    PopReceiptMismatch,
    PostgresStore,
    StoreError,
)
from funcpy.host.taskhub.sqlstore import SCHEMA_VERSION, SqlStore

from .conftest import POSTGRES, FakeClock, MakeStore

FINAL = frozenset({"Completed", "Failed", "Terminated"})


def record(instance_id: str, status: str = "Running", created_at: float = 100.0,
           **kw: object) -> InstanceRecord:
    fields: dict = dict(name="orch", execution_id="e1", runtime_status=status, input='"in"',
                        output=None, custom_status=None, created_at=created_at,
                        last_updated=created_at)
    fields.update(kw)
    return InstanceRecord(instance_id, **fields)


def put(store: SqlStore, queue: str, *payloads: str, delay: float = 0.0) -> list[int]:
    with store.transaction() as tx:
        return [tx.put_message(queue, p, delay=delay) for p in payloads]


def run_threads(target, count: int) -> None:
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def body(i: int) -> None:
        try:
            barrier.wait(timeout=10)
            target(i)
        except BaseException as e:  # surfaced below, in the test's thread
            errors.append(e)

    threads = [threading.Thread(target=body, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
        assert not t.is_alive(), "a worker thread hung"
    if errors:
        raise errors[0]


# -- queues ------------------------------------------------------------------------------------


def test_visibility_timeout_expires_and_redelivers(store: SqlStore, clock: FakeClock) -> None:
    [mid] = put(store, "workitems", "a")
    [first] = store.get_messages("workitems", 10, visibility_timeout=30)
    assert (first.id, first.payload, first.dequeue_count) == (mid, "a", 1)
    assert first.visible_at == clock.now + 30 and first.inserted_at == clock.now
    assert store.get_messages("workitems", 10, 30) == []
    clock.advance(29.9)
    assert store.get_messages("workitems", 10, 30) == []
    clock.advance(0.1)
    [second] = store.get_messages("workitems", 10, 30)
    assert second.id == mid and second.dequeue_count == 2
    assert second.pop_receipt != first.pop_receipt
    assert store.count_messages("workitems") == 1


def test_stale_pop_receipt_is_refused(store: SqlStore, clock: FakeClock) -> None:
    put(store, "workitems", "a")
    [first] = store.get_messages("workitems", 1, 30)
    clock.advance(31)
    [second] = store.get_messages("workitems", 1, 30)
    with pytest.raises(PopReceiptMismatch), store.transaction() as tx:
        tx.delete_message(first)
    with pytest.raises(PopReceiptMismatch):
        store.update_visibility(first, 10)
    with store.transaction() as tx:
        tx.delete_message(second)
    assert store.count_messages("workitems") == 0
    with pytest.raises(PopReceiptMismatch), store.transaction() as tx:
        tx.delete_message(second)  # already gone


def test_expired_but_unclaimed_receipt_still_deletes(store: SqlStore, clock: FakeClock) -> None:
    put(store, "workitems", "a")
    [m] = store.get_messages("workitems", 1, 30)
    clock.advance(100)
    with store.transaction() as tx:
        tx.delete_message(m)
    assert store.count_messages("workitems") == 0


def test_delay_and_next_visible_at(store: SqlStore, clock: FakeClock) -> None:
    assert store.next_visible_at(["control-00", "control-01"]) is None
    assert store.next_visible_at([]) is None
    t0 = clock.now
    put(store, "control-01", "timer", delay=10)
    put(store, "control-00", "later", delay=20)
    assert store.get_messages("control-01", 5, 30) == []
    assert store.next_visible_at(["control-00", "control-01"]) == t0 + 10
    assert store.next_visible_at(["control-00"]) == t0 + 20
    clock.advance(10)
    [timer] = store.get_messages("control-01", 5, 30)
    assert timer.payload == "timer"
    # the claimed timer is invisible until t0 + 40 now; control-00's is due first
    assert store.next_visible_at(["control-00", "control-01"]) == t0 + 20
    clock.advance(100)
    assert store.next_visible_at(["control-00"]) == t0 + 20  # due in the past
    assert store.next_visible_at(["workitems"]) is None
    assert store.next_visible_by_queue(["control-00", "control-01", "workitems"]) == {
        "control-00": t0 + 20, "control-01": t0 + 40}
    assert store.next_visible_by_queue([]) == {}


def test_fifo_among_visible_messages(store: SqlStore) -> None:
    ids = put(store, "workitems", *[f"m{i}" for i in range(5)])
    assert ids == sorted(ids) and len(set(ids)) == 5
    batch = store.get_messages("workitems", 3, 30)
    assert [m.id for m in batch] == ids[:3]
    assert [m.payload for m in store.get_messages("workitems", 10, 30)] == ["m3", "m4"]
    assert store.get_messages("workitems", 0, 30) == []


def test_timer_takes_its_place_when_due(store: SqlStore, clock: FakeClock) -> None:
    put(store, "control-00", "timer", delay=10)
    clock.advance(5)
    put(store, "control-00", "event")
    clock.advance(10)
    put(store, "control-00", "late")
    got = [store.get_messages("control-00", 1, 30)[0].payload for _ in range(3)]
    assert got == ["event", "timer", "late"]


def test_update_visibility(store: SqlStore, clock: FakeClock) -> None:
    put(store, "workitems", "a")
    [m] = store.get_messages("workitems", 1, 30)
    held = store.update_visibility(m, 60)
    assert held.pop_receipt != m.pop_receipt and held.visible_at == clock.now + 60
    assert held.dequeue_count == 1 and held.id == m.id
    clock.advance(59)
    assert store.get_messages("workitems", 1, 30) == []
    with pytest.raises(PopReceiptMismatch), store.transaction() as tx:
        tx.delete_message(m)
    abandoned = store.update_visibility(held, 0)
    [again] = store.get_messages("workitems", 1, 30)
    assert again.id == m.id and again.dequeue_count == 2
    with pytest.raises(PopReceiptMismatch):
        store.update_visibility(abandoned, 5)


def test_unclaim_gives_messages_back_without_counting_the_delivery(
        store: SqlStore, clock: FakeClock) -> None:
    put(store, "workitems", "a", "b", "c")
    first = store.get_messages("workitems", 3, 30)
    assert [m.dequeue_count for m in first] == [1, 1, 1]
    renewed = store.update_visibility(first[2], 30)
    # a stale receipt (first[2] was renewed) is skipped; the others are visible at once
    assert store.unclaim([first[0], first[1], first[2]]) == 2
    again = store.get_messages("workitems", 3, 30)
    assert [m.payload for m in again] == ["a", "b"] and [m.dequeue_count for m in again] == [1, 1]
    with pytest.raises(PopReceiptMismatch), store.transaction() as tx:
        tx.delete_message(first[0])  # the given-back receipt is no longer valid
    assert store.unclaim([renewed]) == 1
    [c] = store.get_messages("workitems", 1, 30)
    assert (c.payload, c.dequeue_count) == ("c", 1)
    assert store.unclaim([]) == 0


def test_claim_messages_takes_back_exactly_the_given_ids_wherever_they_are(
        store: SqlStore, clock: FakeClock) -> None:
    put(store, "workitems", *[f"m{i}" for i in range(10)])
    put(store, "control-00", "elsewhere")
    batch = store.get_messages("workitems", 3, 30)
    store.unclaim(batch)  # now at the back of the queue, behind seven older ones
    [other] = store.get_messages("control-00", 1, 30)
    wanted = [batch[1].id, batch[2].id, other.id, 999_999]
    got = store.claim_messages("workitems", wanted, 30)
    assert [m.payload for m in got] == ["m1", "m2"]  # not another queue's, not a missing id
    assert [m.dequeue_count for m in got] == [1, 1] and all(m.pop_receipt for m in got)
    assert store.claim_messages("workitems", wanted, 30) == []  # claimed: invisible now
    clock.advance(31)
    assert [m.dequeue_count for m in store.claim_messages("workitems", [batch[1].id], 30)] \
        == [2]
    assert store.claim_messages("workitems", [], 30) == []


def test_messages_carry_instance_id(store: SqlStore) -> None:
    with store.transaction() as tx:
        tx.put_message("control-02", "start", instance_id="abc")
        tx.put_message("control-02", "other")
    first, second = store.get_messages("control-02", 2, 30)
    assert (first.queue, first.instance_id, second.instance_id) == ("control-02", "abc", None)


def test_concurrent_dequeues_never_share_a_message(make_store: MakeStore) -> None:
    hosts = [make_store(), make_store()]  # two stores = two hosts with their own connections
    total = 300
    put(hosts[0], "workitems", *[str(i) for i in range(total)])
    claimed: list[list[int]] = [[] for _ in range(8)]

    def worker(i: int) -> None:
        store = hosts[i % 2]
        while batch := store.get_messages("workitems", 3, 300):
            claimed[i] += [m.id for m in batch]

    run_threads(worker, 8)
    ids = [mid for part in claimed for mid in part]
    assert len(ids) == total and len(set(ids)) == total


_CLAIMER = """
import json, sys
sys.path.insert(0, sys.argv[1])
from funcpy.host.taskhub import PostgresStore, SqliteStore
kind, where, hub = sys.argv[2:5]
store = SqliteStore(where, hub) if kind == "sqlite" else PostgresStore(where, hub)
claimed = []
while batch := store.get_messages("workitems", 2, 300):
    with store.transaction() as tx:
        for m in batch:
            tx.delete_message(m)
        tx.put_messages("done", [str(m.id) for m in batch])
    claimed += [m.id for m in batch]
print(json.dumps(claimed))
"""


def test_processes_sharing_the_database_never_share_a_message(store: SqlStore) -> None:
    total = 200
    ids = put(store, "workitems", *[str(i) for i in range(total)])
    if isinstance(store, PostgresStore):
        kind, where = "postgres", store.conninfo
    else:
        kind, where = "sqlite", str(store.path)  # type: ignore[attr-defined]
    repo = str(Path(__file__).resolve().parents[2])
    procs = [
        subprocess.Popen([sys.executable, "-c", _CLAIMER, repo, kind, where, store.hub],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    claimed: list[int] = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        claimed += json.loads(out)
    assert sorted(claimed) == ids
    assert store.count_messages("workitems") == 0 and store.count_messages("done") == total


_KILLED = """
import os, signal, sys
sys.path.insert(0, sys.argv[1])
from funcpy.host.taskhub import PostgresStore, SqliteStore
kind, where, hub = sys.argv[2:5]
store = SqliteStore(where, hub) if kind == "sqlite" else PostgresStore(where, hub)
with store.transaction() as tx:
    tx.put_message("control-00", "survives")
    tx.append_history("i", "e1", 0, ["survives"])
print("committed", flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_commits_survive_kill_9(store: SqlStore) -> None:
    if isinstance(store, PostgresStore):
        kind, where = "postgres", store.conninfo
    else:
        kind, where = "sqlite", str(store.path)  # type: ignore[attr-defined]
    repo = str(Path(__file__).resolve().parents[2])
    proc = subprocess.run([sys.executable, "-c", _KILLED, repo, kind, where, store.hub],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL and proc.stdout == "committed\n", proc.stderr
    assert store.count_messages("control-00") == 1
    assert store.read_history("i", "e1") == ["survives"]


def test_put_messages_keeps_payload_order(store: SqlStore, clock: FakeClock) -> None:
    payloads = [f"activity {i}" for i in range(1234)]
    with store.transaction() as tx:
        first = tx.put_message("workitems", "first")
        ids = tx.put_messages("workitems", payloads, instance_id="orch")
        assert tx.put_messages("workitems", []) == []
        timers = tx.put_messages("control-00", ["t1", "t2"], delay=30)
    assert ids == sorted(ids) and ids[0] > first and len(set(ids)) == len(payloads)
    got = store.get_messages("workitems", 2000, 30)
    assert [(m.id, m.payload) for m in got[1:]] == list(zip(ids, payloads, strict=True))
    assert {m.instance_id for m in got[1:]} == {"orch"}
    assert store.get_messages("control-00", 5, 30) == []
    clock.advance(30)
    assert [m.id for m in store.get_messages("control-00", 5, 30)] == timers


def test_concurrent_transactions_all_commit(store: SqlStore) -> None:
    def worker(i: int) -> None:
        for n in range(25):
            with store.transaction() as tx:
                tx.put_message("workitems", f"{i}-{n}")
                tx.append_history(f"i{i}", "e", n, [f"event {n}"])

    run_threads(worker, 6)
    assert store.count_messages("workitems") == 150
    assert store.read_history("i3", "e") == [f"event {n}" for n in range(25)]


# -- queue inspection and recovery by prefix (storage-queue triggers) ----------------------------


def test_peek_claims_nothing(store: SqlStore, clock: FakeClock) -> None:
    put(store, "q:a", "one", "two")
    put(store, "q:a", "later", delay=10)
    [held] = store.get_messages("q:a", 1, 30)  # "one" is claimed: not visible, not peeked
    peeked = store.peek_messages("q:a", 10)
    assert [(m.payload, m.dequeue_count, m.pop_receipt) for m in peeked] == [("two", 0, "")]
    assert store.peek_messages("q:a", 0) == [] and store.peek_messages("q:none", 5) == []
    with pytest.raises(PopReceiptMismatch), store.transaction() as tx:
        tx.delete_message(peeked[0])  # a peek proves nothing
    [two] = store.get_messages("q:a", 5, 30)  # still there, first delivery
    assert (two.payload, two.dequeue_count) == ("two", 1)
    clock.advance(31)  # the claims expired and "later" is due: in the order they fell due
    assert [m.payload for m in store.peek_messages("q:a", 10)] == ["later", "one", "two"]
    assert [m.payload for m in store.peek_messages("q:a", 1)] == ["later"]
    assert held.dequeue_count == 1


def test_list_queues_counts_by_prefix(store: SqlStore, clock: FakeClock) -> None:
    put(store, "q:b", "1", "2")
    put(store, "q:a", "1")
    put(store, "q:a", "late", delay=10)
    put(store, "workitems", "w")
    store.get_messages("q:b", 1, 30)
    got = [(c.queue, c.messages, c.visible) for c in store.list_queues("q:")]
    assert got == [("q:a", 2, 1), ("q:b", 2, 1)]
    assert [c.queue for c in store.list_queues()] == ["q:a", "q:b", "workitems"]
    assert store.list_queues("nothing:") == []


def test_list_queues_gives_the_oldest_visible_message(store: SqlStore, clock: FakeClock) -> None:
    t0 = clock.now
    put(store, "q:a", "first")
    clock.advance(5)
    put(store, "q:a", "second")
    put(store, "q:a", "timer", delay=2)  # counted, but not visible until due
    put(store, "q:b", "later", delay=10)
    [a, b] = store.list_queues("q:")
    assert (a.messages, a.visible, a.oldest_visible_at) == (3, 2, t0)
    assert (b.messages, b.visible, b.oldest_visible_at) == (1, 0, None)
    store.get_messages("q:a", 1, 30)  # "first" is claimed: "second" is the oldest waiting
    assert store.list_queues("q:a")[0].oldest_visible_at == t0 + 5
    clock.advance(31)  # "first" is visible again, since its claim expired at t0 + 35
    assert store.list_queues("q:a")[0].oldest_visible_at == t0 + 5


def test_count_instances_by_status(store: SqlStore) -> None:
    assert store.count_instances() == {} and store.count_instances(entities=True) == {}
    make_instances(store)
    with store.transaction() as tx:
        tx.put_instance(record("@counter@one", "Running"))
    assert store.count_instances() == {"Running": 1, "Completed": 2, "Failed": 1, "Pending": 1}
    assert store.count_instances(entities=True) == {"Running": 1}


def test_count_instances_of_a_query(store: SqlStore) -> None:
    """The dashboard's counts: the list's filters, in one aggregate query."""
    make_instances(store)
    with store.transaction() as tx:
        tx.put_instance(record("n-1", "Completed", 50.0, name="Order_Workflow"))
        tx.put_instance(record("n-2", "Failed", 60.0, name="orderxworkflow"))
        tx.put_instance(record("n-3", "Running", 70.0, name="100%_done"))
    count = store.count_instances
    assert count(query=InstanceQuery(instance_id_prefix="a-")) == {"Completed": 1, "Failed": 1}
    assert count(query=InstanceQuery(created_from=20.0, created_to=40.0)) == {
        "Failed": 1, "Completed": 1, "Pending": 1}
    # Case ignored; '_' and '%' are the name's own characters, not wildcards.
    assert count(query=InstanceQuery(name_contains="ORDER_")) == {"Completed": 1}
    assert count(query=InstanceQuery(name_contains="order")) == {"Completed": 1, "Failed": 1}
    assert count(query=InstanceQuery(name_contains="0%_")) == {"Running": 1}
    assert count(query=InstanceQuery(name_contains="orch")) == {
        "Running": 1, "Completed": 2, "Failed": 1, "Pending": 1}
    # Paging does not apply to counts; the list query takes the name too.
    assert count(query=InstanceQuery(top=1, runtime_status=frozenset({"Failed", "Running"}),
                                     name_contains="workflow")) == {"Failed": 1}
    assert ids(store.query_instances(InstanceQuery(name_contains="Workflow"))[0]) == [
        "n-1", "n-2"]


def test_clear_queue_deletes_claimed_and_visible(store: SqlStore) -> None:
    put(store, "q:a", "1", "2", "3")
    put(store, "q:b", "kept")
    [held] = store.get_messages("q:a", 1, 30)
    assert store.clear_queue("q:a") == 3
    assert store.count_messages("q:a") == 0 and store.count_messages("q:b") == 1
    with pytest.raises(PopReceiptMismatch), store.transaction() as tx:
        tx.delete_message(held)
    with pytest.raises(PopReceiptMismatch):
        store.update_visibility(held, 10)
    assert store.clear_queue("q:a") == 0
    assert [c.queue for c in store.list_queues("q:")] == ["q:b"]


def test_release_claimed_in_touches_only_its_prefix(store: SqlStore, clock: FakeClock) -> None:
    put(store, "q:a", "mine")
    put(store, "q:a", "delayed", delay=100)
    put(store, "workitems", "theirs")
    [mine] = store.get_messages("q:a", 5, 30)
    [theirs] = store.get_messages("workitems", 5, 30)
    assert store.release_claimed_in("q:") == 1
    [again] = store.get_messages("q:a", 5, 30)
    assert (again.id, again.dequeue_count) == (mine.id, 2)  # a crash counts as a delivery
    assert store.get_messages("workitems", 5, 30) == []  # still claimed by its holder
    with store.transaction() as tx:
        tx.delete_message(theirs)
    assert store.release_claimed_in("q:") == 1 and store.release_claimed_in("zz") == 0
    # "delayed" was never dequeued: it keeps its time
    assert [m.payload for m in store.peek_messages("q:a", 5)] == ["mine"]
    clock.advance(100)
    assert [m.payload for m in store.peek_messages("q:a", 5)] == ["mine", "delayed"]


# -- transactions ------------------------------------------------------------------------------


def test_exception_mid_transaction_leaves_nothing(store: SqlStore) -> None:
    put(store, "workitems", "keep")
    [m] = store.get_messages("workitems", 1, 30)
    with pytest.raises(RuntimeError), store.transaction() as tx:
        tx.put_message("control-00", "x")
        tx.delete_message(m)
        tx.append_history("i", "e", 0, ["a"])
        tx.put_instance(record("i"))
        tx.put_value("k", "v")
        assert tx.claim_once("c")
        raise RuntimeError("boom")
    assert store.count_messages("control-00") == 0
    assert store.count_messages("workitems") == 1
    assert store.read_history("i", "e") == []
    assert store.get_instance("i") is None and store.get_value("k") is None
    with store.transaction() as tx:
        assert tx.claim_once("c")
        tx.delete_message(m)  # the receipt survived the rollback


def test_swallowed_history_conflict_still_rolls_back(store: SqlStore) -> None:
    with store.transaction() as tx:
        tx.append_history("i", "e", 0, ["a"])
    with pytest.raises(HistoryConflict), store.transaction() as tx:
        tx.put_message("control-00", "x")
        with pytest.raises(HistoryConflict):
            tx.append_history("i", "e", 0, ["b", "c"])
        with pytest.raises(StoreError):
            tx.put_value("k", "v")  # doomed
    assert store.count_messages("control-00") == 0
    assert store.read_history("i", "e") == ["a"]


def test_pop_receipt_mismatch_leaves_transaction_usable(store: SqlStore, clock: FakeClock) -> None:
    put(store, "workitems", "a")
    [stale] = store.get_messages("workitems", 1, 30)
    clock.advance(31)
    store.get_messages("workitems", 1, 30)
    with store.transaction() as tx:
        with pytest.raises(PopReceiptMismatch):
            tx.delete_message(stale)
        tx.put_value("k", "v")
    assert store.get_value("k") == "v" and store.count_messages("workitems") == 1


def test_transaction_is_unusable_after_its_block(store: SqlStore) -> None:
    with store.transaction() as tx:
        pass
    with pytest.raises(StoreError):
        tx.put_value("k", "v")


def test_fenced_commit_with_a_lost_lease_writes_nothing(
    make_store: MakeStore, clock: FakeClock
) -> None:
    host_a, host_b = make_store(), make_store()
    lease_a = host_a.acquire_lease("control-00", "host-a", 10)
    assert lease_a is not None
    with host_a.transaction(fence=lease_a) as tx:
        tx.put_message("control-00", "committed")
    clock.advance(11)
    lease_b = host_b.acquire_lease("control-00", "host-b", 10)
    assert lease_b is not None and lease_b.epoch == lease_a.epoch + 1
    with pytest.raises(LeaseLost), host_a.transaction(fence=lease_a) as tx:
        tx.put_message("control-00", "stale")
        tx.append_history("i", "e", 0, ["stale"])
        tx.put_instance(record("i"))
    assert host_b.count_messages("control-00") == 1
    assert host_b.read_history("i", "e") == [] and host_b.get_instance("i") is None
    with host_b.transaction(fence=lease_b) as tx:
        tx.put_value("owner", "b")
    assert host_a.get_value("owner") == "b"


def test_fence_refuses_an_expired_lease_nobody_took(store: SqlStore, clock: FakeClock) -> None:
    lease = store.acquire_lease("control-01", "me", 10)
    assert lease is not None
    clock.advance(10)
    with pytest.raises(LeaseLost), store.transaction(fence=lease) as tx:
        tx.put_value("k", "v")
    assert store.get_value("k") is None
    renewed = store.renew_lease(lease, 10)
    assert renewed is not None and renewed.epoch == lease.epoch
    with store.transaction(fence=renewed) as tx:
        tx.put_value("k", "v")
    assert store.get_value("k") == "v"


# -- history and instances -----------------------------------------------------------------------


def test_history_append_conflict_read_delete(store: SqlStore) -> None:
    with store.transaction() as tx:
        tx.append_history("i", "e1", 0, ["a", "b"])
        tx.append_history("i", "e1", 2, ["c"])
        tx.append_history("i", "e1", 3, [])
        tx.append_history("i", "e2", 0, ["x"])
        tx.append_history("j", "e1", 0, ["j0"])
    assert store.read_history("i", "e1") == ["a", "b", "c"]
    with pytest.raises(HistoryConflict), store.transaction() as tx:
        tx.append_history("i", "e1", 2, ["c2", "d"])  # 2 exists, 3 does not: neither written
    assert store.read_history("i", "e1") == ["a", "b", "c"]
    many = [f"event {n}" for n in range(1234)]  # more rows than one statement carries
    with store.transaction() as tx:
        tx.append_history("k", "e1", 0, many)
    assert store.read_history("k", "e1") == many
    with store.transaction() as tx:
        tx.delete_history("i", "e1")
    assert store.read_history("i", "e1") == [] and store.read_history("i", "e2") == ["x"]
    with store.transaction() as tx:
        tx.delete_history("i")
    assert store.read_history("i", "e2") == [] and store.read_history("j", "e1") == ["j0"]


def test_instances_put_get_delete(store: SqlStore) -> None:
    assert store.get_instance("i") is None
    first = record("i", "Pending", parent_instance_id="parent")
    with store.transaction() as tx:
        tx.put_instance(first)
        assert tx.get_instance("i") == first
    assert store.get_instance("i") == first
    done = record("i", "Completed", execution_id="e2", output='"out"', custom_status='{"a":1}',
                  last_updated=200.0, completed_at=200.0)
    with store.transaction() as tx:
        tx.put_instance(done)
        tx.append_history("i", "e2", 0, ["a"])
    assert store.get_instance("i") == done
    with store.transaction() as tx:
        assert tx.delete_instance("i") is True
        assert tx.delete_instance("i") is False
    assert store.get_instance("i") is None and store.read_history("i", "e2") == []
    with pytest.raises(ValueError), store.transaction() as tx:
        tx.put_instance(record("i", "Sleeping"))


def test_create_instance_replace_rules(store: SqlStore) -> None:
    with store.transaction() as tx:
        tx.create_instance(record("i"), replace_statuses=FINAL)
        tx.append_history("i", "e1", 0, ["old"])
    with store.transaction() as tx:
        with pytest.raises(InstanceExists):
            tx.create_instance(record("i", "Pending", execution_id="e2"), replace_statuses=FINAL)
        tx.put_value("still", "usable")
    assert store.get_instance("i").execution_id == "e1"
    assert store.get_value("still") == "usable"
    with store.transaction() as tx:
        tx.put_instance(record("i", "Completed"))
    fresh = record("i", "Pending", execution_id="e2", created_at=300.0)
    with store.transaction() as tx:
        tx.create_instance(fresh, replace_statuses=FINAL)
    assert store.get_instance("i") == fresh
    assert store.read_history("i", "e1") == []


def make_instances(store: SqlStore) -> None:
    with store.transaction() as tx:
        tx.put_instance(record("b-1", "Running", 10.0))
        tx.put_instance(record("a-1", "Completed", 10.0))  # same time: ordered by id
        tx.put_instance(record("a-2", "Failed", 20.0))
        tx.put_instance(record("A-3", "Completed", 30.0))
        tx.put_instance(record("a_4", "Pending", 40.0))
        for i, rec in enumerate(["a-1", "a-2", "A-3"]):
            tx.append_history(rec, "e1", 0, [f"h{i}"])


def ids(records: list[InstanceRecord]) -> list[str]:
    return [r.instance_id for r in records]


def test_query_filters(store: SqlStore) -> None:
    make_instances(store)
    q = store.query_instances
    assert ids(q(InstanceQuery())[0]) == ["a-1", "b-1", "a-2", "A-3", "a_4"]
    assert q(InstanceQuery())[1] is None
    done = frozenset({"Completed"})
    assert ids(q(InstanceQuery(runtime_status=done))[0]) == ["a-1", "A-3"]
    assert ids(q(InstanceQuery(runtime_status=frozenset()))[0]) == []
    assert ids(q(InstanceQuery(created_from=20.0, created_to=30.0))[0]) == ["a-2", "A-3"]
    assert ids(q(InstanceQuery(instance_id_prefix="a-"))[0]) == ["a-1", "a-2"]
    assert ids(q(InstanceQuery(instance_id_prefix="a_"))[0]) == ["a_4"]  # no LIKE wildcards
    both = InstanceQuery(runtime_status=done, instance_id_prefix="A")
    assert ids(q(both)[0]) == ["A-3"]


def test_query_paging(store: SqlStore) -> None:
    make_instances(store)
    seen: list[str] = []
    query = InstanceQuery(top=2)
    pages = 0
    while True:
        page, token = store.query_instances(query)
        seen += ids(page)
        pages += 1
        if token is None:
            break
        query = InstanceQuery(top=2, continuation=token)
    assert seen == ["a-1", "b-1", "a-2", "A-3", "a_4"] and pages == 3
    page, token = store.query_instances(InstanceQuery(top=5))
    assert len(page) == 5 and token is None
    page, token = store.query_instances(InstanceQuery(top=1, runtime_status=frozenset({"Failed"})))
    assert ids(page) == ["a-2"] and token is None
    with pytest.raises(ValueError):
        store.query_instances(InstanceQuery(top=0))
    with pytest.raises(ValueError):
        store.query_instances(InstanceQuery(continuation="not a token"))


def test_purge_instances(store: SqlStore) -> None:
    make_instances(store)
    assert store.purge_instances(InstanceQuery(runtime_status=frozenset({"Completed"}))) == 2
    assert ids(store.query_instances(InstanceQuery())[0]) == ["b-1", "a-2", "a_4"]
    assert store.read_history("a-1", "e1") == [] and store.read_history("A-3", "e1") == []
    assert store.read_history("a-2", "e1") == ["h1"]
    assert store.purge_instances(InstanceQuery(top=1)) == 1
    assert ids(store.query_instances(InstanceQuery())[0]) == ["a-2", "a_4"]
    assert store.purge_instances(InstanceQuery(runtime_status=frozenset({"Terminated"}))) == 0
    assert store.purge_instances(InstanceQuery()) == 2
    assert store.read_history("a-2", "e1") == []


# -- leases, values, claims ----------------------------------------------------------------------


def test_lease_lifecycle(store: SqlStore, clock: FakeClock) -> None:
    a = store.acquire_lease("control-00", "a", 30)
    assert a is not None and (a.owner, a.epoch, a.expires_at) == ("a", 1, clock.now + 30)
    assert store.acquire_lease("control-00", "b", 30) is None
    clock.advance(10)
    again = store.acquire_lease("control-00", "a", 30)  # already ours: extended, same epoch
    assert again is not None and again.epoch == 1 and again.expires_at == clock.now + 30
    renewed = store.renew_lease(again, 60)
    assert renewed is not None and renewed.expires_at == clock.now + 60 and renewed.epoch == 1
    clock.advance(60)
    b = store.acquire_lease("control-00", "b", 30)
    assert b is not None and b.epoch == 2
    assert store.renew_lease(renewed, 30) is None
    store.release_lease(renewed)  # not ours any more: no effect
    assert store.list_leases() == [b]
    store.release_lease(b)
    [released] = store.list_leases()
    assert released.owner == "" and released.epoch == 2 and released.expires_at <= clock.now
    assert store.renew_lease(b, 30) is None
    b2 = store.acquire_lease("control-00", "b", 30)
    assert b2 is not None and b2.epoch == 3
    clock.advance(30)
    b3 = store.acquire_lease("control-00", "b", 30)  # ours, but expired meanwhile
    assert b3 is not None and b3.epoch == 4


def test_list_leases_by_prefix(store: SqlStore) -> None:
    for name in ["control-01", "control-00", "workitems-x"]:
        assert store.acquire_lease(name, "me", 30) is not None
    assert [x.name for x in store.list_leases("control-")] == ["control-00", "control-01"]
    assert [x.name for x in store.list_leases()] == ["control-00", "control-01", "workitems-x"]
    assert store.list_leases("nothing") == []


def test_values_and_claim_once(make_store: MakeStore, clock: FakeClock) -> None:
    one, two = make_store(), make_store()
    assert one.get_value("timer:every5") is None
    with one.transaction() as tx:
        tx.put_value("timer:every5", '{"last": 1}')
        tx.put_value("timer:every5", '{"last": 2}')
    assert two.get_value("timer:every5") == '{"last": 2}'
    with one.transaction() as tx:
        assert tx.claim_once("every5@2024-01-01T00:00:05")
        assert not tx.claim_once("every5@2024-01-01T00:00:05")
    with two.transaction() as tx:
        assert not tx.claim_once("every5@2024-01-01T00:00:05")
        assert tx.claim_once("every5@2024-01-01T00:00:10")
    clock.advance(100)
    with one.transaction() as tx:
        assert tx.claim_once("every5@2024-01-01T00:01:45")
    assert one.purge_claims(clock.now) == 2
    with two.transaction() as tx:
        assert tx.claim_once("every5@2024-01-01T00:00:05")
        assert not tx.claim_once("every5@2024-01-01T00:01:45")


def test_claim_once_from_racing_threads(make_store: MakeStore) -> None:
    hosts = [make_store() for _ in range(3)]
    wins: list[str] = []

    def worker(i: int) -> None:
        for n in range(20):
            with hosts[i % 3].transaction() as tx:
                if tx.claim_once(f"occurrence-{n}"):
                    wins.append(f"occurrence-{n}")

    run_threads(worker, 6)
    assert sorted(wins) == sorted(f"occurrence-{n}" for n in range(20))


# -- hubs, schema, durability ----------------------------------------------------------------------


def fill_hub(store: SqlStore) -> None:
    with store.transaction() as tx:
        tx.put_message("control-00", f"{store.hub} message", instance_id="i")
        tx.append_history("i", "e1", 0, [f"{store.hub} event"])
        tx.put_instance(record("i"))
        tx.put_value("k", store.hub)
        assert tx.claim_once("once")
    assert store.acquire_lease("control-00", store.hub, 30) is not None


def test_hubs_are_isolated_and_delete_hub_removes_one(make_store: MakeStore) -> None:
    one = make_store()
    two = make_store(one.hub + "-two")
    fill_hub(one)
    fill_hub(two)
    [m] = one.get_messages("control-00", 10, 30)
    assert m.payload == f"{one.hub} message"
    with pytest.raises(PopReceiptMismatch), two.transaction() as tx:
        tx.delete_message(m)  # a message id from another hub is not found
    assert two.read_history("i", "e1") == [f"{two.hub} event"]
    assert [x.owner for x in two.list_leases()] == [two.hub]
    assert two.get_value("k") == two.hub
    one.delete_hub()
    assert one.count_messages("control-00") == 0 and one.get_instance("i") is None
    assert one.read_history("i", "e1") == [] and one.list_leases() == []
    assert one.get_value("k") is None
    with one.transaction() as tx:
        assert tx.claim_once("once")
    assert two.count_messages("control-00") == 1 and two.get_instance("i") is not None
    assert two.read_history("i", "e1") == [f"{two.hub} event"]
    assert len(two.list_leases()) == 1 and two.get_value("k") == two.hub


def test_create_is_idempotent_and_concurrent(make_store: MakeStore) -> None:
    stores = [make_store() for _ in range(4)]
    run_threads(lambda i: stores[i].create(), 4)
    assert all(s.schema_version() == SCHEMA_VERSION for s in stores)


def test_data_survives_close_and_reopen(make_store: MakeStore, clock: FakeClock) -> None:
    store = make_store()
    fill_hub(store)
    store.close()
    with pytest.raises(StoreError):
        store.get_value("k")
    reopened = make_store()
    assert reopened.get_value("k") == reopened.hub
    assert reopened.read_history("i", "e1") == [f"{reopened.hub} event"]
    assert reopened.get_instance("i") == record("i")
    [m] = reopened.get_messages("control-00", 10, 30)
    assert m.instance_id == "i"
    assert [x.owner for x in reopened.list_leases()] == [reopened.hub]


# -- backend specifics ----------------------------------------------------------------------------


def test_sqlite_creates_the_directory(tmp_path, clock: FakeClock) -> None:
    from funcpy.host.taskhub import SqliteStore

    store = SqliteStore(tmp_path / "a" / "b" / "hub.db", "h", clock=clock)
    store.create()
    assert (tmp_path / "a" / "b" / "hub.db").exists()
    store.close()


def test_postgres_unreachable_names_conninfo_without_password() -> None:
    pytest.importorskip("psycopg")
    with pytest.raises(StoreError) as info:
        PostgresStore("postgresql://alice:hunter2@127.0.0.1:1/nowhere", "h", connect_timeout=2)
    message = str(info.value)
    assert "hunter2" not in message and "127.0.0.1" in message and "nowhere" in message


def test_postgres_without_driver_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # makes `import psycopg` fail
    with pytest.raises(StoreError, match=r"pip install func-py\[postgres\]"):
        PostgresStore(POSTGRES or "postgresql://localhost/x", "h")


def test_postgres_counts_statements_and_round_trips(store: SqlStore) -> None:
    if not isinstance(store, PostgresStore):
        pytest.skip("PostgreSQL only")
    put(store, "workitems", "a")
    before = (store.round_trips, store.statements)
    [m] = store.get_messages("workitems", 1, 30)
    lease = store.acquire_lease("control-00", "me", 30)
    assert lease is not None
    with store.transaction(fence=lease) as tx:
        tx.delete_message(m)  # BEGIN travels with it
        tx.put_instance(record("i"))  # travels with the next statement
        tx.put_message("control-00", "done")
    # the NOTIFY for the new message, the fence check and COMMIT travel together
    assert (store.round_trips - before[0], store.statements - before[1]) == (5, 9)


def test_postgres_commits_announce_their_queues_to_other_listeners(
        make_store: MakeStore) -> None:
    a = make_store()
    if not isinstance(a, PostgresStore):
        pytest.skip("PostgreSQL only")
    b = make_store(hub=a.hub)  # another process on the same hub
    heard_by_b: list[tuple[str, float]] = []
    heard_by_a: list[tuple[str, float]] = []
    done = threading.Event()

    def on_b(queue: str, at: float) -> None:
        heard_by_b.append((queue, at))
        if queue == "control-02":
            done.set()

    stop_b = b.listen(on_b)
    stop_a = a.listen(lambda q, at: heard_by_a.append((q, at)))
    try:
        with pytest.raises(RuntimeError), a.transaction() as tx:
            tx.put_message("control-09", "rolled back")
            raise RuntimeError
        with a.transaction() as tx:
            tx.put_message("control-01", "now")
        with a.transaction() as tx:
            tx.put_message("control-02", "later", delay=5)
        assert done.wait(10), "b heard nothing"
    finally:
        stop_a()
        stop_b()
    queues = [q for q, _ in heard_by_b]
    assert queues == ["control-01", "control-02"]  # not the rolled-back one
    assert heard_by_b[1][1] >= a.clock() + 4  # when the delayed message becomes visible
    assert heard_by_a == []  # a's own commits are not announced back to a
