"""CloudEvents over HTTP (binary and structured mode) with the ``cloudevents`` SDK 1.x API (``pyfunc.cloudevent_sdk``).

Imported only by styles that take events. Every parse failure becomes HTTPError(400) with
the reason, never a 500 (reference/function-styles.md section 5). Replies get a fresh ``id``
and ``time`` (the old invoker echoed the incoming ones) and use the request's content mode.

Binary mode, the common case on Knative, is mapped here (CloudEvents HTTP binding 3.1.3:
``ce-*`` headers are the attributes, percent-decoded; Content-Type is ``datacontenttype``;
the body is the data, JSON-decoded when it parses as the SDK does) straight into the SDK's
``CloudEvent``, which validates it: the SDK's own ``from_http``/``to_binary`` cost ~150 µs
a request, this ~20 µs (BENCHMARKS.md). Structured mode goes through the SDK as is.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import datetime, timezone
from typing import Any, Mapping
from urllib.parse import quote, unquote

from .cloudevent_sdk import API
from .http import HTTPError, Request, Response

# The SDK's 1.x API wherever the installed SDK keeps it (2.x: cloudevents.v1).
CloudEvent, from_http, to_structured, GenericException = API.CloudEvent, API.from_http, API.to_structured, API.GenericException

STRUCTURED = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"
REQUIRED = ("specversion", "id", "source", "type")
HOW_TO_SEND = (
    "send a CloudEvent: binary mode with ce-specversion, ce-id, ce-source and ce-type headers, "
    f"or structured mode with Content-Type: {STRUCTURED} and the event as a JSON object"
)


def is_cloudevent(request: Request) -> bool:
    """True when the request carries a CloudEvent in either content mode."""
    headers = request.headers
    return "ce-specversion" in headers or headers.get("content-type", "").startswith(STRUCTURED)


def parse(request: Request) -> CloudEvent:
    """The CloudEvent in ``request``. Raises HTTPError(400) saying what is wrong and how to send one."""
    headers = request.headers
    content_type = headers.get("content-type", "")
    if content_type.startswith(BATCH):
        raise HTTPError(400, f"CloudEvents batch mode is not supported: {HOW_TO_SEND}")
    if not is_cloudevent(request):
        raise HTTPError(400, f"not a CloudEvent: {HOW_TO_SEND}")
    if "ce-specversion" not in headers:
        _check_structured(request.body)
    else:
        missing = [f"ce-{name}" for name in REQUIRED if f"ce-{name}" not in headers]
        if missing:
            raise HTTPError(400, f"CloudEvent is missing required headers {', '.join(missing)}: {HOW_TO_SEND}")
        if headers["ce-specversion"] not in ("1.0", "0.3"):
            raise HTTPError(400, f"unsupported ce-specversion {headers['ce-specversion']!r}: use 1.0")
    try:
        if "ce-specversion" in headers:
            return _from_binary(headers, request.body)
        return from_http(headers, request.body)
    except (GenericException, ValueError, TypeError, AttributeError, KeyError, UnicodeDecodeError) as exc:
        raise HTTPError(400, f"malformed CloudEvent: {exc}") from None


def _from_binary(headers: Mapping[str, str], body: bytes) -> CloudEvent:
    attrs = {name[3:]: unquote(value) if "%" in value else value for name, value in headers.items() if name.startswith("ce-")}
    if "content-type" in headers:
        attrs["datacontenttype"] = headers["content-type"]
    if not body:
        data = None
    else:
        try:  # the SDK's default unmarshaller: JSON when it parses, else the raw bytes
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            data = body
    return CloudEvent(attrs, data)


def _check_structured(body: bytes) -> None:
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise HTTPError(400, f"structured CloudEvent body is not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise HTTPError(400, f"structured CloudEvent body must be a JSON object, got {type(document).__name__}")
    missing = [name for name in REQUIRED if name not in document]
    if missing:
        raise HTTPError(400, f"CloudEvent is missing required attributes {', '.join(missing)}: {HOW_TO_SEND}")
    if document["specversion"] not in ("1.0", "0.3"):
        raise HTTPError(400, f"unsupported specversion {document['specversion']!r}: use 1.0")


def attributes(event: CloudEvent) -> dict[str, Any]:
    """A mutable copy of the event's attributes (the pyfunc ``attributes`` parameter)."""
    return dict(event.get_attributes())


def reply(value: Any, request: Request, function_name: str) -> Response:
    """The HTTP answer carrying the CloudEvent a function returned.

    ``value`` is a CloudEvent, or ``(attributes, data)``; ``id`` and ``time`` are always
    fresh. Structured requests get structured replies, others binary. Raises TypeError
    when the attributes lack ``type`` or ``source`` (the function's bug: a 500).
    """
    if isinstance(value, CloudEvent):
        attrs, data = attributes(value), value.get_data()
    else:
        attrs, data = dict(value[0]), value[1]
    for fresh in ("id", "time"):
        attrs.pop(fresh, None)
    structured = request.headers.get("content-type", "").startswith(STRUCTURED)
    return encode(attrs, data, structured, function_name)


def encode(attrs: dict[str, Any], data: Any, structured: bool, sender: str = "the function") -> Response:
    """A 200 Response carrying the event in structured mode (by the SDK) or binary mode;
    ``specversion``, ``id`` and ``time`` are filled in when absent as the SDK does.
    Raises TypeError when ``type`` or ``source`` is missing."""
    missing = [name for name in ("type", "source") if not attrs.get(name)]
    if missing:
        raise TypeError(f"{sender} replied with a CloudEvent without {' and '.join(missing)}")
    if structured:
        headers, body = to_structured(CloudEvent(attrs, data))
        return Response(200, _raw(headers), body if isinstance(body, bytes) else str(body).encode("utf-8"))
    attrs.setdefault("specversion", "1.0")
    attrs.setdefault("id", str(uuid.uuid4()))
    attrs.setdefault("time", datetime.now(timezone.utc).isoformat())
    return _to_binary(attrs, data)


#: Header-safe characters of the HTTP binding (3.1.3.2): printable ASCII but space, '"' and '%'.
_SAFE = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in ' "%')
_UNSAFE = re.compile(r'[^\x21-\x7e]|["%]')


def _to_binary(attrs: Mapping[str, Any], data: Any) -> Response:
    content_type = attrs.get("datacontenttype")
    headers = [(b"content-type", (content_type or "application/json").encode("latin-1"))]
    for name, value in attrs.items():
        if name != "datacontenttype" and value is not None:
            text = str(value)
            if _UNSAFE.search(text):
                text = quote(text, safe=_SAFE)
            headers.append((f"ce-{name}".encode("latin-1"), text.encode("ascii")))
    return Response(200, headers, _marshaller(content_type)(data))


def _marshaller(content_type: str | None):
    """Binary-mode data encoding by datacontenttype: text stays text, JSON types become JSON."""

    def marshal(data: Any) -> Any:
        if isinstance(data, (bytes, bytearray)):
            return bytes(data)
        if isinstance(data, str) and content_type and "json" not in content_type:
            return data.encode("utf-8")
        return json.dumps(data).encode("utf-8")

    return marshal


def is_reply(value: Any) -> bool:
    """True for what a CloudEvent function returns to send an event back."""
    return isinstance(value, CloudEvent) or (
        isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], Mapping)
    )


def _raw(headers: Mapping[str, str]) -> list[tuple[bytes, bytes]]:
    return [(k.lower().encode("latin-1"), str(v).encode("latin-1")) for k, v in headers.items()]
