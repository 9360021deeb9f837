"""Requests that pyfunc's HTTP/1.1 server answers without ASGI (``pyfunc.direct``: a buffered
style's ``def`` function, a body of at most 64 KiB) keep the rules every request has: the
in-flight body budget, the per-request timeout and the drain's grace period, as the ASGI path
keeps them (``async def`` functions, which take it). The real server, real requests."""

from __future__ import annotations

import socket
import threading
import time

import pytest
import requests

from conftest import stopped_during, wait_for_marks, write_function

HOLD = {
    "sync": """
        import time

        def main(body):
            time.sleep(float(body[:4] or 0))
            return f"{len(body)} bytes"
    """,
    "async": """
        import asyncio

        async def main(body):
            await asyncio.sleep(float(body[:4] or 0))
            return f"{len(body)} bytes"
    """,
}
KIND = pytest.mark.parametrize("kind", sorted(HOLD))


def _held(url: str, body: bytes, results: list) -> threading.Thread:
    thread = threading.Thread(target=lambda: results.append(requests.post(url, data=body, timeout=30)))
    thread.start()
    return thread


#: Calls whose body starts with "hold" mark their start in $MARKS and wait for $MARKS/release.
GATED = {
    "sync": """
        import os
        import time

        def main(body):
            if body.startswith(b"hold"):
                marks = os.environ["MARKS"]
                open(os.path.join(marks, f"in-{time.monotonic_ns()}"), "w").close()
                while not os.path.exists(os.path.join(marks, "release")):
                    time.sleep(0.01)
            return f"{len(body)} bytes"
    """,
    "async": """
        import asyncio
        import os
        import time

        async def main(body):
            if body.startswith(b"hold"):
                marks = os.environ["MARKS"]
                open(os.path.join(marks, f"in-{time.monotonic_ns()}"), "w").close()
                while not os.path.exists(os.path.join(marks, "release")):
                    await asyncio.sleep(0.01)
            return f"{len(body)} bytes"
    """,
}


@KIND
def test_small_bodies_count_against_the_inflight_body_budget(tmp_path, serve, kind):
    marks = tmp_path / "marks"
    marks.mkdir()
    write_function(tmp_path / "fn", {"func.py": GATED[kind]})
    server = serve(tmp_path / "fn", {"PYFUNC_MAX_INFLIGHT_BODY": "100000", "MARKS": str(marks)})
    held: list = []
    threads = [_held(server.url, b"hold" + b"x" * 39_996, held) for _ in range(2)]  # 40 kB each
    wait_for_marks(marks, 2)  # both calls run: their bodies are in the budget, 80 of 100 kB
    refused = requests.post(server.url, data=b"x" * 40_000)
    assert refused.status_code == 503 and refused.headers["retry-after"] == "1", refused.text
    assert requests.post(server.url, data=b"x" * 16_004).text == "16004 bytes"  # fits beside them
    (marks / "release").touch()
    for thread in threads:
        thread.join()
    assert [r.text for r in held] == ["40000 bytes"] * 2
    # Given back once answered: the same body now goes through.
    assert requests.post(server.url, data=b"x" * 40_000).text == "40000 bytes"


@KIND
def test_a_call_past_the_timeout_is_answered_504_and_the_next_one_is_served(tmp_path, serve, kind):
    write_function(tmp_path, {"func.py": HOLD[kind]})
    server = serve(tmp_path, {"PYFUNC_TIMEOUT": "0.5", "MAX_WORKERS": "1"})
    started = time.monotonic()
    late = requests.post(server.url, data=b"3")
    assert late.status_code == 504 and time.monotonic() - started < 2.5
    # One worker thread, still in the late call: a replacement (sync) or the loop (async) serves this.
    assert requests.post(server.url, data=b"0").text == "1 bytes"
    server.stop()  # the log is read as it comes: all of it once stopped
    assert "timed out after 0.5s" in server.output


@KIND
def test_a_body_that_does_not_arrive_within_the_timeout_is_answered_504(tmp_path, serve, kind):
    write_function(tmp_path, {"func.py": HOLD[kind]})
    server = serve(tmp_path, {"PYFUNC_TIMEOUT": "0.5"})
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: test\r\nContent-Length: 10\r\n\r\n0  ")  # 3 of 10 bytes
        started = time.monotonic()
        answer = sock.recv(65536)
        waited = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 504 "), answer
    assert 0.4 < waited < 2.5
    assert requests.post(server.url, data=b"0").text == "1 bytes"


@KIND
def test_calls_still_running_when_the_grace_period_ends_are_cancelled_and_the_exit_is_zero(tmp_path, serve, kind):
    write_function(tmp_path, {"func.py": HOLD[kind]})
    server = serve(tmp_path, {"PYFUNC_GRACE": "1"})
    held = stopped_during(server, lambda: _outcome(server.url))  # (the call would take 20 s)
    assert held == (500, "Internal Server Error", "close")  # as uvicorn answers a cancelled request
    assert "cancelling 1 requests still running after 1s (PYFUNC_GRACE)" in server.output


def _outcome(url: str) -> tuple | str:
    try:
        response = requests.post(url, data=b"20", timeout=30)
    except requests.ConnectionError:
        return "closed without an answer"
    return response.status_code, response.text, response.headers.get("connection")
