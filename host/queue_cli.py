"""`func-py queue put|peek|list|clear`: the app's storage queues, straight in its task hub store.

The store is the one the app's host uses (host.json `extensions.durableTask`, app settings, the
same options as `func-py durable`), so no host needs to be running. A running host on
PostgreSQL is woken at once by the store's NOTIFY; on SQLite it finds a message put here at its
next poll (within `extensions.queues.maxPollingInterval`). This module never loads the app.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from funcpy.host.errors import FuncPyError
from funcpy.host.taskhub.store import StoreError

PEEK_DEFAULT = 32


class QueueCommandError(FuncPyError):
    """A `func-py queue` command the store refused, or input it cannot use."""


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 32:
        raise argparse.ArgumentTypeError(f"must be a whole number from 1 to 32, got '{text}'")
    return value


def _delay(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 7 * 86400:
        raise argparse.ArgumentTypeError(f"must be 0 to 604800 seconds, got '{text}'")
    return value


def add_queue_parser(sub: Any) -> None:
    """Register `queue` and its commands on the top-level subparsers object."""
    from funcpy.host.durable_cli import _common  # the same hub options as `func-py durable`

    queue = sub.add_parser(
        "queue", help="put, peek, list or clear the app's storage queues",
        description="Work on the storage queues in the app's task hub store directly; no "
                    "running host is needed.")
    _common(queue, None)
    cmds = queue.add_subparsers(dest="queue_command", required=True, metavar="COMMAND")

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = cmds.add_parser(name, help=help_text,
                                                     description=help_text)
        _common(p, argparse.SUPPRESS)
        return p

    p = add("put", "enqueue one message (prints its id)")
    p.add_argument("name", help="the queue (lower-cased, as the host does)")
    p.add_argument("message", help="the message text; '-' reads it from stdin")
    p.add_argument("--base64", action="store_true",
                   help="the message is base64: enqueue the bytes it encodes")
    p.add_argument("--visibility-timeout", type=_delay, default=0.0, metavar="SECONDS",
                   help="keep the message invisible this long first (default 0)")
    p = add("peek", "print the next visible messages without claiming them (a JSON array)")
    p.add_argument("name", help="the queue")
    p.add_argument("--count", type=_count, default=PEEK_DEFAULT,
                   help=f"how many, 1 to 32 (default {PEEK_DEFAULT})")
    add("list", "print the queues that hold messages, with their counts (a JSON array)")
    p = add("clear", "delete every message of a queue, claimed ones included")
    p.add_argument("name", help="the queue")


def _print(value: Any) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False), flush=True)


def _execute(args: argparse.Namespace, store: Any) -> None:
    """`store` is None when the hub's SQLite file does not exist yet (nothing to show)."""
    from funcpy.triggers import queue_store
    from funcpy.triggers.queue_options import normalize_queue_name
    from funcpy.triggers.queue_store import Outgoing

    cmd = args.queue_command
    if cmd == "list":
        _print(queue_store.list_queues(store) if store is not None else [])
        return
    try:
        name = normalize_queue_name(args.name)
    except ValueError as exc:
        raise QueueCommandError(f"{exc}: queue names are 3 to 63 lower-case letters, digits "
                                "and single dashes") from None
    if cmd == "peek":
        _print(queue_store.peek(store, name, args.count) if store is not None else [])
    elif cmd == "clear":
        _print({"queue": name, "deleted": queue_store.clear(store, name) if store else 0})
    else:
        text = sys.stdin.read() if args.message == "-" else args.message
        try:
            body = queue_store.body_from_text(text, base64_body=args.base64)
        except ValueError as exc:
            raise QueueCommandError(str(exc)) from None
        assert store is not None
        ids = queue_store.put(store, [Outgoing(name, body)], delay=args.visibility_timeout)
        _print({"queue": name, "id": str(ids[0])})


def run(args: argparse.Namespace) -> int:
    """Run one `func-py queue` command; errors a user can cause raise `FuncPyError`."""
    from funcpy.host.durable_cli import _hub_settings
    from funcpy.host.taskhub.settings import open_store

    settings = _hub_settings(args)
    if settings.provider == "sqlite" and args.queue_command != "put" \
            and not settings.sqlite_path.exists():
        store = None  # nothing was ever stored: answer as empty, create nothing
    else:
        store = open_store(settings)
    try:
        _execute(args, store)
    except StoreError as exc:
        raise QueueCommandError(f"Task hub '{settings.hub}': {exc}") from None
    finally:
        if store is not None:
            store.close()
    return 0
