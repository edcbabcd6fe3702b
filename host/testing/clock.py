"""The harness's virtual clock: wall time plus the time skipped.

Time flows as it does on a server (an activity that takes 50 ms moves the clock 50 ms), and the
harness adds the idle gaps it skips: when nothing can run before the next durable timer, the
clock jumps to it. The task hub store, the worker and the client all read this one clock, so
visibility, leases, history timestamps and therefore the orchestrators' `current_utc_datetime`
agree on it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta


class VirtualClock:
    """A clock for one harness. Called as a function it returns epoch seconds (what the task
    hub's stores take as `clock`); `now()` is the same instant as an aware UTC datetime."""

    def __init__(self) -> None:
        self._skipped = 0.0
        self._lock = threading.Lock()  # read from the loop and from pool threads
        # Set by the harness: moving the clock by hand must also keep the task hub's leases
        # valid and run the timers it passes, which only the harness's loop can do.
        self._advance: Callable[[float], None] | None = None

    def __call__(self) -> float:
        return time.time() + self._skipped

    def time(self) -> float:
        """Epoch seconds, virtual."""
        return self()

    def now(self) -> datetime:
        """The virtual time as an aware UTC datetime (what `current_utc_datetime` reads)."""
        return datetime.fromtimestamp(self(), UTC)

    @property
    def skipped(self) -> float:
        """Seconds skipped so far: virtual time minus wall time."""
        return self._skipped

    def advance(self, seconds: float | timedelta) -> None:
        """Move virtual time forward, running every durable timer that falls due on the way
        (the harness's `advance`)."""
        if self._advance is None:
            raise RuntimeError("this clock belongs to no open harness")
        self._advance(seconds.total_seconds() if isinstance(seconds, timedelta) else seconds)

    def skip(self, seconds: float) -> None:
        """Jump forward without running anything: for the harness's driver only, which keeps
        the leases valid around the jump."""
        if seconds < 0:
            raise ValueError("virtual time never goes back")
        with self._lock:
            self._skipped += seconds
