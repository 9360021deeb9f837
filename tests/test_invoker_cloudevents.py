"""CloudEvent functions on the real server, with events made and read by the cloudevents SDK."""

from __future__ import annotations

import json
import subprocess

import pytest
import requests
from cloudevents.conversion import to_binary, to_structured
from cloudevents.http import CloudEvent, from_http

from conftest import ROOT, write_function


@pytest.fixture
def sample(serve):
    return serve(ROOT / "samples" / "cloudevent")


def event(data=None, **attributes) -> CloudEvent:
    return CloudEvent({"type": "dev.test.in", "source": "/tests", "id": "in-1", **attributes}, data)


@pytest.mark.parametrize("mode", [to_binary, to_structured], ids=["binary", "structured"])
def test_reply_event_in_the_request_mode(sample, mode):
    headers, body = mode(event({"message": "one two three"}))
    response = requests.post(sample.url, headers=headers, data=body)
    assert response.status_code == 200
    reply = from_http(dict(response.headers), response.content)
    assert reply["type"] == "dev.pyfunc.samples.wordcount"
    assert reply["source"] == "/samples/cloudevent"
    assert reply["subject"] == "in-1"
    assert reply["id"] != "in-1"  # a fresh id, not the incoming one
    assert reply.data == {"words": 3, "in_reply_to": "dev.test.in"}
    structured = response.headers["content-type"].startswith("application/cloudevents+json")
    assert structured == (mode is to_structured)


def test_knative_guide_curl_command(sample):
    """The curl of the Knative func Python guide, verbatim but for the URL."""
    result = subprocess.run([
        "curl", "-s", "-i", "-X", "POST", sample.url,
        "-H", "Ce-Specversion: 1.0", "-H", "Ce-Type: com.example.sampletype", "-H", "Ce-Source: example/source",
        "-H", "Ce-Id: 1234-5678-9101", "-H", "Ce-Subject: example-subject", "-H", "Content-Type: application/json",
        "-d", '{"message": "Hello CloudEvent!"}',
    ], capture_output=True, text=True, check=True)
    head, _, body = result.stdout.partition("\n\n")
    assert head.startswith("HTTP/1.1 200")
    assert "ce-type: dev.pyfunc.samples.wordcount" in head.lower()
    assert json.loads(body) == {"words": 2, "in_reply_to": "com.example.sampletype"}


def test_whole_event_and_none_reply_is_202(tmp_path, serve):
    write_function(tmp_path, {"func.py": """
        SEEN = []
        def main(event):
            SEEN.append(event["id"])
            return None
    """})
    headers, body = to_binary(event("x"))
    assert requests.post(serve(tmp_path).url, headers=headers, data=body).status_code == 202


def test_event_object_reply_and_payload(tmp_path, serve):
    write_function(tmp_path, {"func.py": """
        from cloudevents.http import CloudEvent
        def main(payload):
            return CloudEvent({"type": "out", "source": "/f", "id": "fixed"}, {"echo": payload})
    """})
    headers, body = to_binary(event({"a": 1}))
    response = requests.post(serve(tmp_path).url, headers=headers, data=body)
    reply = from_http(dict(response.headers), response.content)
    assert reply["type"] == "out" and reply.data == {"echo": {"a": 1}} and reply["id"] != "fixed"


def test_seed_example_with_req_attributes_and_data(tmp_path, serve):
    write_function(tmp_path, {"func.py": """
        import logging
        from typing import Any

        counter = 0

        def main(data: Any, attributes: dict, req: Any):
            global counter
            counter = counter + 1
            logging.info(f"Got data: {data}")
            attributes["type"] = "com.example.reply"
            attributes["datacontenttype"] = "text/plain"
            return attributes, f"{req.method} {counter}"
    """})
    headers, body = to_binary(event({"k": 1}))
    response = requests.post(serve(tmp_path).url, headers=headers, data=body)
    assert response.status_code == 200
    assert response.headers["ce-type"] == "com.example.reply"
    assert response.headers["ce-id"] != "in-1"
    assert response.text == "POST 1"


@pytest.mark.parametrize("headers, body, reason", [
    pytest.param({"Content-Type": "application/json"}, b"{}", "not a CloudEvent", id="plain-http"),
    pytest.param({"ce-specversion": "1.0", "ce-type": "t", "ce-source": "s"}, b"{}", "ce-id", id="missing-id"),
    pytest.param({"ce-specversion": "9.9", "ce-type": "t", "ce-source": "s", "ce-id": "1"}, b"", "specversion", id="bad-specversion"),
    pytest.param({"Content-Type": "application/cloudevents+json"}, b"{not json", "not JSON", id="structured-not-json"),
    pytest.param({"Content-Type": "application/cloudevents+json"}, b"[1, 2]", "JSON object", id="structured-array"),
    pytest.param({"Content-Type": "application/cloudevents+json"}, b'{"specversion": "1.0", "id": "1"}', "source", id="structured-missing"),
    pytest.param({"Content-Type": "application/cloudevents-batch+json"}, b"[]", "batch", id="batch"),
])
def test_malformed_events_are_400_with_reason(sample, headers, body, reason):
    response = requests.post(sample.url, headers=headers, data=body)
    assert response.status_code == 400
    assert reason in response.text


def test_reply_without_type_is_a_500(tmp_path, serve):
    write_function(tmp_path, {"func.py": "def main(data):\n    return {'source': '/x'}, 'd'\n"})
    server = serve(tmp_path)
    headers, body = to_binary(event("x"))
    assert requests.post(server.url, headers=headers, data=body).status_code == 500
    server.stop()
    assert "without type" in server.output
