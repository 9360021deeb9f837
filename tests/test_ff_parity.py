"""The same HTTP functions under functions-framework 3.10.2 and under pyfunc answer alike (issue 13):
Flask mode, ASGI mode, streaming, limits, --debug.

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
from ffdiff import CORPUS, binary_headers, ff_venv, pair_of  # noqa: F401  (fixtures)
from rawhttp import exchange, request as raw_request

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


@pytest.mark.parametrize("method, kwargs", [
    ("GET", {}),  # no Content-Length the client did not send
    ("POST", {"data": b"sized"}),
    ("GET", {"headers": {"X_Custom": "underscore"}}),  # dropped, as gunicorn drops it
    ("GET", {"headers": {"X-Custom": "dash", "X_Custom": "underscore"}}),  # never posing as X-Custom
    ("GET", {"headers": {"X_Forwarded_For": "6.6.6.6"}}),
])
def test_the_function_sees_the_header_fields_functions_framework_gives_it(http, method, kwargs):
    http.same(method, "/headers", **kwargs)


class _Chunks:
    """A body that requests sends chunked, fresh for each of the two servers."""

    def __iter__(self):
        return iter([b"chun", b"ked"])


def test_a_chunked_body_keeps_its_framing_as_under_functions_framework(http):
    ff, _ = http.same("POST", "/headers", data=_Chunks())
    seen = json.loads(ff.body)
    assert seen["headers"].get("Transfer-Encoding") == "chunked" and seen["content_length"] is None
    assert seen["data"] == "chunked"


def test_a_repeated_field_is_joined_as_functions_framework_joins_it(http):
    fields = [("X-Custom", "a"), ("x-custom", "b"), ("X_Custom", "c")]  # requests cannot repeat a field
    ff, pyfunc = (json.loads(exchange(server.port, raw_request("GET", "/headers", fields)).body)
                  for server in (http.ff, http.pyfunc))
    assert pyfunc == ff and ff["headers"] == {"X-Custom": "a,b"}


def test_the_client_a_trusted_proxy_forwards_is_the_remote_address(http):
    ff, pyfunc = http.same("GET", "/headers", known="forwarded-client", headers={"X-Forwarded-For": "203.0.113.7"})
    assert json.loads(ff.body)["remote_addr"] == "127.0.0.1" and json.loads(pyfunc.body)["remote_addr"] == "203.0.113.7"


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


def test_every_listed_difference_is_exercised_here():
    """A README row no test names is a claim nobody checks."""
    assert "async-without-asgi" in ffdiff.DIFFERENCES and len(ffdiff.DIFFERENCES) >= 8
    text = "".join(path.read_text() for path in (ffdiff.ROOT / "tests").glob("test_ff_*.py"))
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

