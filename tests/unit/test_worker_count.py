"""FUNCTIONS_WORKER_PROCESS_COUNT / --workers: which count wins and what is refused."""

from __future__ import annotations

import pytest
from funcpy.host.config import worker_processes
from funcpy.host.errors import SettingsError
from funcpy.host.supervisor import describe_exit


def test_default_is_one_process() -> None:
    assert worker_processes(None, {}) == 1
    assert worker_processes(None, {"FUNCTIONS_WORKER_PROCESS_COUNT": " "}) == 1


def test_the_setting_and_the_flag_which_wins() -> None:
    assert worker_processes(None, {"FUNCTIONS_WORKER_PROCESS_COUNT": "4"}) == 4
    assert worker_processes(1, {"FUNCTIONS_WORKER_PROCESS_COUNT": "4"}) == 1


@pytest.mark.parametrize(("flag", "value", "shown"), [
    (None, "0", "FUNCTIONS_WORKER_PROCESS_COUNT is '0'"),
    (None, "11", "FUNCTIONS_WORKER_PROCESS_COUNT is '11'"),
    (None, "2.5", "FUNCTIONS_WORKER_PROCESS_COUNT is '2.5'"),
    (12, "2", "--workers is '12'"),
])
def test_out_of_range_or_not_a_number_names_the_setting(flag: int | None, value: str,
                                                         shown: str) -> None:
    with pytest.raises(SettingsError, match="from 1 to 10") as err:
        worker_processes(flag, {"FUNCTIONS_WORKER_PROCESS_COUNT": value})
    assert shown in str(err.value)


def test_exit_descriptions() -> None:
    assert describe_exit(3) == "exited with code 3"
    assert describe_exit(-9) == "was killed by signal 9 (SIGKILL)"
    assert describe_exit(-11) == "was killed by signal 11 (SIGSEGV)"
