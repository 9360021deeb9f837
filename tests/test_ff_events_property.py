"""Property test: pyfunc's legacy-event conversions give what functions-framework 3.10.2's own
``event_conversion`` gives (the peer's code, installed from tests/requirements.txt, called
in-process with the same Flask request), or both refuse the input.

Deterministic in CI (``derandomize`` when ``CI`` is set); failures found are kept as ``@example``.
"""

from __future__ import annotations

import copy
import json
import os

import flask
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from functions_framework import event_conversion
from pyfunc.http import Request
from pyfunc.styles.functions_framework import events

APP = flask.Flask("property")
CI = bool(os.environ.get("CI"))

name = st.text(st.sampled_from("abc-_/.0"), min_size=0, max_size=12)
legacy_types = st.sampled_from(sorted(events.LEGACY_TO_CE) + ["unknown.type", ""])
resource = st.one_of(
    name.map(lambda n: f"projects/_/buckets/b/objects/{n}"),
    name.map(lambda n: f"projects/p/databases/(default)/documents/{n}"),
    name.map(lambda n: f"projects/_/instances/i/refs/{n}"),
    name.map(lambda n: f"projects/p/events/{n}"),
    name,
    st.fixed_dictionaries({"name": name, "service": st.sampled_from(["", events.PUBSUB, events.STORAGE, "x.googleapis.com"])},
                          optional={"type": name}),
)
data = st.one_of(
    st.fixed_dictionaries({}, optional={"data": name, "messageId": name, "kind": name, "uid": name,
                                        "metadata": st.fixed_dictionaries({}, optional={"createdAt": name,
                                                                                        "lastSignedInAt": name})}),
    name, st.none(),
)
legacy = st.fixed_dictionaries(
    {"data": data},
    optional={"context": st.fixed_dictionaries({"eventId": name, "timestamp": name, "eventType": legacy_types,
                                                "resource": resource}),
              "eventId": name, "timestamp": name, "eventType": legacy_types, "resource": resource,
              "domain": st.sampled_from(["firebaseio.com", "europe-west1.firebasedatabase.app"])},
)


def _converted(convert, body: dict, path: str = "/"):
    """``("ok", attributes, data)`` or ``("refused",)`` for one conversion of ``body``."""
    raw = json.dumps(body).encode()
    with APP.test_request_context(path, method="POST", data=raw, content_type="application/json"):
        flask.request.environ["pyfunc.request"] = Request(
            {"headers": [(b"content-type", b"application/json")]}, raw)
        try:
            event = convert(flask.request)
        except Exception:  # FF: EventConversionException or a stray KeyError/TypeError; pyfunc: a 400
            return ("refused",)
    return ("ok", dict(event.get_attributes()), event.data)


@settings(max_examples=300, deadline=None, derandomize=CI)
@given(legacy)
@example({"data": {"uid": "u1", "metadata": {"createdAt": "t"}}, "eventId": "1", "timestamp": "t",
          "eventType": "providers/firebase.auth/eventTypes/user.create", "resource": "projects/p"})
@example({"data": None, "eventId": "1", "timestamp": "t", "domain": "firebaseio.com",
          "eventType": "providers/google.firebase.database/eventTypes/ref.write",
          "resource": "projects/_/instances/i/refs/a"})
@example({"data": "", "context": {"eventId": "", "timestamp": "", "resource": "projects/_/buckets/b/objects/",
                                  "eventType": "providers/firebase.auth/eventTypes/user.create"}})  # found: data ''
def test_legacy_events_become_the_cloudevents_functions_framework_makes(body):
    theirs = _converted(event_conversion.background_event_to_cloud_event, copy.deepcopy(body))
    ours = _converted(events._to_cloudevent, copy.deepcopy(body))
    assert ours == theirs


ce_types = st.sampled_from(sorted(events.CE_TO_LEGACY))
sources = st.one_of(
    st.sampled_from([f"//{events.PUBSUB}/projects/p/topics/t", f"//{events.STORAGE}/projects/_/buckets/b",
                     f"//{events.FIREBASE_AUTH}/projects/p", f"//{events.FIREBASE_DB}/projects/_/locations/l/instances/i",
                     "//firestore.googleapis.com/projects/p/databases/(default)", "not-a-source"]),
    name.map(lambda n: f"//{n}"),
)


@settings(max_examples=300, deadline=None, derandomize=CI)
@given(ce_types, sources, st.one_of(name, st.none()), data.filter(lambda d: d is not None))
@example("google.cloud.firestore.document.v1.created", f"//{events.PUBSUB}/projects/p/topics/t", None, "0")  # found
def test_cloudevents_become_the_legacy_events_functions_framework_makes(kind, source, subject, payload):
    headers = {"ce-specversion": "1.0", "ce-id": "id-1", "ce-type": kind, "ce-source": source,
               "ce-time": "2026-01-02T03:04:05Z", "content-type": "application/json"}
    if subject is not None:
        headers["ce-subject"] = subject
    raw = json.dumps(payload).encode()

    def run(convert):
        with APP.test_request_context("/", method="POST", data=raw, headers=headers):
            try:
                found, context = convert(flask.request)
            except Exception:
                return ("refused",)
            return ("ok", found, vars(context))

    theirs = run(event_conversion.cloud_event_to_background_event)
    ours = run(lambda request: events._to_legacy(events._sdk_event(headers, raw)))
    assert ours == theirs


def test_the_property_tests_can_fail():
    with pytest.raises(AssertionError):
        assert _converted(events._to_cloudevent, {"data": {}, "eventType": "google.pubsub.topic.publish",
                                                  "resource": "projects/p/topics/t", "eventId": "1"}) == ("refused",)
