"""Fan-outs and chains of short async activities for the soak tests (tests/soak/).

Every run of the `work` activity appends two lines to the file named by the FUNCPY_SOAK_RUNS
setting: "<instance> <index> <host pid> start <unix time>" before it sleeps and the same with
"end" after, each with one O_APPEND write, so runs of several hosts (and of hosts killed
mid-write) never interleave inside a line. The test reads that file to count the runs of each
activity. The hub is SQLite unless AzureFunctionsJobHost__ overrides select PostgreSQL.
"""

import asyncio
import os
import time

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)
_fd: list[int] = []


def _record(job: dict, what: str) -> None:
    if not _fd:
        _fd.append(os.open(os.environ["FUNCPY_SOAK_RUNS"],
                           os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644))
    line = f"{job['iid']} {job['i']} {os.getpid()} {what} {time.time():.6f}\n"
    os.write(_fd[0], line.encode())


@app.orchestration_trigger(context_name="context")
def fanout(context: df.DurableOrchestrationContext):
    spec = context.get_input()
    results = yield context.task_all([
        context.call_activity("work", {"iid": context.instance_id, "i": i, "ms": spec["ms"]})
        for i in range(spec["n"])])
    return results


@app.orchestration_trigger(context_name="context")
def chain(context: df.DurableOrchestrationContext):
    spec = context.get_input()
    results = []
    for i in range(spec["n"]):
        results.append((yield context.call_activity(
            "work", {"iid": context.instance_id, "i": i, "ms": spec["ms"]})))
    return results


@app.activity_trigger(input_name="job")
async def work(job: dict) -> int:
    _record(job, "start")
    await asyncio.sleep(job["ms"] / 1000)
    _record(job, "end")
    return job["i"] * job["i"]
