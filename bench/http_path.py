"""Per-request Python cost of the HTTP path, in process and without sockets: the ASGI app that
`func-py start` serves, called with a fixed scope, against the bare Starlette app of
bench/bare_starlette.py called the same way. Isolates what func-py adds on top of Starlette
from the server and the network (bench/http_throughput.py measures the whole thing).

Run: .venv/bin/python bench/http_path.py [--rounds 5] [--requests 20000] [--profile out.prof]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent


def scope_for(path: str) -> dict[str, Any]:
    return {
        "type": "http", "asgi": {"version": "3.0", "spec_version": "2.4"}, "http_version": "1.1",
        "server": ("127.0.0.1", 7071), "client": ("127.0.0.1", 50000), "scheme": "http",
        "method": "GET", "root_path": "", "path": path, "raw_path": path.encode(),
        "query_string": b"", "state": {},
        "headers": [(b"host", b"127.0.0.1:7071"), (b"user-agent", b"wrk"),
                    (b"accept", b"*/*")],
    }


async def drive(app: Any, path: str, n: int) -> float:
    """Seconds per request for `n` sequential requests."""
    scope = scope_for(path)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        return None

    start = time.perf_counter()
    for _ in range(n):
        await app(dict(scope), receive, send)
    return (time.perf_counter() - start) / n


async def host_app(app_dir: Path) -> tuple[Any, asyncio.Future[None]]:
    """The served ASGI app, started, and its lifespan task (kept: it holds the runtime up)."""
    from funcpy.host.config import build_config
    from funcpy.host.logs import setup_logging
    from funcpy.host.runtime import Runtime
    from funcpy.host.server import HostApp, build_asgi

    config = build_config(app_dir=app_dir, port=7071, reload=False)
    # The console queue as under a pipe (the Executing/Executed lines are made and written).
    setup_logging({}, verbose=False, json_lines=False)
    runtime = Runtime(config)
    runtime.load_initial()
    asgi = build_asgi(runtime, HostApp(runtime))
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def send(message: Any) -> None:
        await outbox.put(message)

    lifespan = asyncio.ensure_future(asgi({"type": "lifespan", "asgi": {"version": "3.0"},
                                           "state": {}}, inbox.get, send))
    await inbox.put({"type": "lifespan.startup"})
    assert (await outbox.get())["type"] == "lifespan.startup.complete"
    return asgi, lifespan


async def main_async(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(BENCH))
    from bare_starlette import app as bare

    with tempfile.TemporaryDirectory() as tmp:
        app_dir = Path(tmp) / "app"
        shutil.copytree(BENCH / "apps" / "http", app_dir)
        os.chdir(app_dir)
        sys.stdout = open(os.devnull, "w")  # the host's log lines (written, as under a pipe)
        funcpy, _lifespan = await host_app(app_dir)
        cases = {"bare async": (bare, "/api/ping"), "func-py async": (funcpy, "/api/ping"),
                 "bare sync": (bare, "/api/ping-sync"), "func-py sync": (funcpy, "/api/ping-sync")}
        times: dict[str, list[float]] = {k: [] for k in cases}
        for app, path in cases.values():
            await drive(app, path, 2000)  # warm-up
        prof = cProfile.Profile() if args.profile else None
        for _ in range(args.rounds):
            for name, (app, path) in cases.items():
                if prof is not None and name == "func-py async":
                    prof.enable()
                times[name].append(await drive(app, path, args.requests))
                if prof is not None:
                    prof.disable()
        sys.stdout = sys.__stdout__
    if prof is not None:
        prof.dump_stats(args.profile)
    print(f"HTTP path in process, {args.rounds} rounds x {args.requests} requests, medians")
    for kind in ("async", "sync"):
        base = statistics.median(times[f"bare {kind}"])
        for name in ("bare", "func-py"):
            t = statistics.median(times[f"{name} {kind}"])
            extra = f"  (+{(t - base) * 1e6:.1f} us, ratio {base / t:.2f})" \
                if name == "func-py" else ""
            print(f"{name + ' ' + kind:<16}{t * 1e6:>8.1f} us/request{extra}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--requests", type=int, default=20000)
    ap.add_argument("--profile", help="write a cProfile of the func-py async rounds here")
    args = ap.parse_args()
    try:
        import uvloop
        uvloop.run(main_async(args))
    except ImportError:
        asyncio.run(main_async(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
