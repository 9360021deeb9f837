"""Which function the image serves: BP_FUNCTION, else func.yaml's MODULE_NAME/FUNCTION_NAME.

Seed python-function-buildpack: ``BP_FUNCTION=module.function`` overrides the func.yaml
envs. The result is written as launch env *defaults*, so deploy-time env still wins.
"""

from __future__ import annotations

import re
from typing import Callable

from .errors import BuildpackError

_IDENTIFIER = r"[A-Za-z_][A-Za-z0-9_]*"
#: Same grammar as the invoker's pyfunc.config.parse_bp_function.
BP_FUNCTION = re.compile(rf"^({_IDENTIFIER}(?:\.{_IDENTIFIER})*)\.({_IDENTIFIER})$")


def parse_bp_function(value: str) -> tuple[str, str]:
    """``(module, function)`` of a BP_FUNCTION value. Raises BuildpackError for ``x``, ``a..b``, ``../m.f``."""
    match = BP_FUNCTION.match(value.strip())
    if not match:
        raise BuildpackError(
            f"BP_FUNCTION={value!r} is not a function reference",
            detail="expected module.function: Python identifiers joined by single dots, e.g. func.main or pkg.handlers.main",
            fix="set BP_FUNCTION (pack build --env BP_FUNCTION=func.main) to the module, relative to the app "
            "directory with dots for packages, and the function name",
        )
    return match.group(1), match.group(2)


#: GCP build settings and the launch env the invoker reads for them (issue: function styles).
GOOGLE_SETTINGS = {
    "GOOGLE_FUNCTION_TARGET": "FUNCTION_TARGET",
    "GOOGLE_FUNCTION_SOURCE": "FUNCTION_SOURCE",
    "GOOGLE_FUNCTION_SIGNATURE_TYPE": "FUNCTION_SIGNATURE_TYPE",
}
SIGNATURE_TYPES = ("http", "event", "cloudevent", "typed")


def google_defaults(setting: Callable[[str], str | None]) -> dict[str, str]:
    """FUNCTION_* launch defaults from the GOOGLE_FUNCTION_* build settings. Raises BuildpackError."""
    defaults = {}
    for name, launch_name in GOOGLE_SETTINGS.items():
        value = setting(name)
        if value is None:
            continue
        value = value.strip()
        if name == "GOOGLE_FUNCTION_TARGET" and not re.fullmatch(_IDENTIFIER, value):
            raise BuildpackError(f"{name}={value!r} is not a function name", fix=f"set {name} to a Python identifier")
        if name == "GOOGLE_FUNCTION_SIGNATURE_TYPE" and value not in SIGNATURE_TYPES:
            raise BuildpackError(f"{name}={value!r} is not a signature type", fix=f"use one of {', '.join(SIGNATURE_TYPES)}")
        if name == "GOOGLE_FUNCTION_SOURCE" and (value.startswith("/") or ".." in value.split("/") or not value.endswith(".py")):
            raise BuildpackError(f"{name}={value!r} is not a .py file inside the app", fix="use a relative path such as main.py")
        defaults[launch_name] = value
    return defaults


def launch_defaults(bp_function: str | None, envs: dict[str, str]) -> tuple[dict[str, str], str]:
    """The MODULE_NAME/FUNCTION_NAME launch defaults and a description of where they came from."""
    if bp_function:
        module, function = parse_bp_function(bp_function)
        return {"MODULE_NAME": module, "FUNCTION_NAME": function}, f"{module}.{function} (from BP_FUNCTION)"
    named = {k: envs[k] for k in ("MODULE_NAME", "FUNCTION_NAME") if envs.get(k)}
    if named:
        shown = f"{named.get('MODULE_NAME', 'func')}.{named.get('FUNCTION_NAME', 'main')}"
        return {}, f"{shown} (from func.yaml envs)"
    return {}, "the function's style (resolved by validation, below)"

