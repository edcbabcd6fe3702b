"""The cost of development mode's replay check: the seed's chain of 500 activities (and a chain
of 100) with every episode replayed from history, as Azure does (FUNCPY_REPLAY_CHECK=1, the
development default), next to the live session alone (=0, what production runs), same run.

Run: .venv/bin/python bench/replay_check.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
from pathlib import Path

import aiohttp
from common import FUNC_PY, free_port, median, start, stop, wait_http
from durable import BENCH, run_one


async def chains(base: str, rounds: int) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    async with aiohttp.ClientSession(base_url=base,
                                     timeout=aiohttp.ClientTimeout(total=300)) as c:
        await run_one(c, "chain", 5)  # warm-up
        for _ in range(rounds):
            out.setdefault("chain500", []).append(500 / await run_one(c, "chain", 500))
            out.setdefault("chain100", []).append(100 / await run_one(c, "chain", 100))
    return out


def measure(check: str, rounds: int, tmp: Path) -> dict[str, list[float]]:
    app = tmp / f"app{check}"
    shutil.copytree(BENCH / "apps" / "durable", app)
    port = free_port()
    proc = start([FUNC_PY, "start", "--no-reload", "--port", str(port)], cwd=app,
                 env={"FUNCPY_REPLAY_CHECK": check}, log=tmp / f"host{check}.log")
    try:
        wait_http(f"http://127.0.0.1:{port}/admin/host/ping")
        return asyncio.run(chains(f"http://127.0.0.1:{port}", rounds))
    finally:
        stop(proc)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        off = measure("0", args.rounds, Path(tmp))
        on = measure("1", args.rounds, Path(tmp))
    print(f"Replay check (SQLite, 1 host), {args.rounds} rounds, medians: activities/s")
    for key, label in (("chain500", "chain of 500"), ("chain100", "chain of 100")):
        a, b = median(off[key]), median(on[key])
        print(f"  {label:<14} live session only {a:>8.1f}   with the replay check {b:>8.1f}"
              f"   ({b / a:.2f}x)   rounds off: {', '.join(f'{v:.0f}' for v in off[key])};"
              f" on: {', '.join(f'{v:.0f}' for v in on[key])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
