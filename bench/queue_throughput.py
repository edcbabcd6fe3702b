"""Queue-trigger throughput on the embedded SQLite task hub (or PostgreSQL with --postgres URL).

A one-line queue-triggered function (sync, run in the worker thread pool; and async, run on the
loop) with host.json `extensions.queues.batchSize` 16 drains a queue of N messages that were
put in one transaction; messages/s = N / (time from the put's commit until the queue is empty).
Each function's invocation is the whole path: claim a batch, build the QueueMessage through the
azure.functions converter, invoke, complete (the delete in its own transaction). The
baseline, measured in the same run on the same backend, is raw store cycles per second: put,
get and delete of one message (two commits and a claim), with no host involved.

Run: .venv/bin/python bench/queue_throughput.py [--rounds 3] [--messages 3000] [--postgres URL]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import FUNC_PY, ROOT, free_port, median, start, stop, wait_http

sys.path.insert(0, str(ROOT))

APP = '''
import azure.functions as func

app = func.FunctionApp()


@app.queue_trigger(arg_name="msg", queue_name="bench-sync", connection="AzureWebJobsStorage")
def sink_sync(msg: func.QueueMessage) -> None:
    pass


@app.queue_trigger(arg_name="msg", queue_name="bench-async", connection="AzureWebJobsStorage")
async def sink_async(msg: func.QueueMessage) -> None:
    pass
'''


def host_json(hub: str, postgres: bool) -> dict[str, Any]:
    durable: dict[str, Any] = {"hubName": hub}
    if postgres:
        durable["storageProvider"] = {"type": "postgres", "connectionStringName": "BENCH_PG"}
    return {"version": "2.0", "extensions": {
        "queues": {"batchSize": 16, "maxPollingInterval": "00:00:00.1"},
        "durableTask": durable}}


def open_store(app: Path, hub: str, postgres: str | None) -> Any:
    if postgres:
        from funcpy.host.taskhub.postgres import PostgresStore

        store: Any = PostgresStore(postgres, hub)
    else:
        from funcpy.host.taskhub.sqlite import SqliteStore

        store = SqliteStore(app / ".func-py" / "taskhub.sqlite", hub)
    store.create()
    return store


def raw_cycles(store: Any, n: int) -> float:
    """Baseline: put + get + delete of one message at a time, per second."""
    t0 = time.perf_counter()
    for i in range(n):
        with store.transaction() as tx:
            tx.put_message("queue:raw", str(i))
        (m,) = store.get_messages("queue:raw", 1, 30)
        with store.transaction() as tx:
            tx.delete_message(m)
    return n / (time.perf_counter() - t0)


def drain(store: Any, queue: str, n: int) -> float:
    """Put n messages in one transaction; seconds until the host has consumed them all."""
    with store.transaction() as tx:
        tx.put_messages(f"queue:{queue}", [f"message {i}" for i in range(n)])
    t0 = time.perf_counter()
    while store.count_messages(f"queue:{queue}"):
        time.sleep(0.002)
        if time.perf_counter() - t0 > 300:
            raise TimeoutError(f"{queue} was not drained within 300 s")
    return n / (time.perf_counter() - t0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--messages", type=int, default=3000)
    ap.add_argument("--postgres", help="libpq URL: run on a PostgreSQL task hub")
    args = ap.parse_args()
    hub = f"QBench{int(time.time())}"
    results: dict[str, list[float]] = {"raw": [], "bench-sync": [], "bench-async": []}
    with tempfile.TemporaryDirectory() as tmp:
        app = Path(tmp) / "app"
        app.mkdir()
        (app / "function_app.py").write_text(APP)
        (app / "host.json").write_text(json.dumps(host_json(hub, bool(args.postgres))))
        env = {"BENCH_PG": args.postgres} if args.postgres else {}
        store = open_store(app, hub, args.postgres)
        port = free_port()
        proc = start([FUNC_PY, "start", "--no-reload", "--port", str(port)], cwd=app, env=env,
                     log=Path(tmp) / "host.log")
        try:
            wait_http(f"http://127.0.0.1:{port}/admin/host/ping")
            drain(store, "bench-sync", 200)  # warm-up: the thread pool, first claims
            drain(store, "bench-async", 200)
            for _ in range(args.rounds):
                results["raw"].append(raw_cycles(store, min(args.messages, 2000)))
                for queue in ("bench-sync", "bench-async"):
                    results[queue].append(drain(store, queue, args.messages))
        finally:
            stop(proc)
            if args.postgres:
                store.delete_hub()
            store.close()
    where = "PostgreSQL" if args.postgres else "SQLite"
    print(f"Queue trigger throughput ({where}, batchSize 16, {args.messages} messages), "
          f"{args.rounds} rounds, medians")
    rows = [("raw store put/get/delete cycles/s (baseline)", "raw"),
            ("sync one-line function: messages/s", "bench-sync"),
            ("async one-line function: messages/s", "bench-async")]
    for label, key in rows:
        print(f"  {label:<46}{median(results[key]):>9,.0f}   "
              f"(rounds: {', '.join(f'{v:,.0f}' for v in results[key])})")
    ratio = median(results["bench-sync"]) / median(results["raw"])
    print(f"  sync function vs raw cycles: {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
