"""`func-py durable …`: Core Tools' `func durable` commands, run against the app's own task hub.

Each command opens the hub the app would use (host.json `extensions.durableTask`, app settings,
`--task-hub-name`) and works on the store directly through `TaskHubClient`, so no host needs to
be running; a host that is running picks up what a command enqueues on its next poll. This
module never loads the app: it cannot check that an orchestrator name exists, and it must not
write an instance's history (changes to a live instance travel as control messages).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from funcpy.host.config import build_config
from funcpy.host.durable_sdk import import_durable_sdk
from funcpy.host.errors import FuncPyError
from funcpy.host.taskhub.history import EventType, parse_time
from funcpy.host.taskhub.settings import _HUB_NAME, TaskHubSettings, open_store, taskhub_settings
from funcpy.host.taskhub.store import RUNTIME_STATUSES, InstanceQuery, InstanceRecord, StoreError

if TYPE_CHECKING:
    from funcpy.host.taskhub.client import TaskHubClient

# DurableTask's `Canceled` is accepted (Core Tools lists it) but no instance ever has it.
_STATUSES = {s.lower(): s for s in (*RUNTIME_STATUSES, "Canceled")}
_STATUS_NAMES = ", ".join(sorted(s.lower() for s in _STATUSES.values()))


class DurableCommandError(FuncPyError):
    """A `func-py durable` command the task hub refused, or input it cannot use."""


# -- argument types ------------------------------------------------------------------------------


def _iso_time(text: str) -> float:
    try:
        return parse_time(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"'{text}' is not an ISO 8601 date/time (e.g. 2024-05-01T12:00:00Z)") from None


def _statuses(text: str) -> list[str]:
    # Core Tools takes one space-separated string; several words and commas work as well.
    out = []
    for word in text.replace(",", " ").split():
        status = _STATUSES.get(word.lower())
        if status is None:
            raise argparse.ArgumentTypeError(
                f"unknown runtime status '{word}': use {_STATUS_NAMES}")
        out.append(status)
    return out


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, got '{text}'")
    return value


# -- the parser ----------------------------------------------------------------------------------


def _common(p: argparse.ArgumentParser, default: Any) -> None:
    # On both `durable` and each command, so they go before or after the command's name; a
    # command's own default is SUPPRESS so it cannot undo a value given before the name.
    p.add_argument("--script-root", "--prefix", dest="script_root", metavar="DIR",
                   default=default, help="the app folder (default: the current directory)")
    p.add_argument("--task-hub-name", metavar="NAME", default=default,
                   help="the task hub (default: host.json extensions.durableTask.hubName)")
    p.add_argument("--connection-string-setting", metavar="SETTING", default=default,
                   help="the app setting naming the hub's storage: a PostgreSQL URL selects "
                        "that database; anything else (an Azure Storage connection string) "
                        "means the app's embedded SQLite hub (default: host.json "
                        "storageProvider)")


def _add(sub: Any, name: str, help_text: str) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(name, help=help_text, description=help_text)
    _common(p, argparse.SUPPRESS)
    return p


def _time_filters(p: argparse.ArgumentParser, verb: str) -> None:
    p.add_argument("--created-after", type=_iso_time, metavar="TIME",
                   help=f"{verb} instances created at or after this ISO 8601 time (UTC unless "
                        "it names an offset)")
    p.add_argument("--created-before", type=_iso_time, metavar="TIME",
                   help=f"{verb} instances created at or before this ISO 8601 time")


def add_durable_parser(sub: Any) -> None:
    """Register `durable` and its commands on the top-level subparsers object."""
    durable = sub.add_parser(
        "durable", help="manage Durable Functions instances in the app's task hub "
                        "(like `func durable`)",
        description="Manage orchestration instances and entities in the app's local task "
                    "hub directly; no running host is needed, and a running host picks up what "
                    "these commands enqueue.")
    _common(durable, None)
    cmds = durable.add_subparsers(dest="durable_command", required=True, metavar="COMMAND")

    p = _add(cmds, "get-instances", "list instances (a JSON array; the continuation token "
                                    "for the next page, if any, goes to stderr)")
    _time_filters(p, "list")
    p.add_argument("--runtime-status", nargs="+", type=_statuses, metavar="STATUS",
                   help=f"only these statuses ({_STATUS_NAMES})")
    p.add_argument("--top", type=_positive, default=10,
                   help="page size (default 10; a page over the API's maximum of 1000 is cut "
                        "there, and the token continues)")
    p.add_argument("--continuation-token", metavar="TOKEN",
                   help="the token a previous page printed, for the next page")

    p = _add(cmds, "get-runtime-status", "print an instance's status as JSON")
    p.add_argument("--id", required=True, help="the instance id")
    p.add_argument("--show-input", action="store_true", help="include the instance's input")
    p.add_argument("--show-output", action="store_true", help="include the instance's output")

    p = _add(cmds, "get-history", "print an instance's history events as a JSON array")
    p.add_argument("--id", required=True, help="the instance id")

    p = _add(cmds, "raise-event", "send an event to a running instance")
    p.add_argument("--id", required=True, help="the instance id")
    p.add_argument("--event-name", required=True, help="the event's name")
    p.add_argument("--event-data", metavar="JSON",
                   help="the event's data: JSON text, or @FILE to read it from a file "
                        "(default: null)")

    p = _add(cmds, "terminate", "terminate a running instance")
    p.add_argument("--id", required=True, help="the instance id")
    p.add_argument("--reason", help="why (recorded in the instance's output)")

    p = _add(cmds, "rewind", "run a failed instance's failed activities again")
    p.add_argument("--id", required=True, help="the instance id")
    p.add_argument("--reason", help="why (recorded in the history)")

    p = _add(cmds, "purge-history", "delete matching instances and their history (without "
                                    "--runtime-status, whatever their status, running "
                                    "ones included, as Core Tools does)")
    _time_filters(p, "purge")
    p.add_argument("--runtime-status", nargs="+", type=_statuses, metavar="STATUS",
                   help=f"only these statuses ({_STATUS_NAMES})")

    p = _add(cmds, "start-new", "start an orchestration instance. The app is not loaded, so "
                                "the name is not checked: give the orchestrator's exact name "
                                "(an unknown name fails when a host runs the instance)")
    p.add_argument("--function-name", required=True, metavar="NAME",
                   help="the orchestrator function's name (not validated)")
    p.add_argument("--id", help="the instance id (default: a new random id)")
    p.add_argument("--input", metavar="JSON",
                   help="the orchestrator's input: JSON text, or @FILE to read it from a file")

    _add(cmds, "delete-task-hub", "delete every instance, message and lease of the task hub")

    from funcpy.host.entity_cli import add_entity_parsers  # here: entity_cli builds on this module

    add_entity_parsers(cmds)


# -- opening the hub -----------------------------------------------------------------------------


def _hub_settings(args: argparse.Namespace) -> TaskHubSettings:
    root = Path(args.script_root or os.getcwd())
    if not root.is_dir():
        raise DurableCommandError(f"The app folder '{root}' does not exist: pass the folder "
                                  "that holds host.json with --script-root.")
    production = os.environ.get("FUNCPY_PRODUCTION", "").lower() in ("1", "true")
    config = build_config(app_dir=root, production=production)
    # The options stand in for host.json's values, so they go through the same reader.
    conf = dict(config.host_json.durable_task)  # keys lower-cased by the host.json reader
    if args.task_hub_name is not None:
        if not _HUB_NAME.match(args.task_hub_name):
            raise DurableCommandError(
                f"--task-hub-name '{args.task_hub_name}' is not a valid task hub name: 3 to 45 "
                "letters and digits, starting with a letter")
        conf["hubname"] = args.task_hub_name
    name = args.connection_string_setting
    if name is not None:
        value = os.environ.get(name) or os.environ.get(f"ConnectionStrings:{name}")
        if not value:
            raise DurableCommandError(f"The app setting '{name}' (--connection-string-setting) "
                                      "is not set in local.settings.json or the environment.")
        provider = dict(conf.get("storageprovider") or {})  # keeps partitionCount
        if value.startswith(("postgres://", "postgresql://")):
            provider.update(type="postgres", connectionstringname=name)
        else:  # Azure Storage cannot be reached from here: the embedded hub stands in for it
            provider["type"] = "sqlite"
        conf["storageprovider"] = provider
    config.host_json = dataclasses.replace(config.host_json, durable_task=conf)
    return taskhub_settings(config, os.environ)


def _data(text: str | None, what: str) -> str | None:
    """JSON text from `--input`/`--event-data`: inline JSON or @FILE. The value is taken as
    written: a JSON string stays a string even when its text is JSON too (the HTTP API unwraps
    such strings, because the SDK's client double-encodes; nothing double-encodes here)."""
    if text is None:
        return None
    source = what
    if text.startswith("@"):
        path = Path(text[1:])
        try:
            text = path.read_text(encoding="utf-8-sig")
        except OSError as exc:
            raise DurableCommandError(f"Cannot read the {what} file '{path}': "
                                      f"{exc.strerror or exc}") from None
        source = f"{what} file '{path}'"
    try:
        return None if not text.strip() else json.dumps(json.loads(text))
    except ValueError as exc:
        raise DurableCommandError(
            f"The {source} is not valid JSON ({exc}); quote a plain string as JSON, e.g. "
            "'\"hello\"'.") from None


# -- the commands --------------------------------------------------------------------------------


def _print(value: Any) -> None:
    text = json.dumps(value, indent=2, ensure_ascii=False)
    try:
        print(text, flush=True)
    except UnicodeEncodeError:  # a console that cannot show it: JSON's \u escapes can
        print(json.dumps(value, indent=2), flush=True)


def _query(args: argparse.Namespace, *, paging: bool) -> InstanceQuery:
    from funcpy.host.taskhub.client import (
        MAX_PAGE_SIZE,  # imports the SDK: after import_durable_sdk
    )

    statuses = None
    if args.runtime_status:
        statuses = frozenset(s for group in args.runtime_status for s in group)
    return InstanceQuery(
        runtime_status=statuses, created_from=args.created_after, created_to=args.created_before,
        top=min(args.top, MAX_PAGE_SIZE) if paging else None,  # an unbounded LIMIT overflows
        continuation=args.continuation_token if paging else None)


def _record(client: TaskHubClient | None, instance_id: str) -> InstanceRecord:
    from funcpy.host.taskhub.client import ClientError

    record = client.get(instance_id) if client is not None else None
    if record is None:
        raise ClientError(404, f"No instance with ID '{instance_id}' is found.")
    return record


def _raw_history(client: TaskHubClient, record: InstanceRecord) -> list[dict[str, Any]]:
    events = client.history(record)
    for e in events:  # enum names, as Core Tools prints them
        try:
            e["EventType"] = EventType(e["EventType"]).name
        except ValueError:
            pass
    return events


def _accepted(instance_id: str, operation: str, **extra: Any) -> dict[str, Any]:
    return {"instanceId": instance_id, "operation": operation, "accepted": True, **extra}


def _execute(args: argparse.Namespace, client: TaskHubClient | None, hub: str) -> None:
    """Run the command; `client` is None when the hub's SQLite file does not exist yet."""
    from funcpy.host.entity_cli import ENTITY_COMMANDS, run_entity_command
    from funcpy.host.taskhub.api_json import status_json

    cmd = args.durable_command
    if cmd in ENTITY_COMMANDS:
        run_entity_command(args, client)
    elif cmd == "start-new":
        assert client is not None
        iid = client.start(args.function_name, args.id, _data(args.input, "input"))
        record = client.get(iid)
        assert record is not None
        _print(status_json(record))
    elif cmd == "get-instances":
        if client is None:
            _print([])
            return
        try:
            records, token = client.query(_query(args, paging=True))
        except ValueError:  # the store could not decode the token
            raise DurableCommandError(
                f"--continuation-token '{args.continuation_token}' is not a token printed by "
                "an earlier get-instances.") from None
        _print([status_json(r, show_input=False) for r in records])
        if token:
            print(f"Continuation token for the next page: --continuation-token "
                  f"{shlex.quote(token)}", file=sys.stderr)
    elif cmd == "purge-history":
        deleted = client.purge_by(_query(args, paging=False)) if client is not None else 0
        _print({"instancesDeleted": deleted})
    elif cmd == "delete-task-hub":
        if client is not None:
            client.store.delete_hub()
        _print({"taskHub": hub, "deleted": True})
    else:
        iid = args.id
        try:
            iid.encode("utf-8")
        except UnicodeEncodeError:  # argv bytes that are not UTF-8 arrive as lone surrogates
            raise DurableCommandError("--id is not valid UTF-8 text: no instance has that id."
                                      ) from None
        record = _record(client, iid)
        assert client is not None
        if cmd == "get-runtime-status":
            body = status_json(record, show_input=args.show_input)
            if not args.show_output:
                body["output"] = None
            _print(body)
        elif cmd == "get-history":
            _print(_raw_history(client, record))
        elif cmd == "raise-event":
            data = _data(args.event_data, "event data")
            client.raise_event(iid, args.event_name, data if data is not None else "null")
            _print(_accepted(iid, cmd, eventName=args.event_name))
        elif cmd == "terminate":
            client.terminate(iid, args.reason)
            _print(_accepted(iid, cmd, reason=args.reason))
        elif cmd == "rewind":
            client.rewind(iid, args.reason)
            _print(_accepted(iid, cmd, reason=args.reason))
        else:  # pragma: no cover - argparse only yields the commands above
            raise DurableCommandError(f"unknown durable command '{cmd}'")


def run(args: argparse.Namespace) -> int:
    """Run one `func-py durable` command; errors a user can cause raise `FuncPyError`."""
    import_durable_sdk()
    from funcpy.host.taskhub.client import ClientError, TaskHubClient

    settings = _hub_settings(args)
    creates = args.durable_command in ("start-new", "signal-entity")
    if settings.provider == "sqlite" and not creates and not settings.sqlite_path.exists():
        # Nothing was ever stored: answer as an empty hub rather than create a database.
        client = None
    else:
        store = open_store(settings)
        client = TaskHubClient(store, settings.partition_count,
                               default_version=settings.default_version)
    try:
        _execute(args, client, settings.hub)
    except ClientError as exc:
        raise DurableCommandError(exc.message) from None
    except StoreError as exc:
        raise DurableCommandError(f"Task hub '{settings.hub}': {exc}") from None
    finally:
        if client is not None:
            client.store.close()
    return 0
