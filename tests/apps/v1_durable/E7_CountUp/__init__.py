"""Adds each number of the input to counter 'v1' through entity calls, then reads it."""

import azure.durable_functions as df


def orchestrator_function(context: df.DurableOrchestrationContext):
    entity = df.EntityId("Counter", "v1")
    for amount in context.get_input():
        yield context.call_entity(entity, "add", amount)
    return (yield context.call_entity(entity, "get"))


main = df.Orchestrator.create(orchestrator_function)
