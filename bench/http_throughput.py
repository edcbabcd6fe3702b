"""HTTP throughput: the smallest async and sync function under `func-py start` against a bare
Starlette app on the same uvicorn, both driven by wrk (c=32), alternating, several rounds.

Targets (issue #14): async >= 0.8x and sync >= 1.0x of bare Starlette's requests/s, medians of
rounds measured in the same run. bench/http_path.py measures the Python path alone, in process.
Run: .venv/bin/python bench/http_throughput.py [--rounds 3] [--seconds 5]
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from common import FUNC_PY, ROOT, free_port, median, start, stop, table_row, wait_http

BENCH = Path(__file__).resolve().parent


def wrk(url: str, seconds: int, connections: int = 32) -> tuple[float, float]:
    """(requests/s, p99 latency in ms)."""
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url],
                         capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    m = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    assert m, out
    p99 = float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
    return rps, p99


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=5)
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    results: dict[str, list[tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        app = Path(tmp) / "app"
        shutil.copytree(BENCH / "apps" / "http", app)
        for _ in range(args.rounds):
            for name, cmd, cwd in (
                ("bare", [sys.executable, str(BENCH / "bare_starlette.py")], BENCH),
                ("func-py", [FUNC_PY, "start", "--no-reload", "--port"], app),
            ):
                port = free_port()
                proc = start([*cmd, str(port)], cwd=cwd)
                try:
                    wait_http(f"http://127.0.0.1:{port}/api/ping")
                    for kind, path in (("async", "/api/ping"), ("sync", "/api/ping-sync")):
                        wrk(f"http://127.0.0.1:{port}{path}", 1)  # warm-up
                        results.setdefault(f"{name} {kind}", []).append(
                            wrk(f"http://127.0.0.1:{port}{path}", args.seconds))
                finally:
                    stop(proc)
    print(f"HTTP throughput, wrk -t2 -c32, {args.rounds} rounds x {args.seconds}s, medians")
    print(f"{'server':<16}{'req/s':>10}{'p99 ms':>10}{'ratio':>8}{'target':>8}")
    for kind, target in (("async", 0.8), ("sync", 1.0)):
        base = median([r for r, _ in results[f"bare {kind}"]])
        for name in ("bare", "func-py"):
            rows = results[f"{name} {kind}"]
            rps = median([r for r, _ in rows])
            p99 = median([p for _, p in rows])
            ratio = rps / base
            tgt = f">={target}" if name == "func-py" else ""
            print(f"{name + ' ' + kind:<16}{rps:>10.0f}{p99:>10.2f}{ratio:>8.2f}{tgt:>8}")
    print(f"(raw rounds: { {k: [round(r) for r, _ in v] for k, v in results.items()} })")
    for kind, goal in (("async", "≥ 0.80"), ("sync", "≥ 1.0")):
        ours = median([r for r, _ in results[f"func-py {kind}"]])
        base = median([r for r, _ in results[f"bare {kind}"]])
        print(table_row(f"{kind} HTTP function, wrk c=32: req/s (baseline: bare Starlette)",
                        ours, base, goal))
    _ = ROOT
    return 0


if __name__ == "__main__":
    sys.exit(main())
