"""Durable Entities throughput and latency on the embedded SQLite task hub (or PostgreSQL with
--postgres URL), under a real `func-py start` (issue #10).

Scenarios, each round, all against one counter entity function (`add`, `get`):

- signals to one entity: one orchestration signals one counter N times then calls its `get`
  (signals from one sender arrive in order: the call answers once all N are applied); and N
  signals POSTed from outside through the HTTP API (32 in flight) until GET shows the count.
- signals over 100 entities: the same two shapes, the signals round-robin over 100 counters;
  the orchestration then calls `get` on all 100 at once (task_all); from outside, one entity
  list query (fetchState) is polled until the counts add up.
- call_entity round trips: one orchestration making M sequential `call_entity(add)`; the
  per-call times come from the instance history (one call spans from its EventSent to the
  next EventSent, both stamped at the start of the episode that sent them).

The baseline, same run and same host: a chain of 500 activities (activities/s) for the
one-entity figures and the call chain, a fan-out of N activities for the spread figures.

Run: .venv/bin/python bench/entities.py [--rounds 5] [--postgres URL]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import itertools
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

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
SIGNALS = 2000  # signals per scenario (and the size of the fan-out baseline)
KEYS = 100  # entities in the spread scenarios
CALLS = 300  # sequential call_entity in the latency scenario
CHAIN = 500  # activities in the chain baseline
IN_FLIGHT = 32  # concurrent POSTs of the HTTP signal scenarios
T = TypeVar("T")


def parse_ts(text: str) -> float:
    """A history timestamp (ISO, UTC, `...Z`) as epoch seconds."""
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


async def run_one(client: aiohttp.ClientSession, name: str, arg: object) -> tuple[float, str]:
    """Start one orchestration; the seconds until it completed (seen from outside), its id."""
    seconds, iid, _ = await run_orchestration(client, name, arg)
    return seconds, iid


async def post_signals(client: aiohttp.ClientSession, keys: list[str], count: int) -> float:
    """POST `count` `add 1` signals round-robin over `keys`, IN_FLIGHT at a time; returns the
    perf_counter time the last 202 arrived."""
    sem = asyncio.Semaphore(IN_FLIGHT)

    async def one(i: int) -> None:
        async with sem, client.post(f"{API}/entities/Counter/{keys[i % len(keys)]}",
                                    params={"op": "add"}, json=1) as r:
            if r.status != 202:
                raise RuntimeError(f"signal answered {r.status}: {await r.text()}")

    await asyncio.gather(*(one(i) for i in range(count)))
    return time.perf_counter()


async def http_one(client: aiohttp.ClientSession, key: str) -> tuple[float, float]:
    """SIGNALS signals to one counter over HTTP: (seconds until GET shows them all, seconds of
    that after the last POST was answered)."""
    t0 = time.perf_counter()
    posted = await post_signals(client, [key], SIGNALS)
    while True:
        async with client.get(f"{API}/entities/Counter/{key}") as r:
            value = await r.json() if r.status == 200 else 0
        if value >= SIGNALS:
            break
        await asyncio.sleep(0.01)
    done = time.perf_counter()
    assert value == SIGNALS, f"counter {key} is {value}, not {SIGNALS}"
    return done - t0, done - posted


async def counters(client: aiohttp.ClientSession, prefix: str) -> dict[str, int]:
    """The counters whose key starts with `prefix`, from the entity list query (all pages,
    with their states)."""
    found: dict[str, int] = {}
    token = None
    while True:
        headers = {"x-ms-continuation-token": token} if token else {}
        async with client.get(f"{API}/entities/Counter", headers=headers,
                              params={"fetchState": "true", "top": "1000"}) as r:
            r.raise_for_status()
            for e in await r.json():
                if e["entityId"]["key"].startswith(prefix):
                    found[e["entityId"]["key"]] = e["state"]
            token = r.headers.get("x-ms-continuation-token")
        if not token:
            return found


async def http_spread(client: aiohttp.ClientSession, prefix: str) -> tuple[float, float]:
    """SIGNALS signals over KEYS counters over HTTP, until the entity list query shows their
    counts add up to SIGNALS."""
    t0 = time.perf_counter()
    posted = await post_signals(client, [f"{prefix}{i}" for i in range(KEYS)], SIGNALS)
    while (total := sum((await counters(client, prefix)).values())) < SIGNALS:
        await asyncio.sleep(0.01)
    done = time.perf_counter()
    assert total == SIGNALS, f"counters {prefix}* add up to {total}, not {SIGNALS}"
    return done - t0, done - posted


async def delete_all(client: aiohttp.ClientSession, prefix: str) -> None:
    """Delete a round's counters (untimed), so every round lists as few entities."""
    sem = asyncio.Semaphore(IN_FLIGHT)

    async def one(key: str) -> None:
        async with sem, client.delete(f"{API}/entities/Counter/{key}") as r:
            r.raise_for_status()

    await asyncio.gather(*(one(k) for k in await counters(client, prefix)))
    while await counters(client, prefix):
        await asyncio.sleep(0.05)


async def call_times(client: aiohttp.ClientSession, iid: str) -> tuple[list[float], list[float]]:
    """Per-call milliseconds of a call_chain instance from its history: the whole round trip
    (EventSent to the next EventSent, or to ExecutionCompleted for the last), and the part
    until the entity ran the operation (EventSent to the response's stamp, taken when the
    entity's batch started)."""
    async with client.get(f"{API}/instances/{iid}", params={"showHistory": "true"}) as r:
        history = (await r.json())["historyEvents"]
    sent = [(parse_ts(e["Timestamp"]), json.loads(e["Input"])["id"])
            for e in history if e["EventType"] == "EventSent"]
    raised = {e["Name"]: parse_ts(e["Timestamp"]) for e in history
              if e["EventType"] == "EventRaised"}
    end = next(parse_ts(e["Timestamp"]) for e in history
               if e["EventType"] == "ExecutionCompleted")
    starts = [t for t, _ in sent] + [end]
    trips = [(b - a) * 1000 for a, b in itertools.pairwise(starts)]
    legs = [(raised[rid] - t) * 1000 for t, rid in sent]
    return trips, legs


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def round_trips(port: int) -> int:
    body = httpx.get(f"http://127.0.0.1:{port}/admin/host/status").json()
    return int((body.get("taskHub") or {}).get("roundTrips") or 0)


async def scenarios(base: str, port: int, rounds: int
                    ) -> tuple[dict[str, list[float]], dict[str, float]]:
    out: dict[str, list[float]] = {}
    trips: dict[str, float] = {}  # database round trips per operation (first round)

    def add(key: str, value: float) -> None:
        out.setdefault(key, []).append(value)

    # aiohttp (installed with the Durable SDK) as the load generator, as in bench/durable.py:
    # cheaper per request than httpx, so the client steals less CPU from the host (2 cores).
    async with aiohttp.ClientSession(base_url=base,
                                     timeout=aiohttp.ClientTimeout(total=120)) as c:
        # Warm-up: imports, first episodes, first entity batches.
        await run_one(c, "chain", 5)
        await run_one(c, "signal_one", {"key": "warm", "n": 10})
        await run_one(c, "call_chain", {"key": "warm", "n": 5})
        await post_signals(c, ["warm"], 50)
        for r in range(rounds):
            tag = f"r{r}t{time.monotonic_ns()}"

            async def measured(key: str, ops: int, work: Awaitable[T], first: bool = r == 0
                               ) -> T:
                before = round_trips(port) if first else 0
                result = await work
                if first:
                    trips[key] = (round_trips(port) - before) / ops
                return result

            t, _ = await measured("chain", CHAIN, run_one(c, "chain", CHAIN))
            add("chain", CHAIN / t)
            t, _ = await measured("fanout", SIGNALS, run_one(c, "fanout", SIGNALS))
            add("fanout", SIGNALS / t)
            t, _ = await measured("orch_one", SIGNALS, run_one(
                c, "signal_one", {"key": f"{tag}-one", "n": SIGNALS}))
            add("orch_one", SIGNALS / t)
            t, lag = await measured("http_one", SIGNALS, http_one(c, f"{tag}-h1"))
            add("http_one", SIGNALS / t)
            add("http_one_lag", lag * 1000)
            t, _ = await measured("orch_spread", SIGNALS, run_one(
                c, "signal_spread", {"prefix": f"{tag}-s", "keys": KEYS, "n": SIGNALS}))
            add("orch_spread", SIGNALS / t)
            t, lag = await measured("http_spread", SIGNALS, http_spread(c, f"{tag}-hs"))
            add("http_spread", SIGNALS / t)
            add("http_spread_lag", lag * 1000)
            t, iid = await measured("calls", CALLS, run_one(
                c, "call_chain", {"key": f"{tag}-c", "n": CALLS}))
            add("calls", CALLS / t)
            add("call_mean", t / CALLS * 1000)
            per_call, legs = await call_times(c, iid)
            assert len(per_call) == CALLS, f"{len(per_call)} calls in the history, not {CALLS}"
            add("call_p50", statistics.median(per_call))
            add("call_p99", pct(per_call, 0.99))
            add("call_leg_p50", statistics.median(legs))
            await delete_all(c, f"{tag}-")
    return out, trips


def shown_url(url: str) -> str:
    """The URL with any password masked, for the rerun line."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--postgres", help="libpq URL: run on a PostgreSQL task hub")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        app, env = durable_bench_app(Path(tmp), "entities", args.postgres, "BenchEnt")
        port = free_port()
        proc = start([FUNC_PY, "start", "--no-reload", "--port", str(port)], cwd=app, env=env,
                     log=Path(tmp) / "host.log")
        t0 = time.perf_counter()
        try:
            wait_http(f"http://127.0.0.1:{port}/admin/host/ping")
            res, trips = asyncio.run(scenarios(f"http://127.0.0.1:{port}", port, args.rounds))
        finally:
            stop(proc)
        took = time.perf_counter() - t0
    m = {k: median(v) for k, v in res.items()}
    where = "PostgreSQL, 1 host" if args.postgres else "SQLite, 1 host"
    print(f"Entity benchmark ({where}), {args.rounds} rounds, medians; {took:.0f} s")
    rerun = f".venv/bin/python bench/entities.py --rounds {args.rounds}"
    if args.postgres:
        rerun += f" --postgres {shown_url(args.postgres)}"
    print(f"  rerun: {rerun}")
    print(f"  baseline, same run: chain of {CHAIN} activities {m['chain']:,.0f}/s; "
          f"fan-out of {SIGNALS} activities {m['fanout']:,.0f}/s")

    def row(label: str, key: str, unit: str, base: str | None = None) -> None:
        ratio = f"{m[key] / m[base]:>5.2f}x {base}" if base else ""
        per_trip = f"  db {trips[key]:.1f}/op" if args.postgres and key in trips else ""
        print(f"  {label:<52}{m[key]:>9,.1f} {unit:<5}{ratio:<14}{per_trip}   "
              f"(rounds: {', '.join(f'{v:,.1f}' for v in res[key])})")

    print(f"  {'':<52}{'median':>9} {'':<5}{'vs baseline':<14}")
    row(f"{SIGNALS} signals, 1 entity, from an orchestration", "orch_one", "/s", "chain")
    row(f"{SIGNALS} signals, 1 entity, HTTP POSTs (c={IN_FLIGHT})", "http_one", "/s", "chain")
    row("  last POST answered to count seen", "http_one_lag", "ms")
    row(f"{SIGNALS} signals, {KEYS} entities, from an orchestration", "orch_spread", "/s",
        "fanout")
    row(f"{SIGNALS} signals, {KEYS} entities, HTTP POSTs (c={IN_FLIGHT})", "http_spread", "/s",
        "fanout")
    row("  last POST answered to counts seen", "http_spread_lag", "ms")
    row(f"{CALLS} sequential call_entity: calls", "calls", "/s", "chain")
    row("  mean per call (total / calls, from outside)", "call_mean", "ms")
    row("  per call p50 (history: EventSent to next)", "call_p50", "ms")
    row("  per call p99 (history: EventSent to next)", "call_p99", "ms")
    row("  p50 of EventSent to the entity's batch start", "call_leg_p50", "ms")
    if args.postgres:
        print("  db: database round trips per signal / call / activity, first round, status "
              f"polling included (chain {trips['chain']:.1f}, fan-out {trips['fanout']:.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
