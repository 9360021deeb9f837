"""Knative func's Python functions before 2025: ``def main(context)``, served by parliament.

func's Python templates used the parliament server (boson-project/parliament 0.1) until the
func-python middleware replaced it; func still builds such functions. The contract, read from
parliament's ``server.py`` and ``invocation.py``:

* ``context.request`` is the Flask request; ``context.cloud_event`` the CloudEvent of a POST
  carrying one (cloudevents 1.x API ``CloudEvent``), else None. The context also reads as a
  mapping holding only what is set: ``'request' in context``, ``context['cloud_event']``,
  ``context.keys()``.
* The return value is what Flask accepts (str, dict → JSON, ``(body, status[, headers])``,
  a Response); a returned CloudEvent is sent back in binary mode, as it is (its id and time).
* A POST whose CloudEvent is malformed reaches the function with ``cloud_event`` None
  (parliament logs and goes on): such functions also take plain HTTP posts.

Differences on purpose: every path and method reaches ``main`` (parliament routed only ``/``
GET and POST), and an exception is the invoker's generic 500 with a request id rather than
parliament's "Function raised <error>" text.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Mapping
from typing import Any, Iterator

from ..config import Config
from ..http import HTTPError, Request, Response
from .base import Adapter, Runner, Target

log = logging.getLogger("pyfunc")


def claim(target: Target, config: Config) -> str | None:
    """A function whose one required parameter is ``context`` (parliament's ``main(context)``)."""
    try:
        required = [p for p in inspect.signature(target.obj).parameters.values()
                    if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    except (TypeError, ValueError):
        return None
    if [p.name for p in required] == ["context"]:
        return "its one parameter is context, as in func's parliament-era templates (def main(context))"
    return None


class Context(Mapping):
    """parliament's invocation context: ``request`` (Flask request), ``cloud_event`` (or None);
    as a mapping, only the keys whose value is set."""

    __slots__ = ("request", "cloud_event")

    def __init__(self, request: Any, cloud_event: Any = None) -> None:
        self.request = request
        self.cloud_event = cloud_event

    def __getitem__(self, key: str) -> Any:
        if key in ("request", "cloud_event") and getattr(self, key) is not None:
            return getattr(self, key)
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return (key for key in ("request", "cloud_event") if getattr(self, key) is not None)

    def __len__(self) -> int:
        return sum(1 for _ in self)


class ParliamentAdapter(Adapter):
    """Calls ``main(context)`` (sync in the thread pool) and answers as parliament did."""

    style = "parliament"

    def __init__(self, target: Target, runner: Runner, reason: str, config: Config) -> None:
        super().__init__(target, runner, reason, config)
        self.calls(target.obj)
        from .. import cloudevent
        from ..wsgi import flask_request

        self.cloudevent = cloudevent
        self.flask_request = flask_request

    def prepare(self, request: Request) -> tuple[tuple, dict[str, Any]]:
        event = None
        if request.scope["method"] == "POST" and self.cloudevent.is_cloudevent(request):
            try:
                event = self.cloudevent.parse(request)
            except HTTPError as exc:
                log.warning("no CloudEvent in this request, context.cloud_event is None: %s", exc.reason)
        return (Context(self.flask_request(request), event),), {}

    def finish(self, request: Request, value: Any, error: Exception | None) -> Response:
        if error is None and isinstance(value, self.cloudevent.CloudEvent):
            return self.cloudevent.encode(dict(value.get_attributes()), value.get_data(), structured=False)
        return super().finish(request, value, error)

    def describe(self) -> str:
        return (f"parliament function, called as {self.target.name}(context) with context.request "
                "(Flask request) and context.cloud_event")
