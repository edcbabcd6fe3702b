"""Human interaction: send a challenge, then wait for up to three answers (external events),
racing each against one durable timer; the first right answer authorizes."""

from datetime import timedelta

import azure.durable_functions as df


def orchestrator_function(context: df.DurableOrchestrationContext):
    request = context.get_input()
    if not request or not request.get("phone"):
        raise ValueError("A phone number input is required")
    challenge = yield context.call_activity("E4_SendChallenge", request["phone"])

    expiration = context.current_utc_datetime + timedelta(seconds=request.get("timeout", 180))
    timeout_task = context.create_timer(expiration)

    authorized = False
    for _ in range(3):
        response_task = context.wait_for_external_event("ChallengeResponse")
        winner = yield context.task_any([response_task, timeout_task])
        if winner != response_task:
            break  # the timer fired first
        if response_task.result == challenge:
            authorized = True
            break

    if not timeout_task.is_completed:
        # All pending timers must be complete or canceled before the function exits.
        timeout_task.cancel()
    return authorized


main = df.Orchestrator.create(orchestrator_function)
