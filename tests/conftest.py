from __future__ import annotations

from pathlib import Path

import pytest

APPS = Path(__file__).parent / "apps"
REPO = Path(__file__).parent.parent


@pytest.fixture(scope="session")
def apps_dir() -> Path:
    return APPS
