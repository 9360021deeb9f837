"""Which function to serve: the module, function name or source file, and the setting that named it.

The settings and their precedence are written once in ``pyfunc.config``'s docstring; the
accepted forms follow their origin: ``BP_FUNCTION`` as the VMware buildpack reads it
(``module.function``), ``-m``/``-f`` as the VMware invoker, ``--target``/``--source`` and
``FUNCTION_TARGET``/``FUNCTION_SOURCE`` as functions-framework (source default ``main.py``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Mapping

from .errors import ConfigError

_IDENTIFIER = r"[A-Za-z_][A-Za-z0-9_]*"
_BP_FUNCTION = re.compile(rf"^({_IDENTIFIER}(?:\.{_IDENTIFIER})*)\.({_IDENTIFIER})$")
_MODULE = re.compile(rf"^{_IDENTIFIER}(?:\.{_IDENTIFIER})*$")
_FUNCTION = re.compile(rf"^{_IDENTIFIER}$")

#: ``Config.origin`` values: which setting named the function.
FROM_FLAGS = "--target/--source"
FROM_FRAMEWORK_ENV = "FUNCTION_TARGET/FUNCTION_SOURCE"
FROM_VMWARE_FLAGS = "-m/-f"


def parse_bp_function(value: str, setting: str = "BP_FUNCTION") -> tuple[str, str]:
    """Split ``package.module.function`` into ``(module, function)``.

    Raises ConfigError for anything else (``x``, ``a..b``, ``../m.f``), naming ``setting``.
    """
    match = _BP_FUNCTION.match(value)
    if not match:
        raise ConfigError(
            f"{setting}={value!r} is not a function reference",
            detail="expected module.function: Python identifiers joined by single dots, e.g. func.main or pkg.handlers.main",
            fix=f"set {setting} to the module (relative to the app directory, dots for packages) and the function name",
        )
    return match.group(1), match.group(2)


def resolve_target(flags: Mapping[str, object], env: Mapping[str, str],
                   search_dir: Path) -> tuple[str | None, str | None, Path | None, str]:
    """``(module, function, source_file, origin)`` by the precedence in ``pyfunc.config``'s docstring.

    ``flags`` are the parsed CLI flags (absent ones left out), ``env`` the process environment,
    ``search_dir`` the resolved function directory. Raises ConfigError naming the setting.
    """
    if flags.get("module_name") or flags.get("function_name"):  # the VMware invoker's -m / -f
        module = str(flags.get("module_name") or "func")
        if not _MODULE.match(module):
            raise ConfigError(f"-m {module!r} is not a module name", fix="use a Python module name without .py, e.g. func")
        return module, _function_name(str(flags.get("function_name") or "main"), "-f"), None, FROM_VMWARE_FLAGS
    if flags.get("target") or flags.get("source"):
        default = search_dir / "main.py"  # functions-framework's default source, loaded as FF loads it
        return (None, _function_name(str(flags["target"]), "--target") if flags.get("target") else None,
                _source(str(flags["source"]), search_dir, "--source") if flags.get("source")
                else (default if default.is_file() else None),
                FROM_FLAGS)
    if env.get("BP_FUNCTION"):
        module, function = parse_bp_function(env["BP_FUNCTION"])
        return module, function, None, "BP_FUNCTION"
    if env.get("MODULE_NAME") or env.get("FUNCTION_NAME"):
        module = env.get("MODULE_NAME") or None
        if module is not None and not _MODULE.match(module):
            raise ConfigError(
                f"MODULE_NAME={module!r} is not a module name",
                fix="use a Python module name without .py, dots for packages (e.g. func or pkg.handlers)",
            )
        function = env.get("FUNCTION_NAME") or None
        if function is not None:
            _function_name(function, "FUNCTION_NAME")
        return module, function, None, "MODULE_NAME/FUNCTION_NAME"
    if env.get("FUNCTION_TARGET") or env.get("FUNCTION_SOURCE"):
        function = _function_name(env["FUNCTION_TARGET"], "FUNCTION_TARGET") if env.get("FUNCTION_TARGET") else None
        source = _source(env.get("FUNCTION_SOURCE") or "main.py", search_dir, "FUNCTION_SOURCE")
        return None, function, source, FROM_FRAMEWORK_ENV
    return None, None, None, "discovery"


def _function_name(value: str, setting: str) -> str:
    if not _FUNCTION.match(value):
        raise ConfigError(f"{setting}={value!r} is not a function name", fix="use a Python identifier, e.g. main")
    return value


def _source(value: str, search_dir: Path, setting: str) -> Path:
    try:
        path = (search_dir / value).resolve()
        found = path.is_file()
    except (OSError, ValueError):  # a NUL byte, a name too long
        path, found = search_dir / repr(value), False
    if not found:
        raise ConfigError(
            f"{setting}={value!r}: no such file {path}",
            fix=f"point {setting} at the .py file that defines your function, relative to {search_dir}",
        )
    return path
