"""The contracts pyfunc takes over from the VMware function buildpack's invoker and from
Knative func's runtimes (parliament before 2025, func-python 0.8.1 since), checked against a
real ``python -m pyfunc start``: probe paths and bodies, command-line flags, ``main(context)``,
and func.yaml ``deploy.healthEndpoints`` paths (PYFUNC_LIVENESS_PATH / PYFUNC_READINESS_PATH).
"""

from __future__ import annotations

import json

import pytest
import requests
from cloudevents.conversion import to_binary
from cloudevents.http import CloudEvent, from_http

from conftest import check, write_function

CE_FUNCTION = {"func.py": """
    def main(data, attributes):
        attributes["type"] = "com.example.reply"
        return attributes, {"got": data}
"""}
KNATIVE_EVENT = {
    "function/__init__.py": "from .func import new\n",
    "function/func.py": """
        def new():
            return F()

        class F:
            def __init__(self):
                self.healthy = True

            async def handle(self, scope, receive, send):
                self.healthy = False  # the next liveness check fails
                await send({"type": "http.response.start", "status": 200, "headers": []})
                await send({"type": "http.response.body", "body": b"handled"})

            def alive(self):
                return self.healthy

            def ready(self):
                return True, "Ready"
    """,
}


def test_vmware_probe_paths_are_answered_before_a_cloudevent_function(serve, tmp_path):
    url = serve(write_function(tmp_path, CE_FUNCTION)).url
    for path in ("/health/live", "/health/ready"):
        response = requests.get(url + path)  # no CloudEvent: the function would answer 400
        assert response.status_code == 200 and response.text == "OK\n", (path, response.text)


@pytest.mark.parametrize("flags", [
    ("-m", "handlers", "-f", "echo"),
    ("--module_name", "handlers", "--function_name", "echo"),
    ("--module_name=handlers", "--function_name=echo", "--search_path", "{dir}"),
    ("-m", "handlers", "-f", "echo", "-s", "{dir}"),
])
def test_vmware_invoker_flags_name_module_and_function(serve, tmp_path, flags):
    write_function(tmp_path, {"handlers.py": "def echo(body):\n    return body\n\ndef other(body):\n    return b'no'\n"})
    flags = tuple(f.replace("{dir}", str(tmp_path)) for f in flags)
    url = serve(tmp_path, args=flags).url
    assert requests.post(url, data=b"ping").content == b"ping"


def test_vmware_flags_win_over_env_and_bad_ones_say_which(tmp_path):
    write_function(tmp_path, {"handlers.py": "def echo(body):\n    return body\n"})
    ok = check(tmp_path, {"MODULE_NAME": "nothere", "FUNCTION_NAME": "nope"}, "-m", "handlers", "-f", "echo")
    assert ok.returncode == 0 and "function: echo" in ok.stdout and "found by -m/-f" in ok.stdout, ok.stdout
    bad = check(tmp_path, {}, "-m", "handlers", "-f", "not-a-name")
    assert bad.returncode == 1 and "-f='not-a-name' is not a function name" in bad.stdout, bad.stdout


def test_knative_probe_answers_are_func_pythons(serve, tmp_path):
    url = serve(write_function(tmp_path, KNATIVE_EVENT)).url
    for path, body in (("/health/liveness", "OK"), ("/health/readiness", "Ready")):
        response = requests.get(url + path)
        assert (response.status_code, response.text, response.headers["content-type"]) == (200, body, "text/plain")
    assert requests.post(url, data=b"x").text == "handled"
    failed = requests.get(url + "/health/liveness")  # alive() is now False: func-python says OK with 500, we 503
    assert (failed.status_code, failed.text, failed.headers["content-type"]) == (503, "OK", "text/plain")


PARLIAMENT_HTTP = {"func.py": """
    from flask import Request


    def describe(req: Request) -> str:
        if req.method == "POST" and req.is_json:
            return str(req.json)
        return ", ".join(f"{k}={v}" for k, v in req.args.items())


    def main(context):
        if "request" in context.keys():
            assert context["request"] is context.request and "cloud_event" not in context
            return describe(context.request), 200
        return "{}", 200
"""}
PARLIAMENT_EVENT = {"func.py": """
    from cloudevents.http import CloudEvent, to_binary


    def main(context):
        event = context.cloud_event
        if event is None:
            return {"no": "event", "keys": sorted(context)}, 200
        if event["type"] == "as.event":
            return CloudEvent({"type": "com.example.fn", "source": "/fn", "id": "r-1"}, {"echo": event.data})
        headers, body = to_binary(CloudEvent({"type": "com.example.fn", "source": "https://example.com/fn"},
                                             {"message": "Howdy!"}))
        return body, 200, headers
"""}


def test_parliament_http_function_runs_unchanged(serve, tmp_path):
    server = serve(write_function(tmp_path, PARLIAMENT_HTTP))
    assert requests.get(server.url + "/?a=1&b=2").text == "a=1, b=2"
    assert requests.post(server.url, json={"x": 1}).text == "{'x': 1}"
    assert requests.get(server.url + "/health/liveness").status_code == 200


def test_parliament_check_names_the_style(tmp_path):
    result = check(write_function(tmp_path, PARLIAMENT_HTTP))
    assert result.returncode == 0 and "style:    parliament" in result.stdout, result.stdout


def test_parliament_event_function_gets_and_returns_cloudevents(serve, tmp_path):
    url = serve(write_function(tmp_path, PARLIAMENT_EVENT)).url
    headers, body = to_binary(CloudEvent({"type": "com.example.t", "source": "/s", "id": "in-1"}, {"n": 1}))
    templated = requests.post(url, headers=headers, data=body)  # the events template: to_binary by hand
    reply = from_http(dict(templated.headers), templated.content)
    assert (reply["type"], reply.data) == ("com.example.fn", {"message": "Howdy!"})
    headers, body = to_binary(CloudEvent({"type": "as.event", "source": "/s", "id": "in-2"}, {"n": 2}))
    returned = requests.post(url, headers=headers, data=body)  # a returned CloudEvent goes back binary, as is
    assert returned.headers["ce-id"] == "r-1" and returned.headers["ce-type"] == "com.example.fn"
    assert json.loads(returned.content) == {"echo": {"n": 2}}
    plain = requests.post(url, json={"hi": 1})  # an HTTP post: no event, no 400
    assert plain.json() == {"no": "event", "keys": ["request"]}
    broken = requests.post(url, headers={"ce-specversion": "1.0", "content-type": "application/json"}, data=b"{}")
    assert broken.status_code == 200 and broken.json()["no"] == "event"  # parliament: logged, cloud_event None


def test_health_endpoints_from_func_yaml_are_probes(serve, tmp_path):
    env = {"PYFUNC_LIVENESS_PATH": "/custom/alive", "PYFUNC_READINESS_PATH": "/custom/ready"}
    url = serve(write_function(tmp_path, KNATIVE_EVENT), env).url
    assert requests.get(url + "/custom/ready").text == "Ready"
    assert requests.get(url + "/custom/alive").text == "OK"
    assert requests.get(url + "/health/readiness").text == "Ready"  # the defaults stay
    assert requests.get(url + "/custom/other").text == "handled"


@pytest.mark.parametrize("value", ["health", "/a b", "/x?y=1", "/\u00e9"])
def test_a_health_endpoint_that_is_not_a_path_is_a_config_error(tmp_path, value):
    result = check(write_function(tmp_path, KNATIVE_EVENT), {"PYFUNC_READINESS_PATH": value})
    assert result.returncode == 1 and f"PYFUNC_READINESS_PATH={value!r} is not a URL path" in result.stdout, result.stdout
