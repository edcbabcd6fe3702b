"""Durable throughput of the task hub against the physical limit it works under (issue #14).

SQLite (default): one orchestration chaining 500 activities, one fanning out 2,000, 300
one-activity orchestrations started through the management API (completion seen from outside
with one list query per poll, not 300 pollers), the cost per activity of a chain of 1,000 vs
a chain of 100, and the development-mode replay check's cost on the chain of 500 (a second host
with FUNCPY_REPLAY_CHECK=1). The baseline is raw SQLite measured in the same run: Python's
`sqlite3` on a WAL file with synchronous=NORMAL, one queue-like INSERT + DELETE per commit
(func-py's own `SqliteStore` put/get/delete cycle is printed beside it). A chain activity
needs two commits (its result, the episode), so its ceiling is half the raw commit rate.

PostgreSQL (--postgres URL): a chain of 300 on one host against the SQLite chain of 300 of the
same run, with database round trips per activity and per episode counted from the hosts'
`taskHub.roundTrips` (status polls subtracted), and a fan-out of 2,000 on one host and on
`--hosts N` hosts sharing the hub.

Run: .venv/bin/python bench/durable.py [--rounds 3] [--postgres URL --hosts 2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable
from pathlib import Path

import aiohttp
import httpx
from common import (
    API,
    FUNC_PY,
    durable_bench_app,
    free_port,
    median,
    raw_sqlite_commit_rate,
    run_orchestration,
    start,
    stop,
    wait_http,
)

BENCH = Path(__file__).resolve().parent
TIMEOUT = aiohttp.ClientTimeout(total=300)


async def run_one(client: aiohttp.ClientSession, name: str, arg: int) -> float:
    """Start one orchestration and return the seconds until it completed."""
    return (await run_orchestration(client, name, arg))[0]


async def run_many(client: aiohttp.ClientSession, count: int) -> float:
    """Start `count` one-activity orchestrations through the management API (32 requests in
    flight) and return the seconds until one list query finds none of them pending or running.
    That all completed is checked afterwards, outside the time measured."""
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
    elapsed = time.perf_counter() - t0
    done = 0
    token = None
    while True:  # the list is paged (100 a page): follow the continuation token
        headers = {"x-ms-continuation-token": token} if token else {}
        async with client.get(f"{API}/instances/", headers=headers, params={
                "runtimeStatus": "Completed", "instanceIdPrefix": f"{tag}-"}) as r:
            done += len(await r.json())
            token = r.headers.get("x-ms-continuation-token")
        if not token:
            break
    assert done == count, f"only {done} of {count} completed"
    return elapsed


def status(port: int) -> dict:
    return httpx.get(f"http://127.0.0.1:{port}/admin/host/status").json().get("taskHub") or {}


def round_trips(port: int) -> int:
    return int(status(port).get("roundTrips") or 0)


def rss_peak_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def store_cycle_rate(tmp: Path, n: int = 3000) -> float:
    """func-py's `SqliteStore`: put + get + delete cycles, 2 commits each; commits/s."""
    from funcpy.host.taskhub.sqlite import SqliteStore

    store = SqliteStore(tmp / "store.sqlite", "Raw")
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


class Hosts:
    """Hosts of one app copy (SQLite, or a shared PostgreSQL hub), stopped on exit."""

    def __init__(self, tmp: Path, tag: str, postgres: str | None, env: dict[str, str]):
        self.app, self.env = durable_bench_app(tmp / tag, "durable", postgres, "Bench")
        self.env.update(env)
        self.tmp, self.tag = tmp, tag
        self.procs: list[subprocess.Popen[bytes]] = []
        self.ports: list[int] = []

    def add(self) -> int:
        port = free_port()
        self.procs.append(start([FUNC_PY, "start", "--no-reload", "--port", str(port)],
                                cwd=self.app, env=self.env,
                                log=self.tmp / f"{self.tag}{len(self.procs)}.log"))
        self.ports.append(port)
        wait_http(f"http://127.0.0.1:{port}/admin/host/ping")
        return port

    def balanced(self, timeout: float = 30.0) -> None:
        """Wait until every host serves some partitions (the split takes a few seconds)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(status(p).get("partitions") for p in self.ports):
                return
            time.sleep(0.1)
        raise TimeoutError("the hosts did not split the partitions")

    def rss(self) -> float:
        return max((rss_peak_mb(p.pid) for p in self.procs), default=float("nan"))

    def trips(self) -> int:
        return sum(round_trips(p) for p in self.ports)

    def cpu(self) -> float:
        return sum(cpu_seconds(p.pid) for p in self.procs)

    def close(self) -> None:
        for p in self.procs:
            stop(p)

    def __enter__(self) -> Hosts:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def session(port: int) -> aiohttp.ClientSession:
    # aiohttp (installed with the Durable SDK) as the load generator: several times cheaper
    # per request than httpx, so the client steals less CPU from the host on 2 cores.
    return aiohttp.ClientSession(base_url=f"http://127.0.0.1:{port}", timeout=TIMEOUT)


def _stat_cpu(stat: str) -> float:
    """User + system CPU seconds from the text of a /proc/PID/stat."""
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (a figure other load on the machine
    disturbs far less than wall time)."""
    return _stat_cpu(Path(f"/proc/{pid}/stat").read_text())


def postgres_cpu_seconds() -> float | None:
    """CPU time so far of this machine's PostgreSQL server processes (None when none is
    visible: a remote server)."""
    total, seen = 0.0, False
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # ended meanwhile
        if text[text.index("(") + 1:text.rindex(")")] != "postgres":
            continue
        seen = True
        total += _stat_cpu(text)
    return total if seen else None


async def sqlite_scenarios(port: int, pid: int, rounds: int) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}

    async def timed(key: str, n: int, run: Awaitable[float]) -> None:
        cpu = cpu_seconds(pid)
        out.setdefault(key, []).append(n / await run)
        out.setdefault(f"{key}_cpu_ms", []).append((cpu_seconds(pid) - cpu) * 1000 / n)

    async with session(port) as c:
        await run_one(c, "chain", 5)  # warm-up: imports, first episodes
        for _ in range(rounds):
            await timed("chain500", 500, run_one(c, "chain", 500))
            await timed("fanout2000", 2000, run_one(c, "fanout", 2000))
            await timed("orch300", 300, run_many(c, 300))
            t100 = await run_one(c, "chain", 100) / 100
            t1000 = await run_one(c, "chain", 1000) / 1000
            out.setdefault("ms100", []).append(t100 * 1000)
            out.setdefault("ms1000", []).append(t1000 * 1000)
    return out


async def chains(port: int, rounds: int, n: int) -> list[float]:
    async with session(port) as c:
        await run_one(c, "chain", 5)
        return [n / await run_one(c, "chain", n) for _ in range(rounds)]


async def poll_cost(hosts: Hosts, c: aiohttp.ClientSession, polls: int = 50) -> float:
    """Round trips one status poll costs (to subtract them from a scenario's count)."""
    async with c.post(f"{API}/orchestrators/single", json=1) as r:
        iid = (await r.json())["id"]
    await asyncio.sleep(1.0)  # let it finish, so that nothing else runs while counting
    before = hosts.trips()
    for _ in range(polls):
        async with c.get(f"{API}/instances/{iid}", params={"showInput": "false"}) as s:
            await s.read()
    return (hosts.trips() - before) / polls


async def counted_rounds(hosts: Hosts, c: aiohttp.ClientSession, name: str, n: int,
                         rounds: int, per_poll: float) -> dict[str, list[float]]:
    """`rounds` runs of orchestration `name` over `n` activities: activities/s under `name`,
    and the hosts' store round trips per activity with the status polls' subtracted."""
    out: dict[str, list[float]] = {}
    for _ in range(rounds):
        before = hosts.trips()
        cpu, pg = hosts.cpu(), postgres_cpu_seconds()
        seconds, _, polls = await run_orchestration(c, name, n)
        trips = hosts.trips() - before - polls * per_poll
        out.setdefault(name, []).append(n / seconds)
        out.setdefault("trips_per_activity", []).append(trips / n)
        # Cores kept busy: the hosts' and the database server's CPU over the wall time.
        pg_after = postgres_cpu_seconds()
        out.setdefault("host_cores", []).append((hosts.cpu() - cpu) / seconds)
        if pg is not None and pg_after is not None:
            out.setdefault("pg_cores", []).append((pg_after - pg) / seconds)
    return out


async def pg_chain(hosts: Hosts, rounds: int, n: int) -> dict[str, list[float]]:
    async with session(hosts.ports[0]) as c:
        await run_one(c, "chain", 5)
        per_poll = await poll_cost(hosts, c)
        out = await counted_rounds(hosts, c, "chain", n, rounds, per_poll)
    out["per_poll"] = [per_poll]
    return out


async def pg_fanout(hosts: Hosts, rounds: int, n: int, per_poll: float
                    ) -> dict[str, list[float]]:
    async with session(hosts.ports[0]) as c:
        await run_one(c, "fanout", 50)
        return await counted_rounds(hosts, c, "fanout", n, rounds, per_poll)


def row(label: str, ours: float, base: float | None, goal: str, rounds: list[float],
        fmt: str = ",.0f") -> str:
    ratio = f"{ours / base:.2f}" if base else "—"
    base_s = format(base, fmt) if base else "—"
    return (f"| {label} | {format(ours, fmt)} | {base_s} | {ratio} | {goal} |"
            f"  rounds: {', '.join(format(v, fmt) for v in rounds)}")


def sqlite_main(args: argparse.Namespace, tmp: Path) -> int:
    raw = median([raw_sqlite_commit_rate(tmp / f"raw{i}.sqlite") for i in range(3)])
    store = store_cycle_rate(tmp)
    with Hosts(tmp, "live", None, {"FUNCPY_REPLAY_CHECK": "0"}) as hosts:
        port = hosts.add()
        res = asyncio.run(sqlite_scenarios(port, hosts.procs[0].pid, args.rounds))
        rss = hosts.rss()
    with Hosts(tmp, "check", None, {"FUNCPY_REPLAY_CHECK": "1"}) as hosts:
        checked = asyncio.run(chains(hosts.add(), args.rounds, 500))
        rss = max(rss, hosts.rss())
    m = {k: median(v) for k, v in res.items()}
    print(f"Durable benchmark (SQLite, 1 host), {args.rounds} rounds, medians")
    print(f"  raw SQLite commits/s (sqlite3, WAL, synchronous=NORMAL, INSERT+DELETE per commit,"
          f" same run): {raw:,.0f};  func-py SqliteStore put/get/delete: {store:,.0f} commits/s")
    print("| measure | func-py | baseline | ratio | goal |")
    print("|---|---|---|---|---|")
    print(row("chain of 500: activities/s (baseline raw ÷ 2)", m["chain500"], raw / 2,
              "≥ 0.40", res["chain500"]))
    print(row("fan-out of 2,000: activities/s", m["fanout2000"], raw, "≥ 1.0",
              res["fanout2000"]))
    print(row("300 one-activity orchestrations: /s", m["orch300"], raw, "≥ 0.15",
              res["orch300"]))
    print(row("chain of 1,000 vs 100: ms per activity", m["ms1000"], m["ms100"], "≤ 1.1",
              res["ms1000"], ".3f"))
    print(row("chain of 500 with the replay check: activities/s (baseline: without)",
              median(checked), m["chain500"], "reported", checked))
    print("  host CPU per item (ms; rounds): " + ";  ".join(
        f"{label} {median(res[key + '_cpu_ms']):.3f} ("
        f"{', '.join(f'{v:.3f}' for v in res[key + '_cpu_ms'])})"
        for label, key in (("chain", "chain500"), ("fan-out", "fanout2000"),
                           ("orchestration", "orch300"))))
    print(f"  replay check cost: {1000 / median(checked) - 1000 / m['chain500']:.3f} ms per "
          "activity on the chain of 500")
    print(f"  peak RSS of the hosts: {rss:.0f} MB (goal < 100)")
    return 0


def postgres_main(args: argparse.Namespace, tmp: Path) -> int:
    n = 300
    with Hosts(tmp, "sqlite", None, {}) as hosts:
        lite = asyncio.run(chains(hosts.add(), args.rounds, n))
        rss = hosts.rss()
    with Hosts(tmp, "pg", args.postgres, {}) as hosts:
        hosts.add()
        hosts.balanced()
        chain = asyncio.run(pg_chain(hosts, args.rounds, n))
        one = asyncio.run(pg_fanout(hosts, args.rounds, 2000, chain["per_poll"][0]))
        many = None
        if args.hosts > 1:
            for _ in range(args.hosts - 1):
                hosts.add()
            hosts.balanced()
            many = asyncio.run(pg_fanout(hosts, args.rounds, 2000, chain["per_poll"][0]))
        rss = max(rss, hosts.rss())
    print(f"Durable benchmark (PostgreSQL), {args.rounds} rounds, medians")
    print("| measure | func-py | baseline | ratio | goal |")
    print("|---|---|---|---|---|")
    print(row(f"PostgreSQL chain of {n}, 1 host: activities/s (baseline: SQLite chain)",
              median(chain["chain"]), median(lite), "≥ 0.5", chain["chain"]))
    print(row("  round trips per activity (status polls subtracted)",
              median(chain["trips_per_activity"]), None, "≤ 3",
              chain["trips_per_activity"], ".2f"))
    print(row("PostgreSQL fan-out of 2,000, 1 host: activities/s", median(one["fanout"]),
              None, "", one["fanout"]))
    print(row("  round trips per activity (status polls subtracted)",
              median(one["trips_per_activity"]), None, "",
              one["trips_per_activity"], ".2f"))
    if many is not None:
        print(row(f"PostgreSQL fan-out of 2,000, {args.hosts} hosts vs 1: activities/s",
                  median(many["fanout"]), median(one["fanout"]), "≥ 1.8", many["fanout"]))
        print(row("  round trips per activity", median(many["trips_per_activity"]), None, "",
                  many["trips_per_activity"], ".2f"))
        print(scaling_ceiling(one, many, args.hosts))
    print(f"  SQLite chain of {n} rounds: {', '.join(f'{v:,.0f}' for v in lite)};"
          f" one status poll costs {chain['per_poll'][0]:.1f} round trips")
    print(f"  peak RSS of the hosts: {rss:.0f} MB (goal < 100)")
    return 0


def scaling_ceiling(one: dict[str, list[float]], many: dict[str, list[float]],
                    hosts: int) -> str:
    """What this machine allows: one host's fan-out keeps `busy` cores busy (its own process
    and the database server's); with `cores` in all, no number of hosts can go past
    cores / busy times one host's rate, whatever func-py does. A table row, and the cores
    busy with `hosts` hosts."""
    cores = os.cpu_count() or 1
    host1, hostn = median(one["host_cores"]), median(many["host_cores"])
    if not one.get("pg_cores"):  # a remote server: its CPU is not ours to see
        return f"  cores busy: hosts {host1:.2f} (1 host), {hostn:.2f} ({hosts} hosts)"
    pg1, pgn = median(one["pg_cores"]), median(many["pg_cores"])
    cap = min(float(hosts), cores / (host1 + pg1))
    return (f"| {hosts} hosts vs 1: what {cores} cores allow ({cores} ÷ the cores 1 host's "
            f"fan-out keeps busy: func-py {host1:.2f} + PostgreSQL {pg1:.2f}) | {cap:.2f} | — "
            f"| — | |\n  cores busy with {hosts} hosts: func-py {hostn:.2f} + PostgreSQL "
            f"{pgn:.2f} of {cores}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--postgres", help="libpq URL: run on a PostgreSQL task hub")
    ap.add_argument("--hosts", type=int, default=2, help="hosts sharing the PostgreSQL hub")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="durable-bench-"))
    try:
        return (postgres_main if args.postgres else sqlite_main)(args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
