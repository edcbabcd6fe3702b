"""The function templates of `func-py new`: Core Tools' Python V2 templates (the code appended
to function_app.py), in func-py's own words, plus Durable Functions and a blueprint.

A template renders to a `Rendered`: the text to append to the app file, the functions it
registers (checked for clashes before anything is written), the top-level Python names it
defines, the imports its code needs, and any new file. The names are matched as Core Tools
matches them, ignoring case, spaces, dashes and underscores ("HTTP trigger" = "HttpTrigger").
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from string import Template as _Text

AUTH_LEVELS = ("anonymous", "function", "admin")
DEFAULT_SCHEDULE = "0 */5 * * * *"
DEFAULT_QUEUE = "queuename"  # Core Tools' V2 template default
DEFAULT_CONNECTION = "AzureWebJobsStorage"
DURABLE_REQUIREMENT = "azure-functions-durable"


@dataclass(frozen=True)
class Options:
    name: str  # the registered function name, as given
    ident: str  # the Python name of its `def` (dashes become underscores)
    app: str  # the app variable in function_app.py
    auth_level: str = "function"
    schedule: str = DEFAULT_SCHEDULE
    queue_name: str = DEFAULT_QUEUE
    connection: str = DEFAULT_CONNECTION


@dataclass
class Rendered:
    body: str  # appended to function_app.py
    functions: list[str]  # registered function names
    top_names: list[str]  # top-level Python names the code defines in function_app.py
    needs: set[str] = field(default_factory=set)  # "func", "logging", "df"
    durable: bool = False  # the app must be a df.DFApp
    new_files: dict[str, str] = field(default_factory=dict)  # file name -> content
    imports: list[str] = field(default_factory=list)  # import lines for function_app.py


@dataclass(frozen=True)
class Template:
    name: str
    default_name: str
    description: str
    render: Callable[[Options], Rendered]
    aliases: tuple[str, ...] = ()


def python_name(name: str) -> str:
    return name.replace("-", "_")


def _register(app: str, name: str, ident: str) -> str:
    """The decorator that keeps a name Python cannot spell (one with '-') as the registered
    name; none when the def's name is the function name already."""
    return "" if name == ident else f'@{app}.function_name(name="{name}")\n'


def _literal(value: str) -> str:
    """A Python string literal for a value the user typed (JSON's escapes are Python's)."""
    return json.dumps(value)


def _level(options: Options) -> str:
    return options.auth_level.upper()


_HTTP = _Text('''\
${register}@${app}.route(route="${route}", auth_level=func.AuthLevel.${level})
def ${ident}(req: func.HttpRequest) -> func.HttpResponse:
    logging.info("Python HTTP trigger function processed a request.")
    name = req.params.get("name")
    if not name:
        try:
            body = req.get_json()
        except ValueError:  # no body, or not JSON
            body = None
        if isinstance(body, dict):
            name = body.get("name")
    if name:
        return func.HttpResponse(
            f"Hello, {name}. This HTTP triggered function executed successfully.")
    return func.HttpResponse(
        "This HTTP triggered function executed successfully. Pass a name in the query "
        "string or in the request body for a personalized response.",
        status_code=200,
    )
''')


def http_function(name: str, level: str, app: str = "app") -> str:
    """The HTTP trigger template's code for a function whose name is a Python identifier."""
    return _HTTP.substitute(register="", app=app, route=name, level=level, ident=name)


def _http_code(o: Options, app: str) -> str:
    return _HTTP.substitute(register=_register(app, o.name, o.ident), app=app, route=o.name,
                            level=_level(o), ident=o.ident)


def http(o: Options) -> Rendered:
    return Rendered(_http_code(o, o.app), [o.name], [o.ident], {"func", "logging"})


_TIMER = _Text('''\
${register}@${app}.timer_trigger(schedule=${schedule}, arg_name="myTimer", run_on_startup=False,
${pad}use_monitor=False)
def ${ident}(myTimer: func.TimerRequest) -> None:
    if myTimer.past_due:
        logging.info("The timer is past due!")
    logging.info("Python timer trigger function executed.")
''')


def timer(o: Options) -> Rendered:
    pad = " " * len(f"@{o.app}.timer_trigger(")
    body = _TIMER.substitute(register=_register(o.app, o.name, o.ident), app=o.app, pad=pad,
                             schedule=_literal(o.schedule), ident=o.ident)
    return Rendered(body, [o.name], [o.ident], {"func", "logging"})


_QUEUE = _Text('''\
${register}@${app}.queue_trigger(arg_name="azqueue", queue_name=${queue},
${pad}connection=${connection})
def ${ident}(azqueue: func.QueueMessage) -> None:
    logging.info("Python Queue trigger processed a message: %s",
                 azqueue.get_body().decode("utf-8"))
''')


def queue(o: Options) -> Rendered:
    pad = " " * len(f"@{o.app}.queue_trigger(")
    body = _QUEUE.substitute(register=_register(o.app, o.name, o.ident), app=o.app, pad=pad,
                             queue=_literal(o.queue_name), connection=_literal(o.connection),
                             ident=o.ident)
    return Rendered(body, [o.name], [o.ident], {"func", "logging"})


_ORCHESTRATOR = _Text('''\
# Start it with a POST or GET to /api/orchestrators/${name}; the answer links to its status.
${register_start}@${app}.route(route="orchestrators/${name}", methods=["GET", "POST"],
${pad}auth_level=func.AuthLevel.${level})
@${app}.durable_client_input(client_name="client")
async def ${ident}_start(req: func.HttpRequest,
${start_pad}client: df.DurableOrchestrationClient) -> func.HttpResponse:
    instance_id = await client.start_new("${name}")
    logging.info("Started orchestration with ID = '%s'.", instance_id)
    return client.create_check_status_response(req, instance_id)


${register}@${app}.orchestration_trigger(context_name="context")
def ${ident}(context: df.DurableOrchestrationContext):  # a generator: it yields its tasks
    results = []
    for city in ("Tokyo", "Seattle", "London"):
        results.append((yield context.call_activity("${name}_activity", city)))
    return results


${register_activity}@${app}.activity_trigger(input_name="city")
def ${ident}_activity(city: str) -> str:
    return f"Hello {city}!"
''')


def orchestrator(o: Options) -> Rendered:
    start, activity = f"{o.name}_start", f"{o.name}_activity"
    body = _ORCHESTRATOR.substitute(
        register_start=_register(o.app, start, f"{o.ident}_start"),
        register=_register(o.app, o.name, o.ident),
        register_activity=_register(o.app, activity, f"{o.ident}_activity"),
        app=o.app, name=o.name, ident=o.ident, level=_level(o),
        pad=" " * len(f"@{o.app}.route("), start_pad=" " * len(f"async def {o.ident}_start("))
    return Rendered(body, [start, o.name, activity],
                    [f"{o.ident}_start", o.ident, f"{o.ident}_activity"],
                    {"func", "logging", "df"}, durable=True)


_ENTITY = _Text('''\
# A counter: signal it with the operations "add" (input: a number), "reset" and "get".
${register}@${app}.entity_trigger(context_name="context")
def ${ident}(context: df.DurableEntityContext) -> None:
    value = context.get_state(lambda: 0)
    operation = context.operation_name
    if operation == "add":
        value += context.get_input()
    elif operation == "reset":
        value = 0
    elif operation == "get":
        context.set_result(value)
    context.set_state(value)
''')


def entity(o: Options) -> Rendered:
    body = _ENTITY.substitute(register=_register(o.app, o.name, o.ident), app=o.app,
                              ident=o.ident)
    return Rendered(body, [o.name], [o.ident], {"df"}, durable=True)


_BLUEPRINT_FILE = _Text('''\
"""The ${name} blueprint. function_app.py registers its functions with
app.register_functions(...); see https://aka.ms/azure-functions-python-blueprints
"""

import logging

import azure.functions as func

bp = func.Blueprint()


${http}''')


def blueprint_module(o: Options) -> str:
    return f"{o.ident}_blueprint"


def blueprint(o: Options) -> Rendered:
    module = blueprint_module(o)
    alias = f"{module}_bp"
    text = _BLUEPRINT_FILE.substitute(name=o.name, http=_http_code(o, "bp"))
    return Rendered(f"{o.app}.register_functions({alias})\n", [o.name], [alias],
                    new_files={f"{module}.py": text},
                    imports=[f"from {module} import bp as {alias}"])


TEMPLATES: tuple[Template, ...] = (
    Template("HTTP trigger", "http_trigger",
             "a function that answers HTTP requests (--authlevel)", http),
    Template("Timer trigger", "timer_trigger",
             f"a function run on a schedule (--schedule, default \"{DEFAULT_SCHEDULE}\")",
             timer),
    Template("Queue trigger", "queue_trigger",
             f"a function run for each message of a storage queue (--queue-name, default "
             f"{DEFAULT_QUEUE}; --connection, default {DEFAULT_CONNECTION})", queue),
    Template("Durable Functions orchestrator", "hello_orchestrator",
             "an orchestrator with its HTTP starter (NAME_start) and activity (NAME_activity)",
             orchestrator, ("Durable Functions orchestration", "DurableFunctionsOrchestrator")),
    Template("Durable Functions entity", "counter",
             "a counter entity (operations add, reset, get)", entity,
             ("DurableFunctionsEntity",)),
    Template("Blueprint", "blueprint_http_trigger",
             "a new NAME_blueprint.py with an HTTP function, registered in function_app.py",
             blueprint, ("HTTP trigger blueprint",)),
)


def _key(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())


def find_template(name: str) -> Template | None:
    wanted = _key(name)
    for template in TEMPLATES:
        if wanted in {_key(n) for n in (template.name, *template.aliases)}:
            return template
    return None
