"""Helpers shared by the benchmarks: free ports, starting servers, waiting, medians."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
FUNC_PY = str(Path(sys.executable).with_name("func-py"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float = 30.0) -> float:
    """Poll until `url` answers 200; returns the time it took."""
    start = time.perf_counter()
    deadline = start + timeout
    while time.perf_counter() < deadline:
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return time.perf_counter() - start
        except httpx.HTTPError:
            pass
        time.sleep(0.005)
    raise TimeoutError(f"{url} did not answer 200 within {timeout}s")


def start(cmd: Sequence[str], cwd: Path | None = None, env: dict[str, str] | None = None,
          log: Path | None = None) -> subprocess.Popen[bytes]:
    out = open(log, "wb") if log else subprocess.DEVNULL
    return subprocess.Popen(list(cmd), cwd=cwd, env={**os.environ, **(env or {})},
                            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def durable_bench_app(tmp: Path, name: str, postgres: str | None,
                      hub_prefix: str) -> tuple[Path, dict[str, str]]:
    """A copy of bench/apps/NAME in `tmp` and the environment to run it with: the engine's
    figures (the development-mode replay check is measured by bench/replay_check.py), on a
    fresh PostgreSQL hub when `postgres` is a libpq URL."""
    app = tmp / "app"
    shutil.copytree(Path(__file__).parent / "apps" / name, app)
    env = {"FUNCPY_REPLAY_CHECK": "0"}
    if postgres:
        hub = f"{hub_prefix}{int(time.time())}"
        (app / "host.json").write_text(json.dumps({"version": "2.0", "extensions": {
            "durableTask": {"hubName": hub, "storageProvider": {
                "type": "postgres", "connectionStringName": "BENCH_PG"}}}}))
        env["BENCH_PG"] = postgres
    return app, env


API = "/runtime/webhooks/durabletask"


async def run_orchestration(client: Any, name: str, arg: object) -> tuple[float, str, int]:
    """Start one orchestration through the management API (an aiohttp session on the host)
    and poll its status: the seconds until it completed, seen from outside, its id, and how
    many status polls that took (bench/durable.py subtracts their round trips)."""
    t0 = time.perf_counter()
    async with client.post(f"{API}/orchestrators/{name}", json=arg) as r:
        r.raise_for_status()
        iid = (await r.json())["id"]
    polls = 0
    while True:
        polls += 1
        async with client.get(f"{API}/instances/{iid}", params={"showInput": "false"}) as s:
            body = await s.json()
        if body["runtimeStatus"] == "Completed":
            return time.perf_counter() - t0, iid, polls
        if body["runtimeStatus"] in ("Failed", "Terminated"):
            raise RuntimeError(f"{name} {body['runtimeStatus']}: {body['output']}")
        await asyncio.sleep(0.01)


def raw_sqlite_commit_rate(path: Path, n: int = 5000) -> float:
    """The physical limit a SQLite task hub works against: Python's `sqlite3` on a WAL file
    with synchronous=NORMAL, each transaction one queue-like INSERT and one DELETE (of the
    row the previous transaction inserted), nothing of func-py in the loop. Commits/s."""
    import sqlite3

    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("CREATE TABLE q (id INTEGER PRIMARY KEY AUTOINCREMENT, payload TEXT NOT NULL)")
    conn.execute("INSERT INTO q (payload) VALUES ('x')")
    payload = '{"EventType":5,"Result":"1"}'
    t0 = time.perf_counter()
    for _ in range(n):
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO q (payload) VALUES (?)", (payload,))
        conn.execute("DELETE FROM q WHERE id = (SELECT MIN(id) FROM q)")
        conn.execute("COMMIT")
    rate = n / (time.perf_counter() - t0)
    conn.close()
    return rate


def table_row(measure: str, ours: float, base: float | None, goal: str, fmt: str = ",.0f",
              ratio: float | None = None) -> str:
    """One row of the issue's table, `| measure | func-py | baseline | ratio | goal |`, which
    bench/run_all collects from every script."""
    if ratio is None and base:
        ratio = ours / base
    return (f"| {measure} | {format(ours, fmt)} | {format(base, fmt) if base else '—'} | "
            f"{f'{ratio:.2f}' if ratio is not None else '—'} | {goal} |")
