"""A store wrapper that pauses or fails chosen calls, to force interleavings on purpose.

The worker hands every call of a store that is not SQLite's own class to a thread, so with
this wrapper both backends yield at every store call, as PostgreSQL really does. A test arms a
`Pause` on a method: the next call to it blocks in its thread (before or after the real call
ran) until the test releases it, while the event loop runs on and the worker does whatever it
does meanwhile. `fail_next` makes the next calls of a method raise without running.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


class Pause:
    """Blocks one call of a store method; `reached` is set once a call is held."""

    def __init__(self, after: bool, when: Callable[..., bool] | None) -> None:
        self.after = after  # hold after the real call ran (its effect is in the database)
        self.when = when  # only calls whose arguments match
        self.reached = threading.Event()
        self.released = threading.Event()

    async def wait_reached(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.reached.is_set():
            assert time.monotonic() < deadline, "the paused store call was never made"
            await asyncio.sleep(0.005)

    def release(self) -> None:
        self.released.set()

    def hold(self) -> None:
        self.reached.set()
        assert self.released.wait(30), "a paused store call was never released"


class PausingStore:
    def __init__(self, store: Any) -> None:
        self._store = store
        self._pauses: dict[str, list[Pause]] = defaultdict(list)
        self._failures: dict[str, list[BaseException]] = defaultdict(list)
        self.calls: dict[str, int] = defaultdict(int)
        self._lock = threading.Lock()

    def pause(self, method: str, *, after: bool = False,
              when: Callable[..., bool] | None = None) -> Pause:
        p = Pause(after, when)
        with self._lock:
            self._pauses[method].append(p)
        return p

    def fail_next(self, method: str, *errors: BaseException) -> None:
        with self._lock:
            self._failures[method].extend(errors)

    def _take(self, method: str, args: tuple[Any, ...]) -> tuple[Pause | None, Any]:
        with self._lock:
            self.calls[method] += 1
            if self._failures[method]:
                return None, self._failures[method].pop(0)
            for p in self._pauses[method]:
                if p.when is None or p.when(*args):
                    self._pauses[method].remove(p)
                    return p, None
        return None, None

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._store, name)
        if not callable(target) or name.startswith("_"):
            return target

        def call(*args: Any, **kwargs: Any) -> Any:
            pause, error = self._take(name, args)
            if error is not None:
                raise error
            if pause is not None and not pause.after:
                pause.hold()
            result = target(*args, **kwargs)
            if pause is not None and pause.after:
                pause.hold()
            return result

        return call

    @contextmanager
    def transaction(self, **kwargs: Any) -> Iterator[Any]:
        pause, error = self._take("transaction", ())
        if error is not None:
            raise error
        if pause is not None and not pause.after:
            pause.hold()
        with self._store.transaction(**kwargs) as tx:
            yield tx
        if pause is not None and pause.after:
            pause.hold()
