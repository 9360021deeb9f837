"""Events for ``event`` and ``cloudevent`` functions, converted as functions-framework 3.10.2
converts them (``event_conversion.py``, ``background_event.py``; Google's legacy event
formats: Pub/Sub, Cloud Storage, Firestore, Firebase Auth, Realtime Database, Analytics).

* ``cloudevent`` function: a CloudEvent in binary mode, or structured — a JSON object body
  with ``specversion``, whatever its Content-Type, as the cloudevents SDK reads it; a body
  without CloudEvent attributes is taken as a legacy event and converted (type, source
  ``//service/resource``, subject, Pub/Sub ``{"message": ...}``, Firebase field renames).
* ``event`` function: ``(data, context)`` from a legacy event body (``{"data", "context"}``
  or the v1beta1 flat form, or a raw Pub/Sub push body); from a binary CloudEvent of a known
  Google type converted back; from any other binary CloudEvent, the raw body as data and
  ``ce-eventId``/``ce-timestamp``/``ce-eventType``/``ce-resource`` headers as context.

Unconvertible input is a 400 naming both failures (FF answers 500 for some of these: README
"Coming from Functions Framework").
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

PUBSUB = "pubsub.googleapis.com"
STORAGE = "storage.googleapis.com"
FIREBASE_AUTH = "firebaseauth.googleapis.com"
FIREBASE_DB = "firebasedatabase.googleapis.com"
PUBSUB_MESSAGE = "type.googleapis.com/google.pubsub.v1.PubsubMessage"

#: Legacy event type → CloudEvent type (Google's published mapping).
LEGACY_TO_CE = {
    "google.pubsub.topic.publish": "google.cloud.pubsub.topic.v1.messagePublished",
    "providers/cloud.pubsub/eventTypes/topic.publish": "google.cloud.pubsub.topic.v1.messagePublished",
    "google.storage.object.finalize": "google.cloud.storage.object.v1.finalized",
    "google.storage.object.delete": "google.cloud.storage.object.v1.deleted",
    "google.storage.object.archive": "google.cloud.storage.object.v1.archived",
    "google.storage.object.metadataUpdate": "google.cloud.storage.object.v1.metadataUpdated",
    "providers/cloud.storage/eventTypes/object.change": "google.cloud.storage.object.v1.finalized",
    "providers/cloud.firestore/eventTypes/document.write": "google.cloud.firestore.document.v1.written",
    "providers/cloud.firestore/eventTypes/document.create": "google.cloud.firestore.document.v1.created",
    "providers/cloud.firestore/eventTypes/document.update": "google.cloud.firestore.document.v1.updated",
    "providers/cloud.firestore/eventTypes/document.delete": "google.cloud.firestore.document.v1.deleted",
    "providers/firebase.auth/eventTypes/user.create": "google.firebase.auth.user.v1.created",
    "providers/firebase.auth/eventTypes/user.delete": "google.firebase.auth.user.v1.deleted",
    "providers/google.firebase.analytics/eventTypes/event.log": "google.firebase.analytics.log.v1.written",
    "providers/google.firebase.database/eventTypes/ref.create": "google.firebase.database.ref.v1.created",
    "providers/google.firebase.database/eventTypes/ref.write": "google.firebase.database.ref.v1.written",
    "providers/google.firebase.database/eventTypes/ref.update": "google.firebase.database.ref.v1.updated",
    "providers/google.firebase.database/eventTypes/ref.delete": "google.firebase.database.ref.v1.deleted",
}
#: The way back; the older Pub/Sub and Storage names are not chosen.
CE_TO_LEGACY = {ce: legacy for legacy, ce in LEGACY_TO_CE.items()
                if legacy not in ("providers/cloud.pubsub/eventTypes/topic.publish",
                                  "providers/cloud.storage/eventTypes/object.change")}
#: Legacy type prefix → CloudEvent service, when the resource names none.
SERVICE_BY_PREFIX = (
    ("providers/cloud.firestore/", "firestore.googleapis.com"),
    ("providers/google.firebase.analytics/", "firebase.googleapis.com"),
    ("providers/firebase.auth/", FIREBASE_AUTH),
    ("providers/google.firebase.database/", FIREBASE_DB),
    ("providers/cloud.pubsub/", PUBSUB),
    ("providers/cloud.storage/", STORAGE),
    ("google.pubsub", PUBSUB),
    ("google.storage", STORAGE),
)
#: Services whose legacy resource splits into CloudEvent source resource and subject.
RESOURCE_SPLIT = {
    "firebase.googleapis.com": re.compile(r"^(projects/[^/]+)/(events/[^/]+)$"),
    FIREBASE_DB: re.compile(r"^projects/_/(instances/[^/]+)/(refs/.+)$"),
    "firestore.googleapis.com": re.compile(r"^(projects/[^/]+/databases/\(default\))/(documents/.+)$"),
    STORAGE: re.compile(r"^(projects/[^/]/buckets/[^/]+)/(objects/.+)$"),  # sic: FF 3.10.2's pattern
}
AUTH_FIELDS = {"createdAt": "createTime", "lastSignedInAt": "lastSignInTime"}
TOPIC_IN_PATH = re.compile(r"projects/[^/?]+/topics/[^/?]+")
BINARY = ("ce-specversion", "ce-source", "ce-type", "ce-id")


class Context:
    """The ``context`` of an ``event`` function: ``event_id``, ``timestamp``, ``event_type``,
    ``resource`` (keywords and ``str()`` as ``google.cloud.functions.context.Context``)."""

    def __init__(self, eventId: Any = "", timestamp: Any = "", eventType: Any = "", resource: Any = "") -> None:
        self.event_id = eventId
        self.timestamp = timestamp
        self.event_type = eventType
        self.resource = resource

    def __str__(self) -> str:
        return (f"{{event_id: {self.event_id}, timestamp: {self.timestamp}, event_type: {self.event_type}, "
                f"resource: {self.resource}}}")


class ConversionFailed(ValueError):
    """The request is no event this function can take."""


def _abort(description: str | None = None) -> None:
    import flask

    flask.abort(400, description=description)


def is_binary(headers: dict[str, str]) -> bool:
    return all(name in headers for name in BINARY)


def _body(request: Any) -> Any:
    """The legacy event as a dict, a raw Pub/Sub push body made into one."""
    document = request.get_json()  # Flask's 415 / 400 pages for a body that is not JSON
    if not isinstance(document, dict):
        return document
    message = document.get("message")
    if "context" in document or "subscription" not in document or not isinstance(message, dict) \
            or "data" not in message or "messageId" not in message:
        return document
    topic = TOPIC_IN_PATH.search(request.path)
    return {
        "context": {
            "eventId": message["messageId"],
            "timestamp": message.get("publishTime") or datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "eventType": "google.pubsub.topic.publish",
            "resource": {"service": PUBSUB, "type": PUBSUB_MESSAGE, "name": topic.group(0) if topic else ""},
        },
        "data": {"@type": PUBSUB_MESSAGE, "data": message["data"], "attributes": message.get("attributes", {})},
    }


def _legacy(document: Any) -> tuple[Any, Context]:
    if not document:
        _abort()  # Werkzeug's own 400 text, as functions-framework answers
    if not isinstance(document, dict):
        raise ConversionFailed(f"a legacy event is a JSON object, not {type(document).__name__}")
    meta = document.get("context") or {k: document.get(k, "") for k in ("eventId", "timestamp", "eventType", "resource")}
    if not isinstance(meta, dict):
        raise ConversionFailed("the legacy event's context is not an object")
    known = {k: meta[k] for k in ("eventId", "timestamp", "eventType", "resource") if k in meta}
    return document.get("data", ""), Context(**known)


def legacy_arguments(request: Any) -> tuple[Any, Context]:
    """``(data, context)`` for an ``event`` function from the Flask ``request``."""
    headers = request.environ["pyfunc.request"].headers
    try:
        if is_binary(headers) and headers["ce-type"] in CE_TO_LEGACY:
            return _to_legacy(_sdk_event(headers, request.get_data()))
        if is_binary(headers):
            return request.get_data(), Context(headers.get("ce-eventid"), headers.get("ce-timestamp"),
                                               headers.get("ce-eventtype"), headers.get("ce-resource"))
        return _legacy(_body(request))
    except ConversionFailed as exc:
        _abort(f"The request is not an event this function takes: {exc}")
        raise  # unreachable: abort raises


def cloudevent_of(request: Any) -> Any:
    """The CloudEvent for a ``cloudevent`` function from the Flask ``request``."""
    from cloudevents.exceptions import GenericException, InvalidRequiredFields, MissingRequiredFields

    headers = request.environ["pyfunc.request"].headers
    try:
        return _sdk_event(headers, request.get_data())
    except (MissingRequiredFields, InvalidRequiredFields) as exc:
        problem = exc
    except (GenericException, ValueError, TypeError, AttributeError, KeyError) as exc:
        _abort(f"The CloudEvent could not be read: {type(exc).__name__}: {exc}")
    try:
        return _to_cloudevent(request)
    except ConversionFailed as exc:
        _abort("Function was defined with FUNCTION_SIGNATURE_TYPE=cloudevent but parsing CloudEvent failed "
               f"and converting from background event to CloudEvent also failed.\nGot CloudEvent exception: "
               f"{problem!r}\nGot background event conversion exception: {exc!r}")


def _sdk_event(headers: dict[str, str], body: bytes) -> Any:
    from cloudevents.http import from_http

    return from_http(headers, body)


def _to_cloudevent(request: Any) -> Any:
    from cloudevents.http import CloudEvent

    document = _body(request)  # Werkzeug's 415 or 400 page for a body that is not JSON, as FF
    if not document:
        raise ConversionFailed("Failed to parse JSON")
    data, context = _legacy(document)
    try:
        kind = LEGACY_TO_CE[context.event_type]
    except (KeyError, TypeError):
        raise ConversionFailed(f"no CloudEvent type for legacy event type {context.event_type!r}") from None
    try:
        service, resource, subject = _split(context)
        if service == PUBSUB:
            data.setdefault("messageId", context.event_id)
            data.setdefault("publishTime", context.timestamp)
            data = {"message": data}
        elif service == FIREBASE_AUTH:
            if "metadata" in data:
                _rename(data["metadata"], AUTH_FIELDS)
            if "uid" in data:
                subject = f"users/{data['uid']}"
        elif service == FIREBASE_DB:
            if "domain" not in document:
                raise ConversionFailed("a Realtime Database event needs 'domain'")
            domain = document["domain"]
            location = "us-central1" if domain == "firebaseio.com" else domain.split(".")[0]
            resource = f"projects/_/locations/{location}/{resource}"
    except (AttributeError, KeyError, TypeError) as exc:
        raise ConversionFailed(f"the legacy event does not have the fields its type needs: {exc!r}") from None
    attributes = {"id": context.event_id, "time": context.timestamp, "specversion": "1.0",
                  "datacontenttype": "application/json", "type": kind, "source": f"//{service}/{resource}"}
    if subject:
        attributes["subject"] = subject
    return CloudEvent(attributes, data)


def _split(context: Context) -> tuple[str, str, str]:
    """``(service, resource, subject)`` of a legacy event's resource."""
    if isinstance(context.resource, dict):
        service, resource = context.resource.get("service", ""), context.resource["name"]
    else:
        service, resource = "", context.resource
    if not service:
        service = next((s for prefix, s in SERVICE_BY_PREFIX if context.event_type.startswith(prefix)), "")
        if not service:
            raise ConversionFailed(f"no CloudEvent service for {context.event_type}")
    pattern = RESOURCE_SPLIT.get(service)
    if pattern is None:
        return service, resource, ""
    match = pattern.fullmatch(resource)
    if not match:
        raise ConversionFailed(f"resource {resource!r} does not have the form {service} events have")
    return service, match.group(1), match.group(2)


def _to_legacy(event: Any) -> tuple[Any, Context]:
    try:
        data = event.data
        match = re.fullmatch(r"//([^/]+)/(.+)", event["source"])
        if not match:
            raise ConversionFailed(f"source {event['source']!r} is not //service/resource")
        service, name = match.groups()
        if service == PUBSUB:
            resource: Any = {"service": service, "name": name, "type": PUBSUB_MESSAGE}
            if "message" in data:
                data = data["message"]
            for key in ("messageId", "publishTime"):
                if key in data:
                    del data[key]
        elif service == FIREBASE_AUTH:
            resource = name
            if "metadata" in data:
                _rename(data["metadata"], {new: old for old, new in AUTH_FIELDS.items()})
        elif service == STORAGE:
            resource = {"name": f"{name}/{event['subject']}", "service": service, "type": data["kind"]}
        elif service == FIREBASE_DB:
            resource = f"{re.sub('/locations/[^/]+', '', name)}/{event['subject']}"
        else:
            resource = f"{name}/{event['subject']}"
        return data, Context(event["id"], event["time"], CE_TO_LEGACY[event["type"]], resource)
    except (AttributeError, KeyError, TypeError) as exc:
        raise ConversionFailed(f"the CloudEvent does not have the fields its type needs: {exc!r}") from None


def _rename(fields: Any, names: dict[str, str]) -> None:
    for old, new in names.items():
        if old in fields:
            fields[new] = fields.pop(old)
