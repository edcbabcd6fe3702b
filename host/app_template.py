"""The files `func-py init` writes for a new Python V2 app: what Core Tools' `func init
--worker-runtime python` writes, plus the .vscode files the VS Code extension adds, with the
debug loop wired to func-py instead of Core Tools.

The texts are func-py's own. What must match Azure is kept: host.json's version, logging and
extension bundle; local.settings.json's values; requirements.txt listing only azure-functions.
The VS Code task is a plain shell task (not the extension's `func` task type, which would run
Core Tools), with the extension's background matcher patterns inline, so F5 works whether or
not the Azure Functions extension is installed. Its label deliberately does not match
`func: host start`: the extension checks for Core Tools before any task whose label does.
"""

from __future__ import annotations

import json
from pathlib import Path

from funcpy.host.config import DATA_DIR_NAME
from funcpy.host.errors import FuncPyError
from funcpy.host.templates import http_function

DEBUG_PORT = 9091  # the port the VS Code extension's launch.json attaches to
TASK_LABEL = "func-py: host start"
HOST_COMMAND = f"func-py host start --debug {DEBUG_PORT}"
# VS Code's $func-watch background patterns, word for word: the task is "ready" (and the
# debugger attaches) on an end line; a begin line means the host is restarting.
BEGINS_PATTERN = "^.*(Job host stopped|signaling restart).*$"
ENDS_PATTERN = ("^.*(Worker process started and initialized"
                "|Host lock lease acquired by instance ID).*$")
# func-py's own line when function_app.py fails to import (host/runtime.py): shown in Problems.
LOAD_ERROR_PATTERN = r"^.*The app could not be loaded.*: (.+\.py) failed to import: (.*)$"
EXTENSION_BUNDLE = {"id": "Microsoft.Azure.Functions.ExtensionBundle", "version": "[4.*, 5.0.0)"}

# One HTTP function, the same code `func-py new --template "HTTP trigger"` writes.
FUNCTION_APP = ("import logging\n\nimport azure.functions as func\n\n"
                "app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)\n\n\n"
                + http_function("http_trigger", "ANONYMOUS"))

REQUIREMENTS = """\
# The packages the app imports; Azure installs them when the app is deployed.
# func-py is a development tool: install it in your virtual environment, not here.
# To send telemetry to Azure Monitor with OpenTelemetry, uncomment the next line
# (see aka.ms/functions-azure-monitor-python):
# azure-monitor-opentelemetry

azure-functions
"""

GITIGNORE = f"""\
# Python
__pycache__/
*.py[cod]
*$py.class
.python_packages/
.venv/
venv/
env/
ENV/
.env

# Local settings hold secrets: never commit them
local.settings.json
.secrets

# func-py's local state (the durable task hub, timer status)
{DATA_DIR_NAME}/

# Azurite
__blobstorage__
__queuestorage__
__tablestorage__
__azurite_db*__.json
AzuriteConfig

# Tools
.vs/
.idea/
.pytest_cache/
.ruff_cache/
.mypy_cache/
"""

# What `func azure functionapp publish` (and the VS Code deploy) leave out of the package.
FUNCIGNORE = f"""\
.git*
.vscode
.venv
venv
__pycache__
local.settings.json
{DATA_DIR_NAME}
test
tests
__blobstorage__
__queuestorage__
__tablestorage__
__azurite_db*__.json
"""


def _json(value: object) -> str:
    return json.dumps(value, indent=2) + "\n"


def host_json(bundle: bool = True) -> str:
    doc: dict[str, object] = {
        "version": "2.0",
        "logging": {"applicationInsights": {
            "samplingSettings": {"isEnabled": True, "excludedTypes": "Request"}}},
    }
    if bundle:  # func-py needs none, but Azure does to run the app's triggers
        doc["extensionBundle"] = EXTENSION_BUNDLE
    return _json(doc)


def local_settings_json() -> str:
    return _json({"IsEncrypted": False, "Values": {
        "FUNCTIONS_WORKER_RUNTIME": "python",
        "AzureWebJobsStorage": "UseDevelopmentStorage=true",
        # Needed by early v4 hosts for the V2 model; harmless on current ones.
        "AzureWebJobsFeatureFlags": "EnableWorkerIndexing",
    }})


def tasks_json() -> str:
    task = {
        "label": TASK_LABEL,
        "type": "shell",
        "command": HOST_COMMAND,
        "isBackground": True,
        "problemMatcher": {
            "owner": "func-py",
            "source": "func-py",
            "fileLocation": ["autoDetect", "${workspaceFolder}"],
            "pattern": {"regexp": LOAD_ERROR_PATTERN, "file": 1, "message": 2},
            "background": {"activeOnStart": True, "beginsPattern": BEGINS_PATTERN,
                           "endsPattern": ENDS_PATTERN},
        },
    }
    return _json({"version": "2.0.0", "tasks": [task]})


def launch_json() -> str:
    return _json({"version": "0.2.0", "configurations": [{
        "name": "Attach to Python Functions",
        "type": "debugpy",
        "request": "attach",
        # 127.0.0.1, not localhost: the debugger listens on IPv4 loopback only.
        "connect": {"host": "127.0.0.1", "port": DEBUG_PORT},
        "preLaunchTask": TASK_LABEL,
    }]})


def settings_json() -> str:
    # The extension's project keys: with them it treats the folder as a Functions project
    # (deploy, templates) instead of offering to "initialize" it, which would add Core Tools
    # tasks.
    return _json({
        "azureFunctions.deploySubpath": ".",
        "azureFunctions.scmDoBuildDuringDeployment": True,
        "azureFunctions.projectLanguage": "Python",
        "azureFunctions.projectRuntime": "~4",
        "azureFunctions.projectLanguageModel": 2,
        "debug.internalConsoleOptions": "neverOpen",
    })


def extensions_json() -> str:
    return _json({"recommendations": ["ms-azuretools.vscode-azurefunctions",
                                      "ms-python.python"]})


def app_files(bundle: bool = True) -> dict[str, str]:
    """Relative path -> content, in the order they are written (and listed)."""
    return {
        "requirements.txt": REQUIREMENTS,
        "function_app.py": FUNCTION_APP,
        "host.json": host_json(bundle),
        "local.settings.json": local_settings_json(),
        ".gitignore": GITIGNORE,
        ".funcignore": FUNCIGNORE,
        ".vscode/extensions.json": extensions_json(),
        ".vscode/launch.json": launch_json(),
        ".vscode/tasks.json": tasks_json(),
        ".vscode/settings.json": settings_json(),
    }


def write_app(folder: Path, *, force: bool = False, bundle: bool = True) -> list[str]:
    """Write a new app into `folder` (created if missing); returns what was done, line by line.
    Without `force`, nothing is written when any of the files exists already."""
    if folder.exists() and not folder.is_dir():
        raise FuncPyError(f"{folder} exists and is not a folder")
    files = app_files(bundle)
    existing = [rel for rel in files if (folder / rel).exists()]
    if existing and not force:
        raise FuncPyError(
            f"{folder} already has {', '.join(existing)}: nothing was written. --force "
            "overwrites them; `func-py init --docker-only` adds just the container files to "
            "an existing app")
    for rel in existing:
        if (folder / rel).is_dir():
            raise FuncPyError(f"{folder / rel} is a folder: remove it first")
    done = []
    for rel, text in files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        done.append(f"Writing {rel}" + (" (overwritten)" if rel in existing else ""))
    return done
