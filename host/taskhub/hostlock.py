"""The single-host guarantee of an SQLite task hub.

An SQLite hub serves one host at a time: the host holds an exclusive `flock` on a file beside
the database for as long as it runs (the kernel drops it when the process dies, `kill -9`
included). Holding it proves no other consumer is alive, so messages a crashed predecessor
had claimed can be released at once instead of waiting for their visibility to expire.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from funcpy.host.errors import SettingsError


class HostLock:
    """One per (database file, hub): several hubs in one file are served by different hosts
    safely, since each hub's messages and leases are its own."""

    def __init__(self, db_path: Path, hub: str) -> None:
        self.db_path = db_path
        self.hub = hub
        self.path = db_path.with_name(f"{db_path.name}.{hub.lower()}.lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise SettingsError(
                f"Another func-py host (pid {holder}) is running task hub '{self.hub}' in "
                f"{self.db_path}. An SQLite task hub serves one host: stop the other one, give "
                "this app its own hub (host.json extensions.durableTask.hubName), or use the "
                "PostgreSQL task hub to share work between hosts.") from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
