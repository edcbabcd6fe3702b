"""One module per trigger or binding kind, each the same small interface (see `triggers.base`)."""

from __future__ import annotations

from funcpy.triggers.base import TriggerKind


def trigger_kinds() -> dict[str, TriggerKind]:
    """The trigger kinds this host runs, by binding type."""
    from funcpy.triggers import activity, entity, http, orchestration, queue, timer

    kinds: list[TriggerKind] = [http.KIND, orchestration.KIND, activity.KIND, entity.KIND,
                                timer.KIND, queue.KIND]
    return {k.binding_type: k for k in kinds}


# Non-trigger bindings this host can supply (inputs) or carry (outputs).
INPUT_BINDING_TYPES: frozenset[str] = frozenset({"durableClient"})
OUTPUT_BINDING_TYPES: frozenset[str] = frozenset({"http", "queue"})
