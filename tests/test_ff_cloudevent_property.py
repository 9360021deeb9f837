"""Property test: whatever CloudEvent-ish request reaches a ``cloudevent`` or ``event``
function, pyfunc takes or refuses it as functions-framework 3.10.2 does (same status; the
same answer too, except the 400 text README lists as ``cloudevent-400-text``, and a 400 where FF
crashes with 500 on input it cannot take, ``event-conversion-400``).

Deterministic in CI (``derandomize`` when ``CI`` is set); failures found are kept as ``@example``.
"""

from __future__ import annotations

import json
import os

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import ffdiff
from ffdiff import ff_venv  # noqa: F401  (fixture: make ff-venv)

CI = bool(os.environ.get("CI"))
CORPUS = ffdiff.ROOT / "tests" / "fixtures" / "ff-parity"

value = st.sampled_from(["", "1.0", "0.3", "x", "//pubsub.googleapis.com/projects/p/topics/t",
                         "google.cloud.pubsub.topic.v1.messagePublished", "dev.kind", "2026-01-02T03:04:05Z"])
ce_headers = st.dictionaries(st.sampled_from(["ce-specversion", "ce-id", "ce-type", "ce-source", "ce-time",
                                              "ce-subject"]), value, max_size=6)
content_type = st.sampled_from([None, "application/json", "text/plain", "application/cloudevents+json"])
body = st.one_of(
    st.sampled_from([b"", b"{}", b"[]", b"null", b"not json", b'{"message": {"data": "aGk="}}']),
    st.dictionaries(st.sampled_from(["specversion", "id", "type", "source", "data", "context", "eventId",
                                     "eventType", "resource", "timestamp"]), value, max_size=5)
    .map(lambda d: json.dumps(d).encode()),
)


@pytest.fixture(scope="module", params=["cloudevent", "event"])
def pair(request, ff_venv):
    started = ffdiff.Pair(CORPUS / request.param, ("--target", "on_event", "--signature-type", request.param))
    yield started
    started.stop()


@settings(max_examples=80, deadline=None, derandomize=CI, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ce_headers, content_type, body)
@example({}, "application/json", b"{}")
@example({}, "application/json", b'{"specversion": "", "id": "", "type": "", "source": "", "context": "1.0"}')  # found
@example({"ce-specversion": "1.0", "ce-id": "1", "ce-type": "dev.kind", "ce-source": "x"}, "text/plain", b"not json")
def test_cloudevent_requests_are_taken_or_refused_alike(pair, headers, kind, data):
    sent = dict(headers)
    if kind:
        sent["Content-Type"] = kind
    ff, ours = pair.both("POST", "/", headers=sent, data=data)
    if (ff.status, ours.status) == (500, 400):  # FF crashes on input pyfunc refuses with the reason
        assert "event-conversion-400" in ffdiff.DIFFERENCES
        return
    assert ours.status == ff.status, (sent, data, ff, ours)
    if ff.status != 400:
        pair.same("POST", "/", headers=sent, data=data)
