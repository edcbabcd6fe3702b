"""Named fault-injection points for crash tests: a no-op unless armed.

`FUNCPY_FAULTS="episode-committed:3,activity-started:1"` kills the process with SIGKILL (as
`kill -9` would) the 3rd time the episode-committed point is reached, and so on. Points sit
right after the commits that matter, so a crash test can stop the host at an exact step.
"""

from __future__ import annotations

import os
import signal
import threading

_armed: dict[str, int] = {}
_lock = threading.Lock()


def _parse(spec: str) -> dict[str, int]:
    out = {}
    for part in spec.split(","):
        name, _, count = part.strip().partition(":")
        if name:
            out[name] = int(count or 1)
    return out


_armed.update(_parse(os.environ.get("FUNCPY_FAULTS", "")))


def fault_point(name: str) -> None:
    if not _armed:
        return
    with _lock:
        left = _armed.get(name)
        if left is None:
            return
        _armed[name] = left - 1
        if left - 1 > 0:
            return
    os.kill(os.getpid(), signal.SIGKILL)
