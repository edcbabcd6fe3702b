"""The v1 (function.json) loader in-process: the model choice, the index it builds (compared with
the v2 loader's for the same functions), the worker's and host's checks, `disabled`, imports."""

from __future__ import annotations

import json
import logging
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from funcpy.host import loader
from funcpy.host.config import HostConfig
from funcpy.host.errors import AppLoadError
from funcpy.host.function_json import FunctionJsonError, is_disabled, read_function_folder
from funcpy.host.index import FunctionIndex, FunctionInfo
from funcpy.host.reload import is_relevant, is_relevant_dir
from funcpy.host.taskhub.instance_state import durable_name
from funcpy.triggers import trigger_kinds

HTTP_IN = {"authLevel": "anonymous", "type": "httpTrigger", "direction": "in", "name": "req"}
RETURN = {"type": "http", "direction": "out", "name": "$return"}
GOOD = ("import azure.functions as func\n\n\n"
        "def main(req: func.HttpRequest) -> str:\n    return 'ok'\n")


@pytest.fixture(autouse=True)
def isolated_imports() -> Iterator[None]:
    """Each test imports its own app: its modules (function_app, __app__.*) must not leak."""
    modules, path = set(sys.modules), list(sys.path)
    yield
    for name in set(sys.modules) - modules:
        del sys.modules[name]
    sys.path[:] = path


def write(root: Path, files: dict[str, Any]) -> Path:
    for rel, content in files.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        text = content if isinstance(content, str) else json.dumps(content, indent=2)
        target.write_text(textwrap.dedent(text) if isinstance(content, str) else text)
    return root


def function(bindings: list[dict[str, Any]], code: str = GOOD, **config: Any) -> dict[str, Any]:
    return {"function.json": {**config, "bindings": bindings}, "__init__.py": code}


def app(root: Path, functions: dict[str, dict[str, Any]], **files: Any) -> Path:
    flat = {f"{name}/{rel}": content for name, parts in functions.items()
            for rel, content in parts.items()}
    return write(root, {**flat, **files})


def load(root: Path, environ: dict[str, str] | None = None,
         functions: tuple[str, ...] | None = None) -> FunctionIndex:
    config = HostConfig(app_dir=root.resolve(), functions=functions)
    return loader.load(loader.AppImporter(root.resolve()), config, environ or {}, generation=1)


def error_of(index: FunctionIndex, name: str) -> str:
    assert name not in index.functions, f"{name} loaded"
    return index.errors[name]


# -- the same index entries as the v2 loader ----------------------------------------------------

V2_APP = '''
import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="hello/{name}", methods=["GET"])
def Hello(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("hi " + req.route_params["name"])


@app.timer_trigger(schedule="0 */5 * * * *", arg_name="mytimer", run_on_startup=True,
                   use_monitor=False)
def Tick(mytimer: func.TimerRequest) -> None:
    return None


@app.orchestration_trigger(context_name="context")
def Chain(context):
    first = yield context.call_activity("SayHello", "Tokyo")
    return [first]


@app.activity_trigger(input_name="name")
def SayHello(name: str) -> str:
    return f"Hello {name}!"


@app.route(route="orchestrators/{functionName}", methods=["POST", "GET"],
           auth_level=func.AuthLevel.FUNCTION)
@app.durable_client_input(client_name="starter")
async def Start(req: func.HttpRequest, starter) -> func.HttpResponse:
    instance_id = await starter.start_new(req.route_params["functionName"])
    return starter.create_check_status_response(req, instance_id)
'''

V1_FUNCTIONS: dict[str, dict[str, Any]] = {
    "Hello": function([{**HTTP_IN, "methods": ["get"], "route": "hello/{name}"}, RETURN], '''
        import azure.functions as func


        def main(req: func.HttpRequest) -> func.HttpResponse:
            return func.HttpResponse("hi " + req.route_params["name"])
        '''),
    "Tick": function([{"name": "mytimer", "type": "timerTrigger", "direction": "in",
                       "schedule": "0 */5 * * * *", "runOnStartup": True, "useMonitor": False}],
                     '''
        import azure.functions as func


        def main(mytimer: func.TimerRequest) -> None:
            return None
        '''),
    "Chain": function([{"name": "context", "type": "orchestrationTrigger", "direction": "in"}],
                      '''
        import azure.durable_functions as df


        def orchestrator_function(context):
            first = yield context.call_activity("SayHello", "Tokyo")
            return [first]


        main = df.Orchestrator.create(orchestrator_function)
        '''),
    "SayHello": function([{"name": "name", "type": "activityTrigger", "direction": "in"}], '''
        def main(name: str) -> str:
            return f"Hello {name}!"
        '''),
    "Start": function([
        {"authLevel": "function", "name": "req", "type": "httpTrigger", "direction": "in",
         "route": "orchestrators/{functionName}", "methods": ["post", "get"]},
        {"name": "$return", "type": "http", "direction": "out"},
        {"name": "starter", "type": "orchestrationClient", "direction": "in"}], '''
        import azure.durable_functions as df
        import azure.functions as func


        async def main(req: func.HttpRequest, starter: str) -> func.HttpResponse:
            client = df.DurableOrchestrationClient(starter)
            instance_id = await client.start_new(req.route_params["functionName"])
            return client.create_check_status_response(req, instance_id)
        '''),
}


def _visible(fn: FunctionInfo, config: HostConfig) -> dict[str, Any]:
    """Everything downstream reads from an index entry, except the callable and where it lives."""
    kind = trigger_kinds()[fn.trigger_type]
    return {
        "name": fn.name, "trigger": dict(fn.trigger), "trigger_type": fn.trigger_type,
        "bindings": sorted((dict(b) for b in fn.bindings), key=lambda b: b["name"]),
        "is_async": fn.is_async, "wants_context": fn.wants_context,
        "has_return": fn.has_return,
        "inputs": sorted(b["name"] for b in fn.input_bindings),
        "outputs": sorted(b["name"] for b in fn.output_bindings),
        "describe": kind.describe(fn, config),
        "durable": (durable_name(fn, "orchestration"), durable_name(fn, "activity")),
    }


def test_v1_functions_give_the_v2_loaders_index_entries(tmp_path: Path) -> None:
    v2 = load(write(tmp_path / "v2", {"function_app.py": V2_APP}))
    v1 = load(app(tmp_path / "v1", V1_FUNCTIONS))
    assert v1.errors == v2.errors == {}
    assert sorted(v1.functions) == sorted(v2.functions) == sorted(V1_FUNCTIONS)
    config = HostConfig(app_dir=tmp_path)
    for name in V1_FUNCTIONS:
        assert _visible(v1.functions[name], config) == _visible(v2.functions[name], config), name
    # Same code and bindings, same fingerprint (the starter's bodies differ: the v2 one gets a
    # client object, the v1 one builds it from the binding's JSON).
    for name in ("Hello", "Tick", "Chain", "SayHello"):
        assert v1.functions[name].fingerprint == v2.functions[name].fingerprint, name
    # Where the code lives is the model's own: the worker's function_directory is the folder.
    hello = v1.functions["Hello"]
    assert hello.directory == str((tmp_path / "v1" / "Hello").resolve())
    assert hello.script_file == "Hello/__init__.py"
    assert v1.functions["Start"].trigger["authLevel"] == "FUNCTION"
    assert v1.functions["Start"].binding("starter") == {
        "name": "starter", "type": "durableClient", "direction": "in"}


# -- which model -------------------------------------------------------------------------------


def test_only_function_json_folders_load_as_v1(tmp_path: Path) -> None:
    index = load(app(tmp_path, {"Hello": function([HTTP_IN, RETURN])},
                     **{"shared/__init__.py": "X = 1\n"}))  # no function.json: not a function
    assert list(index.functions) == ["Hello"]
    assert index.errors == {}


def test_function_app_with_functions_wins_and_warns_about_the_folders(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    v2 = ("import azure.functions as func\napp = func.FunctionApp()\n\n\n"
          "@app.route(route='v2')\ndef from_v2(req: func.HttpRequest) -> str:\n    return 'v2'\n")
    root = app(tmp_path, {"Legacy": function([HTTP_IN, RETURN])}, **{"function_app.py": v2})
    with caplog.at_level(logging.WARNING):
        index = load(root)
    assert list(index.functions) == ["from_v2"]
    assert ("Detected mixed function app. Some functions may not be indexed - Legacy Refer to "
            "the documentation to filter warning - https://docs.microsoft.com/en-us/azure/"
            "azure-functions/configure-monitoring?tabs=v2") in caplog.text


def test_function_app_without_functions_falls_back_to_the_folders(tmp_path: Path) -> None:
    root = app(tmp_path, {"Legacy": function([HTTP_IN, RETURN])},
               **{"function_app.py": "import azure.functions as func\napp = func.FunctionApp()\n"})
    assert list(load(root).functions) == ["Legacy"]


def test_a_function_app_that_fails_to_import_does_not_fall_back(tmp_path: Path) -> None:
    root = app(tmp_path, {"Legacy": function([HTTP_IN, RETURN])},
               **{"function_app.py": "raise RuntimeError('boom')\n"})
    with pytest.raises(AppLoadError, match=r"function_app\.py failed to import: RuntimeError"):
        load(root)


def test_the_script_file_setting_names_the_v2_file_to_look_for(tmp_path: Path) -> None:
    root = app(tmp_path, {"Legacy": function([HTTP_IN, RETURN])})
    assert list(load(root, {"PYTHON_SCRIPT_FILE_NAME": "main_app.py"}).functions) == ["Legacy"]


@pytest.mark.parametrize("setting", [None, "main_app.py"])
def test_with_neither_model_the_error_says_what_was_looked_for(
        tmp_path: Path, setting: str | None) -> None:
    (tmp_path / "nested" / "Deep").mkdir(parents=True)
    (tmp_path / "nested" / "Deep" / "function.json").write_text("{}")  # too deep to count
    environ = {"PYTHON_SCRIPT_FILE_NAME": setting} if setting else {}
    with pytest.raises(AppLoadError) as caught:
        load(tmp_path, environ)
    message = str(caught.value)
    script = setting or "function_app.py"
    assert f"No functions found in {tmp_path.resolve()}: looked for {script}" in message
    assert "PYTHON_SCRIPT_FILE_NAME" in message
    assert f"the package {script[:-3]}/ (the v2 model)" in message
    assert "*/function.json (the v1 model" in message


# -- imports as the worker does them -----------------------------------------------------------


def test_modules_are_imported_under_the_app_package(tmp_path: Path) -> None:
    root = app(tmp_path, {
        "Plain": function([HTTP_IN, RETURN], '''
            import azure.functions as func

            from . import sibling
            from ..shared import VALUE
            from __app__.shared import VALUE as SAME
            from shared import VALUE as TOP


            def main(req: func.HttpRequest) -> str:
                return f"{__name__} {sibling.NAME} {VALUE} {SAME} {TOP}"
            '''),
        "Custom": {"function.json": {"scriptFile": "handler.py", "entryPoint": "go",
                                     "bindings": [HTTP_IN, RETURN]},
                   "handler.py": "def go(req):\n    return __name__\n"},
        "OnlyFile": {"function.json": {"bindings": [HTTP_IN, RETURN]},
                     "main.py": "def main(req):\n    return __name__\n"},
    }, **{"Plain/sibling.py": "NAME = 'sibling'\n", "shared/__init__.py": "VALUE = 42\n"})
    index = load(root)
    assert index.errors == {}
    assert index.functions["Plain"].func(req=None) == "__app__.Plain sibling 42 42 42"
    assert index.functions["Custom"].func(req=None) == "__app__.Custom.handler"
    # Without scriptFile, the only file beside function.json is the script.
    assert index.functions["OnlyFile"].func(req=None) == "__app__.OnlyFile.main"
    # `shared` and `__app__.shared` are two module objects, as in the worker.
    assert sys.modules["shared"] is not sys.modules["__app__.shared"]


def test_a_new_load_imports_edited_code(tmp_path: Path) -> None:
    root = app(tmp_path, {"F": function([HTTP_IN, RETURN], "def main(req):\n    return 'v1'\n")})
    assert load(root).functions["F"].func(req=None) == "v1"
    (root / "F" / "__init__.py").write_text("def main(req):\n    return 'v2!'\n")
    assert load(root).functions["F"].func(req=None) == "v2!"


# -- one broken function among good ones ---------------------------------------------------------

BROKEN: dict[str, tuple[dict[str, Any], str]] = {
    "bad_json": ({"function.json": '{\n  "bindings": [\n    {"type": "httpTrigger"}\n    {}\n'
                                    "  ]\n}\n", "__init__.py": GOOD},
                 "function.json: malformed JSON at line 4, column 5: Expecting ',' delimiter"),
    "no_bindings": (function([]), "At least one binding must be declared."),
    "missing_script": ({"function.json": {"scriptFile": "run.py", "bindings": [HTTP_IN, RETURN]},
                        "__init__.py": GOOD},
                       "Invalid script file name configuration. The 'scriptFile' property is "
                       "set to a file that does not exist"),
    "no_primary": ({"function.json": {"bindings": [HTTP_IN, RETURN]}, "a.py": GOOD, "b.py": ""},
                   "Unable to determine the primary function script."),
    "not_python": ({"function.json": {"scriptFile": "index.js", "bindings": [HTTP_IN, RETURN]},
                    "index.js": ""}, "invalid Python filename"),
    "missing_entry": (function([HTTP_IN, RETURN], entryPoint="handle"),
                      "cannot load function missing_entry: function handle() is not present in "
                      "missing_entry/__init__.py"),
    "entry_not_callable": (function([HTTP_IN, RETURN], "main = 42\n"),
                           "function main() is not present in entry_not_callable/__init__.py"),
    "syntax_error": (function([HTTP_IN, RETURN], "def main(req)\n    return 1\n"),
                     "syntax_error/__init__.py failed to import: SyntaxError: expected ':' "
                     "(__init__.py, line 1)"),
    "missing_package": (function([HTTP_IN, RETURN], "import no_such_pkg_v1\n"),
                        "ModuleNotFoundError: No module named 'no_such_pkg_v1'. Please check "
                        "the requirements.txt file for the missing module"),
    "extra_param": (function([HTTP_IN, RETURN], "def main(req, other, more):\n    return ''\n"),
                    "cannot load the extra_param function: the following parameters are "
                    "declared in Python but not in function.json: {'more', 'other'}"),
    "missing_param": (function([HTTP_IN, RETURN, {"type": "durableClient", "direction": "in",
                                                   "name": "client"}]),
                      "the following parameters are declared in function.json but not in "
                      "Python: {'client'}"),
    "bad_context": (function([HTTP_IN, RETURN], "def main(req, context: int):\n    return ''\n"),
                    'the "context" parameter is expected to be of type azure.functions.Context, '
                    "got <class 'int'>"),
    "wrong_type": (function([HTTP_IN, RETURN], "def main(req: int):\n    return ''\n"),
                   'type of req binding in function.json "httpTrigger" does not match its '
                   'Python annotation "int"'),
    "wrong_type_with_data_type": (
        function([{**HTTP_IN, "dataType": "binary"}, RETURN],
                 "def main(req: int):\n    return ''\n"),
        """'req' binding type "httpTrigger" and dataType "binary" in function.json do not """
        """match the corresponding function parameter's Python type annotation "int\""""),
    "out_without_out": (function([HTTP_IN, {"type": "http", "direction": "out", "name": "res"}],
                                 "import azure.functions as func\n\n\n"
                                 "def main(req, res: func.HttpResponse):\n    pass\n"),
                        'binding res is declared to have the "out" direction, but its '
                        "annotation in Python is not a subclass of azure.functions.Out"),
    "in_as_out": (function([HTTP_IN, RETURN], "import azure.functions as func\n\n\n"
                           "def main(req: func.Out[func.HttpRequest]):\n    return ''\n"),
                  'binding req is declared to have the "in" direction in function.json, but '
                  "its annotation is azure.functions.Out in Python"),
    "bad_return": (function([HTTP_IN, RETURN], "def main(req) -> int:\n    return 1\n"),
                   'Python return annotation "int" does not match binding type "http"'),
    "out_return": (function([HTTP_IN, RETURN], "import azure.functions as func\n\n\n"
                            "def main(req) -> func.Out[str]:\n    return 1\n"),
                   "return annotation should not be azure.functions.Out"),
    "inout": (function([HTTP_IN, {**RETURN, "name": "res", "direction": "inout"}]),
              "'inout' direction, which is not supported"),
    "return_in": (function([HTTP_IN, {**RETURN, "direction": "in"}]),
                  "$return binding must have direction set to 'out'"),
    "bad_direction": (function([HTTP_IN, {**RETURN, "direction": "sideways"}]),
                      "'sideways' is not a valid binding direction."),
    "bad_data_type": (function([{**HTTP_IN, "dataType": "text"}, RETURN]),
                      "binding 'req': 'text' is not a valid dataType (string, binary or stream)"),
    "two_triggers": (function([HTTP_IN, {**HTTP_IN, "name": "again"}, RETURN]),
                     "exactly one trigger binding (found 2)"),
    "bad_binding_name": (function([{**HTTP_IN, "name": "my_req"}, RETURN],
                                  "def main(my_req):\n    return ''\n"),
                         "The binding name my_req is invalid."),
    "unresolved_setting": (function([{**HTTP_IN, "route": "%NOPE%/x"}, RETURN]),
                           "'%NOPE%' does not resolve to a value."),
    "9lives": (function([HTTP_IN, RETURN]), "'9lives' is not a valid function name."),
    "host": (function([HTTP_IN, RETURN]), "'host' is not a valid function name."),
}


@pytest.fixture(scope="module")
def broken_index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FunctionIndex]:
    root = tmp_path_factory.mktemp("broken")
    modules, path = set(sys.modules), list(sys.path)
    index = load(app(root, {"Good": function([HTTP_IN, RETURN]),
                            **{name: parts for name, (parts, _) in BROKEN.items()}}))
    yield index
    for name in set(sys.modules) - modules:
        del sys.modules[name]
    sys.path[:] = path


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_each_broken_function_is_in_error_with_its_reason(
        broken_index: FunctionIndex, name: str) -> None:
    message = error_of(broken_index, name)
    assert message.startswith(f"The '{name}' function is in error: "), message
    assert BROKEN[name][1] in message, message


def test_the_good_function_loads_beside_the_broken_ones(broken_index: FunctionIndex) -> None:
    assert list(broken_index.functions) == ["Good"]
    assert set(broken_index.errors) == set(BROKEN)


def test_comments_and_trailing_commas_are_accepted_as_jsonnet_does(tmp_path: Path) -> None:
    root = app(tmp_path, {"F": {"function.json": '{\n  // a comment\n  "bindings": [\n'
                                f"    {json.dumps(HTTP_IN)}, /* here */ {json.dumps(RETURN)},\n"
                                "  ],\n}\n", "__init__.py": GOOD}})
    assert list(load(root).functions) == ["F"]


def test_unsupported_triggers_are_skipped_not_in_error(tmp_path: Path) -> None:
    blob = {"name": "blob", "type": "BlobTrigger", "direction": "in", "path": "c/{name}"}
    index = load(app(tmp_path, {"OnBlob": function([blob], "def main(blob):\n    pass\n")}))
    assert index.skipped == {"OnBlob": "trigger 'blobTrigger' is not supported by func-py yet"}


# -- bindings ----------------------------------------------------------------------------------


def test_bindings_are_normalised_and_settings_resolved(tmp_path: Path) -> None:
    trigger = {"AuthLevel": "Function", "Type": "HTTPTRIGGER", "direction": "IN", "name": "req",
               "Methods": ["get", "Post"], "route": "%AREA%/{id}", "datatype": "binary"}
    client = {"name": "starter", "type": "orchestrationClient", "direction": "in",
              "dataType": "string", "taskHub": "%HUB%"}
    index = load(app(tmp_path, {"F": function([trigger, RETURN, client], "def main(req, starter):\n"
                                                                         "    return ''\n")}),
                 {"AREA": "orders", "HUB": "Shop"})
    fn = index.functions["F"]
    assert dict(fn.trigger) == {"authLevel": "FUNCTION", "type": "httpTrigger", "direction": "in",
                                "name": "req", "methods": ["GET", "POST"],
                                "route": "orders/{id}", "dataType": "BINARY"}
    assert fn.binding("starter") == {"name": "starter", "type": "durableClient",
                                     "direction": "in", "dataType": "STRING", "taskHub": "Shop"}


def test_cardinality_is_checked_and_kept(tmp_path: Path) -> None:
    many = {"name": "events", "type": "eventHubTrigger", "direction": "in", "cardinality": "many"}
    folder = write(tmp_path / "Hub", {"function.json": {"bindings": [many]},
                                      "__init__.py": "def main(events):\n    pass\n"})
    spec = read_function_folder(folder, frozenset({"eventHubTrigger"}))
    assert spec.bindings[0]["cardinality"] == "MANY"
    (folder / "function.json").write_text(json.dumps({"bindings": [{**many,
                                                                    "cardinality": "lots"}]}))
    with pytest.raises(FunctionJsonError, match="'lots' is not a valid cardinality"):
        read_function_folder(folder, frozenset())


# -- disabled and the allow-list ---------------------------------------------------------------


@pytest.mark.parametrize(("value", "environ", "expected"), [
    (True, {}, True), (False, {}, False), (None, {}, False),
    ("IS_OFF", {"IS_OFF": "true"}, True), ("IS_OFF", {"IS_OFF": "1"}, True),
    ("IS_OFF", {"is_off": "TRUE"}, True),  # setting names are case-insensitive
    ("IS_OFF", {"IS_OFF": "false"}, False), ("IS_OFF", {}, False),
    ("%IS_OFF%", {"IS_OFF": "True"}, True),
    ("true", {}, False),  # a string is a setting's name, not a boolean (the host's rule)
])
def test_disabled_is_a_bool_or_the_name_of_a_setting(
        value: Any, environ: dict[str, str], expected: bool) -> None:
    assert is_disabled(value, environ) is expected


def test_disabled_functions_stay_in_the_index(tmp_path: Path) -> None:
    trigger_off = {**HTTP_IN, "route": "t", "disabled": "OFF"}
    root = app(tmp_path, {
        "ByFlag": function([{**HTTP_IN, "route": "a"}, RETURN], disabled=True),
        "BySetting": function([{**HTTP_IN, "route": "b"}, RETURN], disabled="OFF"),
        "ByTrigger": function([trigger_off, RETURN]),
        "ByAppSetting": function([{**HTTP_IN, "route": "c"}, RETURN]),
        "Enabled": function([{**HTTP_IN, "route": "d"}, RETURN], disabled=False),
    })
    index = load(root, {"OFF": "1", "AzureWebJobs.ByAppSetting.Disabled": "true"})
    assert set(index.functions) == {"ByFlag", "BySetting", "ByTrigger", "ByAppSetting", "Enabled"}
    assert index.disabled == {"ByFlag", "BySetting", "ByTrigger", "ByAppSetting"}
    assert "disabled" not in index.functions["ByTrigger"].trigger  # host metadata, not binding


def test_the_allow_list_drops_other_functions_and_hides_their_errors(tmp_path: Path) -> None:
    root = app(tmp_path, {"Keep": function([HTTP_IN, RETURN]),
                          "Other": function([HTTP_IN, RETURN]),
                          "Broken": {"function.json": "{", "__init__.py": GOOD}})
    index = load(root, functions=("keep",))  # matched case-insensitively
    assert list(index.functions) == ["Keep"]
    assert index.errors == {}


# -- hot reload watches function.json -----------------------------------------------------------


def test_reload_watches_function_json_in_function_folders(tmp_path: Path) -> None:
    assert is_relevant(tmp_path, str(tmp_path / "F" / "function.json"))
    assert is_relevant(tmp_path, str(tmp_path / "F" / "__init__.py"))
    assert not is_relevant(tmp_path, str(tmp_path / "function.json"))
    assert not is_relevant(tmp_path, str(tmp_path / "a" / "b" / "function.json"))
    assert not is_relevant(tmp_path, str(tmp_path / ".venv" / "function.json"))
    assert is_relevant_dir(tmp_path, str(tmp_path / "F"))  # a function folder renamed away
    assert not is_relevant_dir(tmp_path, str(tmp_path / "F" / "sub"))
    assert not is_relevant_dir(tmp_path, str(tmp_path / "__pycache__"))
