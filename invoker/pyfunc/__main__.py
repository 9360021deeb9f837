"""``python -m pyfunc check|start``: validate a function, or serve it.

Flags of the seed (``-s DIR``), of the VMware function buildpack's invoker (``-m MODULE
-f FUNCTION`` and their long forms ``--module_name``, ``--function_name``, ``--search_path``)
and of the Functions Framework (``--target``, ``--source``,
``--signature-type``, ``--host``, ``--port``, ``--debug``) so either command line works.
Exit codes: 0 ok; 1 the function or configuration is wrong (message, no traceback);
3 the server did not start (e.g. the function's ``start()`` raised).
"""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING, Any

from .errors import PyfuncError

if TYPE_CHECKING:
    import argparse

#: The commands, with their help.
COMMANDS = {"check": "load the function and say how it will be served", "start": "serve the function"}

#: Every flag of both commands: (option strings, argparse keywords). Each names its ``dest`` and
#: defaults to None, so a command given alone needs no parser (``parse``).
FLAGS: tuple[tuple[tuple[str, ...], dict[str, Any]], ...] = (
    (("-s", "--search_path", "--search-path"), {"dest": "search_dir", "metavar": "DIR",
                                                 "help": "directory holding the function (default: .)"}),
    (("-m", "--module_name", "--module-name"), {"dest": "module_name", "metavar": "MODULE",
                                                 "help": "module defining the function (VMware invoker; default func, env MODULE_NAME)"}),
    (("-f", "--function_name", "--function-name"), {"dest": "function_name", "metavar": "FUNCTION",
                                                     "help": "function in that module (VMware invoker; default main, env FUNCTION_NAME)"}),
    (("--target",), {"dest": "target", "help": "function name (Functions Framework; env FUNCTION_TARGET)"}),
    (("--source",), {"dest": "source", "help": "file defining it, relative to DIR (env FUNCTION_SOURCE)"}),
    (("--signature-type",), {"dest": "signature_type", "help": "http, event, cloudevent or typed (env FUNCTION_SIGNATURE_TYPE)"}),
    (("--host",), {"dest": "host", "help": "address to listen on (env HOST)"}),
    (("--port",), {"dest": "port", "help": "port to listen on (env PORT; default 8080)"}),
    (("--debug",), {"dest": "debug", "action": "store_true", "default": None,
                    "help": "debug logs, and live reload outside an image (env DEBUG)"}),
    (("--asgi",), {"dest": "asgi", "action": "store_true", "default": None,
                   "help": "Functions Framework ASGI mode: Starlette requests (env FUNCTION_USE_ASGI)"}),
)


def parse(argv: list[str]) -> dict[str, Any]:
    """The command line as ``Config.load`` takes it: ``{"command": "check" | "start", dest: value
    or None for every flag}``. Exits 2 with argparse's usage message on a mistake.

    A command given alone (``start``, as the image's process type runs it) is read without
    argparse: importing it and building the parser (which imports ``shutil`` for the terminal
    width) cost about 8 ms of every cold start. Anything more goes through argparse."""
    if len(argv) == 1 and argv[0] in COMMANDS:
        return {"command": argv[0], **{options["dest"]: None for _, options in FLAGS}}
    return vars(_parser().parse_args(argv))


def _parser() -> argparse.ArgumentParser:
    import argparse

    from . import __version__

    parser = argparse.ArgumentParser(prog="python -m pyfunc", description="Serve a Python function over HTTP and CloudEvents.")
    parser.add_argument("--version", action="version", version=f"pyfunc {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="{check,start}")
    for name, text in COMMANDS.items():
        sub = commands.add_parser(name, help=text, description=text)
        for names, options in FLAGS:
            sub.add_argument(*names, **options)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    command = args["command"]
    from . import logs

    try:
        from .config import Config

        config = Config.load(args)
        logs.setup(config)
        if command == "start":
            from . import reload

            if reload.wanted(config.debug):  # --debug outside an image: restart on source changes
                return reload.supervise(sys.argv[1:] if argv is None else list(argv), config.search_dir)
        from .loader import load
        from .styles import Runner, resolve

        loaded = load(config)
        adapter = resolve(loaded, config, Runner(config.max_workers))
    except PyfuncError as exc:
        print(f"pyfunc {command}: FAILED\n{exc}", file=sys.stderr)
        return 1
    if command == "check":
        _report(loaded, adapter)
        return 0
    from .app import App
    from .server import serve

    try:
        serve(App(adapter, config), config)
    except PyfuncError as exc:
        print(f"pyfunc start: FAILED\n{exc}", file=sys.stderr)
        return 1
    return 0


def _report(loaded, adapter) -> None:
    target = adapter.target
    print("pyfunc check: OK")
    print(f"  module:   {loaded.name} ({loaded.path}; found by {loaded.origin})")
    print(f"  function: {target.name} ({target.where})")
    print(f"  style:    {adapter.style} ({adapter.reason})")
    print(f"  call:     {adapter.describe()}")


if __name__ == "__main__":
    logging.captureWarnings(True)
    sys.exit(main())
