"""The same functions under functions-framework 3.10.2 and under pyfunc answer alike (issue 13).

Every case sends one request to both servers (``ffdiff.Pair``) and compares status, body
and headers; ``known=`` names a row of README's "Coming from Functions Framework" table.
The corpus is tests/fixtures/ff-parity/: one directory per signature type and mode.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
import requests

import ffdiff

CORPUS = ffdiff.ROOT / "tests" / "fixtures" / "ff-parity"


@pytest.fixture(scope="session")
def ff_venv():
    """functions-framework 3.10.2 in .tools/ff-venv (``make ff-venv``; made here when missing)."""
    if not ffdiff.FF_BIN.exists():
        made = subprocess.run(["make", "ff-venv"], cwd=ffdiff.ROOT, capture_output=True, text=True)
        if made.returncode != 0:
            pytest.fail(f"make ff-venv failed:\n{made.stdout}\n{made.stderr}")
    return ffdiff.FF_BIN


@pytest.fixture(scope="module")
def pair_of(ff_venv):
    pairs = []

    def start(name: str, *args: str, env: dict | None = None) -> ffdiff.Pair:
        pair = ffdiff.Pair(CORPUS / name, args, env)
        pairs.append(pair)
        return pair

    yield start
    for pair in pairs:
        pair.stop()


@pytest.fixture(scope="module")
def http(pair_of):
    return pair_of("http", "--target", "hello")


# -- http (Flask mode) ------------------------------------------------------------------------

@pytest.mark.parametrize("method, path, kwargs", [
    ("GET", "/", {}),
    ("GET", "/?name=ff", {}),
    ("GET", "/json?name=x", {}),
    ("GET", "/list", {}),
    ("GET", "/tuple", {}),
    ("GET", "/jsonify", {}),
    ("GET", "/bytes", {}),
    ("GET", "/abort", {}),
    ("GET", "/forbidden", {}),
    ("GET", "/crash", {}),
    ("GET", "/none", {}),
    ("GET", "/redirect", {}),
    ("POST", "/echo", {"data": b"\x00\x01 body", "headers": {"Content-Type": "application/x-thing"}}),
    ("POST", "/form", {"data": {"a": "1", "b": "two"}}),
    ("PUT", "/deep/path/x", {"data": b"x"}),
    ("HEAD", "/", {}),
    ("OPTIONS", "/", {}),
    ("TRACE", "/", {}),
    ("GET", "/stream", {}),
])
def test_http_function_answers_as_functions_framework(http, method, path, kwargs):
    http.same(method, path, **kwargs)


@pytest.mark.parametrize("path", ["/robots.txt", "/favicon.ico"])
def test_robots_and_favicon_are_404_without_calling_the_function(http, path):
    ff, _ = http.same("GET", path)
    assert ff.status == 404


def test_errorhandler_registered_through_functions_framework_is_honoured(http):
    ff, _ = http.same("GET", "/teapot")
    assert ff.status == 418 and ff.body == b"I'm a teapot"


def test_function_target_and_signature_type_are_in_the_environment(http):
    ff, _ = http.same("GET", "/env")
    assert json.loads(ff.body) == {"FUNCTION_TARGET": "hello", "FUNCTION_SIGNATURE_TYPE": "http"}


def test_current_app_at_import_and_relative_imports(http):
    ff, _ = http.same("GET", "/app")
    assert ff.body == b"hello hello from a relative import"


def test_execution_id_is_the_requests_own_or_a_new_one(http):
    http.same("GET", "/execution-id?echo=1", headers={"Function-Execution-Id": "given-id-1"})
    ff, _ = http.same("GET", "/execution-id")
    assert ff.body == b"12 True"


def test_crash_keeps_the_request_id_in_a_header_and_the_log(pair_of):
    pair = pair_of("http", "--target", "hello")
    ff, ours = pair.same("GET", "/crash", headers={"X-Request-Id": "req-crash-1"})  # "request-id": not compared
    assert ours.headers["x-request-id"] == "req-crash-1" and ours.headers["x-google-status"] == "crash"
    assert "x-request-id" not in ff.headers
    _, output = pair.stop()
    assert "[request_id=req-crash-1]" in output and "ValueError: boom" in output


def test_generator_streams_its_first_chunk_before_it_ends(tmp_path, serve):
    (tmp_path / "main.py").write_text(
        "import time\n"
        "def hello(request):\n"
        "    def chunks():\n"
        "        yield 'first\\n'\n"
        "        time.sleep(float(request.args.get('s', '3')))\n"
        "        yield 'second\\n'\n"
        "    return chunks()\n")
    server = serve(tmp_path, args=("--target", "hello"))
    started = time.monotonic()
    with requests.get(server.url + "/?s=3", stream=True, timeout=30) as response:
        lines = response.iter_lines()
        first = next(lines)
        waited = time.monotonic() - started
        assert first == b"first" and waited < 2.5, f"first chunk after {waited:.2f}s"
        assert list(lines) == [b"second"]


@pytest.mark.parametrize("mode", [(), ("--asgi",)])
def test_a_client_leaving_stops_the_generator(tmp_path, serve, mode):
    (tmp_path / "main.py").write_text(
        "import time\n"
        "def hello(request):\n"
        "    def chunks():\n"
        "        try:\n"
        "            for n in range(10_000):\n"
        "                yield f'chunk {n}\\n'\n"
        "                time.sleep(0.05)\n"
        "        finally:\n"
        "            print('GENERATOR CLOSED', n, flush=True)\n"
        "    return chunks()\n")
    server = serve(tmp_path, args=("--target", "hello", *mode))
    with requests.get(server.url, stream=True, timeout=30) as response:
        assert next(response.iter_lines()) == b"chunk 0"
    time.sleep(3)
    server.stop()
    closed = [line for line in server.output.splitlines() if "GENERATOR CLOSED" in line]
    assert closed and int(closed[0].split()[-1]) < 1000, server.output[-2000:]


def test_generators_stream_alike(pair_of):
    flask_mode = pair_of("stream", "--target", "hello")
    ff, _ = flask_mode.same("GET", "/")
    assert ff.body == b"0,1,2,3,4,"
    ff, ours = flask_mode.same("GET", "/async", known="async-generator")
    assert ff.status == 500 and ours.body == b"0,1,2,3,4,"
    asgi_mode = pair_of("stream", "--target", "hello", "--asgi")
    ff, _ = asgi_mode.same("GET", "/starlette")
    assert ff.body == b"0,1,2,3,4,"
    for path in ("/", "/async"):
        ff, ours = asgi_mode.same("GET", path, known="generator-in-asgi-mode")
        assert ff.status == 500 and ours.body == b"0,1,2,3,4,"


@pytest.mark.parametrize("mode", [(), ("--asgi",)])
def test_streaming_waits_for_a_slow_client(tmp_path, serve, mode):
    (tmp_path / "main.py").write_text((CORPUS / "stream" / "main.py").read_text())
    server = serve(tmp_path, args=("--target", "hello", *mode))
    path = "/big" if not mode else "/big"
    with requests.get(server.url + path, stream=True, timeout=60) as response:
        assert len(next(response.iter_content(65536))) > 0
        time.sleep(2)  # without backpressure the generator would make all 4000 chunks (256 MiB) by now
        produced = int(requests.get(server.url + "/count", timeout=30).text)
    assert 0 < produced < 1000, produced


@pytest.mark.parametrize("path", ["/healthz/ready", "/health/liveness"])
def test_probe_paths_are_answered_before_the_function(http, path):
    ff, ours = http.same("GET", path, known="health-probes")
    assert ff.body == b"Hello world" and ours.body == b"OK\n"


def test_bodies_over_the_limit_are_refused(http, asgi):
    for pair in (http, asgi):
        ff, ours = pair.same("POST", "/echo", data=b"x" * (10 * 1024 * 1024 + 1), known="body-limit")
        assert ff.status == 200 and ours.status == 413


def test_a_streamed_body_over_the_limit_is_refused_in_asgi_mode(asgi):
    class Chunks:  # sent chunked (no Content-Length), afresh to each server
        def __iter__(self):
            return (b"x" * (1024 * 1024) for _ in range(11))

    ff, ours = asgi.same("POST", "/echo", data=Chunks(), known="body-limit")
    assert ff.status == 200 and ours.status == 413


@pytest.mark.parametrize("signature", ["event", "typed"])
def test_asgi_mode_refuses_event_and_typed_functions_as_functions_framework(ff_venv, signature):
    directory = CORPUS / ("event" if signature == "event" else "typed")
    target = "on_event" if signature == "event" else "greet"
    args = ["--target", target, "--signature-type", signature, "--asgi", "--port", str(ffdiff.free_port())]
    theirs = subprocess.run([str(ff_venv), *args], cwd=directory, capture_output=True, text=True, timeout=60)
    ours = subprocess.run([sys.executable, "-m", "pyfunc", "start", *args], cwd=directory, capture_output=True,
                          text=True, timeout=60)
    assert theirs.returncode != 0 and "does not support" in theirs.stderr
    assert ours.returncode == 1 and f"The {signature} signature type has no ASGI mode" in ours.stderr


def test_async_http_function_without_asgi_mode(pair_of):
    pair = pair_of("http_async", "--target", "hello")
    ff, ours = pair.same("GET", "/?name=a", known="async-without-asgi")
    assert ff.status == 500 and ours.body == b"async hello a"


# -- ASGI mode ------------------------------------------------------------------------------

@pytest.fixture(scope="module", params=["flag", "env"])
def asgi(pair_of, request):
    if request.param == "flag":
        return pair_of("asgi", "--target", "hello", "--asgi")
    return pair_of("asgi", "--target", "hello", env={"FUNCTION_USE_ASGI": "true"})


@pytest.mark.parametrize("method, path, kwargs", [
    ("GET", "/?name=asgi", {}),
    ("GET", "/json?name=s", {}),
    ("GET", "/tuple", {}),
    ("GET", "/tuple-json", {}),
    ("GET", "/response", {}),
    ("GET", "/json-response", {}),
    ("GET", "/none", {}),
    ("GET", "/crash", {}),
    ("GET", "/number", {}),
    ("POST", "/echo", {"data": b"raw", "headers": {"Content-Type": "text/x-raw"}}),
    ("GET", "/robots.txt", {}),
    ("GET", "/favicon.ico", {}),
    ("HEAD", "/", {}),
    ("DELETE", "/a/b", {}),
    ("GET", "/env", {}),
    ("GET", "/execution-id", {}),
    ("GET", "/execution-id?echo=1", {"headers": {"Function-Execution-Id": "given-2"}}),
])
def test_asgi_mode_gives_a_starlette_request(asgi, method, path, kwargs):
    asgi.same(method, path, **kwargs)


def test_asgi_mode_405_for_other_methods(asgi):
    ff, _ = asgi.same("TRACE", "/")
    assert ff.status == 405


def test_asgi_mode_sync_function(pair_of):
    pair = pair_of("asgi_sync", "--target", "hello", "--asgi")
    ff, _ = pair.same("GET", "/x?q=1")
    assert json.loads(ff.body) == {"sync": True, "method": "GET", "q": "1"}
    pair.same("GET", "/crash")


@pytest.mark.parametrize("target", ["hello", "on_event"])
def test_aio_decorators_choose_asgi_mode(pair_of, target):
    pair = pair_of("aio", "--target", target)
    if target == "hello":
        ff, _ = pair.same("GET", "/p")
        assert json.loads(ff.body) == {"starlette": True, "path": "/p"}
    else:
        ff, _ = pair.same("POST", "/", headers=binary_headers("aio-1"), json={"k": 1})
        assert ff.body == b"OK"
        pair.same("POST", "/", json={"k": 1})


# -- CloudEvents ------------------------------------------------------------------------------

def binary_headers(event_id: str, kind: str = "dev.test.kind", source: str = "/tests", **extra) -> dict:
    return {"ce-specversion": "1.0", "ce-id": event_id, "ce-type": kind, "ce-source": source,
            "ce-time": "2026-01-02T03:04:05Z", "Content-Type": "application/json", **extra}


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


def test_every_listed_difference_is_exercised_here():
    """A README row no test names is a claim nobody checks."""
    assert "async-without-asgi" in ffdiff.DIFFERENCES and len(ffdiff.DIFFERENCES) >= 8
    text = open(__file__).read()
    unchecked = [name for name in ffdiff.DIFFERENCES if f'"{name}"' not in text]
    assert not unchecked, f"README lists differences no test exercises: {unchecked}"


def test_function_use_asgi_must_be_a_boolean(ff_venv, tmp_path):
    (tmp_path / "main.py").write_text("def hello(request):\n    return 'x'\n")
    env = {**os.environ, "FUNCTION_USE_ASGI": "maybe"}
    theirs = subprocess.run([str(ff_venv), "--target", "hello"], cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=60)
    ours = subprocess.run([sys.executable, "-m", "pyfunc", "check", "--target", "hello"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)
    assert theirs.returncode != 0 and "FUNCTION_USE_ASGI" not in theirs.stdout
    assert ours.returncode == 1 and "FUNCTION_USE_ASGI='maybe' is not a boolean" in ours.stderr


def test_debug_mode_crash_page(pair_of):
    pair = pair_of("http", "--target", "hello", "--debug")
    for path in ("/json", "/list", "/jsonify", "/abort", "/teapot", "/stream", "/env", "/app"):
        pair.same("GET", path)
    ff, ours = pair.same("GET", "/crash", known="debug-crash-page")
    assert ff.status == ours.status == 500 and ours.headers["x-google-status"] == "crash"


# -- --debug live reload ------------------------------------------------------------------------

def _answer(url: str) -> str | None:
    try:
        return requests.get(url, timeout=5).text
    except requests.RequestException:
        return None


@pytest.mark.parametrize("in_image", [False, True])
def test_debug_restarts_the_function_when_its_source_changes(tmp_path, serve, in_image):
    source = tmp_path / "main.py"
    source.write_text("def hello(request):\n    return 'v1'\n")
    env = {"CNB_LAYERS_DIR": str(tmp_path / "layers")} if in_image else {}
    server = serve(tmp_path, env, args=("--target", "hello", "--debug"))
    assert _answer(server.url) == "v1"
    source.write_text("def hello(request):\n    return 'version 2'\n")
    deadline = time.monotonic() + (4 if in_image else 30)
    while time.monotonic() < deadline and _answer(server.url) != "version 2":
        time.sleep(0.2)
    assert _answer(server.url) == ("v1" if in_image else "version 2")
    assert server.stop() == 0


@pytest.mark.parametrize("value, expected", [("1", True), ("true", True), ("Yes", True), ("on", True),
                                             ("0", False), ("false", False), ("", False), ("off", False)])
def test_function_use_asgi_values(tmp_path, value, expected):
    from pyfunc.config import Config

    assert Config.load({"search_dir": str(tmp_path)}, {"FUNCTION_USE_ASGI": value}).asgi is expected
    assert Config.load({"search_dir": str(tmp_path), "asgi": True}, {}).asgi is True
