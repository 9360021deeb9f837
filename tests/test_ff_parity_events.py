"""The same event, CloudEvent and typed functions under functions-framework 3.10.2 and under
pyfunc take the same input and answer alike (issue 13); the environment and log lines too.

``known=`` names a row of README's "Coming from Functions Framework" table.
"""

from __future__ import annotations

import json

import pytest

import ffdiff
from ffdiff import binary_headers, ff_venv, pair_of  # noqa: F401  (fixtures)


# -- CloudEvents ------------------------------------------------------------------------------

STRUCTURED = {"specversion": "1.0", "id": "s-1", "type": "dev.test.kind", "source": "/tests", "time": "2026-01-02T03:04:05Z",
              "datacontenttype": "application/json", "data": {"k": "structured"}}
PUBSUB_LEGACY = {"context": {"eventId": "1215011316659232", "timestamp": "2020-05-18T12:13:19.209Z",
                             "eventType": "google.pubsub.topic.publish",
                             "resource": {"service": "pubsub.googleapis.com", "name": "projects/sample-project/topics/gcf-test",
                                          "type": "type.googleapis.com/google.pubsub.v1.PubsubMessage"}},
                 "data": {"@type": "type.googleapis.com/google.pubsub.v1.PubsubMessage",
                          "attributes": {"attr1": "attr1-value"}, "data": "dGVzdCBtZXNzYWdlIDM="}}
STORAGE_LEGACY = {"context": {"eventId": "1147091835525187", "timestamp": "2020-04-23T07:38:57.772Z",
                              "eventType": "google.storage.object.finalize",
                              "resource": {"service": "storage.googleapis.com",
                                           "name": "projects/_/buckets/some-bucket/objects/folder/Test.cs",
                                           "type": "storage#object"}},
                  "data": {"bucket": "some-bucket", "kind": "storage#object", "name": "folder/Test.cs"}}
AUTH_LEGACY = {"data": {"email": "test@nowhere.com", "metadata": {"createdAt": "2020-05-26T10:42:27.088Z",
                                                                   "lastSignedInAt": "2020-10-24T11:00:00.000Z"},
                        "uid": "UUpby3s4spZre6kHsgVSPetzQ8l2"},
               "eventId": "aaaaaa-1111-bbbb-2222-cccccccccccc", "eventType": "providers/firebase.auth/eventTypes/user.create",
               "notSupported": {}, "resource": "projects/my-project-id", "timestamp": "2020-09-29T11:32:00.000Z"}
DB_LEGACY = {"eventType": "providers/google.firebase.database/eventTypes/ref.write",
             "params": {"child": "xyz"}, "auth": {"admin": True}, "domain": "europe-west1.firebasedatabase.app",
             "data": None, "delta": {"grandchild": "other"},
             "resource": "projects/_/instances/my-project-id/refs/gcf-test/xyz",
             "timestamp": "2020-09-29T11:32:00.000Z", "eventId": "aaaaaa-1111-bbbb-2222-cccccccccccc"}
RAW_PUBSUB = {"subscription": "projects/p/subscriptions/s",
              "message": {"data": "aGVsbG8=", "messageId": "m-1", "publishTime": "2021-01-01T00:00:00Z",
                          "attributes": {"a": "b"}}}


@pytest.fixture(scope="module", params=["flask", "asgi"])
def cloudevent(pair_of, request):
    args = ("--target", "on_event", "--signature-type", "cloudevent")
    if request.param == "asgi":
        return pair_of("cloudevent_asgi", *args, "--asgi")
    return pair_of("cloudevent", *args)


def _seen(output: str, marker: str = "SEEN ") -> list:
    return [json.loads(line.split(marker, 1)[1]) for line in output.splitlines() if marker in line]


def test_cloudevents_reach_the_function_alike(pair_of):
    pair = pair_of("cloudevent", "--target", "on_event", "--signature-type", "cloudevent")
    cases = [
        dict(headers=binary_headers("b-1"), json={"k": "binary"}),
        dict(headers=binary_headers("b-2", **{"Content-Type": "text/plain"}), data=b"text data"),
        dict(headers={"Content-Type": "application/cloudevents+json"}, data=json.dumps(STRUCTURED)),
        dict(headers={"Content-Type": "application/json"}, data=json.dumps(STRUCTURED)),  # structured, JSON type
        dict(json=PUBSUB_LEGACY),
        dict(json=STORAGE_LEGACY),
        dict(json=AUTH_LEGACY),
        dict(json=DB_LEGACY),
        dict(json=RAW_PUBSUB, path="/projects/p/topics/t"),
    ]
    for case in cases:
        path = case.pop("path", "/")
        ff, _ = pair.same("POST", path, **case)
        assert ff.status == 200 and ff.body == b"OK", (case, ff)
    theirs, ours = pair.stop()
    assert _seen(ours) == _seen(theirs) and len(_seen(theirs)) == len(cases)


@pytest.mark.parametrize("method, path, kwargs", [
    ("GET", "/", {}),
    ("PUT", "/x", {"json": {}}),
    ("POST", "/", {"data": b"not json", "headers": {"Content-Type": "text/plain"}}),
    ("POST", "/", {"data": b"{not json", "headers": {"Content-Type": "application/json"}}),
])
def test_cloudevent_functions_refuse_other_requests_alike(cloudevent, method, path, kwargs):
    ff, _ = cloudevent.same(method, path, **kwargs)
    assert ff.status in (400, 405, 415)


@pytest.mark.parametrize("source", ["", "::not a uri", "%zz", "//service/with/path"])
def test_any_ce_source_is_taken_as_functions_framework_takes_it(cloudevent, source):
    cloudevent.same("POST", "/", headers=binary_headers("src-1", source=source), json={"s": source})


def test_not_a_cloudevent_is_a_400(pair_of):
    pair = pair_of("cloudevent", "--target", "on_event", "--signature-type", "cloudevent")
    ff, ours = pair.same("POST", "/", json={"no": "event"}, known="cloudevent-400-text")
    assert ff.status == ours.status == 400 and b"converting from background event" in ours.body
    ff, ours = pair.same("POST", "/", headers=binary_headers("b-3", **{"ce-specversion": "0.1"}), data=b"{}",
                         known="cloudevent-400-text")
    assert ff.status == ours.status == 400 and b"invalid specversion 0.1" in ours.body


def test_cloudevent_asgi_mode_400_text(pair_of):
    pair = pair_of("cloudevent_asgi", "--target", "on_event", "--signature-type", "cloudevent", "--asgi")
    ff, _ = pair.same("POST", "/", json={"no": "event"})
    assert ff.status == 400 and ff.body.startswith(b"Bad Request: Got CloudEvent exception")
    pair.same("POST", "/", headers=binary_headers("a-1"), json={"k": 1})


def test_async_cloudevent_function(pair_of):  # "async-cloudevent": the same answer, but only pyfunc ran it
    pair = pair_of("cloudevent", "--target", "on_event_async", "--signature-type", "cloudevent")
    pair.same("POST", "/", headers=binary_headers("async-1"), json={})
    theirs, ours = pair.stop()
    assert "SEEN-ASYNC async-1" in ours and "SEEN-ASYNC" not in theirs  # FF never awaits it


# -- legacy events ----------------------------------------------------------------------------

def test_event_functions_get_data_and_context_alike(pair_of):
    pair = pair_of("event", "--target", "on_event", "--signature-type", "event")
    cases = [
        dict(json=PUBSUB_LEGACY),
        dict(json={"data": {"flat": 1}, "eventId": "e-2", "timestamp": "t", "eventType": "x.y", "resource": "r"}),
        dict(json=RAW_PUBSUB, path="/projects/p/topics/t"),
        dict(headers=binary_headers("c-1", "google.cloud.pubsub.topic.v1.messagePublished",
                                    "//pubsub.googleapis.com/projects/p/topics/t"),
             json={"message": {"data": "aGk=", "messageId": "m", "publishTime": "2021-01-01T00:00:00Z"}}),
        dict(headers=binary_headers("c-2", "google.cloud.storage.object.v1.finalized",
                                    "//storage.googleapis.com/projects/_/buckets/b", **{"ce-subject": "objects/o"}),
             json={"kind": "storage#object", "name": "o"}),
        dict(headers=binary_headers("c-3"), json={"other": "event"}),
    ]
    for case in cases:
        path = case.pop("path", "/")
        ff, _ = pair.same("POST", path, **case)
        assert ff.body == b"OK", (case, ff)
    for method, path, kwargs in [("GET", "/", {}), ("GET", "/x", {}), ("POST", "/", {}),
                                 ("POST", "/", {"data": b"x", "headers": {"Content-Type": "text/plain"}})]:
        pair.same(method, path, **kwargs)
    theirs, ours = pair.stop()
    assert _seen(ours) == _seen(theirs) and len(_seen(theirs)) == len(cases)


def test_an_unconvertible_known_cloudevent_is_a_400(pair_of):
    pair = pair_of("event", "--target", "on_event", "--signature-type", "event")
    headers = binary_headers("bad-1", "google.cloud.pubsub.topic.v1.messagePublished", "not-a-google-source")
    ff, ours = pair.same("POST", "/", headers=headers, json={"message": {}}, known="event-conversion-400")
    assert ff.status == 500 and ours.status == 400 and b"is not //service/resource" in ours.body


# -- typed ----------------------------------------------------------------------------------

@pytest.mark.parametrize("target", ["greet", "reflect"])
def test_typed_functions_answer_alike(pair_of, target):
    pair = pair_of("typed", "--target", target)
    ff, _ = pair.same("POST", "/", json={"name": "typed"})
    assert ff.status == 200 and json.loads(ff.body) == {"greeting": "hello typed"}
    for body in ({"name": "none"}, {"name": "text"}, {"name": "nodict"}, {"name": "crash"}, {"other": 1}):
        pair.same("POST", "/", json=body)
    pair.same("POST", "/", data=b"{not json", headers={"Content-Type": "application/json"})
    pair.same("GET", "/")


def test_typed_by_signature_type_and_annotation(pair_of):
    pair = pair_of("typed", "--target", "annotated", "--signature-type", "typed")
    ff, ours = pair.same("POST", "/", json={"name": "a"}, known="typed-by-annotation")
    assert ff.status == 500 and json.loads(ours.body) == {"greeting": "hello a"}


# -- environment and logs ----------------------------------------------------------------------

@pytest.mark.parametrize("mode", [(), ("--asgi",)])
def test_log_execution_id_tags_prints_and_logs(pair_of, mode):
    pair = pair_of("logs", "--target", "hello", *mode, env={"LOG_EXECUTION_ID": "true"})
    pair.same("GET", "/", headers={"Function-Execution-Id": "exec-123",
                                   "X-Cloud-Trace-Context": "105445aa7843bc8bf206b12000100000/42;o=1"})
    theirs, ours = pair.stop()

    def lines(output):  # "log-severity": pyfunc's extra field left out
        found = ffdiff.json_lines(output, "exec-123")
        return sorted((json.dumps({k: v for k, v in line.items() if k != "severity"}, sort_keys=True)
                       for line in found))

    assert lines(ours) == lines(theirs) and len(lines(theirs)) == 4
    severities = {line.get("message", "json"): line["severity"] for line in ffdiff.json_lines(ours, "exec-123")}
    assert severities == {"printed line": "INFO", "to stderr": "ERROR", "warned here": "WARNING", "json": "ERROR"}


def test_entry_point_legacy_mode(pair_of):
    pair = pair_of("legacy", "--target", "hello", env={"ENTRY_POINT": "hello", "K_SERVICE": "svc"})
    ff, _ = pair.same("GET", "/none")
    assert ff.body == b"OK"
    theirs, ours = pair.stop()

    def lines(output):  # FF also writes {"message": ""} for each bare newline; pyfunc leaves those out
        return sorted(json.dumps(line, sort_keys=True) for line in ffdiff.json_lines(output, "legacy ")
                      if line.get("message"))

    assert lines(ours) == lines(theirs) and len(lines(theirs)) >= 3, (theirs[-1500:], ours[-1500:])


def test_cloud_run_timeout_with_threaded_timeout(pair_of):
    pair = pair_of("http", "--target", "hello",
                   env={"CLOUD_RUN_TIMEOUT_SECONDS": "1", "THREADED_TIMEOUT_ENABLED": "true"})
    ff, _ = pair.same("GET", "/slow?s=4")
    assert ff.status == 500
    pair.same("GET", "/json")
