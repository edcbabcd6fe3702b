"""Worker processes tag their log lines (host/logs.py tag_worker, set by host/workers.py)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
from funcpy.host import logs


@pytest.fixture()
def tagged() -> Iterator[None]:
    saved = logs._worker_tag, logs._worker_field
    logs.tag_worker(1)
    try:
        yield
    finally:
        logs._worker_tag, logs._worker_field = saved


def record(message: str) -> logging.LogRecord:
    return logging.LogRecord("Function.x", logging.INFO, __file__, 1, message, None, None)


def test_console_lines_carry_the_tag_after_the_timestamp(tagged: None) -> None:
    line = logs.ConsoleFormatter().format(record("hello"))
    assert line.startswith("[") and line.endswith("] [worker 1] hello")


def test_json_lines_carry_the_worker_first(tagged: None) -> None:
    line = logs.JsonFormatter().format(record("hello"))
    assert line.startswith('{"worker": 1, ')
    assert json.loads(line)["message"] == "hello"


def test_a_single_process_has_no_tag() -> None:
    assert "worker" not in logs.ConsoleFormatter().format(record("hello"))
    assert "worker" not in json.loads(logs.JsonFormatter().format(record("hello")))
