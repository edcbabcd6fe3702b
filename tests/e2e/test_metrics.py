"""`GET /admin/metrics` (host/metrics.py) through the real `func-py start --production`: HTTP
calls (one failing), orchestrations (one held in its activity while scraped), storage-queue
messages (one consumed, one left waiting), a timer every second; the text parsed with
prometheus_client's parser and the values asserted. Keys: production and --enable-auth ask for
the master key. Every wait polls with a deadline.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.harness import HostProcess, wait_until

MASTER = "metrics-master-key-0123456789"
ADMIN = {"x-functions-key": MASTER}

APP = '''
import os
import time
from pathlib import Path

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)
FLAG = Path(__file__).parent / "release.flag"


@app.route(route="hello")
def hello(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("hi")


@app.route(route="boom")
def boom(req: func.HttpRequest) -> func.HttpResponse:
    raise RuntimeError("boom")


@app.route(route="start/{name}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def start(req: func.HttpRequest, client: df.DurableOrchestrationClient):
    instance = await client.start_new(req.route_params["name"])
    return client.create_check_status_response(req, instance)


@app.orchestration_trigger(context_name="context")
def quick(context: df.DurableOrchestrationContext):
    return (yield context.call_activity("step", 1))


@app.orchestration_trigger(context_name="context")
def held(context: df.DurableOrchestrationContext):
    return (yield context.call_activity("wait_for_flag", None))


@app.activity_trigger(input_name="n")
def step(n: int) -> int:
    return n + 1


@app.activity_trigger(input_name="unused")
def wait_for_flag(unused: None) -> str:
    deadline = time.monotonic() + 60  # the test writes the flag; never wait for ever
    while not FLAG.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    return "released"


@app.route(route="enqueue", methods=["POST"])
@app.queue_output(arg_name="out", queue_name="jobs", connection="AzureWebJobsStorage")
def enqueue(req: func.HttpRequest, out: func.Out[str]) -> func.HttpResponse:
    out.set(req.get_body().decode())
    return func.HttpResponse("queued")


@app.route(route="park", methods=["POST"])
@app.queue_output(arg_name="out", queue_name="parked", connection="AzureWebJobsStorage")
def park(req: func.HttpRequest, out: func.Out[str]) -> func.HttpResponse:
    out.set(req.get_body().decode())  # nothing reads the parked queue
    return func.HttpResponse("queued")


@app.queue_trigger(arg_name="msg", queue_name="jobs", connection="AzureWebJobsStorage")
def job(msg: func.QueueMessage) -> None:
    with open("jobs.log", "a") as f:
        f.write(msg.get_body().decode() + "\\n")


@app.timer_trigger(schedule="*/1 * * * * *", arg_name="timer")
def tick(timer: func.TimerRequest) -> None:
    pass
'''
HOST_JSON = {"version": "2.0", "extensions": {"durableTask": {
    "hubName": "Metrics", "maxConcurrentActivityFunctions": 7,
    "maxConcurrentOrchestratorFunctions": 5}}}

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def make_app(folder: Path) -> Path:
    folder.mkdir()
    (folder / "function_app.py").write_text(APP)
    (folder / "host.json").write_text(json.dumps(HOST_JSON))
    return folder


def parse(text: str) -> Samples:
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def invocations(samples: Samples, function: str, trigger: str, outcome: str) -> float | None:
    return value(samples, "funcpy_invocation_duration_seconds_count", function=function,
                 trigger=trigger, outcome=outcome)


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostProcess]:
    tmp = tmp_path_factory.mktemp("metrics")
    app = make_app(tmp / "app")
    env = {"FUNCPY_MASTER_KEY": MASTER, "AzureWebJobsStorage": "UseDevelopmentStorage=true"}
    with HostProcess(app, "--production", env=env, log_path=tmp / "host.log") as proc:
        yield proc


def scrape(h: HostProcess) -> Samples:
    r = httpx.get(h.url("/admin/metrics"), headers=ADMIN, timeout=10)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    return parse(r.text)


def start(h: HostProcess, name: str) -> str:
    r = httpx.post(h.url(f"/api/start/{name}"), timeout=10)
    assert r.status_code == 202, r.text
    return str(r.json()["statusQueryGetUri"])


def completed(status_url: str) -> bool:
    return httpx.get(status_url, timeout=10).json()["runtimeStatus"] == "Completed"


def test_production_asks_for_the_master_key(host: HostProcess) -> None:
    assert httpx.get(host.url("/admin/metrics")).status_code == 401
    assert httpx.get(host.url("/admin/metrics"),
                     headers={"x-functions-key": "wrong"}).status_code == 401
    assert httpx.get(host.url("/admin/metrics"), params={"code": MASTER}).status_code == 200


def test_metrics_after_http_calls_orchestrations_queues_and_a_timer(host: HostProcess) -> None:
    with host.client() as c:
        for _ in range(3):
            assert c.get("/api/hello").status_code == 200
        assert c.get("/api/boom").status_code == 500
        assert c.get("/api/nothing-here").status_code == 404
        assert c.post("/api/enqueue", content="one").status_code == 200
        assert c.post("/api/park", content="waits").status_code == 200
    quick = start(host, "quick")
    wait_until(lambda: completed(quick), timeout=30, what="the quick orchestration")
    held = start(host, "held")

    # The held orchestration's activity runs now: in flight, and the instance Running.
    def holding() -> Samples | None:
        s = scrape(host)
        busy = value(s, "funcpy_durable_in_flight", kind="activity") == 1
        return s if busy and value(s, "funcpy_orchestration_instances",
                                   status="Running") == 1 else None

    s = wait_until(holding, timeout=30, what="the held activity to be in flight")
    assert value(s, "funcpy_invocations_in_flight", trigger="activityTrigger") == 1
    assert value(s, "funcpy_orchestration_instances", status="Completed") == 1
    assert value(s, "funcpy_orchestration_instances", status="Pending") == 0
    (host.app_dir / "release.flag").write_text("")
    wait_until(lambda: completed(held), timeout=30, what="the held orchestration")

    def settled() -> Samples | None:
        s = scrape(host)
        ok = (invocations(s, "job", "queueTrigger", "Succeeded") == 1
              and invocations(s, "held", "orchestrationTrigger", "Succeeded") == 2
              # the store figures of a scrape may be a second old (shared between scrapers)
              and value(s, "funcpy_orchestration_instances", status="Completed") == 2
              and (invocations(s, "tick", "timerTrigger", "Succeeded") or 0) >= 1
              and (value(s, "funcpy_queue_oldest_visible_age_seconds", queue="parked",
                         kind="user") or 0) > 0)
        return s if ok else None

    s = wait_until(settled, timeout=30, what="the queue message, timer and orchestrations")
    # Invocations by function, trigger and outcome; the histogram's buckets are cumulative.
    assert invocations(s, "hello", "httpTrigger", "Succeeded") == 3
    assert invocations(s, "boom", "httpTrigger", "Failed") == 1
    assert invocations(s, "boom", "httpTrigger", "Succeeded") is None
    assert invocations(s, "start", "httpTrigger", "Succeeded") == 2
    assert invocations(s, "step", "activityTrigger", "Succeeded") == 1
    assert invocations(s, "wait_for_flag", "activityTrigger", "Succeeded") == 1
    assert invocations(s, "quick", "orchestrationTrigger", "Succeeded") == 2  # two episodes
    labels = {"function": "hello", "trigger": "httpTrigger", "outcome": "Succeeded"}
    assert value(s, "funcpy_invocation_duration_seconds_bucket", le="+Inf", **labels) == 3
    assert 0 < (value(s, "funcpy_invocation_duration_seconds_sum", **labels) or 0) < 3
    held_ran = value(s, "funcpy_invocation_duration_seconds_sum", function="wait_for_flag",
                     trigger="activityTrigger", outcome="Succeeded")
    assert held_ran is not None and held_ran > 0.02
    # HTTP requests to the app's routes by status (the scrapes and status polls are not).
    assert value(s, "funcpy_http_requests_total", code="200") == 5
    assert value(s, "funcpy_http_requests_total", code="202") == 2
    assert value(s, "funcpy_http_requests_total", code="500") == 1
    assert value(s, "funcpy_http_requests_total", code="404") == 1
    # Instances by status, all statuses listed.
    assert value(s, "funcpy_orchestration_instances", status="Completed") == 2
    assert value(s, "funcpy_orchestration_instances", status="Running") == 0
    assert value(s, "funcpy_orchestration_instances", status="Failed") == 0
    # Queues: every control queue and the work-item queue (empty now), the trigger's queue
    # (consumed) and the queue nobody reads, with its waiting message.
    for p in range(4):
        assert value(s, "funcpy_queue_messages", queue=f"control-{p:02d}", kind="control") == 0
    assert value(s, "funcpy_queue_messages", queue="workitems", kind="workitems") == 0
    assert value(s, "funcpy_queue_messages", queue="jobs", kind="user") == 0
    assert value(s, "funcpy_queue_oldest_visible_age_seconds", queue="jobs", kind="user") == 0
    assert value(s, "funcpy_queue_messages", queue="parked", kind="user") == 1
    assert value(s, "funcpy_queue_visible_messages", queue="parked", kind="user") == 1
    # Concurrency now, and its limits from host.json.
    assert value(s, "funcpy_durable_in_flight", kind="activity") == 0
    assert value(s, "funcpy_durable_concurrency_limit", kind="activity") == 7
    assert value(s, "funcpy_durable_concurrency_limit", kind="orchestration") == 5
    # Timer lateness: each run of the every-second timer, a little after its occurrence.
    ticks = value(s, "funcpy_timer_lateness_seconds_count", function="tick") or 0
    assert ticks >= 1
    late = value(s, "funcpy_timer_lateness_seconds_sum", function="tick")
    assert late is not None and 0 <= late < ticks * 1.0
    assert value(s, "funcpy_taskhub_up") == 1
    assert value(s, "funcpy_build_info", version="0.1.0") == 1


def test_enable_auth_asks_for_the_master_key_and_development_does_not(
        tmp_path: Path) -> None:
    app = tmp_path / "app"
    app.mkdir()
    (app / "function_app.py").write_text(
        "import azure.functions as func\napp = func.FunctionApp()\n\n"
        "@app.route(route='hello', auth_level=func.AuthLevel.ANONYMOUS)\n"
        "def hello(req: func.HttpRequest) -> func.HttpResponse:\n"
        "    return func.HttpResponse('hi')\n")
    (app / "host.json").write_text('{"version": "2.0"}')
    env = {"FUNCPY_MASTER_KEY": MASTER}
    with HostProcess(app, "--no-reload", "--enable-auth", env=env,
                     log_path=tmp_path / "auth.log") as h:
        assert httpx.get(h.url("/api/hello")).status_code == 200
        assert httpx.get(h.url("/admin/metrics")).status_code == 401
        s = scrape(h)
        assert invocations(s, "hello", "httpTrigger", "Succeeded") == 1
        assert value(s, "funcpy_taskhub_up") is None  # no store: no task hub figures
    with HostProcess(app, "--no-reload", log_path=tmp_path / "open.log") as h:
        assert httpx.get(h.url("/admin/metrics")).status_code == 200
