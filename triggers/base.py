"""The small interface every trigger kind implements.

A trigger kind *binds* functions from the index (validates them and describes them for the
start-up banner) and runs as a `Service` that is told about every new index: the HTTP kind
rebuilds its route table, the timer kind reschedules, the durable kinds route work items.
Converting an event into arguments and a result back into an event is each module's own code;
calling the user function is always `host.invoke.Invoker`'s job.

Triggers see the host through `HostServices`, the narrow part of the runtime they use, never
the runtime itself: the runtime imports the triggers, and the layers read top-down.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from collections.abc import MutableMapping

    from funcpy.host.auth import KeyRing
    from funcpy.host.config import HostConfig
    from funcpy.host.index import FunctionIndex, FunctionInfo
    from funcpy.host.invoke import Invoker
    from funcpy.host.retry import RetryPolicy
    from funcpy.host.taskhub.settings import TaskHubSettings


class HostServices(Protocol):
    """What trigger kinds and their services use of the host (`host.runtime.Runtime` is one)."""

    config: HostConfig
    environ: MutableMapping[str, str]
    invoker: Invoker
    keys: KeyRing
    index: FunctionIndex
    durable: Any  # the durable service (triggers.orchestration), once its kind created it
    rpc_port: int | None  # HTTPS hosts: the durable client's call-back listener

    def store(self) -> Any:
        """The app's task hub store, opened on first use."""

    def taskhub_settings(self) -> TaskHubSettings: ...

    def retry_policy(self, fn: FunctionInfo) -> RetryPolicy | None: ...


class TriggerKind(Protocol):
    binding_type: str

    def validate(self, fn: FunctionInfo, config: HostConfig) -> None:
        """Raise ValueError with a reason when this function cannot run (load time)."""

    def validate_all(self, fns: list[FunctionInfo], config: HostConfig) -> dict[str, str]:
        """Errors that involve several functions of this kind: name -> reason."""

    def describe(self, fn: FunctionInfo, config: HostConfig) -> str:
        """The banner text after "name: " (Core Tools style)."""

    # Optional members (looked up with getattr):
    #   create_service(host: HostServices) -> Service  a running source of invocations
    #   manual_value(fn, input, host) -> Any           the trigger value for POST /admin/functions/X
    #                                                  (raise ValueError with a reason to refuse;
    #                                                  a ManualRun also carries binding data)


class Service(Protocol):
    """A running source of invocations for one trigger kind."""

    async def apply(self, index: FunctionIndex) -> None:
        """Start serving `index` (called at start and after every reload; must be cheap)."""

    async def stop(self) -> None:
        """Stop producing new invocations (work in flight is the invoker's to finish)."""


@dataclass(frozen=True)
class ManualRun:
    """A manual run's trigger value with the binding data its output binding expressions
    (`{queueTrigger}`, ...) are filled from, as a real trigger event would carry."""

    value: Any
    binding_data: dict[str, Any] = field(default_factory=dict)
