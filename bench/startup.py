"""`func-py start` to the first 200 answer on the demo app, against a bare Starlette app under
uvicorn started the same way (the floor for any Python server), several runs each, medians.

Targets: <= 1.0 s median for func-py (issue #2), and <= 3x bare Starlette's median measured in
the same run (issue #14).
Run: .venv/bin/python bench/startup.py [--runs 7]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

from common import FUNC_PY, ROOT, free_port, median, start, stop, table_row, wait_http

BENCH = Path(__file__).resolve().parent


def first_200(cmd: list[str], cwd: Path, url: str) -> float:
    t0 = time.perf_counter()
    proc = start(cmd, cwd=cwd)
    try:
        wait_http(url, timeout=30)
        return time.perf_counter() - t0
    finally:
        stop(proc)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        app = Path(tmp) / "demo"
        app.mkdir()
        shutil.copytree(ROOT / "function_app", app / "function_app",
                        ignore=shutil.ignore_patterns("__pycache__"))
        for name in ("host.json", "local.settings.json"):
            shutil.copy(ROOT / name, app / name)
        bare, funcpy = [], []
        for _ in range(args.runs):
            port = free_port()
            bare.append(first_200([sys.executable, str(BENCH / "bare_starlette.py"), str(port)],
                                  BENCH, f"http://127.0.0.1:{port}/api/ping"))
            port = free_port()
            funcpy.append(first_200([FUNC_PY, "start", "--port", str(port)], app,
                                    f"http://127.0.0.1:{port}/api/hello/bench"))
    print(f"Start to first 200, {args.runs} runs, medians (min-max)")
    print(f"  bare Starlette + uvicorn: {median(bare):.3f} s ({min(bare):.3f}-{max(bare):.3f})")
    print(f"  func-py start, demo app: {median(funcpy):.3f} s ({min(funcpy):.3f}-{max(funcpy):.3f})"
          "   target <= 1.0 s")
    print(f"  ratio func-py / bare: {median(funcpy) / median(bare):.2f}   target <= 3.0")
    print(table_row("start-up to first 200: seconds (baseline: bare Starlette)", median(funcpy),
                    median(bare), "≤ 3.0", ".3f"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
