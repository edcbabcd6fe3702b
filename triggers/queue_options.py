"""Storage-queue names and host.json `extensions.queues`, with the queue extension's rules.

Owns what a queue trigger or output is configured with and nothing that runs: queue-name
resolution (lower-casing and validation, with the extension's messages), the poison queue's
name, the prefix that keeps user queues apart from the durable engine's queues in the task hub
store, and `QueueOptions` (the extension's `QueuesOptions`, with its defaults and messages).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from funcpy.host.settings import parse_timespan

# User queues live in the task hub's message table beside "workitems" and "control-NN". A
# queue name is [a-z0-9-] only, so a prefix with ':' cannot collide with any of them, whatever
# the user calls a queue ("workitems" included).
STORE_PREFIX = "queue:"
POISON_SUFFIX = "-poison"
MAX_BATCH_SIZE = 32  # Azure Queues hands out at most 32 messages per receive
MIN_POLLING = timedelta(milliseconds=100)  # QueuePollingIntervals.Minimum
DEFAULT_MAX_POLLING = timedelta(minutes=1)
ENCODINGS = ("base64", "none")
_OUT_OF_RANGE = "Specified argument was out of the range of valid values. (Parameter 'value')"


def store_queue(name: str) -> str:
    """The task hub store's name for the user queue `name`."""
    return STORE_PREFIX + name


def user_queue(stored: str) -> str | None:
    """The user queue a store queue name belongs to, or None for the durable engine's."""
    return stored[len(STORE_PREFIX):] if stored.startswith(STORE_PREFIX) else None


def check_queue_name(name: str) -> str:
    """Raise ValueError with the extension's message unless `name` is a valid queue name
    (QueueClientExtensions.ValidateQueueName); returns it."""
    if not name:
        raise ValueError("A queue name can't be null or empty")
    if not 3 <= len(name) <= 63:
        raise ValueError(f'A queue name must be from 3 to 63 characters long - "{name}"')
    if name[0] == "-" or name[-1] == "-":
        raise ValueError(f'The dash (-) character may not be the first or last letter - "{name}"')
    previous = "a"
    for ch in name:  # character by character: the first offending one names the rule
        if ch.isupper():
            raise ValueError(f'Queue names must be all lower case - "{name}"')
        # The extension lets any Unicode letter or digit through (the service refuses it
        # later); func-py is the service here, so it refuses it now.
        if not (ch.isascii() and ch.isalnum()) and ch != "-":
            raise ValueError("A queue name can contain only letters, numbers, and dash(-) "
                             f'characters - "{name}"')
        if ch == "-" and previous == "-":
            raise ValueError("A queue name cannot contain consecutive dash(-) characters.")
        previous = ch
    return name


def normalize_queue_name(raw: Any) -> str:
    """A trigger's or admin caller's queue name: %SETTING% was resolved by the loader;
    lower-cased ("must be lowercase. coerce here to be nice.") and validated."""
    return check_queue_name(str(raw or "").lower())


def poison_queue(name: str) -> str | None:
    """`name-poison`, or None where the extension has no poison queue: for a queue that is one
    already, or when the suffix would make the name too long."""
    if name.endswith(POISON_SUFFIX):
        return None
    poison = name + POISON_SUFFIX
    try:
        return check_queue_name(poison)
    except ValueError:
        return None


# -- host.json extensions.queues -----------------------------------------------------------------


def processor_count(environ: Mapping[str, str]) -> int:
    """SkuUtility.ProcessorCount: 1 on Consumption (WEBSITE_SKU=Dynamic), else the CPUs."""
    if environ.get("WEBSITE_SKU", "").lower() == "dynamic":
        return 1
    return os.cpu_count() or 1


@dataclass(frozen=True)
class QueueOptions:
    batch_size: int = 16
    new_batch_threshold: int = 8
    max_polling_interval: float = DEFAULT_MAX_POLLING.total_seconds()
    visibility_timeout: float = 0.0
    max_dequeue_count: int = 5
    message_encoding: str = "base64"  # kept for fidelity: the store keeps raw bytes

    @classmethod
    def from_host_json(cls, raw: Mapping[str, Any], environ: Mapping[str, str]) -> QueueOptions:
        """`raw` is host.json with lower-cased keys. Raises ValueError naming the setting,
        with the message the extension's options class gives."""
        conf = (raw.get("extensions") or {}).get("queues") or {}
        if not isinstance(conf, Mapping):
            raise ValueError("host.json extensions.queues must be an object")
        batch = _whole(conf, "batchSize", 16)
        if not 1 <= batch <= MAX_BATCH_SIZE:
            raise _bad("batchSize", f"{_OUT_OF_RANGE}: it must be from 1 to {MAX_BATCH_SIZE}, "
                                    f"not {batch}")
        threshold = _whole(conf, "newBatchThreshold", -1)
        if "newbatchthreshold" not in conf:
            threshold = batch // 2 * processor_count(environ)
        elif threshold < 0:
            raise _bad("newBatchThreshold", f"{_OUT_OF_RANGE}: it must be 0 or more, "
                                            f"not {threshold}")
        polling = _span(conf, "maxPollingInterval", DEFAULT_MAX_POLLING)
        if polling < MIN_POLLING:
            raise _bad("maxPollingInterval", "MaxPollingInterval must not be less than "
                                             "00:00:00.1000000.")
        visibility = _span(conf, "visibilityTimeout", timedelta(0))
        dequeues = _whole(conf, "maxDequeueCount", 5)
        if dequeues < 1:
            raise _bad("maxDequeueCount", "MaxDequeueCount must not be less than 1.")
        encoding = str(conf.get("messageencoding", "base64")).lower()
        if encoding not in ENCODINGS:
            raise _bad("messageEncoding", f"'{conf.get('messageencoding')}' is not a "
                                          "QueueMessageEncoding: use base64 or none")
        return cls(batch, threshold, polling.total_seconds(), visibility.total_seconds(),
                   dequeues, encoding)

    def format(self) -> str:
        """The options as the host logs them at start (PascalCase keys, TimeSpan text)."""
        return (f'{{"BatchSize": {self.batch_size}, "NewBatchThreshold": '
                f'{self.new_batch_threshold}, "MaxPollingInterval": '
                f'"{_timespan(self.max_polling_interval)}", "MaxDequeueCount": '
                f'{self.max_dequeue_count}, "VisibilityTimeout": '
                f'"{_timespan(self.visibility_timeout)}", "MessageEncoding": '
                f'"{"Base64" if self.message_encoding == "base64" else "None"}"}}')


def _bad(key: str, message: str) -> ValueError:
    return ValueError(f"host.json extensions.queues.{key}: {message}")


def _whole(conf: Mapping[str, Any], key: str, default: int) -> int:
    raw = conf.get(key.lower(), default)
    if isinstance(raw, bool):
        raise _bad(key, f"must be a whole number, not {raw!r}")
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise _bad(key, f"must be a whole number, not {raw!r}") from None
    if value != int(value):
        raise _bad(key, f"must be a whole number, not {raw!r}")
    return int(value)


def _span(conf: Mapping[str, Any], key: str, default: timedelta) -> timedelta:
    raw = conf.get(key.lower())
    if raw is None:
        return default
    try:
        # .NET binds a TimeSpan from its text, so a bare number is days ("2000" = 2000 days);
        # the v1 host's milliseconds are gone since Functions 2.0.
        return parse_timespan(str(raw))
    except ValueError as exc:
        raise _bad(key, str(exc)) from None


def _timespan(seconds: float) -> str:
    whole = int(seconds)
    days, rest = divmod(whole, 86400)
    text = f"{rest // 3600:02d}:{rest % 3600 // 60:02d}:{rest % 60:02d}"
    ticks = round((seconds - whole) * 10_000_000)
    text = f"{days}.{text}" if days else text
    return f"{text}.{ticks:07d}" if ticks else text
