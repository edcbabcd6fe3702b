"""Entity triggers: Durable Entities, run by the task hub worker one batch at a time per entity
(host/taskhub/entity_batch.py). The kind validates and describes entity functions; they share
the durable service (the task hub worker) with orchestrators and activities."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from funcpy.host.taskhub.instance_state import durable_name
from funcpy.triggers.orchestration import _duplicates

if TYPE_CHECKING:
    from funcpy.host.config import HostConfig
    from funcpy.host.index import FunctionInfo
    from funcpy.triggers.base import HostServices


class EntityTriggerKind:
    binding_type = "entityTrigger"

    def validate(self, fn: FunctionInfo, config: HostConfig) -> None:
        name = durable_name(fn, "entityName")
        if "@" in name:
            raise ValueError(f"entity name '{name}' must not contain '@'")
        if not callable(fn.func) or not hasattr(fn.func, "entity_function"):
            raise ValueError("an entityTrigger function must be declared with "
                             "azure.durable_functions' @app.entity_trigger (v2) or be "
                             "`main = df.Entity.create(entity_function)` (v1)")

    def validate_all(self, fns: list[FunctionInfo], config: HostConfig) -> dict[str, str]:
        return _duplicates(fns, "entityName")

    def describe(self, fn: FunctionInfo, config: HostConfig) -> str:
        return "entityTrigger"

    def manual_value(self, fn: FunctionInfo, value: Any, runtime: HostServices) -> Any:
        name = durable_name(fn, "entityName")
        raise ValueError(f"'{fn.name}' is an entity: signal it through the durable client or "
                         f"POST /runtime/webhooks/durabletask/entities/{name}/KEY?op=NAME")


KIND = EntityTriggerKind()
