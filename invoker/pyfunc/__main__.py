"""``python -m pyfunc check|start``: validate a function, or serve it.

Flags of the seed (``-s DIR``), of the VMware function buildpack's invoker (``-m MODULE
-f FUNCTION`` and their long forms ``--module_name``, ``--function_name``, ``--search_path``)
and of the Functions Framework (``--target``, ``--source``,
``--signature-type``, ``--host``, ``--port``, ``--debug``) so either command line works.
Exit codes: 0 ok; 1 the function or configuration is wrong (message, no traceback);
3 the server did not start (e.g. the function's ``start()`` raised).
"""

from __future__ import annotations

import argparse
import logging
import sys

from .errors import PyfuncError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pyfunc", description="Serve a Python function over HTTP and CloudEvents.")
    from . import __version__

    parser.add_argument("--version", action="version", version=f"pyfunc {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="{check,start}")
    for name, text in (("check", "load the function and say how it will be served"),
                       ("start", "serve the function")):
        sub = commands.add_parser(name, help=text, description=text)
        sub.add_argument("-s", "--search_path", "--search-path", dest="search_dir", metavar="DIR",
                         help="directory holding the function (default: .)")
        sub.add_argument("-m", "--module_name", "--module-name", dest="module_name", metavar="MODULE",
                         help="module defining the function (VMware invoker; default func, env MODULE_NAME)")
        sub.add_argument("-f", "--function_name", "--function-name", dest="function_name", metavar="FUNCTION",
                         help="function in that module (VMware invoker; default main, env FUNCTION_NAME)")
        sub.add_argument("--target", help="function name (Functions Framework; env FUNCTION_TARGET)")
        sub.add_argument("--source", help="file defining it, relative to DIR (env FUNCTION_SOURCE)")
        sub.add_argument("--signature-type", dest="signature_type", help="http, event, cloudevent or typed (env FUNCTION_SIGNATURE_TYPE)")
        sub.add_argument("--host", help="address to listen on (env HOST)")
        sub.add_argument("--port", help="port to listen on (env PORT; default 8080)")
        sub.add_argument("--debug", action="store_true", default=None,
                         help="debug logs, and live reload outside an image (env DEBUG)")
        sub.add_argument("--asgi", action="store_true", default=None,
                         help="Functions Framework ASGI mode: Starlette requests (env FUNCTION_USE_ASGI)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from . import logs

    try:
        from .config import Config

        config = Config.load(vars(args))
        logs.setup(config)
        if args.command == "start":
            from . import reload

            if reload.wanted(config.debug):  # --debug outside an image: restart on source changes
                return reload.supervise(sys.argv[1:] if argv is None else list(argv), config.search_dir)
        from .loader import load
        from .styles import Runner, resolve

        loaded = load(config)
        adapter = resolve(loaded, config, Runner(config.max_workers))
    except PyfuncError as exc:
        print(f"pyfunc {args.command}: FAILED\n{exc}", file=sys.stderr)
        return 1
    if args.command == "check":
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
