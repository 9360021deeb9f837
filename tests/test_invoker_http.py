"""The invoker as a real server process answering real HTTP requests (pyfunc style)."""

from __future__ import annotations

import signal
import threading
import time

import pytest
import requests

from conftest import write_function


@pytest.fixture
def returns(tmp_path, serve):
    """A server whose main(body) returns what the request body's Python expression evaluates to."""
    write_function(tmp_path, {"func.py": """
        import werkzeug

        CALLS = []

        def main(body: bytes, headers):
            CALLS.append(1)
            if headers.get("X-Count"):
                return str(len(CALLS))
            return eval(body.decode(), {"werkzeug": werkzeug})
    """})
    return serve(tmp_path)


@pytest.mark.parametrize("expression, status, content_type, body", [
    pytest.param("'hi'", 200, "text/plain; charset=utf-8", b"hi", id="str"),
    pytest.param("b'\\x00\\x01'", 200, "application/octet-stream", b"\x00\x01", id="bytes"),
    pytest.param("{'a': 1}", 200, "application/json", b'{"a": 1}', id="dict"),
    pytest.param("[1, 2]", 200, "application/json", b"[1, 2]", id="list"),
    pytest.param("('made', 201)", 201, "text/plain; charset=utf-8", b"made", id="body-status"),
    pytest.param("('x', 202, {'Content-Type': 'text/csv'})", 202, "text/csv", b"x", id="body-status-headers"),
    pytest.param("({'e': 'no'}, 404)", 404, "application/json", b'{"e": "no"}', id="dict-status"),
    pytest.param("None", 204, None, b"", id="none-is-204"),
    pytest.param("werkzeug.Response('w', status=418, mimetype='text/x-w')", 418, "text/x-w; charset=utf-8", b"w", id="werkzeug"),
])
def test_return_values(returns, expression, status, content_type, body):
    response = requests.post(returns.url, data=expression)
    assert response.status_code == status
    assert response.headers.get("content-type") == content_type
    assert response.content == body


@pytest.mark.parametrize("path", ["/healthz/live", "/healthz/ready", "/health/liveness", "/health/readiness"])
def test_probes_answer_before_the_function(returns, path):
    assert requests.get(returns.url + path).status_code == 200
    assert requests.get(returns.url, headers={"X-Count": "1"}).text == "1"  # the probe never reached main


def test_every_path_and_method_reaches_the_function(returns):
    assert requests.put(returns.url + "/any/path?q=1", data="'ok'").text == "ok"


def test_exception_is_a_generic_500_with_request_id_in_log(returns):
    response = requests.post(returns.url, data="1/0", headers={"X-Request-Id": "req-42"})
    assert response.status_code == 500
    assert "ZeroDivisionError" not in response.text and "division" not in response.text
    assert "req-42" in response.text and response.headers["x-request-id"] == "req-42"
    assert "server" not in response.headers  # no version disclosure
    returns.stop()
    assert "Traceback" in returns.output and "request_id=req-42" in returns.output


def test_bad_return_type_is_a_500_naming_it_in_the_log(returns):
    assert requests.post(returns.url, data="object()").status_code == 500
    returns.stop()
    assert "main returned object" in returns.output


def test_request_parts_by_parameter_name(tmp_path, serve):
    write_function(tmp_path, {"func.py": """
        def main(req, body, headers):
            return {"method": req.method, "args": dict(req.args), "json": req.get_json(silent=True),
                    "body": body.decode(), "agent": headers.get("user-agent"), "path": req.path}
    """})
    server = serve(tmp_path)
    answer = requests.post(server.url + "/p?x=1", json={"k": "v"}, headers={"User-Agent": "t/1"}).json()
    assert answer == {"method": "POST", "args": {"x": "1"}, "json": {"k": "v"}, "body": '{"k": "v"}',
                      "agent": "t/1", "path": "/p"}


def test_async_function(tmp_path, serve):
    write_function(tmp_path, {"func.py": """
        import asyncio
        async def main(body):
            await asyncio.sleep(0)
            return body[::-1]
    """})
    assert requests.post(serve(tmp_path).url, data=b"abc").content == b"cba"


def test_sync_function_runs_off_the_event_loop(tmp_path, serve):
    write_function(tmp_path, {"func.py": """
        import time
        def main(body):
            time.sleep(0.5)
            return "slept"
    """})
    server = serve(tmp_path)
    results = []
    threads = [threading.Thread(target=lambda: results.append(requests.get(server.url).text)) for _ in range(8)]
    start = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == ["slept"] * 8
    assert time.monotonic() - start < 2.5  # 8 × 0.5 s run in parallel, not one after another


def test_body_limit_answers_413(tmp_path, serve):
    write_function(tmp_path, {"func.py": "def main(body): return str(len(body))\n"})
    server = serve(tmp_path, {"PYFUNC_MAX_BODY": "1000"})
    assert requests.post(server.url, data=b"x" * 1000).text == "1000"
    assert requests.post(server.url, data=b"x" * 1001).status_code == 413

    def chunks():
        for _ in range(50):
            yield b"x" * 100
    assert requests.post(server.url, data=chunks()).status_code == 413  # chunked, no Content-Length


def test_sigterm_drains_in_flight_requests_and_exits_zero(tmp_path, serve):
    write_function(tmp_path, {"func.py": """
        import time
        def main(body):
            time.sleep(1)
            return "done"
    """})
    server = serve(tmp_path)
    results = []
    threads = [threading.Thread(target=lambda: results.append(requests.get(server.url).status_code)) for _ in range(3)]
    for thread in threads:
        thread.start()
    time.sleep(0.3)
    code = server.stop(signal.SIGTERM)
    for thread in threads:
        thread.join()
    assert results == [200, 200, 200]
    assert code == 0
    with pytest.raises(requests.ConnectionError):
        requests.get(server.url, timeout=2)


def test_listen_address_and_port(tmp_path, serve):
    write_function(tmp_path, {"func.py": "def main(req): return 'ok'\n"})
    server = serve(tmp_path)
    assert requests.get(server.url).text == "ok"
    server.stop()
    assert f"127.0.0.1:{server.port}" in server.output


def test_start_failure_is_a_message_not_a_traceback(tmp_path):
    import subprocess
    import sys

    write_function(tmp_path, {"func.py": "def main(req, nope): pass\n"})
    result = subprocess.run([sys.executable, "-m", "pyfunc", "start", "-s", str(tmp_path)],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert "pyfunc start: FAILED" in result.stderr and "'nope'" in result.stderr and "Traceback" not in result.stderr
