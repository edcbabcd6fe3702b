"""Load on the PostgreSQL task hub without faults (issue #9).

Three concurrent fan-outs of FUNCPY_SOAK_FANOUT (default 2,000, the issue's size) async
activities of 30 ms each (`await asyncio.sleep(0.03)`, so up to maxConcurrentActivityFunctions
run at once per host) all complete with their exact output within FUNCPY_SOAK_DEADLINE seconds
(default 90), every activity runs exactly once, and no host logs a result or an episode as
"not committed": on one host, then on three hosts sharing one hub. Leases are 3 s (claims
renewed every 5/3 s), as in the fault soak. Figures are printed (run with -s to see them).
"""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

import httpx

from tests.harness import HostProcess, wait_until
from tests.soak.soakkit import (
    API,
    POSTGRES,
    RunLog,
    Spec,
    alive,
    knob,
    launch,
    log_excerpts,
    needs_postgres,
    not_committed,
    partition_holders,
    pg_env,
    pg_report,
    pid,
    ready,
    settle,
    start_instance,
    unfinished_runs,
)

pytestmark = needs_postgres
FANOUT = int(knob("FUNCPY_SOAK_FANOUT", 2000))
DEADLINE = knob("FUNCPY_SOAK_DEADLINE", 90)


def _seconds(body: dict) -> float:
    created = datetime.fromisoformat(body["createdTime"])
    return (datetime.fromisoformat(body["lastUpdatedTime"]) - created).total_seconds()


def _load(part: str, hosts: list[HostProcess], hub: str, runs: Path) -> None:
    log = RunLog(runs)
    specs = [Spec(f"load{k}", "fanout", FANOUT) for k in range(3)]
    t0 = time.monotonic()
    for k, spec in enumerate(specs):
        start_instance(hosts[k % len(hosts)], spec)

    def diagnose(pending: set[str]) -> str:
        return "\n".join([unfinished_runs(log, specs, pending), pg_report(hub),
                          log_excerpts(hosts)])

    acc = settle(part, None, hosts, specs, [], log, DEADLINE, diagnose, t0)
    elapsed = time.monotonic() - t0
    with hosts[0].client() as c:
        per_instance = [round(_seconds(c.get(f"{API}/instances/{s.iid}", params={
            "showInput": "false"}).json()), 1) for s in specs]
    trips = [httpx.get(h.url("/admin/host/status")).json()["taskHub"]["roundTrips"]
             for h in hosts]
    print(f"[pg load {part}] 3 x {FANOUT} activities of 30 ms: completed {elapsed:.1f}s after "
          f"the start ({acc.expected / elapsed:.0f} activities/s); per instance (created -> "
          f"last update) {per_instance}s; runs per host pid {dict(log.per_pid())}; "
          f"round trips per activity {sum(trips) / acc.expected:.1f}", flush=True)
    assert not_committed(hosts) == []


def test_three_fanouts_of_2000_on_one_host(pg_hub: str, soak_app: Path,
                                           tmp_path: Path) -> None:
    runs = tmp_path / "runs.log"
    host = launch(soak_app, pg_env(pg_hub, runs, f"funcpy-soak-{pg_hub}-h0"),
                  tmp_path / "host0.log")
    try:
        ready([host])
        _load("1 host", [host], pg_hub, runs)
    finally:
        host.stop()


def test_three_fanouts_of_2000_on_three_hosts(pg_hub: str, soak_app: Path,
                                              tmp_path: Path) -> None:
    from funcpy.host.taskhub.postgres import PostgresStore

    runs = tmp_path / "runs.log"
    hosts = [launch(soak_app, pg_env(pg_hub, runs, f"funcpy-soak-{pg_hub}-h{i}"),
                    tmp_path / f"host{i}.log") for i in range(3)]
    store = PostgresStore(str(POSTGRES), pg_hub)
    try:
        ready(hosts)
        wait_until(lambda: set(partition_holders(store)) == {pid(h) for h in hosts},
                   timeout=30, interval=0.1, what="every host to hold a partition")
        _load("3 hosts", hosts, pg_hub, runs)
        assert len(alive(hosts)) == 3
    finally:
        for h in hosts:
            h.stop()
        store.close()

