"""Queue names and host.json `extensions.queues`, with the queue extension's messages."""

from __future__ import annotations

from typing import Any

import pytest
from funcpy.triggers.queue_options import (
    QueueOptions,
    check_queue_name,
    normalize_queue_name,
    poison_queue,
    store_queue,
    user_queue,
)


@pytest.mark.parametrize(("name", "message"), [
    ("", "A queue name can't be null or empty"),
    ("ab", 'A queue name must be from 3 to 63 characters long - "ab"'),
    ("a" * 64, "A queue name must be from 3 to 63 characters long"),
    ("-abc", 'The dash (-) character may not be the first or last letter - "-abc"'),
    ("abc-", "The dash (-) character may not be the first or last letter"),
    ("abC", 'Queue names must be all lower case - "abC"'),
    ("a_b", 'A queue name can contain only letters, numbers, and dash(-) characters - "a_b"'),
    ("a--b", "A queue name cannot contain consecutive dash(-) characters."),
    ("a--B", "A queue name cannot contain consecutive dash(-) characters."),  # first one wins
    ("héllo", "A queue name can contain only letters, numbers, and dash(-) characters"),
])
def test_invalid_queue_names(name: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        check_queue_name(name)


def test_names_are_lower_cased_then_checked_and_kept_apart_from_the_engine() -> None:
    assert normalize_queue_name("Orders-EU") == "orders-eu"
    assert check_queue_name("a" * 63) == "a" * 63
    assert store_queue("workitems") == "queue:workitems" != "workitems"
    assert user_queue("queue:control-00") == "control-00"
    assert user_queue("control-00") is None and user_queue("workitems") is None


def test_poison_queue_names() -> None:
    assert poison_queue("orders") == "orders-poison"
    assert poison_queue("orders-poison") is None  # already a poison queue
    assert poison_queue("a" * 56) == "a" * 56 + "-poison"  # 63 characters
    assert poison_queue("a" * 57) is None  # the name would be too long


def options(queues: Any, environ: dict[str, str] | None = None) -> QueueOptions:
    return QueueOptions.from_host_json({"extensions": {"queues": queues}}, environ or {})


def test_defaults_and_values() -> None:
    assert QueueOptions.from_host_json({}, {"WEBSITE_SKU": "Dynamic"}) == QueueOptions()
    got = options({"batchsize": 32, "newbatchthreshold": 0, "maxpollinginterval": "00:00:02",
                   "visibilitytimeout": "00:00:30", "maxdequeuecount": 1,
                   "messageencoding": "None"})
    assert (got.batch_size, got.new_batch_threshold, got.max_polling_interval,
            got.visibility_timeout, got.max_dequeue_count, got.message_encoding) == \
        (32, 0, 2.0, 30.0, 1, "none")
    # (batchSize / 2) * processorCount, with one processor on Consumption
    assert options({"batchsize": 5}, {"WEBSITE_SKU": "Dynamic"}).new_batch_threshold == 2
    assert options({"batchsize": "8"}).batch_size == 8
    assert options({"maxpollinginterval": "00:00:00.1"}).max_polling_interval == 0.1


@pytest.mark.parametrize(("queues", "message"), [
    ({"batchsize": 0}, "batchSize: Specified argument was out of the range of valid values. "
                       "(Parameter 'value'): it must be from 1 to 32, not 0"),
    ({"batchsize": 33}, "batchSize: Specified argument was out of the range"),
    ({"batchsize": 1.5}, "batchSize: must be a whole number"),
    ({"newbatchthreshold": -1}, "newBatchThreshold: Specified argument was out of the range"),
    ({"maxpollinginterval": "00:00:00.05"},
     "maxPollingInterval: MaxPollingInterval must not be less than 00:00:00.1000000."),
    ({"maxpollinginterval": "soon"}, "maxPollingInterval: 'soon' is not a time span"),
    ({"maxdequeuecount": 0}, "maxDequeueCount: MaxDequeueCount must not be less than 1."),
    ({"messageencoding": "utf8"}, "messageEncoding: 'utf8' is not a QueueMessageEncoding"),
    ("fast", "host.json extensions.queues must be an object"),
])
def test_invalid_options_name_the_setting(queues: Any, message: str) -> None:
    with pytest.raises(ValueError) as info:
        options(queues)
    assert message in str(info.value)
    assert str(info.value).startswith("host.json extensions.queues")


def test_options_are_logged_as_the_host_formats_them() -> None:
    text = options({"visibilitytimeout": "1.02:03:04.5"}).format()
    assert '"VisibilityTimeout": "1.02:03:04.5000000"' in text
    assert '"MaxPollingInterval": "00:01:00"' in text and '"MessageEncoding": "Base64"' in text
