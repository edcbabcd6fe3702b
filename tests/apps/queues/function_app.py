"""A queue pipeline for the queue tests: HTTP -> stage-one -> stage-two -> done.log, with a
poison message, a message that waits for the test (to be in flight at a kill), and functions
that show what a QueueMessage carries and what outputs become.

Runs are appended to runs.log as "<event> <body> <dequeue_count> <pid> <time>" lines (stage1
writes a start and an end line); the working directory is the app folder.
"""

import json
import os
import threading
import time

import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
_lock = threading.Lock()
_running = 0
_peak = 0


def record(name: str, body: str, count: int | None) -> None:
    with open("runs.log", "a") as f:
        f.write(f"{name} {body} {count} {os.getpid()} {time.time():.6f}\n")
        f.flush()
        os.fsync(f.fileno())


@app.route(route="enqueue", methods=["POST"])
@app.queue_output(arg_name="out", queue_name="%STAGE1%", connection="AzureWebJobsStorage")
def enqueue(req: func.HttpRequest, out: func.Out[str]) -> str:
    # A JSON array set as one string: the host splits it into one message per element.
    out.set(json.dumps(req.get_json()))
    return "queued"


@app.queue_trigger(arg_name="msg", queue_name="%STAGE1%", connection="AzureWebJobsStorage")
@app.queue_output(arg_name="$return", queue_name="stage-two", connection="AzureWebJobsStorage")
def stage1(msg: func.QueueMessage) -> str:
    global _running, _peak
    body = msg.get_body().decode()
    record("stage1", body, msg.dequeue_count)
    with _lock:
        _running += 1
        _peak = max(_peak, _running)
    try:
        if body.startswith("poison"):
            raise ValueError(f"cannot digest {body}")
        if body.startswith("slow"):
            while not os.path.exists("release"):
                time.sleep(0.01)
        if body.startswith("nap"):
            time.sleep(0.3)
        record("stage1-end", body, msg.dequeue_count)
        return f"{body}+1"
    finally:
        with _lock:
            _running -= 1


@app.queue_trigger(arg_name="msg", queue_name="stage-two", connection="AzureWebJobsStorage")
def stage2(msg: str) -> None:
    record("stage2", msg, None)
    with open("done.log", "a") as f:
        f.write(f"{msg}\n")
        f.flush()
        os.fsync(f.fileno())


@app.route(route="stats", methods=["GET"])
def stats(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(json.dumps({"peak": _peak, "running": _running}),
                             mimetype="application/json")


@app.queue_trigger(arg_name="msg", queue_name="inspect", connection="AzureWebJobsStorage")
def inspect(msg: func.QueueMessage) -> None:
    fields = {
        "type": type(msg).__name__, "id": msg.id, "body": msg.get_body().decode(),
        "dequeue_count": msg.dequeue_count, "pop_receipt": msg.pop_receipt,
        "insertion_time": msg.insertion_time.isoformat(),
        "expiration_time": msg.expiration_time.isoformat(),
        "time_next_visible": msg.time_next_visible.isoformat(),
        "tz": str(msg.insertion_time.tzinfo), "at": time.time(),
    }
    with open("inspect.jsonl", "a") as f:
        f.write(json.dumps(fields) + "\n")
    if fields["body"] == "fail-once" and msg.dequeue_count == 1:
        raise RuntimeError("first delivery fails")


@app.route(route="convert", methods=["POST"])
@app.queue_output(arg_name="out", queue_name="converted", connection="AzureWebJobsStorage")
def convert(req: func.HttpRequest, out: func.Out[func.QueueMessage]) -> str:
    kind = req.params.get("kind", "")
    values = {
        "text": "plain text",
        "bytes": b"\xff\x00raw",
        "message": func.QueueMessage(id="m1", body="hi"),
        "list": ["a", func.QueueMessage(body="b")],
        "object": json.dumps({"a": 1, "b": [True, None]}),
        "array": json.dumps(["x", 2, 1.5, {"k": "v"}, None, False]),
        "dict": {"k1": 1, "k2": 2},
        "number": 7,
        "badjson": "[not json]",
    }
    out.set(values[kind])
    return "ok"


@app.queue_trigger(arg_name="msg", queue_name="route", connection="AzureWebJobsStorage")
@app.queue_output(arg_name="out", queue_name="Routed-{queueTrigger}",
                  connection="AzureWebJobsStorage")
def route(msg: func.QueueMessage, out: func.Out[str]) -> None:
    out.set(f"routed {msg.get_body().decode()} (try {msg.dequeue_count})")
