"""The pyfunc style: parameters chosen by name or type annotation (seed python-invoker-pyfunc).

| parameter            | kind       | value                                          |
|----------------------|------------|------------------------------------------------|
| req, request         | HTTP       | the request as ``flask.Request``               |
| body                 | HTTP       | the request body, bytes                        |
| headers              | HTTP       | the headers, ``werkzeug.datastructures.Headers`` |
| event                | CloudEvent | the whole event (``cloudevents.http.CloudEvent``) |
| data, payload        | CloudEvent | the event's data                               |
| attributes           | CloudEvent | the event's attributes, a dict                 |

Annotations ``flask.Request`` and ``CloudEvent`` work under any parameter name. A function
with any CloudEvent parameter answers only CloudEvents (400 otherwise).
"""

from __future__ import annotations

import inspect
import sys
from dataclasses import dataclass
from typing import Any, Callable

from ..config import Config
from ..errors import LoadError
from ..http import Request, Response, to_response
from .base import Adapter, Runner, Target

BY_NAME = {
    "req": "request", "request": "request", "body": "body", "headers": "headers",
    "event": "event", "data": "data", "payload": "data", "attributes": "attributes",
}
EVENT_SOURCES = frozenset({"event", "data", "attributes"})
SHOWN = {
    "request": "<flask.Request>", "body": "<body bytes>", "headers": "<headers>",
    "event": "<CloudEvent>", "data": "<event data>", "attributes": "<event attributes dict>",
}
ACCEPTED = "req, request, body, headers (HTTP); event, data, payload, attributes (CloudEvent)"


@dataclass(frozen=True)
class Parameter:
    """One function parameter and the request part that fills it."""

    name: str
    source: str
    positional_only: bool


def plan(func: Callable[..., Any], name: str) -> list[Parameter]:
    """The parameters pyfunc fills for ``func``. Raises LoadError naming one it cannot."""
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError) as exc:
        raise LoadError(
            f"{name} is not a function pyfunc can inspect: {exc}",
            fix="serve a plain def or async def function; a decorator should copy the function's "
                "signature with functools.wraps, whose __wrapped__ points to the function it wraps",
        ) from None
    parameters = []
    for param in signature.parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        source = BY_NAME.get(param.name) or _by_annotation(param.annotation)
        if source is None:
            if param.default is param.empty:
                raise LoadError(
                    f"{name}() takes parameter {param.name!r}, which pyfunc cannot supply",
                    detail=f"accepted parameter names: {ACCEPTED}; or annotate with flask.Request or CloudEvent",
                    fix=f"rename {param.name!r} to one of those, or give it a default value",
                )
            continue
        parameters.append(Parameter(param.name, source, param.kind == param.POSITIONAL_ONLY))
    return parameters


def _by_annotation(annotation: Any) -> str | None:
    if annotation is inspect.Parameter.empty:
        return None
    text = annotation if isinstance(annotation, str) else f"{getattr(annotation, '__module__', '')}.{getattr(annotation, '__qualname__', '')}"
    last = text.rsplit(".", 1)[-1]
    if last == "Request" and ("flask" in text or "werkzeug" in text or text == "Request"):
        return "request"
    if last in ("CloudEvent", "Event") and ("cloudevent" in text.lower() or text in ("CloudEvent", "Event")):
        return "event"
    return None


def claim(target: Target, config: Config) -> str | None:
    """Why ``target`` is a pyfunc function, or None when its parameters do not fit."""
    try:
        parameters = plan(target.obj, target.name)
    except LoadError:
        return None
    names = ", ".join(p.name for p in parameters) or "no parameters"
    return f"parameters matched by name or annotation ({names})"


class PyfuncAdapter(Adapter):
    """Fills the parameters per request; CloudEvent functions parse and reply with events."""

    style = "pyfunc"

    def __init__(self, target: Target, runner: Runner, reason: str, config: Config) -> None:
        super().__init__(target, runner, reason, config)
        self.parameters = plan(target.obj, target.name)
        self.takes_event = any(p.source in EVENT_SOURCES for p in self.parameters)
        self.calls(target.obj)
        self.cloudevent = None
        if self.takes_event:
            from .. import cloudevent

            self.cloudevent = cloudevent
        self.getters = {p.source: _GETTERS[p.source] for p in self.parameters}

    def prepare(self, request: Request) -> tuple[tuple, dict[str, Any]]:
        received = self.cloudevent.read(request) if self.cloudevent else None  # (attributes, data)
        args: list[Any] = []
        kwargs: dict[str, Any] = {}
        values: dict[str, Any] = {}
        for param in self.parameters:
            if param.source not in values:
                values[param.source] = self.getters[param.source](request, received)
            if param.positional_only:
                args.append(values[param.source])
            else:
                kwargs[param.name] = values[param.source]
        return tuple(args), kwargs

    def finish(self, request: Request, value: Any, error: Exception | None) -> Response:
        if error is not None:  # abort(404), get_json's 400: answered as Flask answers them
            value = _http_exception(error)
            if value is None:
                raise error
        if self.cloudevent is not None:
            if value is None:
                return Response(202)
            if self.cloudevent.is_reply(value):
                return self.cloudevent.reply(value, request, self.target.name)
        return to_response(value, self.target.name)

    def describe(self) -> str:
        kind = "CloudEvent" if self.takes_event else "HTTP"
        shown = ", ".join(f"{p.name}={SHOWN[p.source]}" for p in self.parameters)
        return f"{kind} function, called as {self.target.name}({shown})"


def _http_exception(exc: Exception) -> Any:
    if "werkzeug.exceptions" not in sys.modules:
        return None
    from ..wsgi import http_exception_response

    return http_exception_response(exc)


def _flask_request(request: Request, received: Any) -> Any:
    from ..wsgi import flask_request

    return flask_request(request)


def _headers(request: Request, received: Any) -> Any:
    from ..wsgi import headers

    return headers(request)


_GETTERS: dict[str, Callable[[Request, Any], Any]] = {
    "request": _flask_request,
    "body": lambda request, received: request.body,
    "headers": _headers,
    "event": lambda request, received: _sdk_event(*received),
    "data": lambda request, received: received[1],
    "attributes": lambda request, received: received[0],  # read's own new dict: the function may keep it
}


def _sdk_event(attributes: dict[str, Any], data: Any) -> Any:
    from ..cloudevent import to_event

    return to_event(attributes, data)
