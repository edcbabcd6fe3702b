"""Reading the app's two settings files, the way the Functions host and Core Tools read them.

`local.settings.json` (Core Tools only) supplies app settings and local host options; `host.json`
supplies host options. This module parses and validates; it changes no process state except in
`apply_local_settings`, which copies `Values` into the environment as Core Tools does.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from funcpy.host.errors import SettingsError

LOCAL_SETTINGS_FILE = "local.settings.json"
HOST_JSON_FILE = "host.json"
DEFAULT_ROUTE_PREFIX = "api"
# Core Tools' default outside Consumption: 30 minutes.
DEFAULT_FUNCTION_TIMEOUT = timedelta(minutes=30)


def _blank_json_extras(text: str) -> str:
    """Blank out what Json.NET accepts and strict JSON does not: `//` and `/* */` comments and a
    comma before a closing `}` or `]`. Both settings files are read with Json.NET (`JObject.Parse`)
    by Core Tools and the host, so such files work on Azure. Characters are replaced by spaces, not
    removed, so a remaining syntax error still reports the user's own line and column."""
    out = list(text)
    i, n = 0, len(text)
    comma = -1  # position of a comma followed so far only by blanks and comments
    while i < n:
        c = text[i]
        if c == '"':
            i += 1
            while i < n and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
            comma = -1
        elif text.startswith(("//", "/*"), i):
            line = text[i + 1] == "/"
            end = text.find("\n" if line else "*/", i + 2)
            end = n if end < 0 else end if line else end + 2
            for j in range(i, end):
                if out[j] not in "\r\n":  # keep line breaks: line numbers stay true
                    out[j] = " "
            i = end
            continue
        elif c == ",":
            comma = i
        elif c in "}]" and comma >= 0:
            out[comma] = " "
            comma = -1
        elif not c.isspace():
            comma = -1
        i += 1
    return "".join(out)


def read_json_file(path: Path) -> Any:
    """Parse a JSON settings file; a syntax error names the file, line and column."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise SettingsError(f"{path}: cannot be read: {exc.strerror}") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass  # maybe only comments or trailing commas: retry the way Json.NET reads it
    try:
        return json.loads(_blank_json_extras(text))
    except json.JSONDecodeError as exc:
        raise SettingsError(
            f"{path}: malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None


@dataclass(frozen=True)
class LocalSettings:
    """The parts of local.settings.json the host uses."""

    values: dict[str, str] = field(default_factory=dict)
    connection_strings: dict[str, str] = field(default_factory=dict)
    port: int | None = None
    address: str | None = None
    cors: tuple[str, ...] = ()
    cors_credentials: bool = False


def _dotnet_double(value: float) -> str:
    """A JSON number read as a .NET double, printed as `double.ToString()` prints it: shortest
    round-trip digits, fixed notation for decimal exponents -4..14, else `E+XX`/`E-XX`.
    So 1.0 -> '1', 1.50 -> '1.5', 1e15 -> '1E+15', 0.00001 -> '1E-05' (Python: '1.0', '1e-05')."""
    if not math.isfinite(value):
        return str(value)
    number = Decimal(repr(value)).normalize()
    sign, digits, exponent = number.as_tuple()
    assert isinstance(exponent, int)
    scientific = len(digits) - 1 + exponent
    if -5 < scientific < 15:
        return format(number, "f")
    mantissa = str(digits[0]) + ("." + "".join(map(str, digits[1:])) if len(digits) > 1 else "")
    return f"{'-' if sign else ''}{mantissa}E{'-' if scientific < 0 else '+'}{abs(scientific):02d}"


def _as_setting(value: Any) -> str | None:
    # Core Tools parses the file into a JObject, then reads Values as strings: a JSON bool becomes
    # .NET's bool.ToString() ("True"/"False"), a number its double/long text, null is skipped.
    if value is None:
        return None
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return _dotnet_double(value)
    if isinstance(value, int):
        return str(value)
    return json.dumps(value)


def _is_encrypted(raw: Any) -> bool:
    # Core Tools: `appSettings.Value<bool?>("IsEncrypted") ?? true`; that conversion also turns
    # the strings "false"/"true" (any case) and the numbers 0/1 into booleans.
    if isinstance(raw, str) and raw.strip().lower() in ("true", "false"):
        return raw.strip().lower() == "true"
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        return raw != 0
    return raw is not False


def load_local_settings(app_dir: Path) -> LocalSettings:
    path = app_dir / LOCAL_SETTINGS_FILE
    if not path.is_file():
        return LocalSettings()
    data = read_json_file(path)
    if not isinstance(data, dict):
        raise SettingsError(f"{path}: expected a JSON object at the top level")
    if _is_encrypted(data.get("IsEncrypted")):
        why = "has \"IsEncrypted\": true" if "IsEncrypted" in data else (
            "has no \"IsEncrypted\" key, which Core Tools reads as encrypted"
        )
        raise SettingsError(
            f"{path} {why}; func-py cannot decrypt DPAPI-encrypted values. Run "
            "`func settings decrypt` (Core Tools) or write the values in plain text and set "
            "\"IsEncrypted\": false."
        )
    values: dict[str, str] = {}
    raw_values = data.get("Values") or {}
    if not isinstance(raw_values, dict):
        raise SettingsError(f"{path}: \"Values\" must be an object of setting names to strings")
    for key, raw in raw_values.items():
        text = _as_setting(raw)
        if text is not None:
            values[key] = text
    conns: dict[str, str] = {}
    for name, raw in (data.get("ConnectionStrings") or {}).items():
        if isinstance(raw, dict):
            raw = raw.get("ConnectionString")
        text = _as_setting(raw)
        if text is not None:
            conns[name] = text
    host = data.get("Host") or {}
    if not isinstance(host, dict):
        raise SettingsError(f"{path}: \"Host\" must be an object")
    port = host.get("LocalHttpPort")
    if port is not None:
        try:
            port = int(port)
        except (TypeError, ValueError):
            raise SettingsError(
                f"{path}: Host.LocalHttpPort must be a port number, got {port!r}") from None
    cors = host.get("CORS") or ""
    return LocalSettings(
        values=values,
        connection_strings=conns,
        port=port,
        address=host.get("LocalHttpAddress") or None,
        cors=tuple(o.strip() for o in str(cors).split(",") if o.strip()),
        cors_credentials=_truthy(host.get("CORSCredentials")),
    )


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)


def apply_local_settings(
    settings: LocalSettings, environ: MutableMapping[str, str]
) -> list[str]:
    """Copy Values and ConnectionStrings into `environ`; a variable already set wins.

    Returns the names skipped because the environment already defined them (Core Tools warns).
    """
    skipped = []
    items = list(settings.values.items()) + [
        (f"ConnectionStrings:{k}", v) for k, v in settings.connection_strings.items()
    ]
    for key, value in items:
        if environ.get(key):
            skipped.append(key)
            continue
        environ[key] = value
    return skipped


@dataclass(frozen=True)
class HostJson:
    """The parts of host.json (with AzureFunctionsJobHost__ overrides) the host uses."""

    route_prefix: str = DEFAULT_ROUTE_PREFIX
    function_timeout: timedelta | None = DEFAULT_FUNCTION_TIMEOUT
    log_levels: dict[str, str] = field(default_factory=dict)
    functions: tuple[str, ...] | None = None
    durable_task: dict[str, Any] = field(default_factory=dict)
    custom_headers: dict[str, str] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)


_TIMESPAN = re.compile(r"^(?:(\d+)\.)?(\d+):(\d+)(?::(\d+)(\.\d{1,7})?)?$")


def parse_timespan(text: str) -> timedelta:
    """.NET `TimeSpan.Parse` text: `d` (whole days) or `[d.]hh:mm[:ss[.fffffff]]`, with hours
    0-23, minutes and seconds 0-59 ("00:90:00" is an error in .NET, not 90 minutes)."""
    stripped = text.strip()
    if stripped.isdigit():
        return timedelta(days=int(stripped))
    m = _TIMESPAN.match(stripped)
    if not m:
        raise ValueError(f"'{text}' is not a time span (expected [d.]hh:mm:ss)")
    days, hours, minutes, seconds, fraction = m.groups()
    if int(hours) > 23 or int(minutes) > 59 or int(seconds or 0) > 59:
        raise ValueError(f"'{text}' is not a time span: hours must be 0-23, minutes and seconds "
                         "0-59 (write days as d.hh:mm:ss)")
    return timedelta(days=int(days or 0), hours=int(hours), minutes=int(minutes),
                     seconds=int(seconds or 0) + float(fraction or 0))


def _lower_keys(obj: Any) -> Any:
    # host.json keys are case-insensitive in the host's configuration system.
    if isinstance(obj, dict):
        return {str(k).lower(): _lower_keys(v) for k, v in obj.items()}
    return obj


def _apply_env_overrides(conf: dict[str, Any], environ: Mapping[str, str]) -> None:
    prefix = "azurefunctionsjobhost__"
    for key, value in environ.items():
        if not key.lower().startswith(prefix):
            continue
        path = key[len(prefix):].lower().split("__")
        node = conf
        for part in path[:-1]:
            child = node.get(part)
            if isinstance(child, list):  # .NET configuration keys array items by index
                child = {str(i): v for i, v in enumerate(child)}
                node[part] = child
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[path[-1]] = value


def load_host_json(app_dir: Path, environ: Mapping[str, str]) -> HostJson:
    path = app_dir / HOST_JSON_FILE
    raw: dict[str, Any] = {}
    if path.is_file():
        data = read_json_file(path)
        if not isinstance(data, dict):
            raise SettingsError(f"{path}: expected a JSON object at the top level")
        raw = data
    conf = _lower_keys(raw)
    _apply_env_overrides(conf, environ)
    extensions = conf.get("extensions") or {}
    http = extensions.get("http") or {}
    prefix = http.get("routeprefix", DEFAULT_ROUTE_PREFIX)
    if not isinstance(prefix, str):
        raise SettingsError(f"{path}: extensions.http.routePrefix must be a string")
    timeout_text = conf.get("functiontimeout")
    timeout: timedelta | None = DEFAULT_FUNCTION_TIMEOUT
    if timeout_text is not None:
        if str(timeout_text).strip() == "-1":
            timeout = None
        else:
            try:
                timeout = parse_timespan(str(timeout_text))
            except ValueError as exc:
                raise SettingsError(f"{path}: functionTimeout: {exc}") from None
            if timeout < timedelta(seconds=1):
                raise SettingsError(f"{path}: functionTimeout must be at least 00:00:01")
    levels = (conf.get("logging") or {}).get("loglevel") or {}
    functions = conf.get("functions")
    if isinstance(functions, dict) and all(k.isdigit() for k in functions):
        # AzureFunctionsJobHost__functions__0=name (what Core Tools' --functions sets)
        functions = [functions[k] for k in sorted(functions, key=int)]
    if functions is not None and not isinstance(functions, list):
        raise SettingsError(f"{path}: \"functions\" must be a list of function names")
    return HostJson(
        route_prefix=prefix.strip("/"),
        function_timeout=timeout,
        log_levels={str(k): str(v) for k, v in levels.items()},
        functions=tuple(functions) if functions is not None else None,
        durable_task=extensions.get("durabletask") or {},
        custom_headers={str(k): str(v) for k, v in (http.get("customheaders") or {}).items()},
        raw=conf,
    )


class SettingReferenceError(ValueError):
    """A `%NAME%` reference in a binding property cannot be resolved."""


def _setting(name: str, environ: Mapping[str, str]) -> str | None:
    """An app setting as the host's configuration finds it: names are case-insensitive and a
    ':' in a name stands for '__' in an environment variable (`Section:Key` <- `Section__Key`).
    An exact match wins, so two variables differing only in case stay distinct."""
    value = environ.get(name)
    if value is not None:
        return value
    wanted = name.replace(":", "__").lower()
    for key, candidate in environ.items():
        if key.lower() == wanted:
            return candidate
    return None


def resolve_setting_refs(text: str, environ: Mapping[str, str]) -> str:
    """Replace every `%NAME%` token from app settings, as the host's name resolver does."""
    out: list[str] = []
    i = 0
    while True:
        start = text.find("%", i)
        if start < 0:
            out.append(text[i:])
            return "".join(out)
        end = text.find("%", start + 1)
        if end < 0:
            raise SettingReferenceError(
                f"The '%' at position {start} in '{text}' does not have a closing '%'"
            )
        name = text[start + 1:end]
        value = _setting(name, environ)
        if value is None:
            raise SettingReferenceError(f"'%{name}%' does not resolve to a value.")
        out.append(text[i:start])
        out.append(value)
        i = end + 1

