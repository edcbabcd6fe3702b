"""The durable task hub: its storage contract (`store`) and the SQLite and PostgreSQL stores."""

from .postgres import PostgresStore
from .sqlite import SqliteStore
from .store import (
    RUNTIME_STATUSES,
    HistoryConflict,
    InstanceExists,
    InstanceQuery,
    InstanceRecord,
    Lease,
    LeaseLost,
    Message,
    PopReceiptMismatch,
    StoreBusy,
    StoreError,
    TaskHubStore,
    Transaction,
)

__all__ = [
    "RUNTIME_STATUSES",
    "HistoryConflict",
    "InstanceExists",
    "InstanceQuery",
    "InstanceRecord",
    "Lease",
    "LeaseLost",
    "Message",
    "PopReceiptMismatch",
    "PostgresStore",
    "SqliteStore",
    "StoreBusy",
    "StoreError",
    "TaskHubStore",
    "Transaction",
]
