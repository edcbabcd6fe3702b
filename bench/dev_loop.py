"""A new app from nothing: `func-py init` + `func-py new --template "HTTP trigger"` + `func-py
start` until the new function's first 200, against `func-py start` alone on an app that already
exists (the same files), alternating, several rounds, medians (issue #12).

Each step runs the real CLI as a user would type it, in a fresh temporary folder; the clock
starts before `init` and stops at the first 200 from `/api/<name>`. The rows say how much of it
is creating the app (init, new) and how much is the start.

Run: .venv/bin/python bench/dev_loop.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import FUNC_PY, free_port, median, start, stop, wait_http

NAME = "Hello"


def run(cmd: list[str], cwd: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - t0


def first_200(app: Path) -> float:
    port = free_port()
    t0 = time.perf_counter()
    proc = start([FUNC_PY, "start", "--port", str(port)], cwd=app)
    try:
        wait_http(f"http://127.0.0.1:{port}/api/{NAME}?name=bench", timeout=60)
        return time.perf_counter() - t0
    finally:
        stop(proc)


def from_nothing(tmp: Path, i: int) -> tuple[float, float, float]:
    """(init, new, start to first 200) in seconds, for an app created in tmp/new-i."""
    app = tmp / f"new-{i}"
    t_init = run([FUNC_PY, "init", str(app)], tmp)
    t_new = run([FUNC_PY, "new", "--template", "HTTP trigger", "--name", NAME], app)
    return t_init, t_new, first_200(app)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    inits, news, starts, totals, alone = [], [], [], [], []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        existing = tmp / "existing"
        run([FUNC_PY, "init", str(existing)], tmp)
        run([FUNC_PY, "new", "--template", "HTTP trigger", "--name", NAME], existing)
        first_200(existing)  # warm-up: byte-compiled modules and the OS's file cache
        for i in range(args.rounds):
            t_init, t_new, t_start = from_nothing(tmp, i)
            inits.append(t_init)
            news.append(t_new)
            starts.append(t_start)
            totals.append(t_init + t_new + t_start)
            alone.append(first_200(existing))
            shutil.rmtree(tmp / f"new-{i}", ignore_errors=True)
    print(f"New app to first 200, {args.rounds} rounds, medians (min-max), same run")
    for label, values in (("func-py init", inits), ("func-py new (HTTP trigger)", news),
                          ("func-py start, new app -> first 200", starts),
                          ("init + new + start -> first 200", totals),
                          ("func-py start alone (existing app)", alone)):
        print(f"  {label:38s} {median(values):6.3f} s ({min(values):.3f}-{max(values):.3f})")
    print(f"  ratio init+new+start / start alone: {median(totals) / median(alone):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
