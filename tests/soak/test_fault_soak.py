"""A bounded fault soak (issue #9): "kill -9 at any moment loses no orchestration or activity
result; only work in flight runs again".

(a) SQLite: one host is killed with SIGKILL at random moments during fan-outs and chains and
    restarted on the same hub file each time.
(b) PostgreSQL: three hosts share a hub; a host holding control-queue partitions (read from
    the leases table) is killed at a random moment, twice (a replacement host joins after the
    first kill); the survivors finish everything.
(c) PostgreSQL: two hosts; every database connection of the hosts (found in pg_stat_activity
    by the application_name the test puts in their URL) is terminated at random moments.

Each part ends with every instance `Completed` with its exact output, every activity run at
least once, and every second run of an activity explained: the run before it was in flight on a
host when that host was killed (it ran on the killed pid, started before the kill, and the
re-run started after it), or, for (c), it started before a termination and the re-run after.
A summary line per part gives the faults, instances, activities, lost (0), run twice, and the
times from each fault to the next activity end (resume) and to the first re-run. The RNG seed
is printed; FUNCPY_SOAK_SEED replays it. Run with -s to see the figures.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.harness import HostProcess, wait_until
from tests.soak.soakkit import (
    POSTGRES,
    Fault,
    RunLog,
    Spec,
    alive,
    kill9,
    knob,
    launch,
    log_excerpts,
    partition_holders,
    pg_env,
    pg_report,
    pid,
    ready,
    seeded_rng,
    settle,
    sqlite_report,
    start_instance,
    terminate_connections,
    unfinished_runs,
    wait_connections,
)

DEADLINE = knob("FUNCPY_SOAK_DEADLINE", 90)  # seconds from the last fault to all completed
SQLITE_KILLS = int(knob("FUNCPY_SOAK_KILLS", 8))
PG_KILLS = 2
TERMINATIONS = 5
PARTITIONS = 4  # the default partitionCount
SQLITE_HUB = "SoakSqlite"


def _wait_for_work(log: RunLog, since: float, on_pid: int | None = None) -> None:
    """Until an activity (on `on_pid`, or any host) finished after `since`: the hosts are busy,
    so the fault that follows lands in the middle of work."""
    wait_until(lambda: log.poll().ended_since(since, on_pid), timeout=30, interval=0.02,
               what="an activity to finish")


def test_sqlite_kill_9_at_random_moments(soak_app: Path, tmp_path: Path) -> None:
    rng, seed = seeded_rng("sqlite kill -9")
    runs, hub_file = tmp_path / "runs.log", tmp_path / "hub.sqlite"
    env = {"FUNCPY_SOAK_RUNS": str(runs), "FUNCPY_TASKHUB_PATH": str(hub_file),
           "AzureFunctionsJobHost__extensions__durableTask__hubName": SQLITE_HUB}
    log = RunLog(runs)
    specs: list[Spec] = []
    faults: list[Fault] = []
    hosts: list[HostProcess] = []
    t0 = time.monotonic()
    try:
        for rnd in range(SQLITE_KILLS + 1):
            host = HostProcess(soak_app, "--no-reload", env=env,
                               log_path=tmp_path / f"host{rnd}.log").start(timeout=60)
            hosts.append(host)
            if rnd == SQLITE_KILLS:
                break  # the last host finishes everything
            up = time.time()
            new = [Spec(f"fan{rnd}", "fanout", 300), Spec(f"chain{rnd}", "chain", 40)]
            for spec in new:
                start_instance(host, spec)
            specs += new
            _wait_for_work(log, up, pid(host))
            time.sleep(rng.uniform(0.0, 1.5))  # the random moment of the kill
            faults.append(kill9(host))

        def diagnose(pending: set[str]) -> str:
            return "\n".join([unfinished_runs(log, specs, pending),
                              sqlite_report(hub_file, SQLITE_HUB), log_excerpts(hosts)])

        settle("sqlite kill -9", seed, hosts, specs, faults, log, DEADLINE, diagnose, t0)
    finally:
        for h in hosts:
            h.stop()


@pytest.mark.postgres
@pytest.mark.skipif(not POSTGRES, reason="set FUNCPY_TEST_POSTGRES to a PostgreSQL URL")
def test_pg_kill_9_of_partition_holders(pg_hub: str, soak_app: Path, tmp_path: Path) -> None:
    from funcpy.host.taskhub.postgres import PostgresStore

    rng, seed = seeded_rng("pg kill -9")
    runs = tmp_path / "runs.log"
    log = RunLog(runs)

    def host(i: int) -> HostProcess:
        return launch(soak_app, pg_env(pg_hub, runs, f"funcpy-soak-{pg_hub}-h{i}"),
                      tmp_path / f"host{i}.log")

    hosts = [host(i) for i in range(3)]
    store = PostgresStore(str(POSTGRES), pg_hub)  # the test's own view of the leases
    specs: list[Spec] = []
    faults: list[Fault] = []
    takeovers: list[float] = []

    def taken_over() -> bool:
        live = {pid(h) for h in alive(hosts)}
        held = partition_holders(store)
        return sum(len(names) for p, names in held.items() if p in live) == PARTITIONS

    t0 = time.monotonic()
    try:
        ready(hosts)
        wait_until(lambda: set(partition_holders(store)) == {pid(h) for h in hosts},
                   timeout=30, interval=0.1, what="every host to hold a partition")
        for rnd in range(PG_KILLS):
            live = alive(hosts)
            up = time.time()
            new = [Spec(f"fan{rnd}-{j}", "fanout", 300) for j in range(2)] + [
                Spec(f"chain{rnd}-{j}", "chain", 40) for j in range(2)]
            for spec in new:
                start_instance(rng.choice(live), spec)
            specs += new
            _wait_for_work(log, up)
            time.sleep(rng.uniform(0.0, 1.5))  # the random moment of the kill
            holders = partition_holders(store)
            victim = rng.choice([h for h in live if pid(h) in holders])
            print(f"[soak pg kill -9] killing pid {pid(victim)}, holder of "
                  f"{holders[pid(victim)]}", flush=True)
            faults.append(kill9(victim))
            if rnd == 0:  # a replacement joins while the dead host's leases run out
                hosts.append(host(len(hosts)))
                ready(hosts)
            wait_until(taken_over, timeout=30, interval=0.1,
                       what="the live hosts to hold every partition")
            takeovers.append(time.time() - faults[-1].at)
        print(f"[soak pg kill -9] partitions held again by live hosts after "
              f"{[round(t, 1) for t in takeovers]}s", flush=True)

        def diagnose(pending: set[str]) -> str:
            return "\n".join([unfinished_runs(log, specs, pending), pg_report(pg_hub),
                              log_excerpts(hosts)])

        settle("pg kill -9", seed, hosts, specs, faults, log, DEADLINE, diagnose, t0)
        assert len(alive(hosts)) == len(hosts) - PG_KILLS
    finally:
        for h in hosts:
            h.stop()
        store.close()


@pytest.mark.postgres
@pytest.mark.skipif(not POSTGRES, reason="set FUNCPY_TEST_POSTGRES to a PostgreSQL URL")
def test_pg_connections_terminated_mid_run(pg_hub: str, soak_app: Path,
                                           tmp_path: Path) -> None:
    rng, seed = seeded_rng("pg terminate")
    runs = tmp_path / "runs.log"
    log = RunLog(runs)
    prefix = f"funcpy-soak-{pg_hub}-"  # this test's hosts only: never another client's
    hosts = [launch(soak_app, pg_env(pg_hub, runs, f"{prefix}h{i}"), tmp_path / f"host{i}.log")
             for i in range(2)]
    specs: list[Spec] = []
    faults: list[Fault] = []
    refused: list[str] = []  # start requests answered with an error (then retried)
    t0 = time.monotonic()
    try:
        ready(hosts)
        for rnd in range(TERMINATIONS):
            up = time.time()
            new = [Spec(f"fan{rnd}", "fanout", 200), Spec(f"chain{rnd}", "chain", 30)]
            for spec in new:
                refused += start_instance(rng.choice(hosts), spec)
            specs += new
            _wait_for_work(log, up)
            time.sleep(rng.uniform(0.0, 1.0))  # the random moment of the termination
            wait_connections(prefix)
            fault = terminate_connections(prefix)
            print(f"[soak pg terminate] terminated {fault.detail}", flush=True)
            faults.append(fault)

        def diagnose(pending: set[str]) -> str:
            return "\n".join([unfinished_runs(log, specs, pending), pg_report(pg_hub),
                              log_excerpts(hosts)])

        print(f"[soak pg terminate] start requests answered with an error (retried): "
              f"{len(refused)} {refused[:3]}", flush=True)
        settle("pg terminate", seed, hosts, specs, faults, log, DEADLINE, diagnose, t0)
        assert alive(hosts) == hosts, "a host died of a terminated connection"
        assert all(not f.detail.startswith("0 ") for f in faults)
    finally:
        for h in hosts:
            h.stop()


@pytest.mark.postgres
@pytest.mark.skipif(not POSTGRES, reason="set FUNCPY_TEST_POSTGRES to a PostgreSQL URL")
def test_pg_connections_terminated_while_idle(pg_hub: str, soak_app: Path,
                                              tmp_path: Path) -> None:
    """An idle host's connections are terminated (three times, each after it reconnected):
    it still runs the work that comes afterwards. An idle host's database calls are its lease
    upkeep and the polls of its queues, so these are what meet the dead connections."""
    runs = tmp_path / "runs.log"
    log = RunLog(runs)
    prefix = f"funcpy-soak-{pg_hub}-"
    hosts = [launch(soak_app, pg_env(pg_hub, runs, f"{prefix}h0"), tmp_path / "host0.log")]
    faults: list[Fault] = []
    t0 = time.monotonic()
    try:
        ready(hosts)
        for _ in range(3):
            wait_connections(prefix)
            faults.append(terminate_connections(prefix))
            print(f"[soak pg idle terminate] terminated {faults[-1].detail}", flush=True)
        specs = [Spec("idle-fan", "fanout", 50), Spec("idle-chain", "chain", 5)]
        refused: list[str] = []
        for spec in specs:
            refused += start_instance(hosts[0], spec)
        print(f"[soak pg idle terminate] start requests answered with an error (retried): "
              f"{len(refused)} {refused[:3]}", flush=True)

        def diagnose(pending: set[str]) -> str:
            return "\n".join([unfinished_runs(log, specs, pending), pg_report(pg_hub),
                              log_excerpts(hosts)])

        settle("pg idle terminate", None, hosts, specs, faults, log, 30, diagnose, t0)
        assert alive(hosts) == hosts
    finally:
        for h in hosts:
            h.stop()
