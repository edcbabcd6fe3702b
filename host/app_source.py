"""Reading and editing function_app.py for `func-py new`, without importing it.

The file is parsed (never run: importing user code to add a function to it could have side
effects, and a file that does not import yet must still be editable). What is read: the one
top-level `app = <FunctionApp class>(...)`, every top-level name the module binds, and the
functions it and its sibling modules register. Edits are exact text edits, the rest of the file
is kept byte for byte: an import line inserted after the last import above the app, the app's
class swapped for `df.DFApp` (a DFApp is a FunctionApp), and new code appended at the end.
"""

from __future__ import annotations

import ast
import builtins
import io
import keyword
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from funcpy.host.errors import FuncPyError

APP_FILE = "function_app.py"
APP_CLASSES = {
    "azure.functions.FunctionApp": "FunctionApp",
    "azure.functions.AsgiFunctionApp": "AsgiFunctionApp",
    "azure.functions.WsgiFunctionApp": "WsgiFunctionApp",
    "azure.durable_functions.DFApp": "DFApp",
    "azure.durable_functions.decorators.durable_app.DFApp": "DFApp",
}
# The names the templates' code uses, what they must be, and the line that binds them.
MODULES = {"func": "azure.functions", "df": "azure.durable_functions", "logging": "logging"}
IMPORT_LINES = {"func": "import azure.functions as func",
                "df": "import azure.durable_functions as df", "logging": "import logging"}
_OTHER = "<not an import>"
_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


class ScaffoldError(FuncPyError):
    """`func-py new` cannot add the function; the message says why and what to do."""


def _statements(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Top-level statements, looking into if/try/with blocks (a guarded import still binds)."""
    for node in body:
        yield node
        if isinstance(node, ast.If | ast.With):
            yield from _statements(node.body)
            if isinstance(node, ast.If):
                yield from _statements(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody,
                          *(h.body for h in node.handlers)):
                yield from _statements(block)


def _targets(node: ast.expr) -> Iterator[str]:
    if isinstance(node, ast.Name):
        yield node.id
    elif isinstance(node, ast.Tuple | ast.List):
        for item in node.elts:
            yield from _targets(item)
    elif isinstance(node, ast.Starred):
        yield from _targets(node.value)


def _bindings(tree: ast.Module) -> dict[str, set[str]]:
    """Top-level name -> what binds it: a module or `module.attr` for imports, else _OTHER."""
    bound: dict[str, set[str]] = {}
    for node in _statements(tree.body):
        pairs: list[tuple[str, str]] = []
        if isinstance(node, ast.Import):
            for a in node.names:
                pairs.append((a.asname, a.name) if a.asname else
                             (a.name.split(".")[0], a.name.split(".")[0]))
        elif isinstance(node, ast.ImportFrom):
            prefix = "." * node.level + (node.module or "")
            pairs += [(a.asname or a.name, f"{prefix}.{a.name}") for a in node.names]
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            pairs.append((node.name, _OTHER))
        elif isinstance(node, ast.Assign):
            pairs += [(n, _OTHER) for t in node.targets for n in _targets(t)]
        elif isinstance(node, ast.AnnAssign | ast.AugAssign | ast.For | ast.AsyncFor):
            pairs += [(n, _OTHER) for n in _targets(node.target)]
        for name, origin in pairs:
            bound.setdefault(name, set()).add(origin)
    return bound


def _dotted(node: ast.expr, bound: dict[str, set[str]]) -> str | None:
    if isinstance(node, ast.Name):
        origins = bound.get(node.id, set())
        return next(iter(origins)) if len(origins) == 1 and _OTHER not in origins else None
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value, bound)
        return f"{base}.{node.attr}" if base else None
    return None


def _is_registration(decorator: ast.expr) -> bool:
    if isinstance(decorator, ast.Call):
        decorator = decorator.func
    return isinstance(decorator, ast.Attribute) and (
        decorator.attr in ("route", "schedule", "function_name")
        or decorator.attr.endswith("_trigger"))


def registered_functions(tree: ast.Module) -> list[str]:
    """The function names a module registers: `function_name(name=...)`, else the def name."""
    names = []
    for node in _statements(tree.body):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        if not any(_is_registration(d) for d in node.decorator_list):
            continue
        name = node.name
        for d in node.decorator_list:
            if isinstance(d, ast.Call) and isinstance(d.func, ast.Attribute) \
                    and d.func.attr == "function_name":
                args = [*d.args, *(k.value for k in d.keywords if k.arg == "name")]
                if args and isinstance(args[0], ast.Constant) and isinstance(args[0].value, str):
                    name = args[0].value
        names.append(name)
    return names


def existing_functions(app_dir: Path, app_tree: ast.Module) -> dict[str, tuple[str, str]]:
    """lower-case name -> (name, where) for every function the app already has: those of
    function_app.py and of the .py modules beside it (blueprints), and v1 function folders."""
    found: dict[str, tuple[str, str]] = {}
    for name in registered_functions(app_tree):
        found.setdefault(name.lower(), (name, APP_FILE))
    for path in sorted(app_dir.glob("*.py")):
        if path.name == APP_FILE:
            continue
        try:
            tree = ast.parse(path.read_bytes(), str(path))
        except (SyntaxError, ValueError, OSError):
            continue  # not ours to judge here; the host reports it when it loads
        for name in registered_functions(tree):
            found.setdefault(name.lower(), (name, path.name))
    for folder in sorted(app_dir.iterdir()):
        if (folder / "function.json").is_file():
            found.setdefault(folder.name.lower(), (folder.name, f"{folder.name}/function.json"))
    return found


@dataclass
class AppSource:
    """function_app.py, parsed, with the edits `func-py new` makes to it."""

    path: Path
    text: str
    tree: ast.Module
    bound: dict[str, set[str]]
    app_var: str
    app_call: ast.Call
    app_class: str  # a value of APP_CLASSES
    last_import_line: int  # 1-based line after which imports go; 0 = before the app line
    bom: bool = False
    _imports: list[str] = field(default_factory=list)
    _make_durable: bool = False
    _appended: list[str] = field(default_factory=list)

    @classmethod
    def read(cls, path: Path) -> AppSource:
        raw = path.read_bytes()
        try:  # as it is (CRLF files stay CRLF), without a BOM, which the parser refuses
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ScaffoldError(f"{path.name} is not UTF-8 text: add the function by hand") \
                from None
        try:
            tree = ast.parse(text, str(path))
        except SyntaxError as exc:
            raise ScaffoldError(f"{path.name} has a syntax error at line {exc.lineno} "
                                f"({exc.msg}): fix it first") from None
        bound = _bindings(tree)
        apps = []
        for node in tree.body:
            target = node.targets[0] if isinstance(node, ast.Assign) and \
                len(node.targets) == 1 else getattr(node, "target", None)
            value = getattr(node, "value", None)
            if isinstance(node, ast.Assign | ast.AnnAssign) and isinstance(target, ast.Name) \
                    and isinstance(value, ast.Call):
                qualified = _dotted(value.func, bound)
                if qualified in APP_CLASSES:
                    apps.append((target.id, value, APP_CLASSES[qualified]))
        if len(apps) != 1:
            found = "no" if not apps else "more than one"
            raise ScaffoldError(
                f"{path.name} has {found} top-level `app = func.FunctionApp(...)` line (or "
                "df.DFApp), so func-py new cannot tell where its functions go: add the "
                "function by hand, or make the file define exactly one app that way")
        var, call, cls_name = apps[0]
        before = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)
                  and n.lineno < call.lineno]
        last = max((n.end_lineno or n.lineno for n in before), default=0)
        return cls(path, text, tree, bound, var, call, cls_name, last,
                   bom=raw.startswith(b"\xef\xbb\xbf"))

    def top_level_names(self) -> set[str]:
        return set(self.bound)

    def require(self, names: set[str]) -> None:
        """Make sure the template's names (`func`, `df`, `logging`) mean what its code needs."""
        for name in sorted(names):
            origins = self.bound.get(name)
            if origins is None:
                if IMPORT_LINES[name] not in self._imports:
                    self._imports.append(IMPORT_LINES[name])
            elif origins != {MODULES[name]}:
                raise ScaffoldError(
                    f"{self.path.name} uses the name `{name}` for something else, and the "
                    f"template's code needs `{IMPORT_LINES[name]}`: rename yours, or add "
                    "the function by hand")

    def add_import(self, line: str) -> None:
        self._imports.append(line)

    def make_durable(self) -> bool:
        """Turn the app into a `df.DFApp`; False when it is one already."""
        if self.app_class == "DFApp":
            return False
        if self.app_class != "FunctionApp":
            raise ScaffoldError(
                f"`{self.app_var}` in {self.path.name} is a func.{self.app_class}, and Durable "
                "Functions need a df.DFApp: add the durable functions by hand in an app "
                "defined as `app = df.DFApp(...)`")
        call = self.app_call
        if len(call.args) > 1 or any(k.arg != "http_auth_level" for k in call.keywords) \
                or call.func.lineno != call.func.end_lineno:
            raise ScaffoldError(
                f"{self.path.name} creates its app with arguments df.DFApp does not take: "
                f"change the line to `{self.app_var} = df.DFApp(http_auth_level=...)` and add "
                "`import azure.durable_functions as df` by hand, then run func-py new again")
        self.require({"df"})
        self._make_durable = True
        return True

    def append(self, code: str) -> None:
        self._appended.append(code)

    def render(self) -> str:
        # Split only where the parser counts lines (str.splitlines also splits at \f and more).
        lines = io.StringIO(self.text, newline="").readlines()
        newline = "\r\n" if lines and lines[0].endswith("\r\n") else "\n"
        if self._make_durable:
            node = self.app_call.func
            row = node.lineno - 1
            raw = lines[row].encode("utf-8")  # ast offsets count UTF-8 bytes
            end = node.end_col_offset or 0
            lines[row] = (raw[:node.col_offset] + b"df.DFApp" + raw[end:]).decode("utf-8")
        if self._imports:
            at = self.last_import_line if self.last_import_line else self.app_call.lineno - 1
            if at and not lines[at - 1].endswith(("\n", "\r")):
                lines[at - 1] += newline
            lines[at:at] = [line + newline for line in self._imports]
        text = "".join(lines)
        for code in self._appended:
            text = text.rstrip("\r\n") + newline * 3 + code.replace("\n", newline)
        return ("\ufeff" if self.bom else "") + text


def check_python_names(names: list[str], source: AppSource, needs: set[str]) -> None:
    """The top-level names new code defines must not be taken, reserved or shadow a builtin."""
    taken = source.top_level_names() | set(needs)
    for name in names:
        if keyword.iskeyword(name) or keyword.issoftkeyword(name):
            raise ScaffoldError(f"'{name}' is a Python keyword, so it cannot name the function's "
                                "def: choose another --name")
        if name in taken:
            raise ScaffoldError(f"'{name}' is already a top-level name in {source.path.name} "
                                "(the new function's def would replace it): choose another "
                                "--name")
        if hasattr(builtins, name):
            raise ScaffoldError(f"'{name}' would shadow Python's built-in `{name}` in "
                                f"{source.path.name}: choose another --name")


def requirement_names(text: str) -> set[str]:
    """The normalised project names a requirements.txt lists (PEP 503: case and -_. runs)."""
    names = set()
    for line in text.splitlines():
        line = line.split("#", 1)[0]
        m = _REQUIREMENT.match(line)
        if m and not line.lstrip().startswith("-"):
            names.add(re.sub(r"[-_.]+", "-", m.group(1)).lower())
    return names
