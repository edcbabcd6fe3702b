"""`func-py`: the command line, mirroring Core Tools' `func` where the two overlap."""

from __future__ import annotations

import argparse
import asyncio
import errno
import os
import socket
import sys
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from funcpy.host import __version__
from funcpy.host.banner import WORKER_READY, banner, host_lock_line
from funcpy.host.config import HostConfig, build_config
from funcpy.host.debugging import plan_debugging, start_debugger, wait_for_client
from funcpy.host.durable_sdk import import_durable_sdk, warm_up
from funcpy.host.errors import AppLoadError, FuncPyError
from funcpy.host.json_output import open_json_output
from funcpy.host.logs import flush_logs, log, setup_logging
from funcpy.host.start_flags import (
    add_start_arguments,
    ignored_flags,
    normalize_argv,
    user_log_level,
)
from funcpy.host.tls import TlsFiles, prepare_tls
from funcpy.host.workers import Worker, become
from funcpy.host.workers import current as current_worker

if TYPE_CHECKING:
    from funcpy.host.runtime import Runtime

_T0 = time.perf_counter()


def _start_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("start", help="run the app in the current folder (like `func start`)")
    add_start_arguments(p)
    # `func host start` is the same command (VS Code's tasks run it).
    host = sub.add_parser("host", help="`func-py host start`: the same as `func-py start`")
    host_sub = host.add_subparsers(dest="host_command", required=True)
    add_start_arguments(host_sub.add_parser("start", help="the same as `func-py start`"))


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="func-py", description="Run Azure Functions Python apps without .NET or Core Tools.")
    parser.add_argument("--version", action="version", version=f"func-py {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    _start_parser(sub)
    given = normalize_argv(sys.argv[1:] if argv is None else argv)
    # The other commands' modules (httpx, the templates) cost ~70 ms of imports that a start,
    # whose time to first 200 counts, never uses.
    if next((w for w in given if not w.startswith("-")), None) not in ("start", "host"):
        from funcpy.host.durable_cli import add_durable_parser
        from funcpy.host.init_cmd import add_init_parser
        from funcpy.host.queue_cli import add_queue_parser
        from funcpy.host.scaffold_cli import add_scaffold_parsers

        add_durable_parser(sub)
        add_init_parser(sub)
        add_scaffold_parsers(sub)  # `new` and `templates`
        add_queue_parser(sub)
    args = parser.parse_args(given)
    args.argv = given  # worker processes run the same command line (host/supervisor.py)
    return args


def _bind(config: HostConfig, *, reuse_port: bool = False, listen: bool = True
          ) -> socket.socket:
    """The listening socket. Worker processes (host/workers.py) each bind one with
    SO_REUSEPORT; their supervisor binds one too but does not listen on it, which holds the
    port and reports a port in use before any worker starts."""
    family = socket.AF_INET6 if ":" in config.address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    # Accepted connections inherit this on Linux. uvicorn sets it only on sockets it binds
    # itself; without it a keep-alive response meets Nagle + delayed ACK (about 40 ms each).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((config.address, config.port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise FuncPyError(
                f"Port {config.port} is unavailable. Close the process using that port, or "
                "specify another port using --port [-p].") from None
        raise FuncPyError(f"cannot listen on {config.address}:{config.port}: {exc.strerror}") \
            from None
    if listen:
        sock.listen(2048)
        sock.set_inheritable(True)
    return sock


def start(args: argparse.Namespace) -> int:
    level, level_warning = user_log_level(args)
    worker = Worker.from_environ(os.environ)  # set when a supervisor started this process
    become(worker)
    environ = dict(os.environ)  # as given: worker processes apply the settings themselves
    config = build_config(
        app_dir=args.script_root, port=args.port, address=args.address, cors=args.cors,
        cors_credentials=bool(args.cors_credentials), functions=args.functions,
        verbose=bool(args.verbose), enable_auth=bool(args.enable_auth), reload=args.reload,
        production=args.production, use_https=bool(args.use_https), user_log_level=level,
        json_output=bool(args.enable_json_output), json_output_file=args.json_output_file,
        workers=args.workers,
    )
    _setup_logging(config)
    if worker is not None:
        worker.tag_log_lines()
    else:  # the supervisor (or the single host) says these once
        _say_flags(args, level_warning)
        for key in config.skipped_settings:
            log.warning("Skipping '%s' from local settings as it's already defined in current "
                        "environment variables.", key)
    debug = plan_debugging(args.debug, args.debug_wait, production=config.production,
                           environ=os.environ, local_values=config.local_settings.values)
    if debug is not None and config.workers > 1:
        raise FuncPyError(
            f"--debug cannot be used with {config.workers} worker processes (--workers or "
            "FUNCTIONS_WORKER_PROCESS_COUNT): a debugger attaches to one process, so only some "
            "requests would stop at breakpoints. Debug with --workers 1.")
    if config.production:
        _require_keys()
    if worker is None and config.workers > 1:
        return _supervise(config, args.argv, environ)
    tls = prepare_tls(args.cert, args.password, config.app_dir) if config.use_https else None
    if tls is not None and (worker is None or worker.index == 0):
        log.info("HTTPS with %s.", tls.description)
    if worker is not None:
        config.port = worker.port  # the supervisor's, which --port 0 had the OS pick
    sock = _bind(config, reuse_port=worker is not None)
    if config.port == 0 or worker is not None:  # --port 0: the OS picks a free port
        config.port = sock.getsockname()[1]
        os.environ["WEBSITE_HOSTNAME"] = f"localhost:{config.port}"
    # Before the app is imported, and before any thread that runs user code starts.
    if debug is not None:
        debug = start_debugger(debug)
    if not config.production and worker is None:
        log.info("%s", WORKER_READY)  # after the debugger listens: VS Code attaches on it
    if debug is not None and debug.wait:
        wait_for_client(debug)

    import_durable_sdk()
    from funcpy.host.runtime import Runtime

    runtime = Runtime(config)
    if worker is not None and not worker.runs_engine(runtime):
        worker.serve_only(runtime)
    if not config.production:  # production loads the app once health checks can answer
        _load_for_development(runtime)
    try:
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            return runner.run(_serve(runtime, sock, tls))
    finally:
        if tls is not None:
            tls.remove()


def _supervise(config: HostConfig, argv: list[str], environ: dict[str, str]) -> int:
    """N worker processes on one port (host/supervisor.py); this process only watches them."""
    # A plain bind first: SO_REUSEPORT alone would let this host share the port with another
    # one that has workers, rather than say the port is in use.
    probe = _bind(config)
    config.port = probe.getsockname()[1]
    probe.close()
    sock = _bind(config, reuse_port=True, listen=False)
    if not config.production:
        log.info("%s", WORKER_READY)
    from funcpy.host.supervisor import Supervisor

    return Supervisor(config, sock, argv, environ, _T0).run()


def _setup_logging(config: HostConfig) -> None:
    json_file = None
    if config.json_output_file is not None:
        try:
            json_file = open_json_output(str(config.json_output_file))
        except OSError as exc:
            raise FuncPyError(f"Cannot open --json-output-file {config.json_output_file}: "
                              f"{exc.strerror or exc}") from None
    if config.user_log_level and not os.environ.get("PYTHON_ENABLE_DEBUG_LOGGING"):
        # As Core Tools does: the worker sends every record, and the flag picks what shows.
        os.environ["PYTHON_ENABLE_DEBUG_LOGGING"] = "1"
    setup_logging(config.host_json.log_levels, verbose=config.verbose,
                  json_lines=config.json_output, json_file=json_file,
                  user_log_level=config.user_log_level)


def _load_for_development(runtime: Runtime) -> None:
    try:
        runtime.load_initial()
    except AppLoadError as exc:
        if not runtime.is_functions_project():
            raise  # no app here at all: Core Tools refuses to start too
        runtime.load_failed(exc)  # the host stays up, as the Functions host does
    _print_banner(runtime)


def _print_banner(runtime: Runtime) -> None:
    worker = current_worker()
    if worker is None or worker.index == 0:  # once, not once per worker process
        print(banner(runtime), flush=True)


def _say_flags(args: argparse.Namespace, level_warning: str | None) -> None:
    if level_warning:
        log.warning("%s", level_warning)
    ignored = ignored_flags(args)
    if ignored:
        log.info("Core Tools flags accepted with no effect in func-py: %s.", ", ".join(ignored))
    if args.cert and not args.use_https:
        log.warning("--cert has no effect without --useHttps (as in Core Tools).")


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop when installed (uvicorn[standard] brings it), as `uvicorn.run` would pick."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def _require_keys() -> None:
    """Production enforces keys: with none at all, /admin, the durable API and every
    function-level route would refuse everyone, so refuse to start instead; and a short or
    blank key (a placeholder) would open the app to anyone, so refuse that too."""
    from funcpy.host.auth import KeyRing, require_strong_keys
    from funcpy.host.secrets import NO_KEYS_MESSAGE

    if KeyRing.from_settings(os.environ).empty:  # also reads (and checks) a secrets file
        raise FuncPyError(NO_KEYS_MESSAGE)
    require_strong_keys(os.environ)


async def _serve(runtime: object, sock: socket.socket, tls: TlsFiles | None = None) -> int:
    import uvicorn
    from funcpy.host.http_limits import HeadLimits
    from funcpy.host.reload import ReloadWatcher
    from funcpy.host.runtime import Runtime
    from funcpy.host.server import HostApp, build_asgi
    from funcpy.host.serving import draining_server_class, http_protocol
    from funcpy.host.stopping import Stopping, exit_now

    assert isinstance(runtime, Runtime)
    config = runtime.config
    from funcpy.triggers.durable_client import api_routes

    host_app = HostApp(runtime, extra_routes=api_routes(runtime), load_app=config.production)
    watcher: ReloadWatcher | None = None

    async def started() -> None:
        nonlocal watcher
        from funcpy.host.diagnostics import install

        install(asyncio.get_running_loop())  # kill -USR1: what every task awaits
        if any(b.get("type") == "durableClient" for fn in runtime.index.functions.values()
               for b in fn.bindings):
            warm_up()  # the SDK client's aiohttp, deferred by import_durable_sdk
        if config.reload:  # even with no app loaded: the edit that fixes it loads it
            watcher = ReloadWatcher(config.app_dir, reload, asyncio.get_running_loop())
            watcher.start()
        if config.production:
            log.info("Functions loaded: %s.", ", ".join(sorted(runtime.index.functions)) or "none")
            from funcpy.host.init_cmd import read_only_notice

            if (notice := read_only_notice(config.app_dir, config.data_dir)) is not None:
                log.warning("%s", notice)
        worker = current_worker()
        if worker is not None:  # the supervisor says "Host started" once they all serve
            log.info("Worker process %d started in %dms (pid %d).", worker.index,
                     (time.perf_counter() - _T0) * 1000, os.getpid())
            flush_logs()  # this line first, then the supervisor's "Host started"
            worker.ready()
            return
        log.info("Host started in %dms: %s/ (hot reload %s). Press Ctrl+C to stop.",
                 (time.perf_counter() - _T0) * 1000, config.base_url,
                 "on" if config.reload else "off")
        if not config.production:
            log.info("%s", host_lock_line())

    async def reload(reason: str) -> bool:
        first = not runtime.loaded
        done = await runtime.reload(reason)
        if done and first:  # the app loads for the first time: list its functions, as at start
            _print_banner(runtime)
        return done

    async def stop_watching() -> None:
        if watcher is not None:
            watcher.stop()

    host_app.on_startup.append(started)
    host_app.on_shutdown.append(stop_watching)
    host_app.on_failure.append(lambda reason: setattr(server, "should_exit", True))
    limits = HeadLimits.from_env()
    stopping = Stopping(config.drain_seconds, runtime.invoker)
    server = draining_server_class()(uvicorn.Config(
        build_asgi(runtime, host_app), lifespan="on", access_log=False, log_config=None,
        server_header=False, http=http_protocol(limits),
        # Functions' HTTP triggers have no WebSockets (an upgrade is served as plain HTTP);
        # uvicorn's websocket protocol would cost its import at every start.
        ws="none", h11_max_incomplete_event_size=limits.max_bytes,
        ssl_certfile=tls.path if tls is not None else None,
    ), host_app, stopping, limits)
    rpc = None
    if tls is not None:
        server.config.load()  # reads the key and chain into the SSL context...
        tls.remove()  # ...so the file with the private key need not outlive this line
        from funcpy.host.rpc_listener import RpcListener
        from funcpy.host.taskhub.api_requests import PREFIX
        from funcpy.triggers.durable_client import RPC_SEGMENT

        # The durable client calls back over plain HTTP (see host/rpc_listener.py).
        rpc = RpcListener(server.config.loaded_app, f"{PREFIX}/{RPC_SEGMENT}/")
        runtime.rpc_port = rpc.port
        await rpc.start()
    try:
        await server.serve(sockets=[sock])
    finally:
        if rpc is not None:
            await rpc.stop()
    runtime.invoker.shutdown()
    code = 0 if server.started and host_app.failure is None else 1
    if stopping.exit_code:
        code = stopping.exit_code
    if runtime.invoker.running():
        # A sync function still in its thread: the interpreter would join it at exit, for as
        # long as it takes. The drain has already said what it cuts off.
        exit_now(code)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        if args.command == "start" or (args.command == "host"
                                       and args.host_command == "start"):
            return start(args)
        if args.command == "init":
            from funcpy.host.init_cmd import run as init

            return init(args)
        if args.command in ("new", "templates"):
            from funcpy.host.scaffold_cli import run as scaffold

            return scaffold(args)
        if args.command == "durable":
            from funcpy.host.durable_cli import run

            return run(args)
        if args.command == "queue":
            from funcpy.host.queue_cli import run as run_queue

            return run_queue(args)
    except FuncPyError as exc:
        first, _, rest = str(exc).partition("\n")
        if rest:
            print(rest, file=sys.stderr)
        print(f"func-py: error: {first}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 2


if __name__ == "__main__":
    sys.exit(main())
