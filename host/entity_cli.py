"""`func-py durable` commands for Durable Entities: get-entities, get-entity, signal-entity and
delete-entity, on the app's task hub store like the other `durable` commands (no host needs to
be running; a running host runs what `signal-entity` queues).

Names are matched case-insensitively (the hub keeps them lower-cased); keys are taken exactly as
given, '' being the empty key (there is no `$` stand-in here: a shell can pass '').
"""

from __future__ import annotations

import argparse
import shlex
import sys
from typing import TYPE_CHECKING, Any

from funcpy.host.durable_cli import DurableCommandError, _add, _data, _iso_time, _positive, _print

if TYPE_CHECKING:
    from funcpy.host.taskhub.client import TaskHubClient

ENTITY_COMMANDS = frozenset({"get-entities", "get-entity", "signal-entity", "delete-entity"})


def _entity_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", help="the entity's name (case-insensitive)")
    p.add_argument("key", help="the entity's key (case-sensitive; '' for the empty key; put "
                               "'--' before a key that starts with '-')")


def add_entity_parsers(cmds: Any) -> None:
    p = _add(cmds, "get-entities", "list entities (a JSON array of entityId, "
                                   "lastOperationTime and, with --fetch-state, state; the "
                                   "continuation token for the next page, if any, goes to "
                                   "stderr)")
    p.add_argument("--name", help="only entities of this name (case-insensitive)")
    p.add_argument("--last-operation-after", type=_iso_time, metavar="TIME",
                   help="only entities whose last operation ran at or after this ISO 8601 "
                        "time")
    p.add_argument("--last-operation-before", type=_iso_time, metavar="TIME",
                   help="only entities whose last operation ran at or before this time")
    p.add_argument("--top", type=_positive, default=10,
                   help="page size (default 10, at most 1000; with the time filters a page "
                        "may hold fewer, and the token continues)")
    p.add_argument("--fetch-state", action="store_true", help="include each entity's state")
    p.add_argument("--continuation-token", metavar="TOKEN",
                   help="the token a previous page printed, for the next page")

    p = _add(cmds, "get-entity", "print an entity's state as JSON (exit status 1 if the "
                                 "entity does not exist)")
    _entity_args(p)

    p = _add(cmds, "signal-entity", "queue an operation for an entity, which need not exist "
                                    "yet (a signal creates it); a running host runs it")
    _entity_args(p)
    p.add_argument("operation", help="the operation's name")
    p.add_argument("--input", metavar="JSON",
                   help="the operation's input: JSON text, or @FILE to read it from a file "
                        "(default: no input)")

    p = _add(cmds, "delete-entity", "delete an entity and its state from the task hub at "
                                    "once. The entity function is not called (the HTTP API's "
                                    "DELETE, by contrast, signals the operation 'delete'); "
                                    "operations already queued for the entity still run, and "
                                    "a signal among them creates it again")
    _entity_args(p)


def _entity_id(name: str, key: str) -> dict[str, str]:
    """The entity's id as the hub holds it (and `get-entities` prints it): the name
    lower-cased. Refuses an id no entity can have, even where no hub exists yet."""
    from funcpy.host.taskhub.client import entity_problem

    problem = entity_problem(name, key)
    if problem is not None:
        raise DurableCommandError(f"Invalid entity id: {problem}.")
    return {"name": name.lower(), "key": key}


def _missing(name: str, key: str) -> DurableCommandError:
    from funcpy.host.taskhub.client import shown_id

    return DurableCommandError(f"No entity {shown_id(name)} with key {shown_id(key)} exists "
                               "in this task hub.")


def run_entity_command(args: argparse.Namespace, client: TaskHubClient | None) -> None:
    """Run one entity command; `client` is None when the hub's SQLite file does not exist."""
    from funcpy.host.taskhub.api_json import entity_json
    from funcpy.host.taskhub.client import MAX_PAGE_SIZE

    cmd = args.durable_command
    if cmd == "get-entities":
        if client is None:
            _print([])
            return
        try:
            records, token = client.list_entities(
                args.name, args.last_operation_after, args.last_operation_before,
                min(args.top, MAX_PAGE_SIZE), args.continuation_token)
        except ValueError:  # the store could not decode the token
            raise DurableCommandError(
                f"--continuation-token '{args.continuation_token}' is not a token printed by "
                "an earlier get-entities.") from None
        _print([entity_json(r, fetch_state=args.fetch_state) for r in records])
        if token:
            print(f"Continuation token for the next page: --continuation-token "
                  f"{shlex.quote(token)}", file=sys.stderr)
        return
    name, key = args.name, args.key
    entity_id = _entity_id(name, key)
    if cmd == "signal-entity":
        assert client is not None  # the command creates the hub
        input_text = _data(args.input, "input")
        request_id = client.signal_entity(name, key, args.operation, input_text)
        _print({"entityId": entity_id, "operation": args.operation, "requestId": request_id,
                "accepted": True})
        return
    if client is None:
        raise _missing(name, key)
    if cmd == "get-entity":
        record = client.read_entity(name, key)
        if record is None:
            raise _missing(name, key)
        _print(entity_json(record, fetch_state=True)["state"])
    elif cmd == "delete-entity":
        if not client.delete_entity(name, key):
            raise _missing(name, key)
        _print({"entityId": entity_id, "deleted": True})
    else:  # pragma: no cover - argparse only yields the commands above
        raise DurableCommandError(f"unknown durable command '{cmd}'")
