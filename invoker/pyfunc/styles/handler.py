"""The handler-template style (seed handler-template-dockerization): ``handle(logger, request)``.

``request`` is the JSON body (an object) as a dict plus a ``metadata`` dict: whatever
``metadata`` object the body carried, with ``activityID`` set to the request id, which a body
cannot override (the SDK injects it; seed handler-template-dockerization); ``logger``
is a per-request logger whose lines carry that id. The returned dict is the JSON answer.
``async def`` runs on the event loop, ``def`` in the thread pool (``MAX_WORKERS``, default
50). A body that is not a JSON object gets 400 with the reason.
"""

from __future__ import annotations

import inspect
import logging
from typing import Any

from ..config import Config
from ..http import HTTPError, Request, loads_json, request_id
from .base import Adapter, Runner, Target

PARAMETERS = ("logger", "request")
function_log = logging.getLogger("function")


def claim(target: Target, config: Config) -> str | None:
    try:
        names = [p.name for p in inspect.signature(target.obj).parameters.values() if p.default is p.empty]
    except (TypeError, ValueError):
        return None
    if names == list(PARAMETERS):
        return "handle(logger, request): the handler template's signature"
    return None


class RequestLogger(logging.LoggerAdapter):
    """The ``logger`` argument: the ``function`` logger, each line tagged with the request id."""

    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        request_id = self.extra["request_id"]
        kwargs.setdefault("extra", {}).setdefault("fields", {"request_id": request_id})
        return f"[{request_id}] {msg}", kwargs


class HandlerAdapter(Adapter):
    style = "handler"

    def __init__(self, target: Target, runner: Runner, reason: str, config: Config) -> None:
        super().__init__(target, runner, reason, config)
        self.calls(target.obj)

    def prepare(self, request: Request) -> tuple[tuple, dict[str, Any]]:
        try:
            payload = loads_json(request.body) if request.body.strip() else {}
        except (ValueError, UnicodeDecodeError) as exc:
            raise HTTPError(400, f"request body is not JSON: {exc}") from None
        if not isinstance(payload, dict):
            raise HTTPError(400, f"request body must be a JSON object, got {type(payload).__name__}")
        activity = request_id(request.scope)
        metadata = payload.get("metadata") if isinstance(payload.get("metadata"), dict) else {}
        payload["metadata"] = {**metadata, "activityID": activity}  # the SDK's own: never the body's
        return (RequestLogger(function_log, {"request_id": activity}), payload), {}

    def describe(self) -> str:
        return f"handler function, called as {self.target.name}(logger=<request logger>, request=<JSON body + metadata>)"
