"""Hot reload: a watchdog observer on the app folder asks the runtime for a new index.

Events are filtered (Python files, host.json, local.settings.json, a v1 function's function.json
and its folder being renamed or removed; never virtualenvs, caches or the host's own data) and
debounced, because editors save in several steps (truncate + write, or write a temporary file
and rename it over the original).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

from funcpy.host.config import DATA_DIR_NAME
from funcpy.host.function_json import FUNCTION_JSON
from funcpy.host.settings import HOST_JSON_FILE, LOCAL_SETTINGS_FILE
from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

IGNORED_DIRS = frozenset({
    ".venv", "venv", "env", ".python_packages", "site-packages", "node_modules", "__pycache__",
    ".git", ".mypy_cache", ".pytest_cache", ".ruff_cache", DATA_DIR_NAME,
})
WATCHED_NAMES = frozenset({HOST_JSON_FILE, LOCAL_SETTINGS_FILE})
# Event kinds that mean content changed (opened / closed-without-write do not).
CHANGE_EVENTS = frozenset({"created", "modified", "deleted", "moved", "closed"})
DEBOUNCE_SECONDS = 0.04


def is_relevant(app_dir: Path, path: str) -> bool:
    p = Path(path)
    try:
        rel = p.relative_to(app_dir)
    except ValueError:
        return False
    if any(part in IGNORED_DIRS for part in rel.parts[:-1]):
        return False
    if p.suffix == ".py":
        return True
    if len(rel.parts) == 1:
        return p.name in WATCHED_NAMES
    return len(rel.parts) == 2 and p.name == FUNCTION_JSON  # a v1 function folder


def is_relevant_dir(app_dir: Path, path: str) -> bool:
    """A top-level folder renamed or removed may be a v1 function coming or going (its files
    send no events of their own when the folder is moved)."""
    try:
        rel = Path(path).relative_to(app_dir)
    except ValueError:
        return False
    return len(rel.parts) == 1 and rel.parts[0] not in IGNORED_DIRS


class _Handler(FileSystemEventHandler):
    def __init__(self, watcher: ReloadWatcher) -> None:
        self.watcher = watcher

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type not in CHANGE_EVENTS:
            return
        if event.is_directory and event.event_type not in ("moved", "deleted"):
            return
        relevant = is_relevant_dir if event.is_directory else is_relevant
        for path in (event.src_path, getattr(event, "dest_path", "")):
            if path and relevant(self.watcher.app_dir, str(path)):
                self.watcher.notify(str(path))
                return


class ReloadWatcher:
    """Calls `on_change(reason)` on the loop once per burst of relevant file events."""

    def __init__(self, app_dir: Path, on_change: Callable[[str], Awaitable[object]],
                 loop: asyncio.AbstractEventLoop, debounce: float = DEBOUNCE_SECONDS) -> None:
        self.app_dir = app_dir
        self.on_change = on_change
        self.loop = loop
        self.debounce = debounce
        self._observer = Observer()
        self._pending: asyncio.TimerHandle | None = None
        self._changed: set[str] = set()
        self._task: asyncio.Task[object] | None = None

    def start(self) -> None:
        self._observer.schedule(_Handler(self), str(self.app_dir), recursive=True)
        self._observer.daemon = True
        self._observer.start()

    def stop(self) -> None:
        self._observer.stop()

    def notify(self, path: str) -> None:
        """Called from the observer thread."""
        self.loop.call_soon_threadsafe(self._schedule, path)

    def _schedule(self, path: str) -> None:
        self._changed.add(path)
        if self._pending is not None:
            self._pending.cancel()
        self._pending = self.loop.call_later(self.debounce, self._fire)

    def _fire(self) -> None:
        self._pending = None
        names = sorted(Path(p).relative_to(self.app_dir).as_posix() for p in self._changed)
        self._changed.clear()
        reason = "a change to " + ", ".join(names[:3]) + (" ..." if len(names) > 3 else "")
        self._task = asyncio.ensure_future(self.on_change(reason))
