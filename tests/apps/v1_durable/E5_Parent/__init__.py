"""Sub-orchestration: one child orchestration per name, awaited together."""

import azure.durable_functions as df


def orchestrator_function(context: df.DurableOrchestrationContext):
    names = context.get_input() or []
    children = [context.call_sub_orchestrator("E5_Child", name) for name in names]
    results = yield context.task_all(children)
    return {"parent": context.instance_id, "children": results}


main = df.Orchestrator.create(orchestrator_function)
