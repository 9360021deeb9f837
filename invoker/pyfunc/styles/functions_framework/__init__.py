"""The Google Functions Framework style (seed functions-framework-python), as functions-framework
3.10.2 serves it; tests/test_ff_parity*.py run both side by side.

Signature types: ``http`` — ``f(request)``; ``event`` (legacy) — ``f(data, context)``;
``cloudevent`` — ``f(cloud_event)``; ``typed`` — ``f(value)`` with ``from_dict``/``to_dict``.
In FF's order: a ``functions_framework`` decorator (``http``, ``cloud_event``, ``typed``,
``aio.http``, ``aio.cloud_event``) > ``--signature-type`` > ``FUNCTION_SIGNATURE_TYPE`` >
(pyfunc's addition) the parameters ``data, context`` / ``cloud_event`` > http.

Modules, one idea each: ``flask_app`` (the Flask app FF builds: routes per signature type,
error pages and handlers, crash answer), ``streaming`` (a generator response sent chunk by
chunk), ``asgi`` (ASGI mode with Starlette),
``events`` (CloudEvent and legacy event conversion), ``execution`` (execution ids and their
log lines), ``environment`` (env vars FF sets, ``ENTRY_POINT``, Cloud Run timeout),
``preload`` (what must hold while the user's module is imported).
"""

from __future__ import annotations

import inspect
import sys
from typing import Any

from ...config import FROM_FLAGS, FROM_FRAMEWORK_ENV, Config
from ...errors import LoadError
from ...http import Receive, Request, Response, Scope, Send, Stream
from ..base import Adapter, Runner, Target
from . import environment, execution, preload

SHAPES = {("data", "context"): "event", ("cloud_event",): "cloudevent"}
FRAMEWORK_ORIGINS = (FROM_FLAGS, FROM_FRAMEWORK_ENV)


def decorated_type(target: Target) -> str | None:
    """The signature type a functions_framework decorator registered for ``target``, if any."""
    registry = sys.modules.get("functions_framework._function_registry")
    return getattr(registry, "REGISTRY_MAP", {}).get(target.name) if registry else None


def _shape(target: Target) -> str | None:
    try:
        names = tuple(p.name for p in inspect.signature(target.obj).parameters.values() if p.default is p.empty)
    except (TypeError, ValueError):
        return None
    return SHAPES.get(names)


def claim(target: Target, config: Config) -> str | None:
    decorated = decorated_type(target)
    if decorated:
        return f"a functions_framework decorator registers it as {decorated}"
    if config.signature_type:
        return f"the signature type is set to {config.signature_type}"
    if config.origin in FRAMEWORK_ORIGINS:
        return f"named by {config.origin}, the Functions Framework's settings"
    shape = _shape(target)
    if shape:
        return f"its parameters are those of a {shape} function"
    return None


class FunctionsFrameworkAdapter(Adapter):
    """A Functions Framework function: a Flask app (``flask_app``) or, in ASGI mode, a
    Starlette app (``asgi``), called as functions-framework 3.10.2 calls it."""

    style = "functions-framework"
    streaming = True
    error_headers = [(b"x-google-status", b"crash")]

    def __init__(self, target: Target, runner: Runner, reason: str, config: Config) -> None:
        super().__init__(target, runner, reason, config)
        self.signature = decorated_type(target) or config.signature_type or _shape(target) or "http"
        self.asgi_mode = config.asgi or target.name in _registry("ASGI_FUNCTIONS", ())
        self.log_execution_id = execution.enabled()
        environment.apply(target.name, self.signature)
        if self.log_execution_id:
            execution.install()
        if self.asgi_mode:
            from . import asgi

            self.app = asgi.app(target.obj, target.name, self.signature, runner, self.log_execution_id)
            self.asgi = self._asgi  # type: ignore[method-assign]
        else:
            from . import flask_app

            flask = preload.app(config)
            flask_app.prepare(flask, target.name, config.debug)
            flask_app.configure(flask, target.obj, self.signature, self._input_type())
            self.wsgi = flask_app.WSGICall(flask, runner, config.max_body, self.log_execution_id,
                                           environment.deadline())
            self.asgi = self.wsgi  # type: ignore[method-assign]  # the ASGI entry itself: no extra layer
            if self.wsgi.deadline is None:  # (FF's threaded timeout answers 500 itself: ASGI path only)
                self.calls(self.wsgi.dispatch)  # pyfunc.direct: prepare, the app in a thread, finish

    def _input_type(self) -> Any:
        """The typed function's input type: the decorator's, else the first parameter's annotation."""
        if self.signature != "typed":
            return None
        found = _registry("INPUT_TYPE_MAP", {}).get(self.target.name)
        if found is None:
            parameters = list(inspect.signature(self.target.obj).parameters.values())
            found = parameters[0].annotation if parameters else inspect.Parameter.empty
        if found is inspect.Parameter.empty or not callable(getattr(found, "from_dict", None)):
            raise LoadError(
                f"The typed function {self.target.name} has no input type with from_dict()",
                fix="decorate it with @functions_framework.typed(InputType) or annotate its parameter "
                    "with a class that has from_dict() (and to_dict() on what it returns)",
            )
        return found

    def prepare(self, request: Request) -> tuple[tuple, dict[str, Any]]:
        return (request,), {}

    def finish(self, request: Request, value: Any, error: Exception | None) -> Response | Stream:
        if error is not None:  # (the Flask app answers the function's errors itself)
            raise error
        return self.wsgi.answer(*value)

    async def _asgi(self, scope: Scope, receive: Receive, send: Send) -> None:
        execution.ensure_header(scope)
        await self.app(scope, receive, send)

    def describe(self) -> str:
        shown = {"http": "request=<starlette Request>" if self.asgi_mode else "request=<flask.Request>",
                 "event": "data, context", "cloudevent": "cloud_event=<CloudEvent>", "typed": "value=<input type>"}
        mode = " (ASGI mode)" if self.asgi_mode else ""
        return f"Functions Framework {self.signature} function{mode}, called as {self.target.name}({shown[self.signature]})"


def _registry(name: str, default: Any) -> Any:
    registry = sys.modules.get("functions_framework._function_registry")
    return getattr(registry, name, default) if registry else default
