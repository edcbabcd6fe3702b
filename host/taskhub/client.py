"""Instance management: what the durable client binding, the HTTP management API and
`func-py durable` do to a task hub (start, raise, terminate, suspend, resume, rewind, purge,
status, query; and for Durable Entities signal, read, list and delete).

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

from funcpy.host import tracing
from funcpy.host.taskhub.entity_ids import new_request, scheduler_id
from funcpy.host.taskhub.history import (
    ControlMessage,
    Event,
    EventType,
    control_queue,
    event,
    execution_started,
    partition_of,
)
from funcpy.host.taskhub.instance_state import TERMINAL
from funcpy.host.taskhub.rewind import failed_activities
from funcpy.host.taskhub.store import InstanceExists, InstanceQuery, InstanceRecord

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
# A filtered entity list (lastOperationTime bounds, which the store cannot filter on) reads at
# most this many pages per answer; a sparse match may leave a page short, and its token goes on.
MAX_ENTITY_SCANS = 10


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


def entity_problem(name: str, key: str) -> str | None:
    """Why (name, key) cannot name an entity, or None. The extension's rules: a name without
    '@' (it separates name and key in the scheduler id), a key without '/', '\\', '#', '?' or
    control characters (DurableClient.SignalEntityAsync); the key may be empty."""
    if not name.strip():
        return "the entity name is blank"
    if "@" in name:
        return f"the entity name {shown_id(name)} contains '@'"
    for what, text in (("name", name), ("key", key)):
        if _BAD_ID.search(text):
            return (f"the entity {what} {shown_id(text)} contains '/', '\\', '#', '?' or a "
                    "control character")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return f"the entity {what} is not valid Unicode text (a lone surrogate)"
    return None


@dataclass
class TaskHubClient:
    store: Any
    partitions: int
    orchestrator_names: Callable[[], list[str]] | None = None  # None: don't validate names
    notify: Callable[[str], None] | None = None  # wake the local worker for an instance
    clock: Callable[[], float] = time.time
    default_version: str | None = None  # host.json defaultVersion, for starts without one
    entity_names: Callable[[], list[str]] | None = None  # None: don't validate entity names

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
              version: str | None = None, trace: tracing.SpanRef | None = None) -> str:
        """`trace`: the caller's span (the request's traceparent), parent of the new
        orchestration's trace (recorded in its ExecutionStarted event)."""
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
        span, created = tracing.creating_orchestration(trace, name, iid, ex)
        try:
            with self.store.transaction() as tx:
                tx.create_instance(record, replace_statuses=TERMINAL)
                self._put(tx, iid, ex, execution_started(
                    now, iid, ex, name, input_text, version=version or self.default_version,
                    trace=tracing.to_record(span)))
        except InstanceExists:
            raise ClientError(409, f"An instance with id '{iid}' already exists and is not in "
                                   "a completed, failed or terminated state.") from None
        finally:
            if created is not None:
                created()  # ends the create_orchestration span
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

    # -- Durable Entities (conventions in entity_ids.py) -------------------------------------

    def entity_id(self, name: str, key: str) -> str:
        """The scheduler id of (name, key); ClientError(400) naming what is wrong."""
        problem = entity_problem(name, key)
        if problem is not None:
            raise ClientError(400, f"Invalid entity id: {problem}.")
        return scheduler_id(name, key)

    def signal_entity(self, name: str, key: str, operation: str,
                      input_text: str | None) -> str:
        """Queue a one-way operation for the entity (which need not exist yet: a signal creates
        it) on its partition's control queue; returns the request id."""
        entity_id = self.entity_id(name, key)
        if not operation:
            raise ClientError(400, "An entity operation name is required.")
        if self.entity_names is not None:
            names = self.entity_names()
            if name.lower() not in {n.lower() for n in names}:
                listed = ", ".join(f"'{n}'" for n in sorted(names)) or "none are loaded"
                raise ClientError(400, f"The function '{name}' doesn't exist, is disabled, or is "
                                       f"not an entity function. Known entities: {listed}.")
        request = new_request(operation, input_text, signal=True)
        with self.store.transaction() as tx:
            tx.put_message(control_queue(partition_of(entity_id, self.partitions)),
                           request.message(entity_id, self.clock()), instance_id=entity_id)
        self._notify(entity_id)
        return request.request_id

    def read_entity(self, name: str, key: str) -> InstanceRecord | None:
        """The entity's row (its state is `input`), or None if it does not exist."""
        return self.store.get_instance(self.entity_id(name, key))

    def list_entities(self, name: str | None = None, last_op_from: float | None = None,
                      last_op_to: float | None = None, top: int = DEFAULT_PAGE_SIZE,
                      continuation: str | None = None
                      ) -> tuple[list[InstanceRecord], str | None]:
        """One page of entity rows (of one entity name, matched case-insensitively), with the
        token for the next page or None. The store pages by creation; the last-operation bounds
        (and the check that a row's id is `@name@key`) are applied here, so a page may hold
        fewer than `top` rows while the token still leads to the rest."""
        prefix = None
        if name is not None:
            self.entity_id(name, "")  # validates the name
            prefix = scheduler_id(name, "")
        top = min(max(top, 1), MAX_PAGE_SIZE)

        def query(size: int, token: str | None) -> InstanceQuery:
            return InstanceQuery(instance_id_prefix=prefix, top=size, continuation=token,
                                 entities=True)

        def wanted(r: InstanceRecord) -> bool:
            # '@' then a name and '@': an orchestration an app started with an id like '@x'
            # (nothing stops a sub-orchestration's) shares the entity rows' prefix.
            return ("@" in r.instance_id[1:]
                    and (last_op_from is None or r.last_updated >= last_op_from)
                    and (last_op_to is None or r.last_updated <= last_op_to))

        found: list[InstanceRecord] = []
        token = continuation
        for _ in range(MAX_ENTITY_SCANS):
            # Never more rows than are still wanted: the token must not skip any the caller
            # was not shown.
            page, token = self.store.query_instances(query(top - len(found), token))
            found += [r for r in page if wanted(r)]
            if token is None or len(found) >= top:
                break
        return found, token

    def delete_entity(self, name: str, key: str) -> bool:
        """Remove the entity's row and state at once, whatever it implements (`func-py durable
        delete-entity`); True if it existed. Operations already queued for it still run, and a
        signal among them creates it again. (The HTTP API's DELETE is the extension's: a signal
        of the operation "delete", which the entity function handles.)"""
        entity_id = self.entity_id(name, key)
        with self.store.transaction() as tx:
            return bool(tx.delete_instance(entity_id))
