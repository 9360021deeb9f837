"""Where httptools cannot be imported (PyPy: the invoker's dependencies leave it out there),
uvicorn's h11 protocol serves instead of pyfunc's own HTTP/1.1 server (``pyfunc.server``). The
functions, the probes, the Knative hooks and the SIGTERM drain behave as they do on pyfunc's
server. Run on CPython with httptools hidden from the server process, as PyPy lacks it."""

from __future__ import annotations

import os
import signal
import statistics
import threading
import time

import pytest
import requests

from conftest import wait_for_marks, write_function

FUNCTIONS = {
    "def": "def main(body):\n    return 'hello ' + body.decode()\n",
    "async def": "async def main(body):\n    return 'hello ' + body.decode()\n",
}
#: A Knative instance whose start/stop hooks print, and whose handle marks its entry in $MARKS
#: and answers after ?seconds.
KNATIVE = """
    import asyncio
    import os
    import time

    class Function:
        started = False

        def start(self, env):
            self.started = True
            print("hook: start", flush=True)

        def stop(self):
            print("hook: stop", flush=True)

        async def handle(self, scope, receive, send):
            open(os.path.join(os.environ["MARKS"], f"in-{time.monotonic_ns()}"), "w").close()
            await asyncio.sleep(float(scope["query_string"] or b"0"))
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": b"started=%s" % str(self.started).encode()})

    def new():
        return Function()
"""


@pytest.fixture
def without_httptools(tmp_path) -> dict[str, str]:
    """The environment of a server process that cannot import httptools."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text("import sys\n\nsys.modules['httptools'] = None  # not installed, as on PyPy\n")
    return {"PYTHONPATH": os.pathsep.join(filter(None, (str(site), os.environ.get("PYTHONPATH"))))}


@pytest.mark.parametrize("kind", sorted(FUNCTIONS))
def test_uvicorn_serves_the_function_and_its_probes_where_httptools_is_missing(tmp_path, serve, without_httptools,
                                                                                kind):
    write_function(tmp_path / "fn", {"func.py": FUNCTIONS[kind]})
    server = serve(tmp_path / "fn", without_httptools)
    assert requests.post(server.url, data="world").text == "hello world"
    for probe in ("/health/liveness", "/health/readiness"):
        answer = requests.get(server.url + probe)
        assert (answer.status_code, answer.text) == (200, "OK\n")
    assert server.stop() == 0
    assert "uvicorn" in server.output  # the fallback served, not pyfunc.http1


def test_the_fallback_runs_the_knative_hooks_and_drains_a_request_in_flight(tmp_path, serve, without_httptools):
    marks = tmp_path / "marks"
    marks.mkdir()
    write_function(tmp_path / "fn", {"func.py": KNATIVE})
    server = serve(tmp_path / "fn", {**without_httptools, "MARKS": str(marks), "PYFUNC_GRACE": "10"})
    assert requests.get(server.url).text == "started=True"  # start() ran before the first request
    held: list = []
    thread = threading.Thread(target=lambda: held.append(requests.get(server.url + "/?1.5", timeout=30)))
    thread.start()
    wait_for_marks(marks, 2)  # the first request's and the held one's
    assert server.stop(signal.SIGTERM) == 0
    thread.join()
    assert [(r.status_code, r.text) for r in held] == [(200, "started=True")]  # answered before the exit
    output = server.output
    assert output.index("hook: start") < output.index("hook: stop")


#: A Knative instance that streams its answer in three small pieces.
STREAMED = """
    class Function:
        async def handle(self, scope, receive, send):
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
            for piece in (b"a", b"b", b"c"):
                await send({"type": "http.response.body", "body": piece, "more_body": True})
            await send({"type": "http.response.body", "body": b""})

    def new():
        return Function()
"""


def test_the_fallback_writes_a_streamed_answer_without_waiting_for_the_clients_acks(tmp_path, serve,
                                                                                   without_httptools):
    """Accepted connections have Nagle's algorithm off (TCP_NODELAY): asyncio sets it only when
    the listening socket was made with IPPROTO_TCP. Without it, each small write after the first
    waited for the client's delayed ACK: ~45 ms a streamed answer on a keep-alive connection."""
    write_function(tmp_path / "fn", {"func.py": STREAMED})
    server = serve(tmp_path / "fn", without_httptools)
    durations = []
    with requests.Session() as session:
        session.get(server.url)
        for _ in range(15):
            started = time.monotonic()
            assert session.get(server.url).text == "abc"
            durations.append(time.monotonic() - started)
    assert statistics.median(durations) < 0.02, durations
    assert "uvicorn" in server.output
