"""Limits and failure behaviour on the real server: timeouts, backpressure, slow clients, logs."""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest
import requests

from conftest import write_function

SLOW = {"func.py": """
    import asyncio
    import time

    async def main(body):
        seconds = float(body or 0)
        await asyncio.sleep(seconds)
        return f"slept {seconds}"
"""}


def test_timeout_answers_504(tmp_path, serve):
    write_function(tmp_path, SLOW)
    server = serve(tmp_path, {"PYFUNC_TIMEOUT": "0.3"})
    assert requests.post(server.url, data="0").text == "slept 0.0"
    response = requests.post(server.url, data="2")
    assert response.status_code == 504


def test_a_timeout_error_of_the_function_is_a_500_not_a_504(tmp_path, serve):
    write_function(tmp_path, {"func.py": "def main(body):\n    raise TimeoutError('upstream slow')\n"})
    server = serve(tmp_path, {"PYFUNC_TIMEOUT": "5"})
    assert requests.post(server.url, data="0").status_code == 500


SLOW_SYNC = {"func.py": """
    import time

    def main(body):
        seconds = float(body or 0)
        time.sleep(seconds)
        return f"slept {seconds}"
"""}


@pytest.mark.parametrize("files", [SLOW, SLOW_SYNC], ids=["async", "sync"])
def test_concurrency_cap_answers_503_with_retry_after(tmp_path, serve, files):
    write_function(tmp_path, files)
    server = serve(tmp_path, {"PYFUNC_MAX_CONCURRENCY": "2"})
    statuses = []
    threads = [threading.Thread(target=lambda: statuses.append(requests.post(server.url, data="1").status_code))
               for _ in range(2)]
    for thread in threads:
        thread.start()
    time.sleep(0.3)
    busy = requests.post(server.url, data="0")
    for thread in threads:
        thread.join()
    assert busy.status_code == 503 and busy.headers["retry-after"] == "1"
    assert statuses == [200, 200]
    assert requests.get(server.url + "/healthz/ready").status_code == 200


def test_slow_clients_do_not_block_other_requests(tmp_path, serve):
    write_function(tmp_path, SLOW)
    server = serve(tmp_path)
    trickler = socket.create_connection(("127.0.0.1", server.port))
    trickler.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0")  # body never finished
    half_headers = socket.create_connection(("127.0.0.1", server.port))
    half_headers.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")  # headers never finished
    start = time.monotonic()
    for _ in range(20):
        assert requests.post(server.url, data="0", timeout=5).status_code == 200
    assert time.monotonic() - start < 5
    trickler.close()
    half_headers.close()


def test_json_request_logs_carry_id_status_duration_and_traceparent(tmp_path, serve):
    write_function(tmp_path, SLOW)
    server = serve(tmp_path, {"PYFUNC_LOG_FORMAT": "json"})
    traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    requests.post(server.url + "/p", data="0", headers={"X-Request-Id": "r-1", "traceparent": traceparent})
    requests.post(server.url, data="x")  # the function raises: 500, traceback logged as JSON
    server.stop()
    lines = [json.loads(line) for line in server.output.splitlines() if line.startswith("{")]
    assert len(lines) == len(server.output.splitlines())  # every line is JSON
    request = next(line for line in lines if line.get("request_id") == "r-1")
    assert request["method"] == "POST" and request["path"] == "/p" and request["status"] == 200
    assert request["traceparent"] == traceparent and request["duration_ms"] >= 0
    failed = [line for line in lines if line.get("status") == 500]
    assert len(failed) == 1
    assert any("exception" in line and failed[0]["request_id"] in line["message"] for line in lines)


@pytest.mark.parametrize("headers, client", [
    ({}, "127.0.0.1"),
    ({"X-Forwarded-For": "203.0.113.7, 10.0.0.1"}, "203.0.113.7"),
    ({"Forwarded": 'for="[2001:db8::1]";proto=https, for=10.0.0.1', "X-Forwarded-For": "198.51.100.2"}, "[2001:db8::1]"),
])
def test_json_request_log_records_the_client_as_proxies_forward_it(tmp_path, serve, headers, client):
    write_function(tmp_path, SLOW)
    server = serve(tmp_path, {"PYFUNC_LOG_FORMAT": "json"})
    requests.post(server.url, data="0", headers={"X-Request-Id": "c-1", **headers})
    server.stop()
    [line] = [json.loads(line) for line in server.output.splitlines() if '"c-1"' in line]
    assert line["client"] == client


def test_text_logs_by_default_without_request_lines(tmp_path, serve):
    write_function(tmp_path, SLOW)
    server = serve(tmp_path)
    requests.post(server.url, data="0")
    server.stop()
    assert not any(line.startswith("{") for line in server.output.splitlines())
    assert "POST / 200" not in server.output
