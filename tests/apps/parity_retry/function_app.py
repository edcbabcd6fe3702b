"""Retry policies on a timer (honoured: Azure retries timers) and on HTTP (ignored with a
warning, as on Azure). Each timer attempt records its `context.retry_context` as a JSON line in
$RETRY_RECORD_DIR/flaky.jsonl; it fails until its last allowed attempt."""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
RECORDS = Path(os.environ.get("RETRY_RECORD_DIR") or tempfile.gettempdir())


@app.timer_trigger(schedule="0 0 0 1 1 *", arg_name="timer", run_on_startup=True,
                   use_monitor=False)
@app.retry(strategy="fixed_delay", max_retry_count="2", delay_interval="00:00:01")
def flaky(timer: func.TimerRequest, context: func.Context) -> None:
    retry = context.retry_context
    with open(RECORDS / "flaky.jsonl", "a") as f:
        f.write(json.dumps({"t": time.time(), "retry_count": retry.retry_count,
                            "max_retry_count": retry.max_retry_count,
                            "invocation_id": context.invocation_id,
                            "previous": retry.rpc_exception.message}) + "\n")
    if retry.retry_count < retry.max_retry_count:
        raise RuntimeError(f"attempt {retry.retry_count} fails on purpose")


@app.route(route="once")
@app.retry(strategy="exponential_backoff", max_retry_count="3", minimum_interval="00:00:01",
           maximum_interval="00:00:05")
def once(req: func.HttpRequest) -> str:
    return "http functions do not retry"
