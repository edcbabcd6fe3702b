"""host/auth.py: which key grants which authorization level, and the reasons given for a 401."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from funcpy.host.auth import (
    ADMIN,
    ANONYMOUS,
    FUNCTION,
    MIN_KEY_LENGTH,
    KeyRing,
    function_key_setting,
    key_from,
    keys_equal,
    normalise_level,
    require_strong_keys,
)
from funcpy.host.errors import SettingsError

SETTINGS = {
    "FUNCPY_MASTER_KEY": "master",
    "FUNCPY_FUNCTION_KEYS": " host1 ,host2,, ",
    "FUNCPY_FUNCTION_KEY_ORDERS": "orders-key",
    "FUNCPY_FUNCTION_KEY_MY_FUNC": "my-underscore-key",
    "FUNCPY_FUNCTION_KEY_MY-FUNC": "my-hyphen-key",
    "FUNCPY_FUNCTION_KEY_EMPTY": "",
    "UNRELATED": "host1-not-a-key",
}
RING = KeyRing.from_settings(SETTINGS)


def test_function_key_setting_name() -> None:
    assert function_key_setting("orders") == "FUNCPY_FUNCTION_KEY_ORDERS"
    assert function_key_setting("my_func") == "FUNCPY_FUNCTION_KEY_MY_FUNC"
    assert function_key_setting("my-func") == "FUNCPY_FUNCTION_KEY_MY-FUNC"  # '-' stays '-'


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
    assert dict(RING.function_keys) == {"ORDERS": "orders-key", "MY_FUNC": "my-underscore-key",
                                        "MY-FUNC": "my-hyphen-key"}
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
    ("my-hyphen-key", "my-func", FUNCTION),
    ("my-hyphen-key", "My-Func", FUNCTION),
    ("my-underscore-key", "my_func", FUNCTION),
    # One setting opens one function: my-func and my_func are two (it opened both before).
    ("my-underscore-key", "my-func", ANONYMOUS),
    ("my-hyphen-key", "my_func", ANONYMOUS),
    ("cl\u00e9", "orders", ANONYMOUS),  # non-ASCII: refused, not a TypeError
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
    (FUNCTION, "my-underscore-key", "my-func"),
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


def test_keys_compare_as_utf8_bytes() -> None:
    assert keys_equal("cl\u00e9", "cl\u00e9") and not keys_equal("cl\u00e9", "cle")
    assert not keys_equal("\udcff", "x")  # even a lone surrogate compares, without raising
    ring = KeyRing.from_settings({"FUNCPY_FUNCTION_KEYS": "cl\u00e9-\u5bc6\u94a5-0123456789"})
    assert ring.level_of("cl\u00e9-\u5bc6\u94a5-0123456789", "f") == FUNCTION
    # A header carries bytes (read as latin-1 text); the key is their UTF-8 reading.
    raw = "cl\u00e9-\u5bc6\u94a5-0123456789".encode().decode("latin-1")
    assert ring.level_of(key_from({"x-functions-key": raw}, {}), "f") == FUNCTION
    assert key_from({"x-functions-key": "\xff"}, {}) == "\ufffd"  # not UTF-8: no match


def test_secrets_file_keys_are_filed_under_the_functions_own_names(tmp_path: Path) -> None:
    f = tmp_path / "keys.json"
    f.write_text(json.dumps({"functions": {"my-func": {"default": "file-hyphen"},
                                           "my_func": {"default": "file-underscore"}}}))
    ring = KeyRing.from_settings({"FUNCPY_SECRETS_FILE": str(f)})
    assert ring.level_of("file-hyphen", "my-func") == FUNCTION
    assert ring.level_of("file-hyphen", "my_func") == ANONYMOUS
    assert ring.level_of("file-underscore", "MY_FUNC") == FUNCTION
    assert ring.level_of("file-underscore", "my-func") == ANONYMOUS


STRONG = "s" * MIN_KEY_LENGTH


@pytest.mark.parametrize(("settings", "named"), [
    ({"FUNCPY_MASTER_KEY": "Q"}, "FUNCPY_MASTER_KEY"),
    ({"FUNCPY_MASTER_KEY": " " * 40}, "FUNCPY_MASTER_KEY"),  # blank
    ({"FUNCPY_MASTER_KEY": "Zx" * 10 + " Zy"}, "FUNCPY_MASTER_KEY"),  # whitespace inside
    ({"FUNCPY_MASTER_KEY": STRONG, "FUNCPY_FUNCTION_KEYS": f"{STRONG},Short-Key"},
     "FUNCPY_FUNCTION_KEYS (key 2 of 2)"),
    ({"FUNCPY_FUNCTION_KEY_ORDERS": "Fifteen-Chars!!"}, "FUNCPY_FUNCTION_KEY_ORDERS"),
    ({"FUNCPY_MASTER_KEY": STRONG, "FUNCPY_SYSTEM_KEY": "Sys"}, "FUNCPY_SYSTEM_KEY"),
])
def test_production_refuses_weak_keys_naming_the_setting_not_the_key(
        settings: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError) as info:
        require_strong_keys(settings)
    message = str(info.value)
    assert named in message and str(MIN_KEY_LENGTH) in message
    for value in settings.values():
        for key in value.split(","):
            if key.strip() and key != STRONG:
                assert key.strip() not in message


def test_strong_keys_and_no_keys_pass() -> None:
    require_strong_keys({})
    require_strong_keys({"FUNCPY_MASTER_KEY": STRONG, "FUNCPY_FUNCTION_KEYS": f" {STRONG} ,",
                         "FUNCPY_FUNCTION_KEY_X": STRONG, "FUNCPY_FUNCTION_KEY_Y": ""})


def test_weak_keys_in_a_secrets_file_are_named_by_file_and_entry(tmp_path: Path) -> None:
    f = tmp_path / "keys.json"
    f.write_text(json.dumps({"masterKey": "Tiny", "functionKeys": {"default": STRONG},
                             "functions": {"Orders": {"default": "Small"}}}))
    with pytest.raises(SettingsError) as info:
        require_strong_keys({"FUNCPY_SECRETS_FILE": str(f)})
    message = str(info.value)
    assert f"FUNCPY_SECRETS_FILE={f}: masterKey" in message
    assert "keys of function ORDERS" in message
    assert "Tiny" not in message and "Small" not in message


def test_a_key_setting_that_opens_no_function_is_named_with_the_likely_fix() -> None:
    from funcpy.host.auth import stray_key_settings

    environ = {"FUNCPY_FUNCTION_KEY_MY_FUNC": "k" * 20, "FUNCPY_FUNCTION_KEY_HELLO": "k" * 20,
               "FUNCPY_FUNCTION_KEY_GONE": "k" * 20, "FUNCPY_FUNCTION_KEY_EMPTY": ""}
    [gone, dashed] = stray_key_settings(environ, ["my-func", "hello"])
    assert gone.startswith("The setting FUNCPY_FUNCTION_KEY_GONE names no loaded function")
    assert "Did you mean FUNCPY_FUNCTION_KEY_MY-FUNC for function 'my-func'?" in dashed
    assert stray_key_settings({"FUNCPY_FUNCTION_KEY_MY-FUNC": "k" * 20}, ["my-func"]) == []
