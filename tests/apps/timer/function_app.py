"""Timer test app: every function records its firings as JSON lines in $TIMER_RECORD_DIR."""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

import azure.functions as func

app = func.FunctionApp()
RECORDS = Path(os.environ.get("TIMER_RECORD_DIR") or tempfile.gettempdir())


def record(name: str, timer: func.TimerRequest) -> None:
    line = {"fn": name, "t": time.time(), "pid": os.getpid(), "past_due": timer.past_due,
            "status": timer.schedule_status, "schedule": timer.schedule}
    with open(RECORDS / f"{name}.jsonl", "a") as f:
        f.write(json.dumps(line) + "\n")


@app.timer_trigger(schedule="*/1 * * * * *", arg_name="timer")
async def tick(timer: func.TimerRequest) -> None:
    record("tick", timer)


@app.timer_trigger(schedule="0 0 0 1 1 *", arg_name="timer", run_on_startup=True)
def startup(timer: func.TimerRequest) -> None:
    record("startup", timer)


@app.timer_trigger(schedule="0 0 */6 * * *", arg_name="timer")
def monitored(timer: func.TimerRequest) -> None:
    record("monitored", timer)


@app.timer_trigger(schedule="0 0 25 * * *", arg_name="timer")
def broken(timer: func.TimerRequest) -> None:
    record("broken", timer)


@app.timer_trigger(schedule="%HOURLY_SCHEDULE%", arg_name="timer", use_monitor=False)
def fromsetting(timer: func.TimerRequest) -> None:
    record("fromsetting", timer)


@app.route(route="ping", auth_level=func.AuthLevel.ANONYMOUS)
def ping(req: func.HttpRequest) -> str:
    return "pong"
