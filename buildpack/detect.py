"""Detect: is the app dir a Python function? (Buildpack API 0.10, bin/detect; seed "Behaviour").

Passes when ``BP_FUNCTION`` or ``GOOGLE_FUNCTION_TARGET`` is set, or ``func.yaml`` names
runtime ``python``, or ``func.yaml`` names no runtime and Python source is present. Fails
(exit 100) otherwise, saying what it looked for.

Detect is a cheap probe, identical to the shell fallback ``bin/detect-sh`` used where the
build image has no python3 (Paketo base images): func.yaml is scanned for a top-level
``runtime:`` line by the same regular expression, never parsed, so a malformed func.yaml
is reported by build with its line, and detect stays fast (no YAML or schema import).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .context import Context

#: Must match bin/detect-sh's sed expression byte for byte in meaning.
RUNTIME_LINE = re.compile(rb"""^runtime:[ \t]*["']?([A-Za-z0-9_.-]*)["']?[ \t]*(#.*)?$""", re.M)
#: Where Python function source counts as present (bin/detect-sh globs the same).
SOURCE_GLOBS = ("*.py", "function/*.py", "fn/*.py")
#: A Poetry project (Paketo poetry-install provides poetry-venv for it); bin/detect-sh greps the same.
POETRY_TABLE = re.compile(rb"^\[tool\.poetry", re.M)
#: The largest func.yaml build reads (funcyaml.MAX_BYTES); detect reads no more of it.
MAX_FUNC_YAML = 1024 * 1024
MAX_PYPROJECT = 8 * 1024 * 1024
#: Settings that name a function outright.
FUNCTION_SETTINGS = ("BP_FUNCTION", "GOOGLE_FUNCTION_TARGET")


@dataclass(frozen=True)
class DetectResult:
    """``passed`` (exit 0) or not (exit 100), and ``reason`` for the log."""

    passed: bool
    reason: str


def detect(ctx: Context) -> DetectResult:
    for name in FUNCTION_SETTINGS:
        if ctx.is_set(name):
            return DetectResult(True, f"{name} is set")
    func_yaml = ctx.app_dir / "func.yaml"
    if not func_yaml.is_file():
        return DetectResult(False, "not a Python function: no BP_FUNCTION, no GOOGLE_FUNCTION_TARGET, no func.yaml (to build this directory as a function, add a func.yaml with the line runtime: python, or set BP_FUNCTION=module.function)")
    runtime = runtime_of(func_yaml)
    if runtime == "python":
        return DetectResult(True, "func.yaml runtime is python")
    if runtime:
        return DetectResult(False, f"func.yaml runtime is {runtime!r}, not python")
    if has_python_source(ctx):
        return DetectResult(True, "func.yaml names no runtime and Python source is present")
    return DetectResult(False, f"func.yaml names no runtime and no Python source matches {', '.join(SOURCE_GLOBS)}")


def runtime_of(func_yaml) -> str:
    """The value of the first top-level ``runtime:`` line, or '' (absent, empty, unreadable)."""
    try:
        with open(func_yaml, "rb") as stream:  # at most the size build accepts: never a huge file whole
            match = RUNTIME_LINE.search(stream.read(MAX_FUNC_YAML + 1))
    except OSError:
        return ""
    return match.group(1).decode("ascii") if match else ""


def has_root_requirements(ctx: Context) -> bool:
    """Whether Paketo pip-install would provide site-packages: every file of ``BP_PIP_REQUIREMENT``
    (space-separated, relative to the app dir) exists, or requirements.txt when it is unset
    (pip-install's detect.go reads the same setting)."""
    names = ctx.raw_setting("BP_PIP_REQUIREMENT").split() or ["requirements.txt"]
    try:
        return all((ctx.app_dir / name).is_file() for name in names)
    except (OSError, ValueError):  # a name too long for the file system, or holding NUL: no such file
        return False


def is_poetry_project(app_dir) -> bool:
    path = app_dir / "pyproject.toml"
    try:
        if not path.is_file():  # a FIFO would block
            return False
        with open(path, "rb") as stream:  # at most what build reads of it (requirements.MAX_BYTES)
            return bool(POETRY_TABLE.search(stream.read(MAX_PYPROJECT + 1)))
    except OSError:
        return False


def has_python_source(ctx: Context) -> bool:
    """True when a non-hidden file matches one of ``SOURCE_GLOBS`` (as the shell's globs do)."""
    return any(
        path.is_file() and not path.name.startswith(".")
        for pattern in SOURCE_GLOBS
        for path in ctx.app_dir.glob(pattern)
    )
