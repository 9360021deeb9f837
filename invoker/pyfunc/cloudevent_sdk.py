"""Whichever ``cloudevents`` SDK the image has, 1.x or 2.x, and the event objects each hands a function.

The app's dependencies decide the SDK: Functions Framework 3.10.2 pins ``cloudevents<=1.12``,
today's ``func create -l python -t cloudevents`` template asks for ``cloudevents>=2,<3``
(reference/function-styles.md sections 2 and 5). The app's dependencies layer comes first on
``PYTHONPATH``, so its SDK shadows the invoker's. The major version is read once, when the
first event style is loaded (this module is imported only then).

* ``API``: the SDK's 1.x API (``CloudEvent``, ``from_http``, ``to_structured``, ``to_binary``,
  ``GenericException``), which 2.x keeps under ``cloudevents.v1``; ``pyfunc.cloudevent``
  parses and answers with it for the pyfunc and Functions Framework styles.
* ``KNATIVE``: what a Knative func CloudEvent instance gets, as func-python hands it for that
  SDK: 2.x (func-python 0.8.1) a ``cloudevents.core.v1.event.CloudEvent`` in ``scope["event"]``
  and replies through ``to_structured_event``/``to_binary_event``; 1.x (func-python 0.7, the
  last release on the 1.x SDK) a ``cloudevents.http.CloudEvent`` and ``to_structured``/``to_binary``.
"""

from __future__ import annotations

import importlib
from types import SimpleNamespace
from typing import Any, Callable

import cloudevents

#: The installed SDK's version and major version ("1.12.0" → 1).
VERSION: str = getattr(cloudevents, "__version__", "0")
MAJOR: int = int(VERSION.split(".")[0]) if VERSION.split(".")[0].isdigit() else 1

#: Where each major version keeps the 1.x API: (http, conversion, exceptions) modules.
_LEGACY_MODULES = {
    1: ("cloudevents.http", "cloudevents.conversion", "cloudevents.exceptions"),
    2: ("cloudevents.v1.http", "cloudevents.v1.conversion", "cloudevents.v1.exceptions"),
}


def _legacy_api() -> SimpleNamespace:
    modules = _LEGACY_MODULES.get(MAJOR)
    if modules is None:
        from .errors import LoadError

        raise LoadError(f"cloudevents {VERSION} is not supported: pyfunc serves events with cloudevents 1.x or 2.x",
                        fix='pin it in your dependencies, e.g. "cloudevents>=1.11,<3"')
    http, conversion, exceptions = (importlib.import_module(name) for name in modules)
    return SimpleNamespace(CloudEvent=http.CloudEvent, from_http=http.from_http,
                           to_structured=conversion.to_structured, to_binary=conversion.to_binary,
                           GenericException=exceptions.GenericException)


API = _legacy_api()


class KnativeEvents:
    """How a Knative func CloudEvent instance receives and sends events with this SDK.

    ``decode(request)`` → the event for ``scope["event"]``; raises ``HTTPError(400)`` saying what
    is wrong. ``encode(event, structured)`` → a 200 ``Response`` carrying the event.
    """

    def __init__(self, decode: Callable[[Any], Any], encode: Callable[[Any, bool], Any], event_type: str) -> None:
        self.decode = decode
        self.encode = encode
        #: Dotted name of the event class the function receives (for ``pyfunc check``).
        self.event_type = event_type


def _knative_v1() -> KnativeEvents:
    from . import cloudevent

    def encode(event: Any, structured: bool) -> Any:
        return cloudevent.encode(dict(event.get_attributes()), event.get_data(), structured)

    return KnativeEvents(cloudevent.parse, encode, "cloudevents.http.CloudEvent")


def _knative_v2() -> KnativeEvents:
    from cloudevents.core.bindings.http import HTTPMessage, from_http_event, to_binary_event, to_structured_event

    from . import cloudevent
    from .http import HTTPError, Response

    def decode(request: Any) -> Any:
        cloudevent.read(request)  # the invoker's checks first: every malformed event is a 400 saying why
        try:
            return from_http_event(HTTPMessage(headers=request.headers, body=request.body))
        except Exception as exc:  # 2.x raises outside its own hierarchy too (AttributeError on a JSON array)
            raise HTTPError(400, f"malformed CloudEvent: {exc}") from None

    def encode(event: Any, structured: bool) -> Any:
        if isinstance(event, API.CloudEvent):  # a 1.x-API event (cloudevents.v1): the invoker's encoder
            return cloudevent.encode(dict(event.get_attributes()), event.get_data(), structured)
        message = (to_structured_event if structured else to_binary_event)(event)
        headers = [(name.lower().encode("latin-1"), str(value).encode("latin-1")) for name, value in message.headers.items()]
        return Response(200, headers, message.body)

    return KnativeEvents(decode, encode, "cloudevents.core.v1.event.CloudEvent")


#: The Knative event handling per SDK major version.
_KNATIVE = {1: _knative_v1, 2: _knative_v2}


def knative() -> KnativeEvents:
    """The Knative func event handling for the installed SDK (built once per adapter)."""
    return _KNATIVE[MAJOR]()


__all__ = ["API", "MAJOR", "VERSION", "KnativeEvents", "knative"]
