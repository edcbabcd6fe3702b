"""The templates of `func-py new` and the edits to function_app.py (host/templates.py,
host/app_source.py), and the VS Code matcher of `func-py init` (host/app_template.py)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from funcpy.host.app_source import AppSource, ScaffoldError, requirement_names
from funcpy.host.app_template import ENDS_PATTERN, LOAD_ERROR_PATTERN, app_files
from funcpy.host.templates import TEMPLATES, Options, Template, find_template, python_name


@pytest.mark.parametrize(("given", "found"), [
    ("HTTP trigger", "HTTP trigger"), ("httptrigger", "HTTP trigger"),
    ("HttpTrigger", "HTTP trigger"), ("Timer Trigger", "Timer trigger"),
    ("queue_trigger", "Queue trigger"), ("DurableFunctionsOrchestrator",
                                         "Durable Functions orchestrator"),
    ("durable functions entity", "Durable Functions entity"), ("BLUEPRINT", "Blueprint"),
])
def test_template_names_ignore_case_spaces_and_separators(given: str, found: str) -> None:
    template = find_template(given)
    assert template is not None and template.name == found


def test_unknown_template() -> None:
    assert find_template("Blob trigger") is None


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda t: t.name)
@pytest.mark.parametrize("name", ["plain", "with-dash"])
def test_every_template_renders_valid_python(template: Template, name: str) -> None:
    rendered = template.render(Options(name=name, ident=python_name(name), app="my_app",
                                       connection='My"Conn\\', queue_name="%Q'é%"))
    tree = ast.parse(rendered.body)
    for text in rendered.new_files.values():
        ast.parse(text)
    if "-" in name and not rendered.new_files:
        assert f'@my_app.function_name(name="{name}")' in rendered.body
    assert all(n.isidentifier() for n in rendered.top_names)
    if template.name == "Queue trigger":  # typed values are string literals, escaped
        literals = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)}
        assert {'My"Conn\\', "%Q'é%"} <= literals


def _edit(tmp_path: Path, text: str, *, durable: bool, needs: set[str]) -> str:
    path = tmp_path / "function_app.py"
    path.write_bytes(text.encode())
    source = AppSource.read(path)
    if durable:
        source.make_durable()
    source.require(needs)
    source.append("def added():\n    pass\n")
    return source.render()


def test_the_app_class_is_swapped_and_imports_go_after_the_last_one(tmp_path: Path) -> None:
    text = ('"""Doc."""\nfrom __future__ import annotations\n\nimport logging\n'
            "from azure.functions import FunctionApp, AuthLevel\n\n"
            "app = FunctionApp(http_auth_level=AuthLevel.ANONYMOUS)  # é keeps offsets\n")
    out = _edit(tmp_path, text, durable=True, needs={"func", "logging"})
    assert out == ('"""Doc."""\nfrom __future__ import annotations\n\nimport logging\n'
                   "from azure.functions import FunctionApp, AuthLevel\n"
                   "import azure.durable_functions as df\nimport azure.functions as func\n\n"
                   "app = df.DFApp(http_auth_level=AuthLevel.ANONYMOUS)  # é keeps offsets\n"
                   "\n\ndef added():\n    pass\n")


def test_crlf_files_stay_crlf(tmp_path: Path) -> None:
    text = "import azure.functions as func\r\n\r\napp = func.FunctionApp()\r\n\r\n\r\n"
    out = _edit(tmp_path, text, durable=True, needs={"func"})
    assert "\n" not in out.replace("\r\n", "")
    assert out.endswith("app = df.DFApp()\r\n\r\n\r\ndef added():\r\n    pass\r\n")


def test_a_byte_order_mark_is_kept(tmp_path: Path) -> None:
    text = "\ufeffimport azure.functions as func\napp = func.FunctionApp()\n"
    out = _edit(tmp_path, text, durable=False, needs={"func"})
    assert out.startswith("\ufeffimport azure.functions as func\napp = func.FunctionApp()\n")


def test_a_dfapp_is_kept_and_names_used_otherwise_are_refused(tmp_path: Path) -> None:
    text = "import azure.durable_functions as df\nfrom x import logging\n\nmyApp = df.DFApp()\n"
    path = tmp_path / "function_app.py"
    path.write_text(text)
    source = AppSource.read(path)
    assert source.app_var == "myApp" and source.make_durable() is False
    with pytest.raises(ScaffoldError, match="uses the name `logging` for something else"):
        source.require({"logging"})


def test_a_syntax_error_is_refused(tmp_path: Path) -> None:
    (tmp_path / "function_app.py").write_text("app = (\n")
    with pytest.raises(ScaffoldError, match="syntax error at line 1"):
        AppSource.read(tmp_path / "function_app.py")


def test_requirement_names() -> None:
    text = ("# azure-functions-durable\nazure-functions>=1.20\nAzure_Functions.Durable ; "
            "python_version>'3'\n-r other.txt\n\n")
    assert requirement_names(text) == {"azure-functions", "azure-functions-durable"}


def test_the_vscode_patterns_match_func_py_lines() -> None:
    load = re.compile(LOAD_ERROR_PATTERN)
    m = load.match("[2026-12-02T00:53:21.125Z] The app could not be loaded, so no functions "
                   "are serving: /a/b/function_app.py failed to import: ModuleNotFoundError: "
                   "No module named 'x'")
    assert m is not None and m.groups() == ("/a/b/function_app.py",
                                            "ModuleNotFoundError: No module named 'x'")
    assert re.match(ENDS_PATTERN, "[t] Worker process started and initialized.")
    assert set(app_files(bundle=False)) == set(app_files())
    assert "extensionBundle" not in app_files(bundle=False)["host.json"]
