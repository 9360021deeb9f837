"""CloudEvents over HTTP (binary and structured mode) with the ``cloudevents`` SDK 1.x API (``pyfunc.cloudevent_sdk``).

Imported only by styles that take events. Every event is checked against the CloudEvents 1.0
rules (``cloudevent_attributes``); what breaks them, or is not an event, becomes
HTTPError(400) with the reason, never a 500 and never a call of the function. Replies get a
fresh ``id`` and ``time`` (the old invoker echoed the incoming ones), are always valid 1.0
events, and use the request's content mode.

Both modes are read here straight into attributes and data (``read``), and into the SDK's
``CloudEvent`` only for functions that take the whole event (``parse``): the SDK's own
``from_http`` parses a structured body three times and costs ~150 µs a binary request, ``parse``
~10 µs, ``read`` ~7 µs (BENCHMARKS.md). Binary mode (HTTP binding 3.1): ``ce-*`` headers are the
attributes, percent-decoded (invalid UTF-8 rejected); Content-Type is ``datacontenttype`` (a
``ce-datacontenttype`` header is an error); the body is the data, JSON-decoded when it parses,
as the SDK does. Structured mode (JSON format 3): one JSON parse; ``null`` members are unset
attributes; ``data_base64`` is binary data, given as ``bytes``. A 0.3 event is converted to 1.0
(``schemaurl`` → ``dataschema``, base64 ``datacontentencoding`` decoded). The SDK invents a
``time`` for events without one; it is removed again, so the function sees the attributes that
were sent.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from datetime import datetime, timezone
from typing import Any, Mapping
from urllib.parse import quote, unquote

from . import cloudevent_attributes as rules
from .cloudevent_sdk import API
from .http import HTTPError, JSONTooDeep, Request, Response, loads_json, random_bits

# The SDK's 1.x API wherever the installed SDK keeps it (2.x: cloudevents.v1).
CloudEvent, to_structured = API.CloudEvent, API.to_structured

STRUCTURED = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"
FORMATS = "application/cloudevents"
HOW_TO_SEND = (
    "send a CloudEvent: binary mode with ce-specversion, ce-id, ce-source and ce-type headers, "
    f"or structured mode with Content-Type: {STRUCTURED} and the event as a JSON object"
)
_ASCII_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f]")


def media_type(request: Request) -> str:
    """The request's media type, lower-cased, without parameters ("" when none)."""
    content_type = request.headers.get("content-type")
    return content_type.split(";", 1)[0].strip().lower() if content_type else ""


def is_cloudevent(request: Request) -> bool:
    """True when the request carries a CloudEvent in either content mode."""
    return "ce-specversion" in request.headers or media_type(request).startswith(FORMATS)


def parse(request: Request) -> CloudEvent:
    """The CloudEvent in ``request``, as the SDK's event object. Raises HTTPError(400) saying
    what is wrong and how to send one."""
    return to_event(*read(request))


def read(request: Request) -> tuple[dict[str, Any], Any]:
    """The CloudEvent in ``request`` as ``(attributes, data)``, checked as ``parse`` checks it,
    without the SDK's event object (~3 µs a request) for functions that take only its parts.
    ``attributes`` is a new dict. Raises HTTPError(400) as ``parse`` does."""
    headers = request.headers
    media = media_type(request)
    try:
        if media == STRUCTURED:
            return _from_structured(request.body)
        if media == BATCH:
            raise HTTPError(400, f"CloudEvents batch mode is not supported: {HOW_TO_SEND}")
        if media.startswith(FORMATS):
            raise HTTPError(400, f"CloudEvents format {media} is not supported: {HOW_TO_SEND}")
        if "ce-specversion" in headers:
            return _from_binary(headers, request.body)
        raise HTTPError(400, f"not a CloudEvent: {HOW_TO_SEND}")
    except ValueError as exc:  # also UnicodeDecodeError, binascii.Error, JSONTooDeep
        raise HTTPError(400, f"invalid CloudEvent: {exc}") from None


def _from_binary(headers: Mapping[str, str], body: bytes) -> tuple[dict[str, Any], Any]:
    attrs = {}
    for name, value in headers.items():
        if name.startswith("ce-"):
            if not value.isprintable() and _ASCII_CONTROL.search(value):  # printable: none (the fast path)
                raise ValueError(f"header {name} contains a control character")
            if "%" in value:
                value = unquote(value, errors="strict")
                if not rules.is_string(value):
                    raise ValueError(f"header {name} decodes to a control character or a code point "
                                     f"a String may not hold: {value!r}")
            attrs[name[3:]] = value
    if "datacontenttype" in attrs:
        raise ValueError("a ce-datacontenttype header must not be sent in binary mode (HTTP binding 3.1.1): "
                         "the Content-Type header is the datacontenttype")
    missing = [f"ce-{name}" for name in rules.REQUIRED if name not in attrs]
    if missing:
        raise ValueError(f"CloudEvent is missing required headers {', '.join(missing)}: {HOW_TO_SEND}")
    if "content-type" in headers:
        attrs["datacontenttype"] = headers["content-type"]
    if attrs["specversion"] == "0.3":
        rules.from_v03(attrs)
    rules.check(attrs, strings_only=True)
    if not body:
        data = None
    else:
        try:  # the SDK's default unmarshaller: JSON when it parses, else the raw bytes
            data = loads_json(body)
        except JSONTooDeep:
            raise
        except ValueError:
            data = body
    return attrs, data


def _from_structured(body: bytes) -> tuple[dict[str, Any], Any]:
    try:
        document = loads_json(body)
    except JSONTooDeep:
        raise
    except ValueError as exc:
        raise ValueError(f"structured CloudEvent body is not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise ValueError(f"structured CloudEvent body must be a JSON object, got {type(document).__name__}")
    attrs = {k: v for k, v in document.items() if v is not None and k != "data" and k != "data_base64"}
    missing = [name for name in rules.REQUIRED if name not in attrs]
    if missing:
        raise ValueError(f"CloudEvent is missing required attributes {', '.join(missing)}: {HOW_TO_SEND}")
    data, encoded = document.get("data"), document.get("data_base64")
    if attrs["specversion"] == "0.3":
        if attrs.get("datacontentencoding") == "base64":
            data, encoded = None, data
        rules.from_v03(attrs)
    if encoded is not None:
        if data is not None:
            raise ValueError("an event carries either data or data_base64, not both (JSON format 3.1)")
        if type(encoded) is not str:
            raise ValueError(f"data_base64 must be a base64 string, got {type(encoded).__name__}")
        try:
            data = base64.b64decode(encoded, validate=True)
        except ValueError as exc:
            raise ValueError(f"data_base64 is not valid base64 (RFC 4648): {exc}") from None
    rules.check(attrs)
    return attrs, data


def to_event(attrs: dict[str, Any], data: Any) -> CloudEvent:
    """The SDK's event object for what ``read`` returned (its attributes a copy of ``attrs``)."""
    event = CloudEvent(attrs, data)
    if "time" not in attrs:
        del event["time"]  # the SDK filled in the time of now: not an attribute that was sent
    return event


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
    return encode(attrs, data, media_type(request) == STRUCTURED, function_name)


def encode(attrs: dict[str, Any], data: Any, structured: bool, sender: str = "the function") -> Response:
    """A 200 Response carrying the event in structured mode (by the SDK) or binary mode.
    The event is a CloudEvents 1.0 event whatever ``specversion`` the function gave (0.3
    attributes are converted); ``id`` and ``time`` are filled in when absent, ``None`` values
    left out. Raises TypeError when ``type`` or ``source`` is missing or an attribute breaks
    the 1.0 rules (the function's bug: a 500)."""
    missing = [name for name in ("type", "source") if not attrs.get(name)]
    if missing:
        raise TypeError(f"{sender} replied with a CloudEvent without {' and '.join(missing)}")
    attrs = {name: value.isoformat() if isinstance(value, datetime) else value
             for name, value in attrs.items() if value is not None}
    rules.from_v03(attrs)  # always 1.0; renames 0.3's schemaurl
    if "id" not in attrs:  # a version-4 UUID (random_bits: no system call per reply)
        attrs["id"] = str(uuid.UUID(int=random_bits(128), version=4))
    try:
        rules.check(attrs)
    except ValueError as exc:
        raise TypeError(f"{sender} replied with an invalid CloudEvent: {exc}") from None
    if "time" not in attrs:  # after the check: the time of now is a valid one
        attrs["time"] = datetime.now(timezone.utc).isoformat()
    if structured:
        headers, body = to_structured(CloudEvent(attrs, data))
        return Response(200, _raw(headers), body if isinstance(body, bytes) else str(body).encode("utf-8"))
    return _to_binary(attrs, data)


#: Header-safe characters of the HTTP binding (3.1.3.2): printable ASCII but space, '"' and '%'.
_SAFE = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in ' "%')
#: Any other character: one negated class of ``_SAFE`` (a search three times faster than an
#: alternation of the same set).
_UNSAFE = re.compile(f"[^{re.escape(_SAFE)}]")
#: The header of each core attribute, made once.
_HEADERS = {name: f"ce-{name}".encode("latin-1") for name in rules.CORE}


def _to_binary(attrs: Mapping[str, Any], data: Any) -> Response:
    """The binary-mode answer for attributes that passed ``rules.check``: its headers are valid
    as made (names ``ce-`` and a checked attribute name; values quoted to printable ASCII but
    ``datacontenttype``, a checked media type), so they are marked ``checked``."""
    content_type = attrs.get("datacontenttype")
    headers = [(b"content-type", (content_type or "application/json").encode("latin-1"))]
    for name, value in attrs.items():
        if name != "datacontenttype" and value is not None:
            if type(value) is str:
                text = value
            else:
                text = ("true" if value else "false") if type(value) is bool else str(value)
            if _UNSAFE.search(text) is not None:
                text = quote(text, safe=_SAFE)
            headers.append((_HEADERS.get(name) or f"ce-{name}".encode("latin-1"), text.encode("ascii")))
    return Response(200, headers, _marshal(content_type, data), checked=True)


def _marshal(content_type: str | None, data: Any) -> bytes:
    """Binary-mode data encoding by datacontenttype: text stays text, JSON types become JSON."""
    if isinstance(data, (bytes, bytearray)):
        return bytes(data)
    if isinstance(data, str) and content_type and "json" not in content_type:
        return data.encode("utf-8")
    return json.dumps(data).encode("utf-8")


def is_reply(value: Any) -> bool:
    """True for what a CloudEvent function returns to send an event back."""
    return isinstance(value, CloudEvent) or (
        isinstance(value, tuple) and len(value) == 2 and (type(value[0]) is dict or isinstance(value[0], Mapping))
    )


def _raw(headers: Mapping[str, str]) -> list[tuple[bytes, bytes]]:
    return [(k.lower().encode("latin-1"), str(v).encode("latin-1")) for k, v in headers.items()]
