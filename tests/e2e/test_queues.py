"""Storage-queue triggers and outputs through the real `func-py start` (tests/apps/queues and
tests/apps/queues_v1): a pipeline HTTP -> queue -> trigger -> queue -> trigger with a poison
message and a `kill -9` mid-run, on SQLite and on PostgreSQL with two hosts; what a
QueueMessage carries; what outputs become; host.json options; `func-py queue`; the admin
endpoint with keys. Every wait polls with a deadline.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import APPS
from tests.harness import FUNC_PY, HostProcess, wait_until

POSTGRES = os.environ.get("FUNCPY_TEST_POSTGRES")
MASTER = "queue-master-key-0123"


@pytest.fixture()
def app(tmp_path: Path) -> Path:
    dest = tmp_path / "app"
    shutil.copytree(APPS / "queues", dest)
    return dest


def host(app: Path, tmp_path: Path, name: str, *args: str,
         env: dict[str, str] | None = None) -> HostProcess:
    return HostProcess(app, "--no-reload", *args, env=env, log_path=tmp_path / f"{name}.log")


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def runs(app: Path) -> list[list[str]]:
    return [line.split() for line in lines(app / "runs.log")]


def counts(app: Path, event: str, body: str) -> list[int]:
    return [int(r[2]) for r in runs(app) if r[0] == event and r[1] == body]


def queue(h: HostProcess, name: str, **kw: Any) -> list[dict[str, Any]]:
    r = httpx.get(h.url(f"/admin/queues/{name}"), **kw)
    assert r.status_code == 200, r.text
    return r.json()


def enqueue(h: HostProcess, items: list[str]) -> None:
    r = httpx.post(h.url("/api/enqueue"), json=items, timeout=10)
    assert (r.status_code, r.text) == (200, "queued")


# -- the pipeline on SQLite ------------------------------------------------------------------------


def test_pipeline_poison_and_kill_9_on_sqlite(app: Path, tmp_path: Path) -> None:
    first = host(app, tmp_path, "first").start()
    try:
        assert "stage1: queueTrigger: stage-one" in first.output  # %STAGE1% = "Stage-One"
        expected = [f"m{i}" for i in range(10)]
        enqueue(first, [*expected, "poison-1", "slow-1"])
        done = app / "done.log"
        wait_until(lambda: sorted(lines(done)) == sorted(f"{m}+1" for m in expected),
                   timeout=20, what="ten messages through both stages")
        wait_until(lambda: queue(first, "stage-one-poison"), timeout=20,
                   what="the poison message to be moved")
        assert counts(app, "stage1", "poison-1") == [1, 2, 3]  # maxDequeueCount 3
        assert [m["messageText"] for m in queue(first, "stage-one-poison")] == ["poison-1"]
        assert "Message has reached MaxDequeueCount of 3. Moving message to queue " \
               "'stage-one-poison'." in first.output
        wait_until(lambda: counts(app, "stage1", "slow-1") == [1], what="slow-1 to be running")
        listed = {q["name"]: q for q in httpx.get(first.url("/admin/queues")).json()}
        assert (listed["stage-one"]["messages"], listed["stage-one"]["visible"]) == (1, 0)
        assert first.proc is not None
        first.proc.send_signal(signal.SIGKILL)
        assert first.wait_exit(10) == -signal.SIGKILL
    finally:
        first.stop()
    (app / "release").touch()
    with host(app, tmp_path, "second") as second:
        wait_until(lambda: "slow-1+1" in lines(app / "done.log"), timeout=20,
                   what="the message in flight at the kill to run again")
        assert "Released 1 queue message(s) claimed by a previous run" in second.output
        assert counts(app, "stage1", "slow-1") == [1, 2]  # the crash counted as a delivery
        assert queue(second, "stage-one") == [] and queue(second, "stage-two") == []
    finished = Counter(lines(app / "done.log"))
    assert finished == Counter([f"{m}+1" for m in expected] + ["slow-1+1"])  # none twice


@pytest.mark.parametrize("point", ["queue-invoked", "queue-committed"])
def test_a_kill_between_run_and_commit_leaves_exactly_one_effect(
        app: Path, tmp_path: Path, point: str) -> None:
    first = host(app, tmp_path, "first", env={"FUNCPY_FAULTS": f"{point}:1"}).start()
    try:
        enqueue(first, ["once"])
        assert first.wait_exit(20) == -signal.SIGKILL
    finally:
        first.stop()
    assert counts(app, "stage1", "once") == [1]
    with host(app, tmp_path, "second"):
        wait_until(lambda: lines(app / "done.log") == ["once+1"], timeout=20,
                   what="the pipeline to finish after the restart")
    # Killed before the commit: stage1 runs again and its output is written once. Killed
    # after it: the output and the deletion were committed together; stage1 does not rerun.
    assert counts(app, "stage1", "once") == ([1, 2] if point == "queue-invoked" else [1])
    assert lines(app / "done.log") == ["once+1"]


# -- two hosts on PostgreSQL -----------------------------------------------------------------------


@pytest.fixture()
def pg_env() -> Iterator[dict[str, str]]:
    if not POSTGRES:
        pytest.skip("set FUNCPY_TEST_POSTGRES to a PostgreSQL URL to run this test")
    hub = f"Queues{uuid.uuid4().hex[:10]}"
    prefix = "AzureFunctionsJobHost__extensions__durableTask__"
    yield {"FUNCPY_PG": POSTGRES, "FUNCPY_LEASE_SECONDS": "4", f"{prefix}hubName": hub,
           f"{prefix}storageProvider__type": "postgres",
           f"{prefix}storageProvider__connectionStringName": "FUNCPY_PG"}
    from funcpy.host.taskhub.postgres import PostgresStore

    store = PostgresStore(POSTGRES, hub)
    store.delete_hub()
    store.close()


@pytest.mark.postgres
def test_two_hosts_on_postgres_share_the_pipeline_one_delivery_at_a_time(
        app: Path, tmp_path: Path, pg_env: dict[str, str]) -> None:
    hosts = [host(app, tmp_path, f"pg{i}", env=pg_env).start() for i in range(2)]
    try:
        naps = [f"nap{i}" for i in range(30)]
        enqueue(hosts[0], [*naps, "poison-pg", "slow-pg"])
        pids = {str(h.proc.pid): h for h in hosts if h.proc is not None}
        wait_until(lambda: {r[3] for r in runs(app) if r[0] == "stage1"} == set(pids),
                   timeout=20, what="both hosts to take messages")
        slow = wait_until(lambda: next((r for r in runs(app) if r[1] == "slow-pg"), None),
                          timeout=30, what="slow-pg to start")
        victim = pids[slow[3]]
        survivor = next(h for h in hosts if h is not victim)
        assert victim.proc is not None
        victim.proc.send_signal(signal.SIGKILL)
        victim.wait_exit(10)
        killed_at = datetime.now().timestamp()
        (app / "release").touch()
        wanted = {f"{n}+1" for n in naps} | {"slow-pg+1"}
        wait_until(lambda: set(lines(app / "done.log")) == wanted, timeout=60,
                   what="every message through both stages on the survivor")
        wait_until(lambda: queue(survivor, "stage-one-poison"), timeout=20,
                   what="the poison message to be moved")
        assert [m["messageText"] for m in queue(survivor, "stage-one-poison")] == ["poison-pg"]
        assert queue(survivor, "stage-one") == []
    finally:
        for h in hosts:
            h.stop()
    # One delivery at a time: a message's runs never overlap (a killed host's run ends at the
    # kill; its redelivery waits for the claim to run out), and each run is its own dequeue.
    spans: dict[str, list[tuple[float, float, int]]] = defaultdict(list)
    ends = {(r[1], r[2], r[3]): float(r[4]) for r in runs(app) if r[0] == "stage1-end"}
    for r in runs(app):
        if r[0] == "stage1":
            end = ends.get((r[1], r[2], r[3]), killed_at)
            spans[r[1]].append((float(r[4]), end, int(r[2])))
    assert set(spans) == {*naps, "poison-pg", "slow-pg"}
    for body, deliveries in spans.items():
        deliveries.sort()
        assert len({d[2] for d in deliveries}) == len(deliveries), body
        for before, after in pairwise(deliveries):
            assert after[0] >= before[1], f"{body} ran on two hosts at once: {deliveries}"
    assert [d[2] for d in spans["slow-pg"]] == [1, 2]
    assert [d[2] for d in spans["poison-pg"]] == [1, 2, 3]


# -- what a message carries, what outputs become, keys ---------------------------------------------


@pytest.fixture()
def keyed(app: Path, tmp_path: Path) -> Iterator[HostProcess]:
    env = {"FUNCPY_MASTER_KEY": MASTER, "FUNCPY_FUNCTION_KEYS": "a-function-key-0123456"}
    with host(app, tmp_path, "keyed", "--enable-auth", env=env) as h:
        yield h


def test_admin_endpoint_needs_the_master_key(keyed: HostProcess) -> None:
    admin = {"x-functions-key": MASTER}
    assert httpx.get(keyed.url("/admin/queues")).status_code == 401
    assert httpx.get(keyed.url("/admin/queues?code=a-function-key-0123456")).status_code == 401
    assert httpx.post(keyed.url("/admin/queues/jobs"), content=b"x").status_code == 401
    assert httpx.delete(keyed.url("/admin/queues/jobs")).status_code == 401
    assert httpx.get(keyed.url("/admin/queues"), headers=admin).json() == []
    r = httpx.post(keyed.url("/admin/queues/Parked"), content=b"one", headers=admin)
    assert r.status_code == 201 and r.json()["queue"] == "parked"
    r = httpx.post(keyed.url("/admin/queues/parked?visibilityTimeout=600"), content=b"two",
                   headers=admin)
    assert r.status_code == 201
    assert [m["messageText"] for m in queue(keyed, "parked", headers=admin)] == ["one"]
    assert httpx.get(keyed.url("/admin/queues"), headers=admin).json() == \
        [{"name": "parked", "messages": 2, "visible": 1}]
    r = httpx.delete(keyed.url("/admin/queues/parked"), headers=admin)
    assert r.json() == {"queue": "parked", "deleted": 2}
    r = httpx.get(keyed.url("/admin/queues/not_valid"), headers=admin)
    assert r.status_code == 400 and "A queue name can contain only letters" in r.text
    r = httpx.post(keyed.url("/admin/queues/jobs?visibilityTimeout=soon"), headers=admin)
    assert r.status_code == 400
    assert httpx.get(keyed.url("/admin/queues/jobs?count=33"), headers=admin).status_code == 400


def test_a_manual_run_fills_output_expressions_from_its_message(keyed: HostProcess) -> None:
    admin = {"x-functions-key": MASTER}
    r = httpx.post(keyed.url("/admin/functions/route"), json={"input": "m7"}, headers=admin)
    assert r.status_code == 202
    wait_until(lambda: queue(keyed, "routed-m7", headers=admin), timeout=20,
               what="the manual run's routed message")
    assert [m["messageText"] for m in queue(keyed, "routed-m7", headers=admin)] == \
        ["routed m7 (try 0)"]


def test_queue_message_fields(keyed: HostProcess, app: Path) -> None:
    admin = {"x-functions-key": MASTER}
    r = httpx.post(keyed.url("/admin/queues/inspect"), content=b"fail-once", headers=admin)
    assert r.status_code == 201
    posted_id = r.json()["id"]
    wait_until(lambda: len(lines(app / "inspect.jsonl")) == 2, timeout=20,
               what="two deliveries (the first fails)")
    first, second = (json.loads(x) for x in lines(app / "inspect.jsonl"))
    assert first["type"] == "QueueMessage" and first["body"] == "fail-once"
    assert first["id"] == second["id"] == posted_id
    assert (first["dequeue_count"], second["dequeue_count"]) == (1, 2)
    assert first["pop_receipt"] and first["pop_receipt"] != second["pop_receipt"]
    assert first["tz"] == "UTC" and first["insertion_time"] == second["insertion_time"]
    inserted = datetime.fromisoformat(first["insertion_time"])
    assert datetime.fromisoformat(first["expiration_time"]) - inserted == timedelta(days=7)
    claimed_until = datetime.fromisoformat(first["time_next_visible"]).timestamp()
    assert claimed_until > first["at"]  # claimed: invisible while it runs


def test_outputs_become_messages_as_on_azure(keyed: HostProcess) -> None:
    admin = {"x-functions-key": MASTER}
    expected = {
        "text": ["plain text"],
        "message": ['{\n  "id": "m1",\n  "body": "hi"\n}'],
        "list": ["a", '{\n  "id": null,\n  "body": "b"\n}'],
        "object": ['{\n  "a": 1,\n  "b": [\n    true,\n    null\n  ]\n}'],
        "array": ["x", "2", "1.5", '{\n  "k": "v"\n}', "", "False"],
        "dict": ["k1", "k2"],
    }
    for kind, texts in expected.items():
        assert httpx.post(keyed.url(f"/api/convert?kind={kind}")).text == "ok"
        got = [m["messageText"] for m in queue(keyed, "converted", headers=admin)]
        assert got == texts, kind
        httpx.delete(keyed.url("/admin/queues/converted"), headers=admin)
    assert httpx.post(keyed.url("/api/convert?kind=bytes")).status_code == 200
    [raw] = queue(keyed, "converted", headers=admin)
    assert (raw["messageText"], raw["messageEncoding"]) == ("/wByYXc=", "base64")
    httpx.delete(keyed.url("/admin/queues/converted"), headers=admin)
    for kind in ("number", "badjson"):  # the invocation fails; nothing is enqueued
        assert httpx.post(keyed.url(f"/api/convert?kind={kind}")).status_code == 500
    assert queue(keyed, "converted", headers=admin) == []
    assert 'unsupported type "queue" for Python type "int"' in keyed.output


# -- host.json, the CLI, the v1 model ------------------------------------------------------------


def test_invalid_host_json_options_put_the_queue_functions_in_error(
        app: Path, tmp_path: Path) -> None:
    env = {"AzureFunctionsJobHost__extensions__queues__batchSize": "40"}
    with host(app, tmp_path, "badopts", env=env) as h:
        status = httpx.get(h.url("/admin/host/status")).json()
        assert "stage1" not in status["functions"] and "enqueue" in status["functions"]
        message = ("The 'stage1' function is in error: host.json extensions.queues.batchSize: "
                   "Specified argument was out of the range of valid values. (Parameter "
                   "'value'): it must be from 1 to 32, not 40")
        assert message in status["errors"]


def test_a_bad_static_output_queue_name_puts_only_its_function_in_error(tmp_path: Path) -> None:
    app = tmp_path / "badout"
    app.mkdir()
    (app / "host.json").write_text('{"version": "2.0"}')
    (app / "function_app.py").write_text(
        "import azure.functions as func\n"
        "app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)\n\n"
        "@app.route(route='bad')\n"
        "@app.queue_output(arg_name='msg', queue_name='No_Such--Queue', connection='Storage')\n"
        "def bad(req: func.HttpRequest, msg: func.Out[str]) -> str:\n"
        "    msg.set('x')\n"
        "    return 'sent'\n\n"
        "@app.route(route='good')\n"
        "def good(req: func.HttpRequest) -> str:\n"
        "    return 'ok'\n")
    with HostProcess(app, "--no-reload", log_path=tmp_path / "host.log") as h:
        status = httpx.get(h.url("/admin/host/status")).json()
        assert "bad" not in status["functions"] and "good" in status["functions"]
        [error] = [e for e in status["errors"] if e.startswith("The 'bad' function")]
        assert "queue output binding 'msg'" in error and "A queue name" in error
        assert httpx.get(h.url("/api/good")).text == "ok"


def cli(app: Path, *args: str, ok: bool = True) -> Any:
    done = subprocess.run([FUNC_PY, "queue", *args, "--script-root", str(app)],
                          capture_output=True, text=True, timeout=60)
    assert (done.returncode == 0) == ok, done.stderr
    return json.loads(done.stdout) if ok else done.stderr


def test_cli_put_peek_list_clear(app: Path, tmp_path: Path) -> None:
    assert cli(app, "list") == [] and cli(app, "peek", "route") == []
    assert not (app / ".func-py").exists()  # reading an empty hub creates nothing
    put = cli(app, "put", "Route", "x1")
    assert put["queue"] == "route" and put["id"].isdigit()
    cli(app, "put", "parked", "first")
    cli(app, "put", "parked", "/wA=", "--base64")
    cli(app, "put", "parked", "later", "--visibility-timeout", "600")
    peeked = cli(app, "peek", "parked")
    assert [(m["messageText"], m.get("messageEncoding")) for m in peeked] == \
        [("first", None), ("/wA=", "base64")]
    assert peeked[0]["dequeueCount"] == 0
    assert cli(app, "list") == [{"name": "parked", "messages": 3, "visible": 2},
                                {"name": "route", "messages": 1, "visible": 1}]
    assert cli(app, "clear", "parked") == {"queue": "parked", "deleted": 3}
    assert "A queue name can contain only letters" in cli(app, "put", "a_b", "x", ok=False)
    assert "not valid base64" in cli(app, "put", "abc", "%%", "--base64", ok=False)
    # A host started now takes the message; its output goes to a queue named from the body.
    with host(app, tmp_path, "cli"):
        wait_until(lambda: cli(app, "peek", "routed-x1"), timeout=20,
                   what="the routed message")
    assert [m["messageText"] for m in cli(app, "peek", "routed-x1")] == ["routed x1 (try 1)"]
    assert cli(app, "list") == [{"name": "routed-x1", "messages": 1, "visible": 1}]


def test_v1_queue_trigger_and_outputs(tmp_path: Path) -> None:
    app = tmp_path / "v1"
    shutil.copytree(APPS / "queues_v1", app)
    with host(app, tmp_path, "v1") as h:
        assert "Relay: queueTrigger: v1-inbox" in h.output  # %INBOX% = "V1-Inbox"
        for body in (b"hello", b"bad"):
            r = httpx.post(h.url("/api/Submit"), content=body)
            assert (r.status_code, r.text) == (202, "submitted")
        wait_until(lambda: queue(h, "v1-outbox") and queue(h, "v1-inbox-poison"),
                   timeout=20, what="the relay and the poison move")
        assert [m["messageText"] for m in queue(h, "v1-outbox")] == ["relayed hello #1"]
        assert [m["messageText"] for m in queue(h, "v1-inbox-poison")] == ["bad"]
