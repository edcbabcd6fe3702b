"""`func-py new` and `func-py templates list`: add a function to a V2 app from a template, with
Core Tools' spelling (`func new -t "HTTP trigger" -n NAME -a anonymous`).

The new code is appended to function_app.py (Core Tools appends too), so a running
`func-py start` hot-reloads it at once. Everything is checked before anything is written: the
name (the host's rule), clashes with the app's functions (case-insensitive, as the host
compares them) and with its Python names, and the shape of function_app.py. Then files are
replaced whole (write + rename), so the reloader never sees half a file.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from funcpy.host.app_source import (
    APP_FILE,
    AppSource,
    ScaffoldError,
    check_python_names,
    existing_functions,
    requirement_names,
)
from funcpy.host.function_json import _FUNCTION_NAME  # the host's rule for function names
from funcpy.host.templates import (
    AUTH_LEVELS,
    DEFAULT_CONNECTION,
    DEFAULT_QUEUE,
    DEFAULT_SCHEDULE,
    DURABLE_REQUIREMENT,
    TEMPLATES,
    Options,
    Rendered,
    Template,
    find_template,
    python_name,
)


def add_scaffold_parsers(sub: Any) -> None:
    new = sub.add_parser("new", help="add a function to the app from a template (like "
                                     "`func new`)",
                         description="Add a function to function_app.py from a template.")
    new.add_argument("-t", "--template", help="the template (see `func-py templates list`)")
    new.add_argument("-n", "--name", help="the function name (default: the template's)")
    new.add_argument("-a", "--authlevel", "--auth-level", dest="authlevel",
                     type=str.lower, choices=AUTH_LEVELS, default="function",
                     help="HTTP functions' authorization level (default function)")
    new.add_argument("--schedule", default=DEFAULT_SCHEDULE,
                     help=f"Timer trigger: the NCRONTAB schedule (default \"{DEFAULT_SCHEDULE}\")")
    new.add_argument("--queue-name", dest="queue_name", default=DEFAULT_QUEUE,
                     help=f"Queue trigger: the queue (default {DEFAULT_QUEUE})")
    new.add_argument("--connection", default=DEFAULT_CONNECTION,
                     help=f"Queue trigger: the connection setting (default {DEFAULT_CONNECTION})")
    new.add_argument("-l", "--language", "--worker-runtime", dest="language",
                     help="python (the only language func-py has)")
    new.add_argument("--script-root", "--prefix", dest="script_root", default=".",
                     metavar="DIR", help="the app folder (default: here)")
    templates = sub.add_parser("templates", help="list the templates `func-py new` knows")
    cmds = templates.add_subparsers(dest="templates_command", metavar="list")
    listing = cmds.add_parser("list", help="list the templates")
    listing.add_argument("-l", "--language", dest="language", help="python")


def _template_list() -> str:
    width = max(len(t.name) for t in TEMPLATES)
    lines = ["Python Templates:"]
    lines += [f"  {t.name:<{width}}  {t.description}" for t in TEMPLATES]
    return "\n".join(lines)


def _check_language(language: str | None) -> None:
    if language is not None and language.lower() != "python":
        raise ScaffoldError(f"--language {language}: func-py has Python templates only")


def _template(args: argparse.Namespace) -> Template:
    if not args.template:
        raise ScaffoldError("give the template with --template (-t):\n" + _template_list())
    template = find_template(args.template)
    if template is None:
        raise ScaffoldError(f"Unknown template '{args.template}'. The templates are:\n"
                            + _template_list())
    return template


def _check_name(name: str) -> None:
    if not _FUNCTION_NAME.match(name) or name.lower() == "host":
        raise ScaffoldError(f"'{name}' is not a valid function name: a letter first, then "
                            "letters, digits, '_' or '-', at most 128 characters (and not "
                            "'host')")


def _check_options(template: Template, args: argparse.Namespace) -> None:
    if template.name == "Timer trigger" and "%" not in args.schedule:
        from datetime import UTC

        from funcpy.triggers.ncrontab import ScheduleError, parse_schedule

        try:
            parse_schedule(args.schedule, UTC)
        except ScheduleError as exc:
            raise ScaffoldError(f"--schedule: {exc}") from None
    if template.name == "Queue trigger" and "%" not in args.queue_name:
        from funcpy.triggers.queue_options import normalize_queue_name

        try:
            normalize_queue_name(args.queue_name)
        except ValueError as exc:
            raise ScaffoldError(f"--queue-name: {exc}") from None


def _write(path: Path, text: str) -> None:
    """Replace the file whole: the temporary name does not end in .py, so hot reload sees
    only the rename, never a half-written file."""
    tmp = path.with_name(f".{path.name}.func-py-new")
    tmp.write_text(text, encoding="utf-8", newline="")
    os.replace(tmp, path)


def _plan(app_dir: Path, template: Template, args: argparse.Namespace) -> tuple[
        AppSource, Rendered, str | None]:
    """Check everything; returns the edited app, the rendered template and the new
    requirements.txt text (None: unchanged)."""
    app_file = app_dir / APP_FILE
    if not app_file.is_file():
        hint = ("run `func-py init` first" if not (app_dir / "host.json").is_file() else
                f"func-py new adds functions to a V2 app's {APP_FILE}; create it with "
                "`app = func.FunctionApp()` first")
        raise ScaffoldError(f"{app_dir.resolve()} has no {APP_FILE}: {hint}")
    source = AppSource.read(app_file)
    name = args.name or template.default_name
    _check_name(name)
    options = Options(name=name, ident=python_name(name), app=source.app_var,
                      auth_level=args.authlevel, schedule=args.schedule,
                      queue_name=args.queue_name, connection=args.connection)
    rendered = template.render(options)
    existing = existing_functions(app_dir, source.tree)
    for new_name in rendered.functions:
        _check_name(new_name)  # with a template's suffix, it may now be too long
        if new_name.lower() in existing:
            old, where = existing[new_name.lower()]
            raise ScaffoldError(f"The app already has a function named '{old}' (in {where}; "
                                "names are compared ignoring case): choose another --name")
    check_python_names(rendered.top_names, source, rendered.needs)
    for file_name in rendered.new_files:
        if (app_dir / file_name).exists():
            raise ScaffoldError(f"{file_name} already exists: choose another --name")
    if rendered.durable:
        source.make_durable()
    source.require(rendered.needs)
    for line in rendered.imports:
        source.add_import(line)
    source.append(rendered.body)
    requirements = None
    if rendered.durable:
        path = app_dir / "requirements.txt"
        try:
            text = path.read_bytes().decode("utf-8") if path.is_file() else ""
        except UnicodeDecodeError:
            raise ScaffoldError(f"requirements.txt is not UTF-8 text: add "
                                f"{DURABLE_REQUIREMENT} to it by hand") from None
        if DURABLE_REQUIREMENT not in requirement_names(text):
            requirements = (text if not text or text.endswith("\n") else text + "\n") \
                + DURABLE_REQUIREMENT + "\n"
    return source, rendered, requirements


def new(args: argparse.Namespace) -> int:
    _check_language(args.language)
    template = _template(args)
    _check_options(template, args)
    app_dir = Path(args.script_root)
    source, rendered, requirements = _plan(app_dir, template, args)
    for file_name, text in rendered.new_files.items():
        print(f"Writing {file_name}")
        _write(app_dir / file_name, text)
    if requirements is not None:
        print(f"Adding {DURABLE_REQUIREMENT} to requirements.txt (pip install it to run the "
              "app)")
        _write(app_dir / "requirements.txt", requirements)
    if rendered.durable and source.app_class != "DFApp":
        print(f"Changing {source.app_var} in {APP_FILE} to a df.DFApp (Durable Functions "
              "need one; it is still a FunctionApp)")
    print(f"Appending to {APP_FILE}")
    _write(source.path, source.render())
    names = ", ".join(f'"{n}"' for n in rendered.functions)
    what = "function" if len(rendered.functions) == 1 else "functions"
    print(f'The {what} {names} {"was" if what == "function" else "were"} created '
          f'successfully from the "{template.name}" template.')
    for file_name in rendered.new_files:
        print(f"{file_name} is registered in {APP_FILE} with "
              f"{source.app_var}.register_functions(...)")
    return 0


def run(args: argparse.Namespace) -> int:
    if args.command == "templates":
        _check_language(args.language if args.templates_command else None)
        print(_template_list())
        return 0
    return new(args)
