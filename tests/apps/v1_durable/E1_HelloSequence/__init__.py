"""Function chaining: three activity calls, one after the other."""

import azure.durable_functions as df


def orchestrator_function(context: df.DurableOrchestrationContext):
    greetings = []
    for city in ("Tokyo", "Seattle", "London"):
        greetings.append((yield context.call_activity("E1_SayHello", city)))
    return greetings


main = df.Orchestrator.create(orchestrator_function)
