"""Importing the Durable Functions SDK safely.

At import time `azure.durable_functions` re-reads `./host.json` (relative to the current
directory) with strict `json.loads`, only to warn about extension bundles V1. The Functions host
reads host.json with comments and trailing commas allowed (so does func-py, see host.settings):
such a file would crash the import with a raw JSONDecodeError. Importing the SDK once from an
empty folder, before the app or the task hub needs it, avoids that; later imports are no-ops.
"""

from __future__ import annotations

import contextlib
import sys
import tempfile


def import_durable_sdk() -> None:
    if "azure.durable_functions" in sys.modules:
        return
    with tempfile.TemporaryDirectory() as empty, contextlib.chdir(empty):
        import azure.durable_functions  # noqa: F401
