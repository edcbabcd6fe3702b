"""The dashboard on a full task hub (issue #13): 20,000 instances and one 2,000-activity fan-out.

For the list page (`#/instances`) and the fan-out's page (`#/instance/<id>`, history and
timeline), headless Chromium (Debian's `chromium`, driven by Playwright) loads the page on a
started `func-py start`; the figures are
- page load: from navigation until the page shows its data (the list's rows and counts, the
  timeline's 2,000 bars), median of the rounds;
- the requests the page made, each replayed from here (httpx on loopback, the browser out of
  the loop): the server's time per request, median of the rounds, and the bytes;
next to the management API's own list call (`GET .../instances?top=50`) from the same run.

The 20,000 instances are written straight into the hub file (one transaction per 1,000, as the
host would record finished instances; nothing else of the bench depends on how they got there);
the fan-out runs for real through the host.

Run: .venv/bin/python bench/dashboard.py [--rounds 5] [--instances 20000] [--fanout 2000]
"""

from __future__ import annotations

import argparse
import random
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from common import API, FUNC_PY, durable_bench_app, free_port, median, start, stop, wait_http

DASHBOARD = "/runtime/dashboard/"
STATUSES = ["Completed"] * 90 + ["Failed"] * 5 + ["Terminated"] * 3 + ["Pending"] * 2
BARS = "svg.timeline rect.bar:not(.orch)"


def populate(db: Path, count: int) -> None:
    """`count` finished (and a few pending) instances spread over the last week."""
    from funcpy.host.taskhub.sqlite import SqliteStore
    from funcpy.host.taskhub.store import InstanceRecord

    store = SqliteStore(db, "BenchHub")
    store.create()
    rng = random.Random(7)
    now = time.time()
    try:
        for first in range(0, count, 1000):
            with store.transaction() as tx:
                for i in range(first, min(count, first + 1000)):
                    status = rng.choice(STATUSES)
                    created = now - rng.uniform(60, 7 * 86400)
                    done = status != "Pending"
                    tx.put_instance(InstanceRecord(
                        instance_id=f"seed-{i:06d}", name=rng.choice(["chain", "single"]),
                        execution_id=f"{i:032x}", runtime_status=status, input=str(i),
                        output=(f'"failed on purpose {i}"' if status == "Failed"
                                else str(i) if done else None),
                        custom_status=None, created_at=created,
                        last_updated=created + (rng.uniform(0.01, 30) if done else 0),
                        completed_at=created + 1 if done else None))
    finally:
        store.close()


def run_fanout(c: httpx.Client, n: int) -> str:
    r = c.post(f"{API}/orchestrators/fanout", json=n)
    r.raise_for_status()
    iid = r.json()["id"]
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        body = c.get(f"{API}/instances/{iid}", params={"showInput": "false"}).json()
        if body["runtimeStatus"] == "Completed":
            return str(iid)
        if body["runtimeStatus"] in ("Failed", "Terminated"):
            raise RuntimeError(f"fanout {body['runtimeStatus']}: {body['output']}")
        time.sleep(0.05)
    raise TimeoutError("the fan-out did not complete in 10 minutes")


Request = tuple[str, str]  # (url, continuation token or "")


def server_ms(c: httpx.Client, request: Request, rounds: int) -> tuple[float, int]:
    """Median milliseconds of the GET from here (loopback, the browser out of the loop), and
    the response's size in bytes."""
    url, token = request
    headers = {"x-ms-continuation-token": token} if token else {}
    times, size = [], 0
    for _ in range(rounds):
        t0 = time.perf_counter()
        r = c.get(url, headers=headers)
        times.append((time.perf_counter() - t0) * 1000)
        r.raise_for_status()
        size = len(r.content)
    return median(times), size


def load_page(chrome: Any, base: str, fragment: str,
              ready: Any) -> tuple[float, list[Request]]:
    """Milliseconds from navigation until `ready(page)` returns, and the API requests made."""
    context = chrome.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    seen: list[Request] = []
    page.on("request", lambda req: seen.append(
        (req.url, req.headers.get("x-ms-continuation-token", ""))))
    try:
        t0 = time.perf_counter()
        page.goto(base + DASHBOARD + fragment)
        ready(page)
        took = (time.perf_counter() - t0) * 1000
    finally:
        context.close()
    api = [r for r in seen if urlsplit(r[0]).path.startswith(("/runtime/webhooks", "/admin"))]
    return took, api


# The page's Content-Security-Policy forbids eval, so readiness is read through locators.
def list_ready(page: Any) -> None:
    from playwright.sync_api import expect

    page.locator("table.instances tbody tr").first.wait_for(timeout=60_000)
    expect(page.locator(".count.all strong")).to_have_text(re.compile(r"\d"), timeout=60_000)


def instance_ready(fanout: int) -> Any:
    def ready(page: Any) -> None:
        from playwright.sync_api import expect

        expect(page.locator(BARS)).to_have_count(fanout, timeout=120_000)
    return ready


def label(request: Request) -> str:
    parts = urlsplit(request[0])
    path = parts.path.replace(API, "{api}")
    return path + (f"?{parts.query}" if parts.query else "") + (" +token" if request[1] else "")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--instances", type=int, default=20_000)
    ap.add_argument("--fanout", type=int, default=2_000)
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        print("no chromium on PATH (apt-get install -y chromium)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        app, env = durable_bench_app(tmp, "durable", None, "")
        (app / "host.json").write_text(
            '{"version": "2.0", "extensions": {"durableTask": {"hubName": "BenchHub"}}}')
        db = tmp / "hub.sqlite"
        t0 = time.perf_counter()
        populate(db, args.instances)
        print(f"wrote {args.instances:,} instances in {time.perf_counter() - t0:.1f} s")
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        proc = start([FUNC_PY, "start", "--no-reload", "--port", str(port)], cwd=app,
                     env={**env, "FUNCPY_TASKHUB_PATH": str(db)}, log=tmp / "host.log")
        try:
            wait_http(base + "/admin/host/ping")
            with httpx.Client(base_url=base, timeout=120) as c:
                t0 = time.perf_counter()
                fan = run_fanout(c, args.fanout)
                print(f"fan-out of {args.fanout:,} completed in {time.perf_counter() - t0:.1f} s")
                with sync_playwright() as pw:
                    chrome = pw.chromium.launch(executable_path=chromium, headless=True)
                    try:
                        report(c, chrome, base, fan, args)
                    finally:
                        chrome.close()
        finally:
            stop(proc)
    return 0


def report(c: httpx.Client, chrome: Any, base: str, fan: str, args: argparse.Namespace) -> None:
    pages = {"list page (#/instances)": ("#/instances", list_ready),
             f"instance page, {args.fanout:,}-activity fan-out": (f"#/instance/{fan}",
                                                                  instance_ready(args.fanout))}
    api_ms, _ = server_ms(c, (f"{API}/instances?top=50", ""), args.rounds * 4)
    print(f"\nDashboard on {args.instances:,} instances + a {args.fanout:,}-activity fan-out, "
          f"{args.rounds} rounds, medians, same run")
    print(f"  management API list call (GET {{api}}/instances?top=50): {api_ms:7.1f} ms"
          "   (baseline)")
    for title, (fragment, ready) in pages.items():
        load_page(chrome, base, fragment, ready)  # warm-up: the browser's first start
        loads, urls = [], []
        for _ in range(args.rounds):
            took, urls = load_page(chrome, base, fragment, ready)
            loads.append(took)
        print(f"  {title}: Chromium load to data shown {median(loads):7.1f} ms "
              f"({min(loads):.0f}-{max(loads):.0f}); {len(urls)} API requests")
        total = 0.0
        for request in urls:  # each request the page made, in its order
            ms, size = server_ms(c, request, args.rounds)
            total += ms
            print(f"      {ms:7.1f} ms {size / 1024:8.1f} KiB  {label(request)[:110]}")
        print(f"      {total:7.1f} ms server time in all ({total / api_ms:.1f}x the list call)")


if __name__ == "__main__":
    sys.exit(main())
