"""Headless Chromium for the dashboard's tests (tests/e2e/test_dashboard*.py): Playwright for
Python driving the system's `chromium` (Debian's package; `.ci/run` installs it), never a
browser build Playwright would download. Screenshots go under FUNCPY_ARTIFACTS (default
tests/artifacts/, which git ignores)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO

API = "/runtime/webhooks/durabletask"
DASHBOARD = "/runtime/dashboard/"
TIMEOUT_MS = 15_000  # a loaded 2-core CI machine: durable work can take seconds

sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")


def chromium_path() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        reason = "no chromium on PATH (apt-get install -y chromium; .ci/run does)"
        if os.environ.get("CI", "").lower() in ("1", "true"):
            pytest.fail(reason, pytrace=False)  # CI installs it: a skip would hide the tests
        pytest.skip(reason)
    return found


def artifacts_dir() -> Path:
    path = Path(os.environ.get("FUNCPY_ARTIFACTS") or REPO / "tests" / "artifacts")
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextmanager
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as pw:
        chrome = pw.chromium.launch(executable_path=chromium_path(), headless=True)
        sync_api.expect.set_options(timeout=TIMEOUT_MS)
        try:
            yield chrome
        finally:
            chrome.close()


@contextmanager
def new_page(chrome: Any) -> Iterator[Any]:
    """A fresh context (its own sessionStorage) whose page fails the test on a script error."""
    context = chrome.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield page
    finally:
        context.close()
    assert not errors, f"script errors on the page: {errors}"
