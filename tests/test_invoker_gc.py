"""The cycle collector stays off the request path: a request leaves no reference cycle behind
(its objects are freed as it is answered, not by a collection that pauses every request in
flight), and what was imported and loaded before serving is frozen out of the collector's reach
(``pyfunc.server``: Python's ``gc.freeze``). Both were measured as the p99 of the ``def``
styles: 9.4 ms before, 3.9 ms after (BENCHMARKS.md). The real server, real requests; the
function itself asks the collector."""

from __future__ import annotations

import json
import textwrap

import pytest
import requests

from conftest import write_function

#: The function's view of the collector: "off" stops automatic collections and clears what is
#: there, "count" collects and answers how many unreachable objects it found, "fail" raises,
#: anything else is a plain request.
PROBE = textwrap.dedent("""
    import gc

    def probe(command):
        if command == "off":
            gc.disable()
            gc.collect()
            return "0"
        if command == "count":
            found = gc.collect()
            gc.enable()
            return str(found)
        if command == "frozen":
            return str(gc.get_freeze_count())
        if command == "fail":
            raise ValueError("failing on purpose")
        return "hello"
""")
STYLES = {
    "pyfunc-def": ({"func.py": PROBE + "\ndef main(body):\n    return probe(body.decode())\n"}, {}),
    "pyfunc-async": ({"func.py": PROBE + "\nasync def main(body):\n    return probe(body.decode())\n"}, {}),
    "handler": ({"function/__init__.py": "",
                 "function/handler.py": PROBE + "\ndef handle(logger, request):\n    return {'said': probe(request['c'])}\n"},
                {"content-type": "application/json"}),
}


def _say(session: requests.Session, url: str, command: str, headers: dict, status: int = 200) -> str:
    body = json.dumps({"c": command}) if headers else command
    answer = session.post(url, data=body, headers=headers)
    assert answer.status_code == status, answer.text
    return answer.json()["said"] if headers and status == 200 else answer.text


@pytest.mark.parametrize("style", sorted(STYLES))
def test_answered_and_failed_requests_leave_no_garbage_for_the_cycle_collector(tmp_path, serve, style):
    files, headers = STYLES[style]
    write_function(tmp_path, files)
    server = serve(tmp_path)
    with requests.Session() as session:
        _say(session, server.url, "off", headers)
        for _ in range(150):
            assert _say(session, server.url, "plain", headers) == "hello"
            assert "Internal Server Error" in _say(session, server.url, "fail", headers, 500)
        found = int(_say(session, server.url, "count", headers))
    # A cycle per request leaves at least 300 objects. Before: the direct path's exchange and
    # call held each other (13 objects per request), and the frames of a failure's traceback
    # held the error (24 per failed request). None are left now; a few would be the connection's.
    assert found < 30, f"{found} unreachable objects after 300 requests"
    assert server.stop() == 0
    assert server.output.count("ValueError: failing on purpose") == 150  # each failure logged with its traceback


def test_closed_connections_leave_no_garbage_for_the_cycle_collector(tmp_path, serve):
    """A client without keep-alive opens a connection per request. Before, each closed
    connection left a cycle of 24 objects: the connection and its parser (which holds the
    connection's callbacks), and the connection and its last exchange."""
    write_function(tmp_path, {"func.py": PROBE + "\ndef main(body):\n    return probe(body.decode())\n"})
    server = serve(tmp_path)
    assert requests.post(server.url, data="off").text == "0"
    for _ in range(100):  # closed by the client
        with requests.Session() as session:
            assert session.post(server.url, data="plain").text == "hello"
    for _ in range(50):  # closed by the server, after a lingering close
        assert requests.post(server.url, data="plain", headers={"Connection": "close"}).text == "hello"
    found = int(requests.post(server.url, data="count").text)
    assert found < 30, f"{found} unreachable objects after 150 closed connections"


@pytest.mark.parametrize("processes", ["1", "2"])
def test_what_was_loaded_before_serving_is_frozen(tmp_path, serve, processes):
    write_function(tmp_path, {"func.py": PROBE + "\ndef main(body):\n    return probe(body.decode())\n"})
    server = serve(tmp_path, {"WEB_CONCURRENCY": processes})
    frozen = int(requests.post(server.url, data="frozen").text)
    assert frozen > 1000  # the invoker's modules and the function's, at least
