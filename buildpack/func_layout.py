"""func build's Python layout: the user's code moved to ``fn/``, func's glue at the app root.

For a Python function, ``func build`` (knative/func v0.49: pkg/buildpacks scaffolder.go and
builder.go) writes scaffolding into ``.func/build/`` and adds an inline pre-buildpack whose build
step moves every entry of the app dir but ``func.yaml``, ``.func``, ``.git`` and ``.gitignore``
into ``fn/``, moves the scaffolding to the root and links ``f -> fn``. The root then holds a
``pyproject.toml`` of project ``service`` depending on the middleware (``func-python==0.8.1``)
and on the function as a direct reference (``function @ ./f``, ``{root:uri}/f`` before func
patches it for Poetry), ``service/main.py`` and a ``Procfile`` (``web: python -m service.main``).

The layout is recognised by that shape: a root project that depends on func-python and, by a
local direct reference, on a directory that is (or links to) ``fn/``. Its function is served
from ``fn/`` and only ``fn/``'s dependencies are installed: the glue's requirements are func's
runtime, which the invoker replaces, and pip cannot install ``function @ ./f`` anyway.
At detect time the pre-buildpack has not run yet: the app is still the function's own project
with the scaffolding waiting in ``.func/build/``, served as it is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

#: The distribution of func's Python middleware, which the glue project depends on.
MIDDLEWARE = "func-python"
#: Where func moves the user's code.
FUNCTION_DIR = "fn"
#: A PEP 508 direct reference: name, optional extras, "@", location.
_DIRECT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*@\s*(\S+?)\s*(?:;.*)?$")
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


@dataclass(frozen=True)
class FuncLayout:
    """A recognised func build layout: ``source`` (the function's dir, ``fn/``) and the glue's
    direct reference to it (``reference``, e.g. ``function @ ./f``), for the build log."""

    source: Path
    reference: str


def recognise(app_dir: Path, dependencies_of: Callable[[Path], list[str]]) -> FuncLayout | None:
    """The func build layout of ``app_dir``, or None when the app is not in that shape.

    ``dependencies_of(pyproject_path)`` returns ``[project].dependencies`` (the build's TOML
    reader, which raises BuildpackError for a broken file).
    """
    moved = app_dir / FUNCTION_DIR
    pyproject = app_dir / "pyproject.toml"
    if not moved.is_dir() or not pyproject.is_file():
        return None
    dependencies = dependencies_of(pyproject)
    if not any(_normalise(match.group(1)) == MIDDLEWARE for d in dependencies if (match := _NAME.match(d))):
        return None
    for dependency in dependencies:
        match = _DIRECT.match(dependency)
        if match and _points_at(app_dir, match.group(2), moved):
            return FuncLayout(moved, dependency.strip())
    return None


def _points_at(app_dir: Path, location: str, moved: Path) -> bool:
    """Whether a direct reference's location is ``moved`` (through a symlink such as ``f -> fn``)."""
    for prefix in ("{root:uri}/", "file://", "file:"):
        if location.startswith(prefix):
            location = location[len(prefix):]
            break
    if location.startswith("/") or "://" in location:
        return False
    try:
        return (app_dir / location).resolve() == moved.resolve()
    except (OSError, RuntimeError):  # a symlink loop
        return False


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()
