"""Which function in the module, and which style serves it.

Precedence, written once (README "How the style is chosen" repeats it):

1. The function: the name configured (``pyfunc.config``), else the first of
   ``DEFAULT_NAMES`` the module defines, else the single public function some style claims;
   several such functions are ambiguous and rejected with the candidates listed.
2. The style: the first entry of ``STYLES`` whose ``claim`` accepts the function —
   a Functions Framework decorator, then a ``new`` factory or ASGI ``handle`` (Knative),
   then ``handle(logger, request)`` (handler template), then an explicit signature type or
   the ``data, context`` / ``cloud_event`` parameters (Functions Framework), then a lone
   ``context`` parameter (parliament, func's templates before 2025), then pyfunc's
   parameter names. ``pyfunc check`` prints the style and this reason.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Callable

from ..config import Config
from ..errors import LoadError
from ..loader import LoadedModule
from . import functions_framework, handler, knative, parliament, pyfunc
from .base import Adapter, Runner, Target

Claim = Callable[[Target, Config], "str | None"]


def _decorated(target: Target, config: Config) -> str | None:
    kind = functions_framework.decorated_type(target)
    return f"a functions_framework decorator registers it as {kind}" if kind else None


#: (style name, claim(target, config) -> reason or None, adapter class), tried in order.
STYLES: tuple[tuple[str, Claim, type[Adapter]], ...] = (
    ("functions-framework", _decorated, functions_framework.FunctionsFrameworkAdapter),
    ("knative", knative.claim, knative.KnativeAdapter),
    ("handler", handler.claim, handler.HandlerAdapter),
    ("functions-framework", functions_framework.claim, functions_framework.FunctionsFrameworkAdapter),
    ("parliament", parliament.claim, parliament.ParliamentAdapter),
    ("pyfunc", pyfunc.claim, pyfunc.PyfuncAdapter),
)

#: Names served without configuration: pyfunc's main, Knative's new and handle (ASGI or handler template).
DEFAULT_NAMES = ("main", "new", "handle")


def resolve(loaded: LoadedModule, config: Config, runner: Runner) -> Adapter:
    """The adapter serving the module's function. Raises LoadError explaining a rejection."""
    target = _target(loaded, config)
    for _style, claim, adapter in STYLES:
        reason = claim(target, config)
        if reason is not None:
            return adapter(target, runner, reason, config)
    # No style claims it: let the closest style explain why (pyfunc's parameter rules).
    pyfunc.plan(target.obj, target.name)
    raise LoadError(f"{target.name} in {target.where} matches no function style")


def _target(loaded: LoadedModule, config: Config) -> Target:
    module = loaded.module
    if config.function is not None:
        obj = getattr(module, config.function, None)
        if obj is None or not callable(obj):
            found = ", ".join(repr(n) for n in _public_functions(loaded)) or "no public functions"
            raise LoadError(
                f"Module {loaded.name!r} has no function {config.function!r}",
                detail=f"{loaded.path} defines {found} (function named by {config.origin})",
                fix="define that function, or point FUNCTION_NAME / BP_FUNCTION at one of those",
            )
        return _make_target(obj, config.function, loaded)
    for name in DEFAULT_NAMES:
        obj = getattr(module, name, None)
        if obj is not None and callable(obj):
            return _make_target(obj, name, loaded)
    candidates = [t for t in (_make_target(getattr(module, n), n, loaded) for n in _public_functions(loaded))
                  if any(claim(t, config) for _, claim, _ in STYLES)]
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        found = ", ".join(repr(n) for n in _public_functions(loaded)) or "no public functions"
        raise LoadError(
            f"Module {loaded.name!r} has no function to serve",
            detail=f"{loaded.path} defines {found}; none is named {' or '.join(DEFAULT_NAMES)} "
            f"or takes parameters pyfunc can supply ({pyfunc.ACCEPTED})",
            fix="name your function main, or set FUNCTION_NAME / BP_FUNCTION to it",
        )
    listed = ", ".join(f"{t.name} (line {t.line})" for t in candidates)
    raise LoadError(
        f"Module {loaded.name!r} has several functions that could be served: {listed}",
        fix="set FUNCTION_NAME (or BP_FUNCTION=module.function) to the one to serve, or prefix helpers with _",
    )


def _public_functions(loaded: LoadedModule) -> list[str]:
    return [
        name for name, obj in vars(loaded.module).items()
        if not name.startswith("_") and inspect.isfunction(obj) and obj.__module__ == loaded.module.__name__
    ]


def _make_target(obj: Callable, name: str, loaded: LoadedModule) -> Target:
    """``obj`` with the file and line that define it (a package may re-export it from a submodule).

    The line is ``inspect.getsourcelines``'s without its ``getblock``, which tokenizes the
    definition to find its end: compiling tokenize's patterns alone cost ~4 ms of a cold start.
    An object pyfunc cannot place gets line 0, also one whose ``__wrapped__`` chain loops
    (ValueError from ``inspect.unwrap``): ``inspect.signature`` cannot read that one either, so
    unless a style serves it without its signature (a Functions Framework signature type), no
    style claims it and ``pyfunc.plan`` refuses it with a LoadError."""
    try:
        path, line = Path(inspect.getsourcefile(obj) or loaded.path), inspect.findsource(inspect.unwrap(obj))[1] + 1
    except (OSError, TypeError, ValueError):
        path, line = loaded.path, 0
    return Target(obj, name, loaded.name, path, line)


__all__ = ["Adapter", "Runner", "Target", "STYLES", "resolve"]
