"""Instance management: what the durable client binding, the HTTP management API and
`func-py durable` do to a task hub (start, raise, terminate, suspend, resume, rewind, purge,
status, query).

Everything that changes a running instance is a control message, so only the partition's
owner ever writes its history; this module writes instance rows directly only to create or
purge them.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from host.taskhub.history import (
    ControlMessage,
    Event,
    EventType,
    control_queue,
    event,
    execution_started,
    partition_of,
    status_time,
)
from host.taskhub.instance_state import TERMINAL
from host.taskhub.rewind import failed_activities
from host.taskhub.store import InstanceExists, InstanceQuery, InstanceRecord

# The extension's rules for a new instance id (DurableClient.StartNewAsync): at most 256
# characters (MaxInstanceIdLength), no '/', '\\', '#', '?' or control character (.NET
# char.IsControl: U+0000-U+001F and U+007F-U+009F), and no leading '@' (entity ids).
MAX_INSTANCE_ID_LENGTH = 256

# A public list without `top` gets one page of 100, the extension's default page size
# (OrchestrationStatusQueryCondition.PageSize = 100, in WebJobs.Extensions.DurableTask and in
# DurableTask.Core.Query); the x-ms-continuation-token header carries on. A larger `top` is cut
# to MAX_PAGE_SIZE (the API and `func-py durable get-instances`): the extension documents that
# a page may hold fewer rows than asked for, the token still leads to the rest, and one answer
# stays bounded in memory and time.
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
_BAD_ID = re.compile(r"[/\\#?\x00-\x1f\x7f-\x9f]")


class ClientError(Exception):
    """A request the hub refuses; `status` is the HTTP status the API answers with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def shown_id(instance_id: str) -> str:
    """An instance id for a message: quoted, escaped (a newline in it must not forge a log
    line) and cut short (a 100 kB id must not become a 100 kB message)."""
    text = repr(instance_id[:100])
    return text if len(instance_id) <= 100 else text[:-1] + "...'"


def new_instance_id_problem(instance_id: str) -> str | None:
    """Why `instance_id` cannot name a new instance, or None."""
    if not instance_id.strip():
        return "it is blank"
    if len(instance_id) > MAX_INSTANCE_ID_LENGTH:
        return f"it is longer than {MAX_INSTANCE_ID_LENGTH} characters"
    if instance_id.startswith("@"):
        return "ids starting with '@' are reserved for entities"
    if _BAD_ID.search(instance_id):
        return "it contains '/', '\\', '#', '?' or a control character"
    try:
        instance_id.encode("utf-8")
    except UnicodeEncodeError:
        return "it is not valid Unicode text (a lone surrogate)"
    return None


@dataclass
class TaskHubClient:
    store: Any
    partitions: int
    orchestrator_names: Callable[[], list[str]] | None = None  # None: don't validate names
    notify: Callable[[str], None] | None = None  # wake the local worker for an instance
    clock: Callable[[], float] = time.time
    default_version: str | None = None  # host.json defaultVersion, for starts without one

    def _put(self, tx: Any, instance_id: str, execution_id: str | None, e: Event) -> None:
        tx.put_message(control_queue(partition_of(instance_id, self.partitions)),
                       ControlMessage(instance_id, execution_id, e).encode(),
                       instance_id=instance_id)

    def _notify(self, instance_id: str) -> None:
        if self.notify is not None:
            self.notify(instance_id)

    def resolve_name(self, name: str) -> str:
        if self.orchestrator_names is None:
            return name
        names = self.orchestrator_names()
        for known in names:
            if known.lower() == name.lower():
                return known
        listed = ", ".join(f"'{n}'" for n in sorted(names)) or "none are loaded"
        raise ClientError(400, f"The function '{name}' doesn't exist, is disabled, or is not an "
                               f"orchestrator function. Known orchestrators: {listed}.")

    def start(self, name: str, instance_id: str | None = None, input_text: str | None = None,
              version: str | None = None) -> str:
        name = self.resolve_name(name)
        iid = instance_id or uuid.uuid4().hex
        problem = new_instance_id_problem(iid)
        if problem is not None:
            raise ClientError(400, f"Instance id {shown_id(iid)} is invalid: {problem}. Use "
                                   f"1-{MAX_INSTANCE_ID_LENGTH} characters without '/', '\\', "
                                   "'#', '?' or control characters, not starting with '@'.")
        now = self.clock()
        ex = uuid.uuid4().hex
        record = InstanceRecord(instance_id=iid, name=name, execution_id=ex,
                                runtime_status="Pending", input=input_text, output=None,
                                custom_status=None, created_at=now, last_updated=now)
        try:
            with self.store.transaction() as tx:
                tx.create_instance(record, replace_statuses=TERMINAL)
                self._put(tx, iid, ex, execution_started(
                    now, iid, ex, name, input_text, version=version or self.default_version))
        except InstanceExists:
            raise ClientError(409, f"An instance with id '{iid}' already exists and is not in "
                                   "a completed, failed or terminated state.") from None
        self._notify(iid)
        return iid

    def get(self, instance_id: str) -> InstanceRecord | None:
        return self.store.get_instance(instance_id)

    def _require(self, instance_id: str) -> InstanceRecord:
        record = self.get(instance_id)
        if record is None:
            raise ClientError(404, f"No instance with ID '{instance_id}' is found.")
        return record

    def history(self, record: InstanceRecord) -> list[Event]:
        return [json.loads(t) for t in self.store.read_history(record.instance_id,
                                                                record.execution_id)]

    def _signal(self, instance_id: str, e: Event, gone_if: frozenset[str], verb: str) -> None:
        record = self._require(instance_id)
        if record.runtime_status in gone_if:
            raise ClientError(410, f"Instance '{instance_id}' is {record.runtime_status.lower()}"
                                   f" and cannot be {verb}.")
        with self.store.transaction() as tx:
            self._put(tx, instance_id, None, e)
        self._notify(instance_id)

    def raise_event(self, instance_id: str, name: str, data_text: str | None) -> None:
        if not name:
            raise ClientError(400, "An event name is required.")
        self._signal(instance_id, event(EventType.EventRaised, self.clock(), Name=name,
                                        Input=data_text), TERMINAL, "sent events")

    def terminate(self, instance_id: str, reason: str | None) -> None:
        self._signal(instance_id, event(EventType.ExecutionTerminated, self.clock(),
                                        Input=reason), TERMINAL, "terminated")

    def suspend(self, instance_id: str, reason: str | None) -> None:
        self._signal(instance_id, event(EventType.ExecutionSuspended, self.clock(),
                                        Reason=reason), TERMINAL, "suspended")

    def resume(self, instance_id: str, reason: str | None) -> None:
        self._signal(instance_id, event(EventType.ExecutionResumed, self.clock(),
                                        Reason=reason), TERMINAL, "resumed")

    def rewind(self, instance_id: str, reason: str | None) -> None:
        record = self._require(instance_id)
        if record.runtime_status != "Failed":
            raise ClientError(410, f"Instance '{instance_id}' is {record.runtime_status} and "
                                   "cannot be rewound: only failed instances can.")
        if not failed_activities(self.history(record)):
            raise ClientError(400, f"Instance '{instance_id}' has no failed activity to run "
                                   "again; restart it instead.")
        with self.store.transaction() as tx:
            self._put(tx, instance_id, record.execution_id,
                      event(EventType.ExecutionRewound, self.clock(), Reason=reason))
        self._notify(instance_id)

    def purge(self, instance_id: str) -> int:
        with self.store.transaction() as tx:
            return 1 if tx.delete_instance(instance_id) else 0

    def purge_by(self, query: InstanceQuery) -> int:
        return int(self.store.purge_instances(query))

    def query(self, query: InstanceQuery) -> tuple[list[InstanceRecord], str | None]:
        return self.store.query_instances(query)


def _token(text: str | None) -> Any:
    # Stored texts are JSON; the API embeds them as JSON values (falling back to the raw text).
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


_FOLDED = {EventType.OrchestratorStarted, EventType.OrchestratorCompleted,
           EventType.TaskScheduled, EventType.SubOrchestrationInstanceCreated,
           EventType.TimerCreated}


def history_json(history: list[Event], show_input: bool, show_output: bool) -> list[dict]:
    """The management API's `historyEvents`: scheduling rows folded into their completions."""
    scheduled = {int(e["EventId"]): e for e in history
                 if e["EventType"] in (EventType.TaskScheduled,
                                       EventType.SubOrchestrationInstanceCreated)}
    out: list[dict] = []
    for e in history:
        kind = EventType(e["EventType"])
        if kind in _FOLDED:
            continue
        row: dict[str, Any] = {"EventType": kind.name, "Timestamp": e["Timestamp"]}
        if kind == EventType.ExecutionStarted:
            row["FunctionName"] = e.get("Name")
            if show_input:
                row["Input"] = _token(e.get("Input"))
        elif kind in (EventType.TaskCompleted, EventType.TaskFailed,
                      EventType.SubOrchestrationInstanceCompleted,
                      EventType.SubOrchestrationInstanceFailed):
            sched = scheduled.get(int(e["TaskScheduledId"]), {})
            row["FunctionName"] = sched.get("Name")
            row["ScheduledTime"] = sched.get("Timestamp")
            if show_input:
                row["Input"] = _token(sched.get("Input"))
            if show_output and "Result" in e:
                row["Result"] = _token(e.get("Result"))
            for k in ("Reason", "Details"):
                if e.get(k) is not None:
                    row[k] = e[k]
        elif kind == EventType.TimerFired:
            row["FireAt"] = e.get("FireAt")
        elif kind == EventType.EventRaised:
            row["Name"] = e.get("Name")
            if show_input:
                row["Input"] = _token(e.get("Input"))
        elif kind == EventType.ExecutionCompleted:
            row["OrchestrationStatus"] = e.get("OrchestrationStatus")
            if show_output:
                row["Result"] = _token(e.get("Result"))
        else:
            for k in ("Input", "Reason", "Name"):
                if e.get(k) is not None:
                    row[k] = e[k]
        out.append(row)
    return out


def status_json(record: InstanceRecord, *, show_input: bool = True,
                history: list[Event] | None = None, show_output: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": record.name,
        "instanceId": record.instance_id,
        "runtimeStatus": record.runtime_status,
        "input": _token(record.input) if show_input else None,
        "customStatus": _token(record.custom_status),
        "output": _token(record.output),
        "createdTime": status_time(record.created_at),
        "lastUpdatedTime": status_time(record.last_updated),
    }
    if history is not None:
        body["historyEvents"] = history_json(history, show_input, show_output)
    return body
