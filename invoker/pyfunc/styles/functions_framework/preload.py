"""What must be in place while the user's module is imported, as functions-framework has it.

functions-framework 3.10.2 (``create_app``) sets ``FUNCTION_TARGET`` in the environment,
creates the Flask app, points ``functions_framework.errorhandler`` at that app's
``errorhandler`` and executes the module inside the app's context, so module-level code may
use ``flask.current_app`` and register ``@functions_framework.errorhandler(...)`` handlers.

pyfunc does the same without importing Flask for modules that never import it: while the
module loads, an import hook waits for ``flask`` (then the app is made and its context
pushed) and ``functions_framework`` (then its ``errorhandler`` is the app's). The app is
kept for the Functions Framework adapter (``app()``); other styles never use it.
"""

from __future__ import annotations

import contextlib
import importlib.machinery
import os
import sys
from pathlib import Path
from typing import Any, Callable, Iterator

from ...config import FROM_FLAGS, FROM_FRAMEWORK_ENV, Config

_state: dict[str, Any] = {"app": None, "context": None, "config": None}


def app(config: Config | None = None) -> Any:
    """The Flask app of this process (made on first use): named after the function, with
    ``templates/`` next to the source as its template folder, as functions-framework names it."""
    if _state["app"] is None:
        import flask

        config = config or _state["config"]
        source = (config.source_file or config.search_dir / "main.py") if config else Path("main.py")
        name = (config.function if config else None) or "function"
        _state["app"] = flask.Flask(name, template_folder=str(Path(source).parent / "templates"))
        _state["app"].json = _safe_json_provider()(_state["app"])  # too deeply nested JSON: 400, as malformed
    return _state["app"]


def _safe_json_provider() -> type:
    """Flask's JSON provider whose ``loads`` turns a RecursionError (JSON nested deeper than the
    decoder goes) into ``JSONTooDeep``, a ValueError, so ``get_json`` answers 400 as for any
    malformed body."""
    from flask.json.provider import DefaultJSONProvider

    from ...http import JSONTooDeep

    class SafeJSONProvider(DefaultJSONProvider):
        def loads(self, s: str | bytes, **kwargs: Any) -> Any:
            try:
                return super().loads(s, **kwargs)
            except RecursionError:
                raise JSONTooDeep("JSON nested too deeply to decode (more than about 1000 levels)") from None

    return SafeJSONProvider


def _flask_loaded(module: Any) -> None:
    if _state["context"] is None:
        _state["context"] = app().app_context()
        _state["context"].push()


def _framework_loaded(module: Any) -> None:
    _flask_loaded(None)
    module.errorhandler = app().errorhandler


WATCHED: dict[str, Callable[[Any], None]] = {"flask": _flask_loaded, "functions_framework": _framework_loaded}


class _Hook:
    """Runs ``WATCHED[name](module)`` right after ``name`` is first imported.

    A meta path finder by the protocol alone (``find_spec``, PEP 451), not a subclass of
    ``importlib.abc.MetaPathFinder``: importing ``importlib.abc`` brings ``importlib.resources``,
    ``tempfile`` and ``shutil``, about 6 ms of every cold start."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        done = WATCHED.get(name)
        if done is None:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        run = spec.loader.exec_module

        def exec_module(module: Any) -> None:
            run(module)
            done(module)

        spec.loader.exec_module = exec_module  # this spec's loader instance only
        return spec


@contextlib.contextmanager
def loading(config: Config) -> Iterator[None]:
    """Around the import of the user's module: the hook installed, ``FUNCTION_TARGET`` set
    when the Functions Framework's settings named the function."""
    _state["config"] = config
    if config.function and config.origin in (FROM_FLAGS, FROM_FRAMEWORK_ENV):
        os.environ["FUNCTION_TARGET"] = config.function
    for name in WATCHED:
        if name in sys.modules:
            WATCHED[name](sys.modules[name])
    hook = _Hook()
    sys.meta_path.insert(0, hook)
    try:
        yield
    finally:
        sys.meta_path.remove(hook)
        if _state["context"] is not None:
            _state["context"].pop()
            _state["context"] = None
