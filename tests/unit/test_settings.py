"""host/settings.py: the two settings files and `%NAME%` references, read as Core Tools and the host
read them."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from funcpy.host.errors import SettingsError
from funcpy.host.settings import (
    DEFAULT_FUNCTION_TIMEOUT,
    HostJson,
    LocalSettings,
    SettingReferenceError,
    apply_local_settings,
    load_host_json,
    load_local_settings,
    parse_timespan,
    read_json_file,
    resolve_setting_refs,
)

# -- parse_timespan ------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("00:00:01", timedelta(seconds=1)),
    ("00:10:00", timedelta(minutes=10)),
    ("01:30", timedelta(hours=1, minutes=30)),  # hh:mm
    (" 02:00:00 ", timedelta(hours=2)),
    ("1.02:03:04", timedelta(days=1, hours=2, minutes=3, seconds=4)),
    ("00:00:01.5", timedelta(seconds=1.5)),
    ("00:00:00.1234567", timedelta(microseconds=123457)),
    ("23:59:59", timedelta(hours=23, minutes=59, seconds=59)),
    ("3", timedelta(days=3)),  # a bare number is whole days in .NET
])
def test_parse_timespan(text: str, expected: timedelta) -> None:
    assert parse_timespan(text) == expected


@pytest.mark.parametrize("text", [
    "", "abc", "10s", "00:60:00", "24:00:00", "00:00:60", "00:00:00.12345678", "1:2:3:4:5",
    "-", "00:-1:00",
])
def test_parse_timespan_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="is not a time span"):
        parse_timespan(text)


# -- resolve_setting_refs ------------------------------------------------------------------------

ENV = {"A": "alpha", "B": "beta", "EMPTY": "", "Mixed_Case": "mixed", "Section__Key": "nested"}


@pytest.mark.parametrize(("text", "expected"), [
    ("plain", "plain"),
    ("%A%", "alpha"),
    ("x/%A%/y", "x/alpha/y"),
    ("%A%-x-%B%", "alpha-x-beta"),
    ("%A%%B%", "alphabeta"),
    ("pre%EMPTY%post", "prepost"),  # an empty setting is a value
    ("%a%", "alpha"),  # setting names are case-insensitive in the host's configuration
    ("%MIXED_CASE%", "mixed"),
    ("%Section:Key%", "nested"),  # ':' in a configuration key is '__' in the environment
])
def test_resolve_setting_refs(text: str, expected: str) -> None:
    assert resolve_setting_refs(text, ENV) == expected


def test_an_exact_name_wins_over_a_case_insensitive_one() -> None:
    assert resolve_setting_refs("%name%", {"NAME": "upper", "name": "lower"}) == "lower"


def test_unclosed_percent_names_its_position() -> None:
    with pytest.raises(SettingReferenceError,
                       match=r"The '%' at position 4 .*does not have a closing '%'"):
        resolve_setting_refs("%A%-%B", ENV)


@pytest.mark.parametrize(("text", "name"), [("%NOPE%", "NOPE"), ("x-%A%-%NOPE%", "NOPE"),
                                            ("%%", "")])
def test_missing_setting_is_named(text: str, name: str) -> None:
    with pytest.raises(SettingReferenceError) as info:
        resolve_setting_refs(text, ENV)
    assert str(info.value) == f"'%{name}%' does not resolve to a value."


# -- read_json_file ------------------------------------------------------------------------------


def _write(tmp_path: Path, text: str, name: str = "f.json") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_json_with_comments_and_trailing_commas_reads_as_json_net_reads_it(
        tmp_path: Path) -> None:
    text = """{
      // a line comment
      "url": "http://x/y", /* a block
      comment */ "list": [1, 2,],
      "tricky": "a,}/*not*/ //no",
      "nested": {"k": "v", },
    }"""
    assert read_json_file(_write(tmp_path, text)) == {
        "url": "http://x/y", "list": [1, 2], "tricky": "a,}/*not*/ //no", "nested": {"k": "v"}}


def test_a_bom_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + b'{"a": 1}')
    assert read_json_file(path) == {"a": 1}


def test_malformed_json_reports_the_user_line_and_column_even_after_comments(
        tmp_path: Path) -> None:
    path = _write(tmp_path, '{\n  /* one\n  two */ "a": 1,\n  "b" 2\n}')
    with pytest.raises(SettingsError) as info:
        read_json_file(path)
    assert str(info.value).startswith(f"{path}: malformed JSON at line 4, column 7: ")


def test_a_comma_without_a_value_is_still_an_error(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="line 1, column"):
        read_json_file(_write(tmp_path, '{"a": [1,,]}'))


# -- load_local_settings -------------------------------------------------------------------------


def _local(tmp_path: Path, data: object) -> LocalSettings:
    _write(tmp_path, data if isinstance(data, str) else json.dumps(data), "local.settings.json")
    return load_local_settings(tmp_path)


def test_no_local_settings_file_means_no_settings(tmp_path: Path) -> None:
    assert load_local_settings(tmp_path) == LocalSettings()


def test_values_are_read_as_strings_the_way_core_tools_reads_them(tmp_path: Path) -> None:
    text = """{"IsEncrypted": false, "Values": {
        "s": "text", "empty": "", "t": true, "f": false, "i": 42, "neg": -7,
        "big": 12345678901234567890, "x": 1.5, "whole": 2.0, "exp": 1e3, "huge": 1e20,
        "tiny": 0.00001, "null": null}}"""
    values = _local(tmp_path, text).values
    assert values == {
        "s": "text", "empty": "", "t": "True", "f": "False", "i": "42", "neg": "-7",
        "big": "12345678901234567890", "x": "1.5", "whole": "2", "exp": "1000",
        "huge": "1E+20", "tiny": "1E-05",
    }  # null is skipped


def test_connection_strings_as_text_or_object(tmp_path: Path) -> None:
    data = {"IsEncrypted": False, "ConnectionStrings": {
        "a": "Server=a", "b": {"ConnectionString": "Server=b", "ProviderName": "x"},
        "c": {"ProviderName": "no string"}}}
    assert _local(tmp_path, data).connection_strings == {"a": "Server=a", "b": "Server=b"}


def test_host_section(tmp_path: Path) -> None:
    data = {"IsEncrypted": False, "Host": {"LocalHttpPort": "7072", "LocalHttpAddress": "0.0.0.0",
                                           "CORS": "http://a.test, http://b.test,",
                                           "CORSCredentials": True}}
    local = _local(tmp_path, data)
    assert (local.port, local.address) == (7072, "0.0.0.0")
    assert local.cors == ("http://a.test", "http://b.test")
    assert local.cors_credentials is True


def test_bad_port_is_named(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"Host\.LocalHttpPort must be a port number"):
        _local(tmp_path, {"IsEncrypted": False, "Host": {"LocalHttpPort": "seventy"}})


@pytest.mark.parametrize("flag", [False, "false", "False", 0])
def test_is_encrypted_false_in_any_form_core_tools_converts(tmp_path: Path, flag: object) -> None:
    assert _local(tmp_path, {"IsEncrypted": flag, "Values": {"A": "x"}}).values == {"A": "x"}


@pytest.mark.parametrize(("data", "why"), [
    ({"IsEncrypted": True, "Values": {}}, '"IsEncrypted": true'),
    ({"IsEncrypted": "true", "Values": {}}, '"IsEncrypted": true'),
    ({"IsEncrypted": None, "Values": {}}, '"IsEncrypted": true'),
    ({"Values": {"A": "x"}}, 'no "IsEncrypted" key'),
])
def test_encrypted_settings_are_refused_with_how_to_fix(
        tmp_path: Path, data: object, why: str) -> None:
    with pytest.raises(SettingsError) as info:
        _local(tmp_path, data)
    message = str(info.value)
    assert why in message
    assert "func settings decrypt" in message and '"IsEncrypted": false' in message


@pytest.mark.parametrize("data", [[1, 2], {"IsEncrypted": False, "Values": ["a"]},
                                  {"IsEncrypted": False, "Host": "x"}])
def test_wrong_shapes_are_refused(tmp_path: Path, data: object) -> None:
    with pytest.raises(SettingsError, match=r"local\.settings\.json"):
        _local(tmp_path, data)


# -- apply_local_settings ------------------------------------------------------------------------


def test_apply_sets_values_and_prefixed_connection_strings() -> None:
    env: dict[str, str] = {}
    settings = LocalSettings(values={"A": "1", "E": ""}, connection_strings={"Db": "Server=x"})
    assert apply_local_settings(settings, env) == []
    assert env == {"A": "1", "E": "", "ConnectionStrings:Db": "Server=x"}


def test_apply_keeps_non_empty_variables_and_reports_them() -> None:
    env = {"A": "from env", "B": "", "ConnectionStrings:Db": "env conn"}
    settings = LocalSettings(values={"A": "local", "B": "local b", "C": "local c"},
                             connection_strings={"Db": "local conn"})
    skipped = apply_local_settings(settings, env)
    assert skipped == ["A", "ConnectionStrings:Db"]
    assert env == {"A": "from env", "B": "local b", "C": "local c",
                   "ConnectionStrings:Db": "env conn"}


# -- load_host_json ------------------------------------------------------------------------------


def _host(tmp_path: Path, data: object | None, env: dict[str, str] | None = None) -> HostJson:
    if data is not None:
        _write(tmp_path, data if isinstance(data, str) else json.dumps(data), "host.json")
    return load_host_json(tmp_path, env or {})


def test_host_json_defaults(tmp_path: Path) -> None:
    conf = _host(tmp_path, None)
    assert conf.route_prefix == "api"
    assert conf.function_timeout == DEFAULT_FUNCTION_TIMEOUT
    assert conf.functions is None and conf.custom_headers == {} and conf.log_levels == {}


def test_host_json_keys_are_case_insensitive(tmp_path: Path) -> None:
    conf = _host(tmp_path, {"Version": "2.0", "FUNCTIONTIMEOUT": "00:05:00",
                            "Extensions": {"HTTP": {"RoutePrefix": "/v2/",
                                                    "CustomHeaders": {"X-A": "1"}}},
                            "Logging": {"LogLevel": {"Function.f": "Debug"}}})
    assert conf.route_prefix == "v2"
    assert conf.function_timeout == timedelta(minutes=5)
    assert conf.custom_headers == {"x-a": "1"}
    assert conf.log_levels == {"function.f": "Debug"}


def test_empty_route_prefix_removes_it(tmp_path: Path) -> None:
    assert _host(tmp_path, {"extensions": {"http": {"routePrefix": ""}}}).route_prefix == ""


def test_environment_overrides_host_json(tmp_path: Path) -> None:
    data = {"extensions": {"http": {"routePrefix": "api"}}, "functionTimeout": "00:01:00"}
    env = {"AZUREFUNCTIONSJOBHOST__Extensions__Http__RoutePrefix": "",
           "AzureFunctionsJobHost__functionTimeout": "00:00:02",
           "AzureFunctionsJobHost__logging__logLevel__default": "Warning",
           "UNRELATED__extensions": "x"}
    conf = _host(tmp_path, data, env)
    assert conf.route_prefix == ""
    assert conf.function_timeout == timedelta(seconds=2)
    assert conf.log_levels == {"default": "Warning"}


def test_environment_override_without_a_host_json(tmp_path: Path) -> None:
    env = {"AzureFunctionsJobHost__extensions__http__routePrefix": "v1"}
    assert _host(tmp_path, None, env).route_prefix == "v1"


def test_functions_list_and_its_indexed_environment_form(tmp_path: Path) -> None:
    assert _host(tmp_path, {"functions": ["a", "b"]}).functions == ("a", "b")
    env = {"AzureFunctionsJobHost__functions__1": "second",
           "AzureFunctionsJobHost__functions__0": "first"}
    assert _host(tmp_path, None, env).functions == ("first", "second")
    # An indexed override replaces one item of the file's list and keeps the rest.
    env = {"AzureFunctionsJobHost__functions__0": "z"}
    assert _host(tmp_path, {"functions": ["a", "b"]}, env).functions == ("z", "b")


def test_function_timeout_minus_one_is_unbounded(tmp_path: Path) -> None:
    assert _host(tmp_path, {"functionTimeout": "-1"}).function_timeout is None


@pytest.mark.parametrize(("data", "message"), [
    ({"functionTimeout": "soon"}, "functionTimeout: 'soon' is not a time span"),
    ({"functionTimeout": "00:00:00.5"}, "functionTimeout must be at least 00:00:01"),
    ({"extensions": {"http": {"routePrefix": 1}}}, "routePrefix must be a string"),
    ({"functions": "a"}, '"functions" must be a list'),
    ([], "expected a JSON object"),
])
def test_bad_host_json_values_are_named(tmp_path: Path, data: object, message: str) -> None:
    with pytest.raises(SettingsError) as info:
        _host(tmp_path, data)
    assert str(tmp_path / "host.json") in str(info.value)
    assert message in str(info.value)
