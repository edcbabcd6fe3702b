import azure.durable_functions as df


def orchestrator_function(context: df.DurableOrchestrationContext):
    greeting = yield context.call_activity("E1_SayHello", context.get_input())
    return {"greeting": greeting, "parent": context.parent_instance_id}


main = df.Orchestrator.create(orchestrator_function)
