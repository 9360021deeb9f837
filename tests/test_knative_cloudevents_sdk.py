"""A Knative func CloudEvent function served with the cloudevents SDK 1.x and 2.x installed.

The same function, run by a real ``python -m pyfunc start`` in two environments: the test
venv (cloudevents 1.x, as Functions Framework pins it) and a second venv with the invoker and
cloudevents 2.x (what today's ``func create -l python -t cloudevents`` template asks for). The
function must receive exactly the event type func-python hands it for that SDK: 2.x
(func-python 0.8.1) ``cloudevents.core.v1.event.CloudEvent``, 1.x (func-python 0.7, its last
1.x release) ``cloudevents.http.CloudEvent``; and reply in structured and binary mode.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import pytest
import requests

from conftest import ROOT, check, write_function

SDK2_VENV = ROOT / ".tools" / "venv-cloudevents2"

#: The event class each SDK major version hands a Knative function (as func-python does).
EVENT_CLASS = {1: "cloudevents.http.event.CloudEvent", 2: "cloudevents.core.v1.event.CloudEvent"}

ECHO = {
    "function/__init__.py": "from .func import new\n",
    "function/func.py": """
        def new():
            return Echo()

        class Echo:
            async def handle(self, scope, receive, send):
                event = scope["event"]
                attrs = event.get_attributes()
                kind = type(event)  # reply with the SDK's own class, whichever it is
                reply = kind({"type": "dev.pyfunc.test.echo", "source": "/echo", "id": "re-" + attrs["id"]},
                             {"echo": event.get_data(), "class": f"{kind.__module__}.{kind.__qualname__}",
                              "subject": attrs.get("subject")})
                if attrs.get("replymode") == "binary":
                    await send.binary(reply)
                else:
                    await send(reply)
    """,
}
BINARY = {"ce-specversion": "1.0", "ce-type": "com.example.sampletype", "ce-source": "example/source",
          "ce-id": "1234-5678", "ce-subject": "example-subject", "content-type": "application/json"}


def _sdk_version(python: str) -> str:
    return subprocess.run([python, "-c", "import cloudevents; print(cloudevents.__version__)"],
                          capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture(scope="session")
def sdk2_python() -> str:
    """A venv with the invoker (editable) and cloudevents 2.x, made under .tools/ again when
    the invoker's pyproject.toml changes."""
    python = SDK2_VENV / "bin" / "python"
    marker = SDK2_VENV / ".installed"
    stamp = hashlib.sha256((ROOT / "invoker" / "pyproject.toml").read_bytes()).hexdigest()
    if not marker.is_file() or marker.read_text() != stamp:
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(SDK2_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                        "-e", str(ROOT / "invoker"), "cloudevents>=2,<3"], check=True)
        marker.write_text(stamp)
    assert _sdk_version(str(python)).startswith("2."), _sdk_version(str(python))
    return str(python)


@pytest.fixture(params=[1, 2], ids=["cloudevents1", "cloudevents2"])
def sdk(request) -> tuple[int, str]:
    """(major version, python executable) of each environment."""
    if request.param == 1:
        assert _sdk_version(sys.executable).startswith("1."), "the test venv should have cloudevents 1.x"
        return 1, sys.executable
    return 2, request.getfixturevalue("sdk2_python")


@pytest.fixture
def echo(sdk, serve, tmp_path):
    major, python = sdk
    server = serve(write_function(tmp_path, ECHO), {"FUNC_INVOKE": "cloudevent"}, python=python)
    return major, server.url


def test_binary_event_in_structured_reply_out(echo):
    major, url = echo
    response = requests.post(url, headers=BINARY, data=b'{"message": "Hello CloudEvent!"}')
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/cloudevents+json")
    reply = response.json()
    assert reply["specversion"] == "1.0" and reply["type"] == "dev.pyfunc.test.echo" and reply["source"] == "/echo"
    assert reply["id"] == "re-1234-5678" and reply["time"]
    assert reply["data"] == {"echo": {"message": "Hello CloudEvent!"}, "class": EVENT_CLASS[major],
                             "subject": "example-subject"}


def test_structured_event_in_binary_reply_out(echo):
    major, url = echo
    event = {"specversion": "1.0", "type": "com.example.t", "source": "/s", "id": "e-1", "replymode": "binary",
             "datacontenttype": "application/json", "data": {"n": [1, 2]}}
    response = requests.post(url, headers={"content-type": "application/cloudevents+json"}, data=json.dumps(event))
    assert response.status_code == 200, response.text
    headers = response.headers
    assert headers["ce-id"] == "re-e-1" and headers["ce-type"] == "dev.pyfunc.test.echo" and headers["ce-source"] == "/echo"
    assert headers["ce-specversion"] == "1.0" and headers["ce-time"]
    assert "application/cloudevents+json" not in headers.get("content-type", "")
    assert json.loads(response.content) == {"echo": {"n": [1, 2]}, "class": EVENT_CLASS[major], "subject": None}


@pytest.mark.parametrize("headers, body, says", [
    ({"content-type": "application/json"}, b"{}", "not a CloudEvent"),
    ({**BINARY, "ce-specversion": "9.9"}, b"{}", "specversion '9.9' is not supported"),
    ({"content-type": "application/cloudevents+json"}, b"[1, 2]", "JSON object"),
    ({"content-type": "application/cloudevents+json"}, b'{"specversion": "1.0", "id": "x"}', "missing"),
])
def test_malformed_events_are_400_saying_why_with_either_sdk(echo, headers, body, says):
    _, url = echo
    response = requests.post(url, headers=headers, data=body)
    assert response.status_code == 400 and says in response.text, response.text


def test_todays_template_sample_served_with_cloudevents2(sdk2_python, serve):
    url = serve(ROOT / "samples" / "knative-cloudevent", {"FUNC_INVOKE": "cloudevent", "ECHO_SOURCE": "/here"},
                python=sdk2_python).url
    structured = requests.post(url, headers=BINARY, data=b'{"message": "Hi"}')
    assert structured.headers["content-type"].startswith("application/cloudevents+json")
    reply = structured.json()
    assert (reply["type"], reply["source"], reply["id"]) == ("dev.pyfunc.samples.echo", "/here", "echo-1234-5678")
    assert reply["data"] == {"echo": {"message": "Hi"}, "from": "example/source", "replies": 1}
    binary = requests.post(url, headers={**BINARY, "x-reply-mode": "binary"}, data=b'{"message": "Hi"}')
    assert binary.headers["ce-type"] == "dev.pyfunc.samples.echo" and binary.headers["ce-id"] == "echo-1234-5678"
    assert json.loads(binary.content)["replies"] == 2
    ready = requests.get(url + "/health/readiness")
    assert ready.text == "Ready after 2 replies" and ready.headers["content-type"] == "text/plain"


def test_todays_template_under_cloudevents1_is_a_clear_load_error(tmp_path):
    result = check(ROOT / "samples" / "knative-cloudevent", {"FUNC_INVOKE": "cloudevent"})
    assert result.returncode == 1, result.stdout
    assert "imports 'cloudevents.core', which is not installed" in result.stdout
    assert '"cloudevents>=2,<3" (the cloudevents 2.x API)' in result.stdout
    assert "Traceback" not in result.stdout


def test_check_names_the_event_class_of_the_installed_sdk(sdk, tmp_path):
    major, python = sdk
    result = subprocess.run([python, "-m", "pyfunc", "check", "-s", str(write_function(tmp_path, ECHO))],
                            env={"FUNC_INVOKE": "cloudevent", "PATH": "/usr/bin:/bin"}, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    shown = {1: "cloudevents.http.CloudEvent", 2: "cloudevents.core.v1.event.CloudEvent"}[major]
    assert f"scope['event']: {shown}" in result.stdout
