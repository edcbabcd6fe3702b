"""The batch writes of the storage contract (`enqueue`, `delete_messages`), on every backend:
what the worker's commits rely on — all or nothing, a stale receipt refuses the whole commit,
and on PostgreSQL a commit that only sends and consumes messages waits for the server once."""

from __future__ import annotations

import pytest
from funcpy.host.taskhub import (
    HistoryConflict,
    InstanceRecord,
    PopReceiptMismatch,
    PostgresStore,
)
from funcpy.host.taskhub.sqlstore import SqlStore

from .conftest import FakeClock


def test_enqueue_puts_messages_in_order_with_their_delay(store: SqlStore,
                                                         clock: FakeClock) -> None:
    with store.transaction() as tx:
        tx.enqueue("control-00", ["a", "b", "c"], instance_id="i")
        tx.enqueue("control-00", ["later"], instance_id="j", delay=5)
        tx.enqueue("control-00", [])
    got = store.get_messages("control-00", 10, 30)
    assert [(m.payload, m.instance_id) for m in got] == [("a", "i"), ("b", "i"), ("c", "i")]
    clock.advance(5)
    assert [m.payload for m in store.get_messages("control-00", 10, 30)] == ["later"]


def test_delete_messages_deletes_every_one(store: SqlStore) -> None:
    with store.transaction() as tx:
        tx.enqueue("workitems", [str(n) for n in range(700)])  # more than one statement holds
    held = store.get_messages("workitems", 1000, 30)
    with store.transaction() as tx:
        tx.delete_messages([*held, held[0]])  # a message named twice is deleted once
        tx.delete_messages([])
    assert store.count_messages("workitems") == 0


def test_one_stale_receipt_refuses_the_whole_commit(store: SqlStore, clock: FakeClock) -> None:
    with store.transaction() as tx:
        tx.enqueue("workitems", ["stale", "fresh"])
    stale, fresh = store.get_messages("workitems", 2, 30)
    clock.advance(31)
    [again] = store.claim_messages("workitems", [stale.id], 30)  # redelivered: a new receipt
    with pytest.raises(PopReceiptMismatch), store.transaction() as tx:
        tx.enqueue("control-00", ["result"])
        tx.delete_messages([fresh, stale])
    assert store.count_messages("workitems") == 2 and store.count_messages("control-00") == 0
    with store.transaction() as tx:  # the current receipts still work
        tx.delete_messages([again, fresh])
    assert store.count_messages("workitems") == 0


def test_postgres_activity_commit_is_one_round_trip(store: SqlStore) -> None:
    if not isinstance(store, PostgresStore):
        pytest.skip("PostgreSQL only")
    with store.transaction() as tx:
        tx.enqueue("workitems", ["a", "b"])
    held = store.get_messages("workitems", 2, 30)
    lease = store.acquire_lease("control-00", "me", 30)
    assert lease is not None
    before = store.round_trips
    with store.transaction(fence=lease) as tx:
        tx.enqueue("control-00", ["done a", "done b"], instance_id="i")
        tx.delete_messages(held)
    # BEGIN, the insert, the checked delete, NOTIFY and the fence check travel with COMMIT
    assert store.round_trips - before == 1
    assert store.count_messages("control-00") == 2 and store.count_messages("workitems") == 0


def test_results_handed_claimed_with_their_rows_in_the_commit(store: SqlStore,
                                                               clock: FakeClock) -> None:
    # An activity's result for a partition its host runs: put claimed, with the instance's
    # row read in the same commit; on PostgreSQL still one round trip.
    row = InstanceRecord("i", "orch", "e1", "Running", '"in"', None, None, 100.0, 100.0)
    with store.transaction() as tx:
        tx.put_instance(row)
        tx.enqueue("workitems", ["a"])
    held = store.get_messages("workitems", 1, 30)
    before = store.round_trips if isinstance(store, PostgresStore) else 0
    with store.transaction() as tx:
        claimed = tx.enqueue_claimed("control-00", ["done a"], 30, instance_id="i")
        rows = tx.read_instances(["i", "gone", "i"])
        tx.delete_messages(held)
    if isinstance(store, PostgresStore):
        assert store.round_trips - before == 1
    assert rows() == {"i": row}
    [mine] = claimed()
    assert (mine.payload, mine.instance_id, mine.dequeue_count) == ("done a", "i", 1)
    assert store.get_messages("control-00", 10, 30) == []  # held by whoever it was handed to
    with store.transaction() as tx:
        tx.delete_messages([mine])
    assert store.count_messages("control-00") == 0


def test_history_checked_at_commit_still_refuses_a_second_write(store: SqlStore) -> None:
    with store.transaction() as tx:
        tx.append_history("i", "e", 0, ["a", "b"], checked_at_commit=True)
    with pytest.raises(HistoryConflict), store.transaction() as tx:
        tx.enqueue("control-00", ["sent"])
        tx.append_history("i", "e", 1, ["b2", "c"], checked_at_commit=True)
    assert store.read_history("i", "e") == ["a", "b"]
    assert store.count_messages("control-00") == 0


def test_a_claim_brings_the_rows_of_its_instances(store: SqlStore, clock: FakeClock) -> None:
    row = InstanceRecord("i", "orch", "e1", "Running", '"in"', None, None, 100.0, 100.0)
    with store.transaction() as tx:
        tx.put_instance(row)
        tx.enqueue("control-00", ["1", "2"], instance_id="i")
        tx.enqueue("control-00", ["purged"], instance_id="gone")
        tx.enqueue("control-00", ["no instance"])
    msgs, records = store.get_messages_with_instances("control-00", 10, 30)
    assert [m.payload for m in msgs] == ["1", "2", "purged", "no instance"]
    assert all(m.dequeue_count == 1 and m.visible_at == clock.now + 30 for m in msgs)
    assert records == {"i": row}
    assert store.get_messages_with_instances("control-00", 10, 30) == ([], {})
    with store.transaction() as tx:  # the receipts are the claim's
        tx.delete_messages(msgs)
    assert store.count_messages("control-00") == 0


def test_messages_put_claimed_are_held_like_a_dequeue(store: SqlStore, clock: FakeClock) -> None:
    with store.transaction() as tx:
        claimed = tx.enqueue_claimed("workitems", ["a", "b"], 30, instance_id="i")
        tx.enqueue("workitems", ["for anyone"])
    mine = claimed()  # once committed
    assert [(m.payload, m.instance_id, m.dequeue_count) for m in mine] == [
        ("a", "i", 1), ("b", "i", 1)]
    assert [m.payload for m in store.get_messages("workitems", 10, 30)] == ["for anyone"]
    clock.advance(20)
    renewed = store.update_visibility(mine[0], 30)  # the receipt is a real claim's
    clock.advance(11)  # the other claims ran out (their holder died): delivered again
    again = store.get_messages("workitems", 10, 30)
    assert [(m.payload, m.dequeue_count) for m in again] == [("b", 2), ("for anyone", 2)]
    with store.transaction() as tx:
        tx.delete_messages([renewed])
    with pytest.raises(PopReceiptMismatch), store.transaction() as tx:
        tx.delete_messages([mine[1]])  # redelivered since: no longer ours


def test_a_rolled_back_claimed_put_leaves_nothing(store: SqlStore) -> None:
    with pytest.raises(RuntimeError), store.transaction() as tx:
        tx.enqueue_claimed("workitems", ["a"], 30)
        raise RuntimeError("the episode's commit failed")
    assert store.count_messages("workitems") == 0
