"""Fixtures that give a test a task hub store on every backend, with a clock the test moves.

`store` / `make_store` are parametrised over SQLite (a file under tmp_path) and PostgreSQL (the
database named by FUNCPY_TEST_POSTGRES; skipped only when that variable is unset). Every store
gets a hub name unique to the test, and the hub is deleted afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from funcpy.host.taskhub import PostgresStore, SqliteStore
from funcpy.host.taskhub.sqlstore import SqlStore

POSTGRES = os.environ.get("FUNCPY_TEST_POSTGRES")


class FakeClock:
    """Seconds that only move when the test says so."""

    def __init__(self, now: float = 1_700_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(
    params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
)
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "postgres" and not POSTGRES:
        pytest.skip("set FUNCPY_TEST_POSTGRES to a PostgreSQL conninfo to run this backend")
    return request.param


MakeStore = Callable[..., SqlStore]


@pytest.fixture
def make_store(backend: str, tmp_path: Path, clock: FakeClock) -> Iterator[MakeStore]:
    """`make_store(hub=None, clock=None)`: a created store on the backend's database, for
    `hub` (default: this test's own hub) with `clock` (default: the test's `FakeClock`). Each
    call opens a new store object, like another host sharing the hub."""
    default_hub = f"t{uuid.uuid4().hex[:12]}"
    made: list[SqlStore] = []

    def open_store(hub: str, tick: Callable[[], float]) -> SqlStore:
        if backend == "sqlite":
            return SqliteStore(tmp_path / "db" / "taskhub.db", hub, clock=tick)
        assert POSTGRES
        return PostgresStore(POSTGRES, hub, clock=tick)

    fake_clock = clock

    def make(hub: str | None = None, *, clock: Callable[[], float] | None = None) -> SqlStore:
        store = open_store(hub or default_hub, clock or fake_clock)
        store.create()
        made.append(store)
        return store

    yield make
    for store in made:
        store.close()
    for hub in {store.hub for store in made}:
        cleaner = open_store(hub, fake_clock)
        cleaner.delete_hub()
        cleaner.close()


@pytest.fixture
def store(make_store: MakeStore) -> SqlStore:
    return make_store()
