"""The Google Functions Framework style (seed functions-framework-python).

Signature types: ``http`` — ``f(request)`` with a Flask request, returning what Flask
accepts (run through a real Flask app, so ``flask.abort``, ``jsonify`` and ``request``
work); ``event`` (legacy) — ``f(data, context)`` with ``context.event_id``, ``timestamp``,
``event_type``, ``resource``; ``cloudevent`` — ``f(cloud_event)``. Event functions answer
200 ``OK``. A crash answers 500 with ``X-Google-Status: crash``.

The signature type, in Functions Framework's order: the ``@functions_framework.http`` /
``@functions_framework.cloud_event`` decorator > ``--signature-type`` > the
``FUNCTION_SIGNATURE_TYPE`` env > the parameters (``data, context`` / ``cloud_event``) > http.
"""

from __future__ import annotations

import asyncio
import inspect
import sys
from dataclasses import dataclass
from typing import Any

from ..config import FROM_FLAGS, FROM_FRAMEWORK_ENV, Config
from ..errors import LoadError
from ..http import HTTPError, JSONTooDeep, Request, Response, loads_json, to_response
from .base import Adapter, Runner, Target

SHAPES = {("data", "context"): "event", ("cloud_event",): "cloudevent"}
FRAMEWORK_ORIGINS = (FROM_FLAGS, FROM_FRAMEWORK_ENV)
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


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


def _safe_json_provider() -> type:
    from flask.json.provider import DefaultJSONProvider

    class SafeJSONProvider(DefaultJSONProvider):
        def loads(self, s: str | bytes, **kwargs: Any) -> Any:
            try:
                return super().loads(s, **kwargs)
            except RecursionError:
                raise JSONTooDeep("JSON nested too deeply to decode (more than about 1000 levels)") from None

    return SafeJSONProvider


@dataclass(frozen=True)
class Context:
    """The legacy event ``context``: id, time, type and resource of the event."""

    event_id: str | None
    timestamp: str | None
    event_type: str | None
    resource: Any


class FunctionsFrameworkAdapter(Adapter):
    style = "functions-framework"
    error_headers = [(b"x-google-status", b"crash")]

    def __init__(self, target: Target, runner: Runner, reason: str, config: Config) -> None:
        super().__init__(target, runner, reason, config)
        self.signature = decorated_type(target) or config.signature_type or _shape(target) or "http"
        if self.signature == "typed":
            raise LoadError("The typed signature type is not supported",
                            fix="use http, event or cloudevent (--signature-type / FUNCTION_SIGNATURE_TYPE)")
        if self.signature == "http":
            self._flask_app()
        else:
            from .. import cloudevent

            self.cloudevent = cloudevent
            self.call = runner.wrap(target.obj)
        #: One answer per signature type.
        self.respond = {"http": self._http, "cloudevent": self._cloudevent, "event": self._event}[self.signature]

    def _flask_app(self) -> None:
        import flask

        app = flask.Flask(self.target.module)
        app.json = _safe_json_provider()(app)  # get_json of too deeply nested JSON: 400, as malformed JSON
        function = self.target.obj

        def view(path: str = "") -> Any:
            result = function(flask.request._get_current_object())
            return asyncio.run(result) if inspect.isawaitable(result) else result

        app.add_url_rule("/", "function", view, defaults={"path": ""}, methods=METHODS)
        app.add_url_rule("/<path:path>", "function", view, methods=METHODS)
        self.app = app
        self.dispatch = self.runner.wrap(self._dispatch)

    def _dispatch(self, request: Request) -> Any:
        from ..wsgi import environ

        with self.app.request_context(environ(request)):
            return self.app.full_dispatch_request()

    async def _http(self, request: Request) -> Response:
        return to_response(await self.dispatch(request), self.target.name)

    async def _cloudevent(self, request: Request) -> Response:
        await self.call(self.cloudevent.parse(request))
        return Response.text("OK")

    async def _event(self, request: Request) -> Response:
        await self.call(*self._legacy_event(request))
        return Response.text("OK")

    def _legacy_event(self, request: Request) -> tuple[Any, Context]:
        if self.cloudevent.is_cloudevent(request):
            event = self.cloudevent.parse(request)
            resource = event.get("subject") or event["source"]
            return event.get_data(), Context(event["id"], event.get("time"), event["type"], resource)
        try:
            body = loads_json(request.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise HTTPError(400, f"event body is not JSON: {exc}") from None
        if not isinstance(body, dict):
            raise HTTPError(400, "event body must be a JSON object with data and context")
        meta = body.get("context") if isinstance(body.get("context"), dict) else body
        context = Context(meta.get("eventId"), meta.get("timestamp"), meta.get("eventType"), meta.get("resource"))
        return body.get("data"), context

    def describe(self) -> str:
        shown = {"http": "request=<flask.Request>", "event": "data, context", "cloudevent": "cloud_event=<CloudEvent>"}
        return f"Functions Framework {self.signature} function, called as {self.target.name}({shown[self.signature]})"
