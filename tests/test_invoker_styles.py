"""Every function style of the seeds on the real server, sync and async variants alike."""

from __future__ import annotations

import subprocess
import sys

import pytest
import requests
from cloudevents.conversion import to_binary, to_structured
from cloudevents.http import CloudEvent, from_http

from conftest import check, write_function

SYNC_ASYNC = pytest.mark.parametrize("kind", ["def", "async def"])


def event(data=None) -> CloudEvent:
    return CloudEvent({"type": "dev.test", "source": "/tests", "id": "in-7"}, data)


# -- Knative func ---------------------------------------------------------------------------

KNATIVE = """
    import json

    def new():
        return Function()

    class Function:
        def __init__(self):
            self.calls = 0
            self.cfg = {}
            self.healthy = True

        def start(self, cfg):
            self.cfg = cfg
            print("START", cfg.get("GREETING"), flush=True)

        def stop(self):
            print("STOP called", flush=True)

        def alive(self):
            return self.healthy

        def ready(self):
            return (self.calls < 2, "ready" if self.calls < 2 else "too many calls")

        KIND handle(self, scope, receive, send):
            self.calls += 1
            body = {"calls": self.calls, "greeting": self.cfg.get("GREETING"), "path": scope["path"]}
            SEND({"type": "http.response.start", "status": 200, "headers": [[b"content-type", b"application/json"]]})
            SEND({"type": "http.response.body", "body": json.dumps(body).encode()})
"""


@SYNC_ASYNC
def test_knative_instance_hooks_and_probes(tmp_path, serve, kind):
    source = KNATIVE.replace("KIND", kind).replace("SEND(", "await send(" if kind == "async def" else "send(")
    write_function(tmp_path, {"function/__init__.py": "from .func import new\n", "function/func.py": source})
    server = serve(tmp_path, {"GREETING": "hola"})
    assert requests.get(server.url + "/health/liveness").status_code == 200
    assert requests.get(server.url + "/health/readiness").text.strip() == "ready"
    assert requests.get(server.url + "/x").json() == {"calls": 1, "greeting": "hola", "path": "/x"}
    assert requests.get(server.url).json()["calls"] == 2
    not_ready = requests.get(server.url + "/health/readiness")
    assert not_ready.status_code == 503 and "too many calls" in not_ready.text
    assert requests.get(server.url).json()["calls"] == 3  # probes never reached handle
    assert server.stop() == 0
    assert "START hola" in server.output and "STOP called" in server.output


def test_knative_factory_named_new_whatever_its_name(tmp_path, serve):
    write_function(tmp_path, {"function/__init__.py": """
        class Function:
            async def handle(self, scope, receive, send):
                await send({"type": "http.response.start", "status": 200, "headers": []})
                await send({"type": "http.response.body", "body": b"class as factory"})

        new = Function
    """})
    assert requests.get(serve(tmp_path).url).text == "class as factory"


@SYNC_ASYNC
def test_knative_module_level_asgi_handle(tmp_path, serve, kind):
    send = "await send" if kind == "async def" else "send"
    write_function(tmp_path, {"function/__init__.py": f"""
        {kind} handle(scope, receive, send):
            {send}({{"type": "http.response.start", "status": 201, "headers": []}})
            {send}({{"type": "http.response.body", "body": b"module handle"}})
    """})
    response = requests.get(serve(tmp_path).url)
    assert (response.status_code, response.text) == (201, "module handle")


def test_knative_start_that_raises_stops_the_process_with_a_clear_error(tmp_path):
    write_function(tmp_path, {"function/__init__.py": """
        class F:
            def start(self, cfg):
                raise RuntimeError("database unreachable")
            async def handle(self, scope, receive, send):
                pass
        def new():
            return F()
    """})
    result = subprocess.run([sys.executable, "-m", "pyfunc", "start", "-s", str(tmp_path)], capture_output=True,
                            text=True, timeout=30, env={"LISTEN_ADDRESS": "127.0.0.1:0", "PATH": "/usr/bin:/bin"})
    assert result.returncode != 0
    assert "start() raised RuntimeError: database unreachable" in result.stderr


@pytest.mark.parametrize("mode", [to_binary, to_structured], ids=["binary", "structured"])
def test_knative_cloudevent_variant(tmp_path, serve, mode):
    write_function(tmp_path, {"function/__init__.py": """
        from cloudevents.http import CloudEvent

        def new():
            return F()

        class F:
            async def handle(self, scope, receive, send):
                incoming = scope["event"]
                await send(CloudEvent({"type": "reply", "source": "/f"}, {"got": incoming.get_data()}))
    """, "func.yaml": "runtime: python\ninvoke: cloudevent\n"})
    server = serve(tmp_path, {"FUNC_INVOKE": "cloudevent"})
    headers, body = mode(event({"n": 1}))
    response = requests.post(server.url, headers=headers, data=body)
    reply = from_http(dict(response.headers), response.content)
    assert response.status_code == 200 and reply["type"] == "reply" and reply.data == {"got": {"n": 1}}
    assert requests.post(server.url, json={"plain": True}).status_code == 400


def test_knative_exception_is_generic_500(tmp_path, serve):
    write_function(tmp_path, {"function/__init__.py": """
        async def handle(scope, receive, send):
            raise KeyError("secret-detail")
    """})
    server = serve(tmp_path)
    response = requests.get(server.url)
    assert response.status_code == 500 and "secret-detail" not in response.text


# -- handle(logger, request) ----------------------------------------------------------------

@SYNC_ASYNC
def test_handler_template(tmp_path, serve, kind):
    write_function(tmp_path, {
        "function/__init__.py": "",
        "function/utils.py": "def shout(text):\n    return text.upper()\n",
        "function/handler.py": f"""
            from . import utils

            {kind} handle(logger, request):
                logger.info("handling %s", request.get("name"))
                return {{"message": utils.shout(request.get("name", "x")), "metadata": request["metadata"]}}
        """,
    })
    server = serve(tmp_path)
    answer = requests.post(server.url, json={"name": "ada", "metadata": {"projectID": "p1"}},
                           headers={"X-Request-Id": "act-9"}).json()
    assert answer == {"message": "ADA", "metadata": {"activityID": "act-9", "projectID": "p1"}}
    not_json = requests.post(server.url, data=b"name=ada")
    assert not_json.status_code == 400 and "not JSON" in not_json.text
    assert requests.post(server.url, json=[1, 2]).status_code == 400
    server.stop()
    assert "[act-9] handling ada" in server.output


def test_handler_activity_id_is_the_request_id_of_the_error_log(tmp_path, serve):
    write_function(tmp_path, {"function/__init__.py": "", "function/handler.py": """
        def handle(logger, request):
            logger.info("about to fail")
            raise ValueError("no")
    """})
    server = serve(tmp_path)
    response = requests.post(server.url, json={})
    assert response.status_code == 500
    server.stop()
    activity = response.headers["x-request-id"]
    assert f"[{activity}] about to fail" in server.output and f"request_id={activity}" in server.output


# -- Functions Framework --------------------------------------------------------------------

FF_HTTP = """
    import flask

    KIND hello(request):
        if request.args.get("missing"):
            flask.abort(404)
        if request.args.get("crash"):
            raise ValueError("boom-detail")
        return flask.jsonify(hello=request.args.get("name", "world")), 201, {"X-Extra": "1"}
"""


@SYNC_ASYNC
def test_functions_framework_http_with_the_same_flags(tmp_path, serve, kind):
    write_function(tmp_path, {"main.py": FF_HTTP.replace("KIND", kind)})
    server = serve(tmp_path, args=("--target", "hello", "--signature-type", "http"))
    response = requests.get(server.url + "/any?name=ff")
    assert response.status_code == 201 and response.json() == {"hello": "ff"} and response.headers["x-extra"] == "1"
    assert requests.get(server.url + "/?missing=1").status_code == 404
    crash = requests.get(server.url + "/?crash=1")
    assert crash.status_code == 500 and crash.headers["x-google-status"] == "crash" and "boom" not in crash.text


def test_functions_framework_env_settings(tmp_path, serve):
    write_function(tmp_path, {"src/app.py": FF_HTTP.replace("KIND", "def")})
    server = serve(tmp_path, {"FUNCTION_TARGET": "hello", "FUNCTION_SOURCE": "src/app.py"})
    assert requests.get(server.url).json() == {"hello": "world"}


def test_functions_framework_legacy_event(tmp_path, serve):
    write_function(tmp_path, {"main.py": """
        SEEN = []
        def on_event(data, context):
            SEEN.append((data, context.event_id, context.event_type, context.resource, context.timestamp))
            print("EVENT", SEEN[-1], flush=True)
    """})
    server = serve(tmp_path, args=("--target", "on_event", "--signature-type", "event"))
    legacy = {"data": {"k": 1}, "context": {"eventId": "e1", "eventType": "t.legacy", "resource": "r1",
                                               "timestamp": "2026-01-01T00:00:00Z"}}
    assert requests.post(server.url, json=legacy).text == "OK"
    headers, body = to_binary(event({"k": 2}))
    assert requests.post(server.url, headers=headers, data=body).status_code == 200
    server.stop()
    assert "EVENT ({'k': 1}, 'e1', 't.legacy', 'r1', '2026-01-01T00:00:00Z')" in server.output
    # A binary CloudEvent of no Google type: the raw body and the ce-eventId... headers, as functions-framework
    assert """EVENT (b'{"k": 2}', None, None, None, None)""" in server.output


@SYNC_ASYNC
def test_functions_framework_cloudevent_by_parameter_name(tmp_path, serve, kind):
    write_function(tmp_path, {"main.py": f"""
        {kind} receive_event(cloud_event):
            print("CE", cloud_event["id"], cloud_event.data, flush=True)
    """})
    server = serve(tmp_path, {"FUNCTION_TARGET": "receive_event"})
    headers, body = to_binary(event({"a": 1}))
    assert requests.post(server.url, headers=headers, data=body).text == "OK"
    assert requests.post(server.url, json={"a": 1}).status_code == 400
    server.stop()
    assert "CE in-7 {'a': 1}" in server.output


@pytest.mark.parametrize("decorator, expected", [("http", "http"), ("cloud_event", "cloudevent")])
def test_functions_framework_decorators_set_the_signature_type(tmp_path, decorator, expected):
    write_function(tmp_path, {"main.py": f"""
        import functions_framework

        @functions_framework.{decorator}
        def target(request_or_event):
            return "ok"
    """})
    result = check(tmp_path, {"FUNCTION_TARGET": "target"})
    assert result.returncode == 0, result.stdout
    assert f"decorator registers it as {expected}" in result.stdout
    assert f"Functions Framework {expected} function" in result.stdout


# -- resolution -----------------------------------------------------------------------------

@pytest.mark.parametrize("files, env, style", [
    pytest.param({"func.py": "def main(req): pass\n"}, {}, "pyfunc", id="pyfunc"),
    pytest.param({"function/__init__.py": "class F:\n    async def handle(self, scope, receive, send): pass\nnew = F\n"},
                 {}, "knative", id="knative-new"),
    pytest.param({"function/__init__.py": "", "function/handler.py": "def handle(logger, request): pass\n"}, {},
                 "handler", id="handler"),
    pytest.param({"main.py": "def f(data, context): pass\n"}, {"FUNCTION_TARGET": "f"}, "functions-framework", id="ff-event"),
    pytest.param({"func.py": "def main(req): pass\n"}, {"FUNCTION_SIGNATURE_TYPE": "http"}, "functions-framework",
                 id="explicit-signature-type"),
])
def test_check_prints_the_resolved_style_and_why(tmp_path, files, env, style):
    write_function(tmp_path, files)
    result = check(tmp_path, env)
    assert result.returncode == 0, result.stdout
    assert f"style:    {style} (" in result.stdout


def test_unknown_signature_type_is_a_config_error(tmp_path):
    write_function(tmp_path, {"func.py": "def main(req): pass\n"})
    result = check(tmp_path, {"FUNCTION_SIGNATURE_TYPE": "grpc"})
    assert result.returncode == 1 and "Unknown signature type 'grpc'" in result.stdout
