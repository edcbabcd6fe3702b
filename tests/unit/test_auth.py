"""host/auth.py: which key grants which authorization level, and the reasons given for a 401."""

from __future__ import annotations

import pytest

from host.auth import (
    ADMIN,
    ANONYMOUS,
    FUNCTION,
    KeyRing,
    function_key_setting,
    key_from,
    normalise_level,
)

SETTINGS = {
    "FUNCPY_MASTER_KEY": "master",
    "FUNCPY_FUNCTION_KEYS": " host1 ,host2,, ",
    "FUNCPY_FUNCTION_KEY_ORDERS": "orders-key",
    "FUNCPY_FUNCTION_KEY_MY_FUNC": "my-func-key",
    "FUNCPY_FUNCTION_KEY_EMPTY": "",
    "UNRELATED": "host1-not-a-key",
}
RING = KeyRing.from_settings(SETTINGS)


def test_function_key_setting_name() -> None:
    assert function_key_setting("orders") == "FUNCPY_FUNCTION_KEY_ORDERS"
    assert function_key_setting("my-func") == "FUNCPY_FUNCTION_KEY_MY_FUNC"


@pytest.mark.parametrize(("level", "expected"), [
    (None, FUNCTION), ("", FUNCTION), ("ANONYMOUS", ANONYMOUS), ("Function", FUNCTION),
    ("admin", ADMIN), ("AuthLevel.ADMIN", ADMIN), ("authlevel.anonymous", ANONYMOUS),
])
def test_normalise_level(level: object, expected: str) -> None:
    assert normalise_level(level) == expected


@pytest.mark.parametrize("level", ["system", "user", "AuthLevel.ROOT"])
def test_unknown_level_is_refused_with_the_choices(level: str) -> None:
    with pytest.raises(ValueError, match="not one of anonymous, function, admin"):
        normalise_level(level)


def test_keyring_reads_the_settings() -> None:
    assert RING.master == "master"
    assert RING.host_keys == ("host1", "host2")
    assert dict(RING.function_keys) == {"ORDERS": "orders-key", "MY_FUNC": "my-func-key"}
    assert not RING.empty
    assert KeyRing.from_settings({"UNRELATED": "x", "FUNCPY_MASTER_KEY": ""}).empty
    assert not KeyRing.from_settings({"FUNCPY_FUNCTION_KEY_X": "k"}).empty


@pytest.mark.parametrize(("key", "function", "level"), [
    ("master", None, ADMIN),
    ("master", "orders", ADMIN),
    ("host1", "orders", FUNCTION),
    ("host2", None, FUNCTION),
    ("orders-key", "orders", FUNCTION),
    ("orders-key", "Orders", FUNCTION),  # function names are case-insensitive
    ("my-func-key", "my-func", FUNCTION),
    ("orders-key", "my-func", ANONYMOUS),  # another function's key
    ("orders-key", None, ANONYMOUS),  # admin endpoints: no function, no function key
    ("MASTER", None, ANONYMOUS),  # keys are case-sensitive
    ("host1-not-a-key", "orders", ANONYMOUS),
    ("", "orders", ANONYMOUS),
    (None, "orders", ANONYMOUS),
])
def test_level_of_a_key(key: str | None, function: str | None, level: str) -> None:
    assert RING.level_of(key, function) == level


@pytest.mark.parametrize(("required", "key", "function"), [
    (ANONYMOUS, None, "orders"),
    (ANONYMOUS, "garbage", "orders"),
    (FUNCTION, "host1", "orders"),
    (FUNCTION, "orders-key", "orders"),
    (FUNCTION, "master", "orders"),
    (ADMIN, "master", "orders"),
    (ADMIN, "master", None),
])
def test_check_grants(required: str, key: str | None, function: str | None) -> None:
    assert RING.check(required, key, function) is None


def test_check_without_a_key_says_where_to_send_one() -> None:
    reason = RING.check(FUNCTION, None, "orders")
    assert reason is not None
    assert "requires a function key" in reason
    assert "x-functions-key" in reason and "code" in reason
    assert "requires an admin key" in (RING.check(ADMIN, None, None) or "")


@pytest.mark.parametrize(("required", "key", "function"), [
    (FUNCTION, "nope", "orders"),
    (FUNCTION, "orders-key", "my-func"),
    (ADMIN, "host1", "orders"),
    (ADMIN, "orders-key", "orders"),
])
def test_check_refuses_a_key_below_the_level(required: str, key: str, function: str) -> None:
    assert RING.check(required, key, function) == (
        f"the key presented does not grant the {required} level for this endpoint")


def test_check_with_no_keys_configured_names_the_setting_to_set() -> None:
    empty = KeyRing.from_settings({})
    assert empty.check(ANONYMOUS, None, "f") is None
    for required in (FUNCTION, ADMIN):
        for key in (None, "guess"):
            reason = empty.check(required, key, "f")
            assert reason is not None
            assert "no keys are configured" in reason and "FUNCPY_MASTER_KEY" in reason


def test_key_from_header_first_then_code_query() -> None:
    assert key_from({"x-functions-key": "h"}, {"code": "q"}) == "h"
    assert key_from({}, {"code": "q"}) == "q"
    assert key_from({"x-functions-key": ""}, {"code": "q"}) == "q"
    assert key_from({}, {}) is None
    assert key_from({}, {"code": ""}) is None
