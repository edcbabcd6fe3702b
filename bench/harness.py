"""The test harness (funcpy.host.testing) against a started host, same run: wall time per test.

Scenarios (issue #12): the demo's stock-price monitor (function_app/orders.py `CheckStockPrice`,
started over HTTP by `StartStockMonitor`) checking every 2 minutes for a day (720 checks, a
threshold never reached), and the seed's chain of 500 activities (bench/apps/durable). The
harness skips the durable timers; a started host cannot, so it runs the monitor with a 0-second
interval (the same 720 checks and timers, none waited for: the engine's own time) and the day
itself is its timers' 86,400 s. Both run with development mode's replay check (the default of
`func-py start` and always on in the harness); a harness's start-up is timed on its own.

Run: .venv/bin/python bench/harness.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from common import FUNC_PY, ROOT, free_port, median, start, stop, wait_http

BENCH = Path(__file__).resolve().parent
API = "/runtime/webhooks/durabletask"
CHECKS = 720
DAY = {"STOCK_MONITOR_INTERVAL_SECONDS": "120", "STOCK_MONITOR_MAX_CHECKS": str(CHECKS)}
NO_WAIT = {"STOCK_MONITOR_INTERVAL_SECONDS": "0", "STOCK_MONITOR_MAX_CHECKS": str(CHECKS)}


def copy_demo(tmp: Path) -> Path:
    app = tmp / "demo"
    shutil.copytree(ROOT / "function_app", app / "function_app",
                    ignore=shutil.ignore_patterns("__pycache__", "tests"))
    for name in ("host.json", "local.settings.json"):
        shutil.copy(ROOT / name, app / name)
    return app


def copy_chain_app(tmp: Path) -> Path:
    app = tmp / "durable"
    shutil.copytree(BENCH / "apps" / "durable", app)
    return app


def monitor_body(status: dict[str, Any]) -> None:
    assert status["runtimeStatus"] == "Completed", status
    assert status["output"]["checks"] == CHECKS, status


# -- the harness, in this process ---------------------------------------------------------------


def harness_monitor(app: Path, settings: dict[str, str]) -> tuple[float, float]:
    """(seconds to open the harness, seconds from the POST to the instance's end)."""
    from funcpy.host.testing import open_app

    t0 = time.perf_counter()
    with open_app(app, settings) as h:
        t1 = time.perf_counter()
        r = h.http.post("/api/monitors/CTSO", json={"threshold": 1e9})
        r.raise_for_status()
        monitor_body(h.wait(r.json()["id"], timeout=600))
        t2 = time.perf_counter()
    return t1 - t0, t2 - t1


def harness_chain(app: Path, n: int) -> float:
    from funcpy.host.testing import open_app

    with open_app(app) as h:
        t0 = time.perf_counter()
        assert h.result(h.start("chain", n), timeout=600) == n * (n - 1) // 2
        return time.perf_counter() - t0


# -- a started host ----------------------------------------------------------------------------


def poll(c: httpx.Client, iid: str) -> dict[str, Any]:
    while True:
        body: dict[str, Any] = c.get(f"{API}/instances/{iid}",
                                     params={"showInput": "false"}).json()
        if body["runtimeStatus"] not in ("Pending", "Running"):
            return body
        time.sleep(0.01)


def host_monitor(c: httpx.Client) -> float:
    t0 = time.perf_counter()
    r = c.post("/api/monitors/CTSO", json={"threshold": 1e9})
    r.raise_for_status()
    monitor_body(poll(c, r.json()["id"]))
    return time.perf_counter() - t0


def host_chain(c: httpx.Client, n: int) -> float:
    t0 = time.perf_counter()
    r = c.post(f"{API}/orchestrators/chain", json=n)
    r.raise_for_status()
    body = poll(c, r.json()["id"])
    assert body["runtimeStatus"] == "Completed", body
    return time.perf_counter() - t0


class StartedHost:
    def __init__(self, app: Path, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.proc = start([FUNC_PY, "start", "--no-reload", "--port", str(self.port)], cwd=app,
                          env=env, log=log)
        wait_http(f"http://127.0.0.1:{self.port}/admin/host/ping")
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=60)

    def close(self) -> None:
        self.client.close()
        stop(self.proc)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    res: dict[str, list[float]] = {}

    def add(key: str, value: float) -> None:
        res.setdefault(key, []).append(value)

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        demo, chain_app = copy_demo(tmp), copy_chain_app(tmp)
        harness_chain(chain_app, 5)  # warm-up: the imports of the first harness
        hosts = [StartedHost(demo, {**NO_WAIT, "FUNCPY_TASKHUB_PATH": str(tmp / "demo.sqlite")},
                             tmp / "demo.log"),
                 StartedHost(chain_app, {"FUNCPY_TASKHUB_PATH": str(tmp / "chain.sqlite")},
                             tmp / "chain.log")]
        try:
            host_chain(hosts[1].client, 5)  # warm-up
            for _ in range(args.rounds):
                opened, waited = harness_monitor(demo, DAY)
                add("open", opened)
                add("harness_day", waited)
                add("harness_nowait", harness_monitor(demo, NO_WAIT)[1])
                add("host_nowait", host_monitor(hosts[0].client))
                add("harness_chain", harness_chain(chain_app, 500))
                add("host_chain", host_chain(hosts[1].client, 500))
        finally:
            for h in hosts:
                h.close()

    def row(label: str, key: str, note: str = "") -> None:
        values = ", ".join(f"{v:.2f}" for v in res[key])
        print(f"  {label:<58}{median(res[key]):>8.2f} s   (rounds: {values}){note}")

    print(f"Test harness vs a started host, {args.rounds} rounds, medians of wall time")
    print(f"  stock monitor, {CHECKS} checks (HTTP start, wait for the end):")
    row("harness, every 2 min for a day (timers skipped)", "harness_day",
        f"   virtual day / wall: {86_400 / median(res['harness_day']):,.0f}x")
    print(f"  {'started host, every 2 min for a day':<58}{86_400:>8,} s   (the timers' own time)")
    row("harness, 0 s interval", "harness_nowait")
    row("started host, 0 s interval", "host_nowait")
    print("  chain of 500 activities:")
    row("harness", "harness_chain")
    row("started host", "host_chain")
    row("opening a harness (the demo app)", "open")
    return 0


if __name__ == "__main__":
    sys.exit(main())
