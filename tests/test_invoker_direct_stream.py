"""A Functions Framework function's generator response, answered by pyfunc's HTTP/1.1 server
without ASGI (``pyfunc.direct``: the Flask app in a worker thread, then ``Call.stream``), keeps
the rules of a streamed answer on the ASGI path: the per-request timeout and the drain's grace
period cut it (the connection closes, so the client knows the answer is incomplete; after a
timeout the generator is closed once its step ends, without the "generator already executing"
error closing it at once gave), and an error half-way is logged with the request id. The real
server, real requests. (First chunk, backpressure and a client leaving:
tests/test_ff_parity.py.)"""

from __future__ import annotations

import time

import requests

from conftest import stopped_during

#: Streams ``chunk N`` lines, one every ``?pause=`` seconds (0.05) for 400 of them; ``?fail=1``
#: raises after the first one.
STREAM = """
import time

def hello(request):
    def chunks():
        n = 0
        try:
            for n in range(400):
                yield f"chunk {n}\\n"
                if request.args.get("fail"):
                    raise ValueError("the stream broke on purpose")
                time.sleep(float(request.args.get("pause", "0.05")))
        finally:
            print("GENERATOR CLOSED", n, flush=True)
    return chunks()
"""


def _read(url: str) -> tuple[list[bytes], bool]:
    """The lines a client got, and whether the answer was cut short (no last chunk)."""
    lines: list[bytes] = []
    try:
        with requests.get(url, stream=True, timeout=30) as response:
            assert response.status_code == 200 and response.headers["transfer-encoding"] == "chunked"
            for line in response.iter_lines():
                lines.append(line)
    except requests.exceptions.ChunkedEncodingError:
        return lines, True
    return lines, False


def _serve(tmp_path, serve, env: dict[str, str]):
    (tmp_path / "main.py").write_text(STREAM)
    return serve(tmp_path, env, args=("--target", "hello"))


def test_a_stream_past_the_timeout_is_cut_and_the_next_request_served(tmp_path, serve):
    server = _serve(tmp_path, serve, {"PYFUNC_TIMEOUT": "1"})
    for pause in ("0.05", "5"):  # when the time is up, a step of the generator may still run for long
        started = time.monotonic()
        lines, cut = _read(server.url + f"/?pause={pause}")
        assert cut and 1 <= len(lines) < 100 and time.monotonic() - started < 3, (pause, cut, len(lines))
    lines, cut = _read(server.url + "/?pause=0")  # the next request is served whole
    assert not cut and lines == [f"chunk {n}".encode() for n in range(400)], (cut, len(lines))
    server.stop()
    assert "timed out after 1.0s" in server.output
    assert "GENERATOR CLOSED" in server.output and "already executing" not in server.output


def test_a_stream_running_when_the_grace_period_ends_is_cancelled_and_the_exit_is_zero(tmp_path, serve):
    server = _serve(tmp_path, serve, {"PYFUNC_GRACE": "1"})
    lines, cut = stopped_during(server, lambda: _read(server.url))  # (the stream would take 20 s)
    assert cut and 1 <= len(lines) < 100, (cut, len(lines))
    assert "cancelling 1 requests still running after 1s (PYFUNC_GRACE)" in server.output


def test_an_error_half_way_through_a_stream_is_logged_and_the_connection_closed(tmp_path, serve):
    server = _serve(tmp_path, serve, {})
    lines, cut = _read(server.url + "/?fail=1")
    assert cut and lines == [b"chunk 0"]
    server.stop()
    assert "ValueError: the stream broke on purpose" in server.output
    assert "raised while handling GET /" in server.output and "[request_id=" in server.output
