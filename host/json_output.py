"""`--json-output-file`: every log line appended to a file as JSON (the format production writes
to stdout), while the console keeps the readable format.

The console handler formats JSON lines when a file is given, and its stream is a `JsonFileTee`:
it appends each line as written to the file and renders it back into the console format for
stdout, so both outputs come from one formatting and one write path (the host's Executing and
Executed lines bypass the logging machinery, and must reach the file too).
"""

from __future__ import annotations

import json
from typing import TextIO

HOST_CATEGORY = "func_py"  # host.logs.HOST_LOGGER: its lines carry no function prefix


def open_json_output(path: str) -> TextIO:
    """Opened for appending, as Core Tools opens its JSON output file; line-buffered."""
    return open(path, "a", encoding="utf-8", buffering=1)


def render(line: str) -> str:
    """A JSON log line in the console format: `[time] function[id] message`."""
    try:
        record = json.loads(line)
    except ValueError:
        return line
    if not isinstance(record, dict):
        return line
    message = str(record.get("message", ""))
    name, invocation = record.get("functionName"), record.get("invocationId")
    if name and invocation and record.get("category") != HOST_CATEGORY:
        message = f"{name}[{str(invocation)[:8]}] {message}"
    if record.get("exception"):
        message = f"{message}\n{record['exception']}"
    return f"[{record.get('time', '')}] {message}"


class JsonFileTee:
    """A text stream for the console handler: JSON lines to the file, readable ones to the
    console. Writes arrive as whole lines (one, or a batch joined by newlines)."""

    def __init__(self, console: TextIO, file: TextIO) -> None:
        self.console = console
        self.file = file

    def write(self, text: str) -> int:
        self.file.write(text)
        lines = text.split("\n")
        tail = lines.pop()  # "" after the final newline
        rendered = "\n".join(render(line) for line in lines) + ("\n" if lines else "")
        self.console.write(rendered + tail)
        return len(text)

    def flush(self) -> None:
        for stream in (self.file, self.console):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass

    def isatty(self) -> bool:
        return self.console.isatty()
