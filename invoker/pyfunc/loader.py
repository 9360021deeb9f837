"""Import the user's module from the function directory, turning every failure into a LoadError.

Errors tell "your target is wrong" apart from "your code is broken" apart from "a dependency
is missing" (after uvicorn's importer), and point at file:line inside the function directory.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from .config import Config
from .errors import LoadError

#: Where each style keeps its code when nothing names the module: (module, file that marks it).
#: Order matters: the first whose file exists is imported.
DISCOVERY: tuple[tuple[str, str], ...] = (
    ("func", "func.py"),                          # pyfunc (seed python-function-buildpack)
    ("function", "function/__init__.py"),         # Knative func package (new() or handle)
    ("function.handler", "function/handler.py"),  # handler template handle(logger, request)
    ("main", "main.py"),                          # Functions Framework default source
)


#: Modules only a newer major version of a package the invoker brings has: the requirement to add.
NEWER_API = {"cloudevents.core": '"cloudevents>=2,<3" (the cloudevents 2.x API)'}


@dataclass(frozen=True)
class LoadedModule:
    """A user module and how it was found: ``name`` (dotted), ``path`` (its file), ``origin``."""

    module: ModuleType
    name: str
    path: Path
    origin: str


def load(config: Config) -> LoadedModule:
    """Import the module ``config`` names, or the first of ``DISCOVERY`` present.

    ``search_dir`` goes first on ``sys.path`` so that the function's own modules and
    packages (and relative imports inside them) resolve. Raises LoadError.
    """
    from .styles.functions_framework.preload import loading  # flask.current_app, errorhandler at import

    with loading(config):
        return _load(config)


def _load(config: Config) -> LoadedModule:
    search = str(config.search_dir)
    if search not in sys.path:
        sys.path.insert(0, search)
    if config.source_file is not None:
        return _load_file(config.source_file, config.origin)
    if config.module is not None:
        return _import(config.module, config.search_dir, config.origin)
    for name, marker in DISCOVERY:
        if (config.search_dir / marker).is_file():
            loaded = _import(name, config.search_dir, f"discovery ({marker})")
            if name == "function" and not _serves_itself(loaded, config.search_dir):
                continue  # a handler-template package: its code is in function/handler.py
            return loaded
    looked = ", ".join(marker for _, marker in DISCOVERY)
    raise LoadError(
        f"No function source found in {config.search_dir}",
        detail=f"looked for: {looked}",
        fix="add func.py with a main() function, or set BP_FUNCTION=module.function "
        "(or MODULE_NAME and FUNCTION_NAME) to point at your code",
    )


def _serves_itself(loaded: LoadedModule, search_dir: Path) -> bool:
    """A ``function/`` package is the Knative layout unless it only wraps ``handler.py``."""
    exports = any(hasattr(loaded.module, name) for name in ("new", "handle", "main"))
    return exports or not (search_dir / "function" / "handler.py").is_file()


def _import(name: str, search_dir: Path, origin: str) -> LoadedModule:
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and (name == exc.name or name.startswith(exc.name + ".")):
            relative = name.replace(".", "/")
            raise LoadError(
                f"Module {name!r} not found in {search_dir}",
                detail=f"looked for {relative}.py and {relative}/__init__.py (named by {origin})",
                fix="create that file, or point MODULE_NAME / BP_FUNCTION at the module that defines your function",
            ) from None
        raise _code_error(exc, name, search_dir) from None
    except BaseException as exc:  # user code may raise anything while importing, even SystemExit
        raise _code_error(exc, name, search_dir) from None
    path = Path(getattr(module, "__file__", None) or search_dir / name)
    return LoadedModule(module, name, path, origin)


def _load_file(path: Path, origin: str) -> LoadedModule:
    name = path.stem
    parent = str(path.parent)
    if parent not in sys.path:
        sys.path.insert(0, parent)
    # A package rooted at the file's directory, as functions-framework loads its source:
    # ``from .helper import x`` in main.py imports helper.py next to it.
    spec = importlib.util.spec_from_file_location(name, path, submodule_search_locations=[parent])
    if spec is None or spec.loader is None:
        raise LoadError(f"Cannot load {path} as Python source", fix="point --source at a .py file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException as exc:
        sys.modules.pop(name, None)
        raise _code_error(exc, name, path.parent) from None
    return LoadedModule(module, name, path, origin)


def _code_error(exc: BaseException, name: str, search_dir: Path) -> LoadError:
    """A LoadError for an exception raised while importing the user's code."""
    if isinstance(exc, SyntaxError):
        where = f"{_relative(exc.filename, search_dir)}:{exc.lineno}"
        text = (exc.text or "").rstrip("\n")
        caret = " " * max((exc.offset or 1) - 1 - (len(text) - len(text.lstrip())), 0) + "^"
        detail = f"{where}: {exc.msg}\n    {text.strip()}\n    {caret}" if text else f"{where}: {exc.msg}"
        return LoadError(f"Syntax error in module {name!r}", detail=detail, fix=f"correct the code at {where}")
    where = _user_frame(exc, search_dir)
    if isinstance(exc, ModuleNotFoundError):
        requirement = NEWER_API.get(exc.name or "")
        return LoadError(
            f"Module {name!r} imports {exc.name!r}, which is not installed",
            detail=f"at {where}" if where else "",
            fix=f"add {requirement} to your dependencies (the image otherwise has an older major version)" if requirement
            else f"add the distribution that provides {exc.name!r} to requirements.txt (or pyproject.toml dependencies)",
        )
    return LoadError(
        f"Importing module {name!r} raised {type(exc).__name__}: {exc}",
        detail=f"at {where}" if where else "",
        fix="module-level code runs at build time (pyfunc check) and at start: make it run without error",
    )


def _user_frame(exc: BaseException, search_dir: Path) -> str:
    """``file:line`` of the innermost traceback frame inside ``search_dir``, or ''."""
    found = ""
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename.startswith(str(search_dir)):
            found = f"{_relative(frame.filename, search_dir)}:{frame.lineno}"
    return found


def _relative(filename: str | None, search_dir: Path) -> str:
    if not filename:
        return "<unknown>"
    try:
        return str(Path(filename).relative_to(search_dir))
    except ValueError:
        return filename
