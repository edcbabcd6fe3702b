"""The custom class arrives as the orchestration's input, goes to an activity and comes back."""

import azure.durable_functions as df

from ..shared_code.MyClasses import SerializableClass


def orchestrator_function(context: df.DurableOrchestrationContext):
    value = context.get_input()
    assert isinstance(value, SerializableClass), type(value)
    doubled = yield context.call_activity("E6_Double", value)
    assert isinstance(doubled, SerializableClass), type(doubled)
    return {"input": value.show_number(), "doubled": doubled.show_number(),
            "module": type(doubled).__module__}


main = df.Orchestrator.create(orchestrator_function)
