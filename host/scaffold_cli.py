"""`func-py new` and `func-py templates list` (issue #12; being written)."""

from __future__ import annotations

import argparse
from typing import Any


def add_scaffold_parsers(sub: Any) -> None:
    sub.add_parser("new", help="add a function to the app from a template (like `func new`)")
    sub.add_parser("templates", help="list the templates `func-py new` knows")


def run(args: argparse.Namespace) -> int:
    raise SystemExit("func-py new / templates: not written yet")
