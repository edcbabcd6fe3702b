"""Activity triggers: Durable Functions activities, called by the task hub worker with their
input decoded by the azure.functions activity converter (df_loads, raw string fallback) and
their result encoded back to JSON text (df_dumps)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from azure.functions import meta
from funcpy.triggers.orchestration import _duplicates

if TYPE_CHECKING:
    from funcpy.host.config import HostConfig
    from funcpy.host.index import FunctionInfo
    from funcpy.triggers.base import HostServices

_CONVERTER = meta.get_binding_registry().get("activityTrigger")


class ActivityTriggerKind:
    binding_type = "activityTrigger"

    def validate(self, fn: FunctionInfo, config: HostConfig) -> None:
        return None

    def validate_all(self, fns: list[FunctionInfo], config: HostConfig) -> dict[str, str]:
        return _duplicates(fns, "activity")

    def describe(self, fn: FunctionInfo, config: HostConfig) -> str:
        return "activityTrigger"

    def manual_value(self, fn: FunctionInfo, value: Any, runtime: HostServices) -> Any:
        """POST /admin/functions/NAME {"input": ...}: the input is the activity's JSON input."""
        text = value if isinstance(value, str) else json.dumps(value)
        return _CONVERTER.decode(meta.Datum(text, "string"), trigger_metadata={})


KIND = ActivityTriggerKind()
