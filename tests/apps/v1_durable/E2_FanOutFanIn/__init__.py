"""Fan-out/fan-in: one activity lists the work, one activity per item runs in parallel, the
orchestrator sums their results."""

import azure.durable_functions as df


def orchestrator_function(context: df.DurableOrchestrationContext):
    count = context.get_input()
    if not count:
        raise ValueError("A number of work items is required as input")
    items = yield context.call_activity("E2_GetWorkItems", count)
    results = yield context.task_all([context.call_activity("E2_ProcessItem", i) for i in items])
    return {"items": len(results), "total": sum(results)}


main = df.Orchestrator.create(orchestrator_function)
