"""Durable throughput on the embedded SQLite task hub (or PostgreSQL with --postgres URL).

Scenarios (issue #3 targets): one orchestration chaining 500 activities (>= 1,000 activities/s);
one fanning out 2,000 activities and gathering them (>= 3,000/s); 300 one-activity
orchestrations started concurrently over HTTP until all complete (>= 500/s); the cost per
activity of a chain of 1,000 vs a chain of 100 (within 2x); the host's peak RSS. The raw
SQLite commit rate of this machine is measured in the same run as the baseline.

Run: .venv/bin/python bench/durable.py [--rounds 3] [--postgres URL] [--hosts 1]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import httpx
from common import (
    API,
    FUNC_PY,
    durable_bench_app,
    free_port,
    median,
    run_orchestration,
    start,
    stop,
    wait_http,
)

BENCH = Path(__file__).resolve().parent


async def run_one(client: aiohttp.ClientSession, name: str, arg: int) -> float:
    """Start one orchestration and return the seconds until it completed."""
    return (await run_orchestration(client, name, arg))[0]


async def run_many(client: aiohttp.ClientSession, count: int) -> float:
    """Start `count` one-activity orchestrations concurrently (32 requests in flight), then
    wait until none of them is pending or running."""
    t0 = time.perf_counter()
    tag = f"m{time.monotonic_ns()}"
    sem = asyncio.Semaphore(32)

    async def one(i: int) -> None:
        async with sem, client.post(f"{API}/orchestrators/single/{tag}-{i}", json=1) as r:
            r.raise_for_status()

    await asyncio.gather(*(one(i) for i in range(count)))
    while True:
        async with client.get(f"{API}/instances/", params={
                "runtimeStatus": "Pending,Running", "instanceIdPrefix": f"{tag}-",
                "top": "1"}) as r:
            if not await r.json():
                break
        await asyncio.sleep(0.02)
    done: list[dict] = []
    token = None
    while True:  # the list is paged (100 a page): follow the continuation token
        headers = {"x-ms-continuation-token": token} if token else {}
        async with client.get(f"{API}/instances/", headers=headers, params={
                "runtimeStatus": "Completed", "instanceIdPrefix": f"{tag}-"}) as r:
            done += await r.json()
            token = r.headers.get("x-ms-continuation-token")
        if not token:
            break
    assert len(done) == count, f"only {len(done)} of {count} completed"
    return time.perf_counter() - t0


def round_trips(port: int) -> int:
    body = httpx.get(f"http://127.0.0.1:{port}/admin/host/status").json()
    return int((body.get("taskHub") or {}).get("roundTrips") or 0)


def rss_peak_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def sqlite_commit_rate(tmp: Path, n: int = 3000) -> float:
    """Baseline: put + get + delete cycles per second on a raw SqliteStore (2 commits each)."""
    from funcpy.host.taskhub.sqlite import SqliteStore

    store = SqliteStore(tmp / "raw.sqlite", "Raw")
    store.create()
    t0 = time.perf_counter()
    for i in range(n):
        with store.transaction() as tx:
            tx.put_message("q", str(i))
        (m,) = store.get_messages("q", 1, 30)
        with store.transaction() as tx:
            tx.delete_message(m)
    rate = n * 2 / (time.perf_counter() - t0)
    store.close()
    return rate


async def scenarios(base: str, rounds: int) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    # aiohttp (installed with the Durable SDK) as the load generator: several times cheaper per
    # request than httpx, so the client steals less CPU from the host on a 2-core machine.
    async with aiohttp.ClientSession(base_url=base,
                                     timeout=aiohttp.ClientTimeout(total=120)) as c:
        await run_one(c, "chain", 5)  # warm-up: imports, first episodes
        for _ in range(rounds):
            out.setdefault("chain500", []).append(500 / await run_one(c, "chain", 500))
            out.setdefault("fanout2000", []).append(2000 / await run_one(c, "fanout", 2000))
            out.setdefault("orch300", []).append(300 / await run_many(c, 300))
            t100 = await run_one(c, "chain", 100) / 100
            t1000 = await run_one(c, "chain", 1000) / 1000
            out.setdefault("per_act_100_ms", []).append(t100 * 1000)
            out.setdefault("per_act_1000_ms", []).append(t1000 * 1000)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--postgres", help="libpq URL: run on a PostgreSQL task hub")
    ap.add_argument("--hosts", type=int, default=1, help="hosts sharing the hub (PostgreSQL)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        app, env = durable_bench_app(Path(tmp), "durable", args.postgres, "Bench")
        baseline = sqlite_commit_rate(Path(tmp))
        procs = []
        ports = [free_port() for _ in range(args.hosts)]
        for i, port in enumerate(ports):
            procs.append(start([FUNC_PY, "start", "--no-reload", "--port", str(port)], cwd=app,
                               env=env, log=Path(tmp) / f"host{i}.log"))
        try:
            for port in ports:
                wait_http(f"http://127.0.0.1:{port}/admin/host/ping")
            trips0 = sum(round_trips(port) for port in ports)
            res = asyncio.run(scenarios(f"http://127.0.0.1:{ports[0]}", args.rounds))
            trips = sum(round_trips(port) for port in ports) - trips0
            rss = max(rss_peak_mb(p.pid) for p in procs)
        finally:
            for p in procs:
                stop(p)
    where = f"PostgreSQL, {args.hosts} host(s)" if args.postgres else "SQLite, 1 host"
    print(f"Durable benchmark ({where}), {args.rounds} rounds, medians")
    print(f"  raw SQLite commits/s (baseline, same run): {baseline:,.0f}")
    rows = [("chain of 500: activities/s", "chain500", ">= 1000"),
            ("fan-out 2000: activities/s", "fanout2000", ">= 3000"),
            ("300 orchestrations: per s", "orch300", ">= 500"),
            ("chain 100: ms per activity", "per_act_100_ms", ""),
            ("chain 1000: ms per activity", "per_act_1000_ms", "")]
    for label, key, target in rows:
        print(f"  {label:<30}{median(res[key]):>10.1f}   {target}   "
              f"(rounds: {', '.join(f'{v:.1f}' for v in res[key])})")
    ratio = median(res["per_act_1000_ms"]) / median(res["per_act_100_ms"])
    print(f"  cost per activity, 1000 vs 100: {ratio:.2f}x   (target <= 2x)")
    print(f"  peak RSS of the host: {rss:.0f} MB")
    if args.postgres:
        activities = args.rounds * (500 + 2000 + 300 + 100 + 1000)
        print(f"  database round trips per activity: {trips / activities:.1f} "
              "(all scenarios, all hosts, status polling included)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
