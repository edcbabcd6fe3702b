"""Shared pieces of the soak tests: hosts of the tests/apps/soak app, its run log, waiting for
instances with diagnostics, and the accounting of activities that ran more than once.

The app's `work` activity appends "<instance> <index> <pid> start|end <unix time>" lines to
one file shared by every host of a test (FUNCPY_SOAK_RUNS). A *run* is one start line (and
its end line, when the host lived to write it). A fault is a `kill -9` of host processes or
a termination of their PostgreSQL connections, with the wall-clock moments around it.
"""

from __future__ import annotations

import os
import random
import re
import signal
import sqlite3
import statistics
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import APPS
from tests.harness import STARTED, HostProcess, wait_until

POSTGRES = os.environ.get("FUNCPY_TEST_POSTGRES")
needs_postgres = [pytest.mark.postgres,
                  pytest.mark.skipif(not POSTGRES, reason="set FUNCPY_TEST_POSTGRES to a "
                                     "PostgreSQL URL to run the PostgreSQL soak tests")]
API = "/runtime/webhooks/durabletask"
SOAK_APP = APPS / "soak"
TERMINAL = ("Completed", "Failed", "Terminated")


def knob(name: str, default: float) -> float:
    """A size or time that the environment may override (FUNCPY_SOAK_*)."""
    raw = os.environ.get(name)
    return float(raw) if raw else default


def seeded_rng(part: str) -> tuple[random.Random, int]:
    """A RNG seeded from FUNCPY_SOAK_SEED or at random; the seed is printed. A seed replays
    the test's choices (fault delays, victims, which host starts what), not the hosts' own
    timing."""
    raw = os.environ.get("FUNCPY_SOAK_SEED")
    seed = int(raw) if raw else random.SystemRandom().randrange(1 << 32)
    print(f"[soak {part}] seed={seed} (replay with FUNCPY_SOAK_SEED={seed})", flush=True)
    return random.Random(seed), seed


# -- environment ------------------------------------------------------------------------------

def pg_env(hub: str, runs: Path, app_name: str, lease_seconds: float = 3) -> dict[str, str]:
    """Settings for a host of the soak app on the PostgreSQL hub `hub`. Its connections carry
    `application_name=app_name` (set in the URL, which the store passes to libpq as is), so a
    test can find them in pg_stat_activity without touching any other client's."""
    assert POSTGRES is not None
    sep = "&" if "?" in POSTGRES else "?"
    prefix = "AzureFunctionsJobHost__extensions__durableTask__"
    return {"FUNCPY_PG": f"{POSTGRES}{sep}application_name={app_name}",
            f"{prefix}storageProvider__type": "postgres",
            f"{prefix}storageProvider__connectionStringName": "FUNCPY_PG",
            f"{prefix}hubName": hub,
            "FUNCPY_LEASE_SECONDS": f"{lease_seconds:g}",
            "FUNCPY_SOAK_RUNS": str(runs)}


# -- instances --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Spec:
    """One orchestration of the soak app: a fan-out or chain of `n` activities of `ms`."""

    iid: str
    name: str
    n: int
    ms: int = 30

    @property
    def expected(self) -> list[int]:
        return [i * i for i in range(self.n)]


def start_instance(host: HostProcess, spec: Spec, timeout: float = 30) -> list[str]:
    """Start `spec` as a client would: a 5xx answer (a database error the host did not absorb,
    e.g. right after its connections were terminated) is retried, and then a 409 means an
    earlier attempt did create the instance. Returns the failed answers (to be reported)."""
    failures: list[str] = []
    deadline = time.monotonic() + timeout
    while True:
        try:
            r = httpx.post(host.url(f"{API}/orchestrators/{spec.name}/{spec.iid}"),
                           json={"n": spec.n, "ms": spec.ms}, timeout=30)
        except httpx.HTTPError as exc:
            failures.append(f"start {spec.iid}: {exc!r}")
        else:
            if r.status_code == 202 or (r.status_code == 409 and failures):
                return failures
            assert r.status_code >= 500, r.text
            failures.append(f"start {spec.iid}: HTTP {r.status_code} {r.text[:200]}")
        assert time.monotonic() < deadline, failures
        time.sleep(0.1)  # retry interval of a polling client; bounded by the deadline


def launch(app: Path, env: dict[str, str], log_path: Path) -> HostProcess:
    """Start a host without waiting for it (several start in parallel); see `ready`."""
    return HostProcess(app, "--no-reload", env=env, log_path=log_path).start(wait=False)


def ready(hosts: Iterable[HostProcess], timeout: float = 60) -> None:
    for h in hosts:
        if h.port is None:
            h.port = int(h.wait_for_log(STARTED, timeout=timeout).group(1))


def alive(hosts: Iterable[HostProcess]) -> list[HostProcess]:
    return [h for h in hosts if h.proc is not None and h.proc.poll() is None]


def pid(host: HostProcess) -> int:
    assert host.proc is not None
    return host.proc.pid


@dataclass(frozen=True)
class Fault:
    """A kill -9 of `pids`, or (no pids) a termination of the hosts' database connections,
    done between the wall-clock moments `at` and `until`."""

    what: str
    at: float
    until: float
    pids: frozenset[int] = frozenset()
    detail: str = ""


def kill9(host: HostProcess) -> Fault:
    assert host.proc is not None
    at = time.time()
    host.proc.kill()
    host.wait_exit(15)
    until = time.time()
    host.stop()
    return Fault("kill -9", at, until, frozenset({host.proc.pid}))


def await_instances(hosts: Callable[[], list[HostProcess]], specs: Sequence[Spec],
                    timeout: float) -> tuple[dict[str, dict], dict[str, str]]:
    """Poll (any live host) until every instance is terminal or `timeout` passes. Returns the
    final statuses, and the last status seen of each instance that did not finish."""
    pending = {s.iid for s in specs}
    final: dict[str, dict] = {}
    last: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        live = hosts()
        if live:
            with httpx.Client(base_url=live[0].url("/"), timeout=30) as client:
                for iid in sorted(pending):
                    try:
                        body = client.get(f"{API}/instances/{iid}",
                                          params={"showInput": "false"}).json()
                    except (httpx.HTTPError, ValueError):
                        break  # that host may be going down: try again with the live ones
                    last[iid] = body.get("runtimeStatus", "?")
                    if last[iid] in TERMINAL:
                        final[iid] = body
                        pending.discard(iid)
        if pending:
            time.sleep(0.25)  # poll interval, not synchronisation: the loop has a deadline
    return final, {iid: last.get(iid, "?") for iid in sorted(pending)}


def check_outputs(specs: Sequence[Spec], final: dict[str, dict]) -> list[str]:
    """The instances that did not complete with the right output (a message for each)."""
    wrong = []
    for s in specs:
        body = final[s.iid]
        if body["runtimeStatus"] != "Completed":
            wrong.append(f"{s.iid}: {body['runtimeStatus']}: {str(body.get('output'))[:300]}")
        elif body["output"] != s.expected:
            out = body["output"]
            wrong.append(f"{s.iid}: wrong output ({len(out) if isinstance(out, list) else out!r}"
                         f" items, expected {s.n})")
    return wrong


# -- the run log ------------------------------------------------------------------------------

@dataclass
class Run:
    iid: str
    index: int
    pid: int
    start: float
    end: float | None = None


@dataclass
class RunLog:
    """The activity runs recorded by every host of a test, read incrementally."""

    path: Path
    _offset: int = 0
    _partial: bytes = b""
    runs: dict[tuple[str, int], list[Run]] = field(default_factory=lambda: defaultdict(list))
    ends: list[tuple[float, int]] = field(default_factory=list)  # (time, pid) of each end
    lines: int = 0

    def poll(self) -> RunLog:
        if not self.path.exists():
            return self
        with open(self.path, "rb") as f:
            f.seek(self._offset)
            data = f.read()
        self._offset += len(data)
        *complete, self._partial = (self._partial + data).split(b"\n")
        for raw in complete:
            self._add(raw.decode())
        return self

    def _add(self, line: str) -> None:
        iid, index, host, what, at = line.split()
        key, t, p = (iid, int(index)), float(at), int(host)
        self.lines += 1
        if what == "start":
            self.runs[key].append(Run(iid, int(index), p, t))
            return
        self.ends.append((t, p))
        # an end belongs to the earliest unfinished run of the same activity on that host
        for run in self.runs[key]:
            if run.pid == p and run.end is None:
                run.end = t
                break
        else:
            raise AssertionError(f"end line without a start in {self.path}: {line!r}")

    def ended_since(self, t: float, on_pid: int | None = None) -> bool:
        return any(at > t and (on_pid is None or p == on_pid) for at, p in self.ends)

    def first_end_after(self, t: float) -> float | None:
        return min((at for at, _ in self.ends if at > t), default=None)

    def per_pid(self) -> Counter[int]:
        return Counter(r.pid for rs in self.runs.values() for r in rs)


# -- accounting -------------------------------------------------------------------------------

def _explains(f: Fault, first: Run, again: Run) -> bool:
    """`first` was in flight when `f` struck and `again` began after it: a kill of the host
    that ran `first` (it started before the host died), or a termination of the connections while
    `first` was running or its result was still to be committed (it started before the
    termination ended; its commit is not observable from outside). Work that started after
    a termination must not run again because of it: a store call that meets a connection the
    termination left dead in the pool is to be retried on a new one, not to lose a result."""
    if f.pids:
        # The killed process died somewhere in [at, until] (the signal is sent after `at` is
        # read, and `until` is read once its exit was seen), so whatever it started, it started
        # by `until`: comparing with `at` failed a run that began between the two readings.
        return first.pid in f.pids and first.start <= f.until and again.start > f.at
    return first.start < f.until and again.start > f.at


@dataclass
class Accounting:
    expected: int
    runs: int
    missing: list[tuple[str, int]]
    unexpected: list[tuple[str, int]]
    twice: dict[tuple[str, int], list[Run]]
    unexplained: list[str]
    rerun_delays: dict[int, list[float]]  # fault number -> seconds from it to each rerun start

    def problems(self) -> list[str]:
        out = []
        if self.missing:
            out.append(f"{len(self.missing)} activities never ran: {self.missing[:10]}")
        if self.unexpected:
            out.append(f"runs of activities no instance has: {self.unexpected[:10]}")
        out += self.unexplained[:20]
        if len(self.unexplained) > 20:
            out.append(f"... and {len(self.unexplained) - 20} more unexplained re-runs")
        return out


def account(log: RunLog, specs: Sequence[Spec], faults: Sequence[Fault]) -> Accounting:
    """Every activity ran at least once, and every run after the first of an activity is
    explained by a fault that struck while the previous run was in flight."""
    log.poll()
    wanted = {(s.iid, i) for s in specs for i in range(s.n)}
    seen = {k for k, rs in log.runs.items() if rs}
    twice = {k: sorted(rs, key=lambda r: r.start) for k, rs in log.runs.items() if len(rs) > 1}
    unexplained: list[str] = []
    delays: dict[int, list[float]] = defaultdict(list)
    for key, runs in sorted(twice.items()):
        for first, again in pairwise(runs):
            causes = [n for n, f in enumerate(faults) if _explains(f, first, again)]
            if not causes:
                unexplained.append(
                    f"{key} ran again with no fault to explain it: run on pid {first.pid} "
                    f"{_span(first)}, again on pid {again.pid} {_span(again)}; faults: "
                    + "; ".join(f"{f.what} {sorted(f.pids)} at {f.at:.3f}" for f in faults))
            else:
                n = max(causes)  # the latest fault that explains it
                delays[n].append(again.start - faults[n].at)
    return Accounting(len(wanted), sum(len(rs) for rs in log.runs.values()),
                      sorted(wanted - seen), sorted(seen - wanted), twice, unexplained, delays)


def _span(r: Run) -> str:
    return f"[{r.start:.3f} .. {'-' if r.end is None else f'{r.end:.3f}'}]"


def _fmt(xs: Sequence[float]) -> str:
    return f"median {statistics.median(xs):.2f}s max {max(xs):.2f}s" if xs else "n/a"


def summary(part: str, seed: int | None, specs: Sequence[Spec], faults: Sequence[Fault],
            log: RunLog, acc: Accounting, lost: int, elapsed: float) -> str:
    """One line per part: faults, instances, activities, lost, run twice, resume times."""
    resume = [t - f.at for f in faults if (t := log.first_end_after(f.until)) is not None]
    rerun = [min(ds) for ds in acc.rerun_delays.values() if ds]
    kinds = Counter(f.what for f in faults)
    line = (f"[soak {part}] seed={seed if seed is not None else '-'} faults={dict(kinds)} "
            f"instances={len(specs)} "
            f"activities={acc.expected} runs={acc.runs} lost={lost} "
            f"run_twice={len(acc.twice)} resume(kill->next activity end)={_fmt(resume)} "
            f"rerun(kill->first re-run of in-flight work)={_fmt(rerun)} "
            f"runs/pid={dict(sorted(log.per_pid().items()))} elapsed={elapsed:.1f}s")
    print(line, flush=True)
    return line


def settle(part: str, seed: int | None, hosts: Sequence[HostProcess], specs: Sequence[Spec],
           faults: Sequence[Fault], log: RunLog, timeout: float,
           diagnose: Callable[[set[str]], str], t0: float) -> Accounting:
    """The end of every soak: wait for every instance, then assert that each one completed
    with its right output, every activity ran, and every re-run is explained by a fault. The
    summary line is printed whether or not the assertions hold."""
    final, pending = await_instances(lambda: alive(hosts), specs, timeout)
    wrong = check_outputs([s for s in specs if s.iid in final], final)
    acc = account(log, specs, faults)
    lost = len(pending) + len(wrong)
    summary(part, seed, specs, faults, log, acc, lost, time.monotonic() - t0)
    committed = not_committed(hosts)
    print(f"[soak {part}] 'not committed' log lines: {len(committed)}", flush=True)
    for line in committed[:10]:
        print(f"[soak {part}]   {line}", flush=True)
    if pending:
        states = ", ".join(f"{i}={st}" for i, st in pending.items())
        raise AssertionError(f"{len(pending)} instance(s) not finished {timeout:.0f}s after the "
                             f"last fault: {states}\n{diagnose(set(pending))}")
    assert not wrong, wrong
    problems = acc.problems()
    assert not problems, "\n".join(problems)
    return acc


# -- diagnostics ------------------------------------------------------------------------------

_NOTEWORTHY = re.compile(r"not committed|Lost the lease|failed|Traceback|Error", re.I)


def dump_stacks(host: HostProcess) -> None:
    """Ask a live host for its stacks (host/diagnostics.py) and print them with the failure."""
    assert host.proc is not None
    start = len(host.output)
    host.proc.send_signal(signal.SIGUSR1)
    try:
        host.wait_for_log("=== func-py diagnostics: end", timeout=10, after=start)
    except AssertionError:
        host.proc.send_signal(signal.SIGUSR2)  # the loop did not answer: threads only
        try:
            host.wait_for_log(r"File ", timeout=5, after=start)
        except AssertionError:
            pass
    print(f"--- stacks of {host.log_path.name} (pid {pid(host)}):\n{host.output[start:]}",
          flush=True)


def log_excerpts(hosts: Iterable[HostProcess], limit: int = 8) -> str:
    out = []
    for h in hosts:
        lines = [ln for ln in h.output.splitlines() if _NOTEWORTHY.search(ln)]
        if lines:
            out.append(f"--- {h.log_path.name} (pid {pid(h)}): {len(lines)} noteworthy lines, "
                       f"{sum('not committed' in ln for ln in lines)} 'not committed'")
            out += lines[:limit]
            if len(lines) > limit:
                out.append(f"... and {len(lines) - limit} more")
    return "\n".join(out)


def not_committed(hosts: Iterable[HostProcess]) -> list[str]:
    return [f"{h.log_path.name}: {ln}" for h in hosts for ln in h.output.splitlines()
            if "not committed" in ln]


def unfinished_runs(log: RunLog, specs: Sequence[Spec], pending: set[str]) -> str:
    """For each unfinished instance: its activities that never ran, and those that ran to
    the end (their results should have reached the instance)."""
    log.poll()
    out = []
    for s in specs:
        if s.iid not in pending:
            continue
        never = [i for i in range(s.n) if not log.runs.get((s.iid, i))]
        ended = [i for i in range(s.n) if any(r.end for r in log.runs.get((s.iid, i), []))]
        out.append(f"{s.iid} ({s.name} of {s.n}): {len(ended)} ran to the end, "
                   f"never ran: {never[:20]}{' ...' if len(never) > 20 else ''}")
    return "\n".join(out)


def queue_report(rows: Sequence[Sequence[Any]], leases: Sequence[Sequence[Any]]) -> str:
    """Messages left in the hub (id, queue, instance, dequeue count, visible_at, receipt,
    payload) and the leases (name, owner, epoch, expires_at)."""
    now = time.time()
    by_queue = Counter(r[1] for r in rows)
    claimed = [r for r in rows if r[3] > 0 and r[4] > now]
    out = [f"messages left: {dict(by_queue)}; claimed now (dequeued, visible later): "
           f"{len(claimed)}"]
    for r in rows[:12]:
        out.append(f"  id={r[0]} {r[1]} {r[2]} dequeued={r[3]} visible_in={r[4] - now:+.1f}s "
                   f"receipt={r[5]} {str(r[6])[:140]}")
    for name, owner, epoch, expires in leases:
        out.append(f"  lease {name} owner={owner} epoch={epoch} expires_in={expires - now:+.1f}s")
    return "\n".join(out)


_MESSAGES = ("SELECT id, queue, instance_id, dequeue_count, visible_at, pop_receipt, payload"
             " FROM taskhub_messages WHERE hub = {0} ORDER BY id")
_LEASES = "SELECT name, owner, epoch, expires_at FROM taskhub_leases WHERE hub = {0} ORDER BY name"


def pg_report(hub: str) -> str:
    import psycopg

    assert POSTGRES is not None
    with psycopg.connect(POSTGRES, autocommit=True) as conn:
        rows = conn.execute(_MESSAGES.format("%s"), (hub,)).fetchall()
        leases = conn.execute(_LEASES.format("%s"), (hub,)).fetchall()
    return queue_report(rows, leases)


def sqlite_report(path: Path, hub: str) -> str:
    conn = sqlite3.connect(path, timeout=10)
    try:
        rows = conn.execute(_MESSAGES.format("?"), (hub,)).fetchall()
        leases = conn.execute(_LEASES.format("?"), (hub,)).fetchall()
    finally:
        conn.close()
    return queue_report(rows, leases)


# -- PostgreSQL leases and connections --------------------------------------------------------

def owner_pid(owner: str) -> int | None:
    """The pid in a worker's lease owner name "<hostname>:<pid>:<nonce>"."""
    parts = owner.rsplit(":", 2)
    return int(parts[1]) if len(parts) == 3 and parts[1].isdigit() else None


def partition_holders(store: Any) -> dict[int, list[str]]:
    """pid -> control-queue partition leases it holds now (unexpired), from the leases table."""
    now = time.time()
    held: dict[int, list[str]] = defaultdict(list)
    for lease in store.list_leases("control-"):
        p = owner_pid(lease.owner)
        if p is not None and lease.expires_at > now:
            held[p].append(lease.name)
    return dict(held)


def host_connections(app_prefix: str) -> list[tuple[int, str, str]]:
    """(backend pid, application_name, state) of the hosts' connections: those whose
    application_name starts with `app_prefix` (never this test's own)."""
    import psycopg

    assert POSTGRES is not None
    with psycopg.connect(POSTGRES, autocommit=True) as conn:
        return conn.execute(
            "SELECT pid, application_name, COALESCE(state, '') FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            " AND starts_with(application_name, %s)", (app_prefix,)).fetchall()


def terminate_connections(app_prefix: str) -> Fault:
    """pg_terminate_backend every connection of the hosts (application_name prefix)."""
    import psycopg

    assert POSTGRES is not None
    with psycopg.connect(POSTGRES, autocommit=True) as conn:
        at = time.time()
        rows = conn.execute(
            "SELECT pid, application_name, pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            " AND starts_with(application_name, %s)", (app_prefix,)).fetchall()
        until = time.time()
    killed = Counter(name for _, name, ok in rows if ok)
    return Fault("pg_terminate_backend", at, until,
                 detail=f"{sum(killed.values())} connections {dict(sorted(killed.items()))}")


def wait_connections(app_prefix: str, timeout: float = 30) -> None:
    wait_until(lambda: host_connections(app_prefix), timeout=timeout, interval=0.05,
               what=f"a connection of the hosts ({app_prefix}*) to exist")
