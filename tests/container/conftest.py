from __future__ import annotations

import pytest

from tests.container.podman import Podman, enabled, in_ci


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if enabled():
        return
    skip = pytest.mark.skip(reason="container tests are opt-in locally: set "
                                   "FUNCPY_TEST_CONTAINERS=1 (CI runs them)")
    for item in items:
        if item.get_closest_marker("container") is not None:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def podman() -> Podman:
    tool = Podman()
    problem = tool.problem()
    if problem is not None:
        if in_ci():
            pytest.fail(f"container tests must run in CI: {problem}", pytrace=False)
        pytest.skip(problem)
    return tool
