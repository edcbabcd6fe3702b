from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.soak.soakkit import POSTGRES, SOAK_APP


@pytest.fixture()
def soak_app(tmp_path: Path) -> Path:
    """A copy of tests/apps/soak (its data folder, SQLite hub included, stays in tmp_path)."""
    dest = tmp_path / "app"
    shutil.copytree(SOAK_APP, dest)
    return dest


@pytest.fixture()
def pg_hub() -> Iterator[str]:
    """A task hub name of its own on the test PostgreSQL server, deleted afterwards (the test
    stops its hosts first)."""
    hub = f"Soak{uuid.uuid4().hex[:10]}"
    yield hub
    from funcpy.host.taskhub.postgres import PostgresStore

    store = PostgresStore(str(POSTGRES), hub)
    try:
        store.delete_hub()
    finally:
        store.close()
