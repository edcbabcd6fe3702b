"""Driven by tests/e2e/test_debugger.py, which attaches a debugger and sets breakpoints on the
lines marked `# BP:<name>` (found by marker, so editing this file moves no test). The test
copies the app to a temporary folder; the hot-reload case edits its copy."""

from __future__ import annotations

import asyncio
import logging

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="sync")
def hello_sync(req: func.HttpRequest) -> func.HttpResponse:
    name = req.params.get("name", "world")
    text = f"sync {name}"  # BP:sync
    return func.HttpResponse(text)


@app.route(route="async")
async def hello_async(req: func.HttpRequest) -> func.HttpResponse:
    await asyncio.sleep(0)  # a real await: the function resumes on the loop
    text = f"async {req.params.get('name', 'world')}"  # BP:async
    return func.HttpResponse(text)


@app.route(route="edited")
def edited(req: func.HttpRequest) -> str:
    return "before"  # BP:edited


@app.activity_trigger(input_name="word")
def shout(word: str) -> str:
    loud = word.upper()  # BP:activity
    return loud


@app.orchestration_trigger(context_name="context")
def shouting(context: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
    first = yield context.call_activity("shout", context.get_input() or "hi")
    result = f"{first}!"  # BP:orchestrator
    return result


@app.timer_trigger(schedule="0 0 0 1 1 *", arg_name="timer")  # once a year: run by hand
def yearly(timer: func.TimerRequest) -> None:
    logging.info("yearly ran")  # BP:timer
