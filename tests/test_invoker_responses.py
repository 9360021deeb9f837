"""What a function answers reaches the client as valid, unambiguous HTTP (issue 9).

The server owns framing: Content-Length / Transfer-Encoding set by the function never go out
beside the server's own. A status or header that cannot be sent is a 500 carrying the request
id (the client always gets an answer), and the log says what was invalid.
"""

from __future__ import annotations

import http.client
import itertools
import re

import pytest

from conftest import Server, write_function
from rawhttp import exchange, request

#: Each function evaluates the request body: the answer to give, in its style's terms.
PYFUNC = """
import werkzeug

def main(body):
    return eval(body.decode(), {"werkzeug": werkzeug})
"""

FF_HTTP = """
import flask

def hello(request):
    return eval(request.get_data(as_text=True), {"flask": flask})
"""

HANDLER = """
import json

def handle(logger, request):
    return eval(request["answer"])
"""

#: The Knative handle evaluates the body to (status, headers, [body messages]) and sends them.
KNATIVE = """
def new():
    return Function()

class Function:
    async def handle(self, scope, receive, send):
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        status, headers, parts = eval(body.decode())
        await send({"type": "http.response.start", "status": status, "headers": headers})
        for index, part in enumerate(parts):
            await send({"type": "http.response.body", "body": part, "more_body": index < len(parts) - 1})
"""

STYLES = {
    "pyfunc": ({"func.py": PYFUNC}, {}),
    "ff-http": ({"main.py": FF_HTTP}, {"FUNCTION_TARGET": "hello"}),
    "handler": ({"function/__init__.py": "", "function/handler.py": HANDLER}, {}),
    "knative": ({"function/__init__.py": KNATIVE}, {}),
}

_ids = itertools.count(1)


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    started: dict[str, Server] = {}

    def get(style: str) -> Server:
        if style not in started:
            files, env = STYLES[style]
            started[style] = Server(write_function(tmp_path_factory.mktemp(style), files), env)
        return started[style]

    yield get
    for server in started.values():
        server.stop()


def ask(server: Server, style: str, answer: str, method: str = "POST"):
    """Send ``answer`` (the expression the function evaluates) on a raw socket; the parsed answer."""
    body = f'{{"answer": {answer!r}}}'.encode() if style == "handler" else answer.encode()
    rid = f"resp-{next(_ids)}"
    headers = {"Content-Type": "application/json", "Content-Length": str(len(body)), "X-Request-Id": rid}
    return exchange(server.port, request(method, "/", headers, body)), rid


def assert_single_framing(answer, body: bytes) -> None:
    assert answer.all("transfer-encoding") == []
    assert answer.all("content-length") == [str(len(body))]
    assert answer.body == body
    assert answer.raw.endswith(body)  # nothing after the body: the framing matches what was sent


# -- the server owns framing --------------------------------------------------------------------

FRAMING = {
    "pyfunc": ["('hello', 200, {'Content-Length': '100'})", "('hello', 200, {'Transfer-Encoding': 'chunked'})",
               "('hello', 200, {'Content-Length': '1', 'Transfer-Encoding': 'chunked'})",
               "werkzeug.Response('hello', headers={'Transfer-Encoding': 'chunked'})"],
    "ff-http": ["('hello', 200, {'Content-Length': '100'})", "('hello', 200, {'Transfer-Encoding': 'chunked'})"],
    "handler": ["('hello', 200, {'Content-Length': '100'})", "('hello', 200, {'Transfer-Encoding': 'chunked'})"],
    "knative": ["(200, [(b'content-length', b'100')], [b'hello'])", "(200, [[b'content-length', b'100']], [b'hello'])",
                "(200, [(b'Transfer-Encoding', b'chunked')], [b'hello'])",
                "(200, [(b'content-length', b'5'), (b'content-length', b'7')], [b'hello'])",
                "(200, [(b'content-length', b'1'), (b'transfer-encoding', b'chunked')], [b'hello'])"],
}


@pytest.mark.parametrize("style, answer", [(s, a) for s, answers in FRAMING.items() for a in answers])
def test_function_framing_headers_never_reach_the_wire(servers, style, answer):
    response, _ = ask(servers(style), style, answer)
    assert response.status == 200
    assert_single_framing(response, b"hello")


def test_streamed_asgi_body_keeps_a_declared_length_or_is_chunked(servers):
    server = servers("knative")
    declared, _ = ask(server, "knative", "(200, [(b'content-length', b'10')], [b'hello', b'world'])")
    assert declared.all("content-length") == ["10"] and declared.all("transfer-encoding") == []
    assert declared.body == b"helloworld"
    chunked, _ = ask(server, "knative", "(200, [(b'transfer-encoding', b'chunked'), (b'content-length', b'3')],"
                                        " [b'hello', b'world'])")
    assert chunked.all("content-length") == [] and chunked.all("transfer-encoding") == ["chunked"]
    assert chunked.body == b"helloworld"


@pytest.mark.parametrize("style, answer", [
    ("pyfunc", "('gone', 204, {'Content-Length': '4'})"),
    ("knative", "(204, [(b'content-length', b'4')], [b'gone'])"),
    ("pyfunc", "None"),
])
def test_no_content_answers_carry_no_body_and_keep_the_connection_usable(servers, style, answer):
    server = servers(style)
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=20)
    try:
        connection.request("POST", "/", body=answer.encode())
        first = connection.getresponse()
        assert first.status == 204 and first.read() == b""
        assert first.getheader("content-length") is None and first.getheader("transfer-encoding") is None
        connection.request("POST", "/", body=("'again'" if style == "pyfunc" else "(200, [], [b'again'])").encode())
        second = connection.getresponse()  # same connection: the 204 left no stray bytes behind
        assert second.status == 200 and second.read() == b"again"
    finally:
        connection.close()


def test_framing_warning_is_logged_once(tmp_path):
    server = Server(write_function(tmp_path, {"func.py": PYFUNC}))
    try:
        for _ in range(3):
            assert ask(server, "pyfunc", "('hello', 200, {'Content-Length': '100'})")[0].status == 200
        assert ask(server, "pyfunc", "('hello', 200, {'Content-Length': '5'})")[0].status == 200  # right: silent
    finally:
        server.stop()
    assert server.output.count("the function set content-length: 100 (the body has 5 bytes)") == 1
    assert "content-length: 5;" not in server.output


# -- what cannot be sent is a 500 with the request id -----------------------------------------

INVALID = {
    "pyfunc": [("('x', 200, {'X-Bad': 'a\\r\\nX-Injected: 1'})", "control character"),
               ("('x', 200, {'X-Bad': 'a\\x00b'})", "control character"),
               ("('x', 200, {'Bad Name': 'v'})", "not an HTTP token"),
               ("('x', 200, {'X-Bad\\r\\nX-Injected': 'v'})", "not an HTTP token"),
               ("werkzeug.Response('x', status=999)", "status 999"),
               ("('x', 999)", "status 999"),
               ("('x', -1)", "status -1")],
    # Werkzeug itself refuses a newline in a header value: the function raised (a 500 all the same)
    "ff-http": [("('x', 999)", "status 999"), ("('x', 200, {'X-Bad': 'a\\nX-Injected: 1'})", "newline")],
    "handler": [("('x', 200, {'X-Bad': 'a\\r\\nX-Injected: 1'})", "control character")],
    "knative": [("(999, [], [b'x'])", "status 999"), ("(-1, [], [b'x'])", "status -1"),
                ("('200', [], [b'x'])", "status '200'"),
                ("(200, [('content-type', 'text/plain')], [b'x'])", "not a pair of bytes"),
                ("(200, [(b'x-bad', b'a\\r\\nx-injected: 1')], [b'x'])", "control character"),
                ("(200, [(b'x bad', b'v')], [b'x'])", "not an HTTP token"),
                ("(200, [b'no-pair'], [b'x'])", "not a (name, value) pair"),
                ("(200, [(b'x-list', [b'v'])], [b'x'])", "not a (name, value) pair"),
                ("(200, [[b'x-list', 'v']], [b'x'])", "not a pair of bytes")],
}


@pytest.mark.parametrize("style", list(INVALID))
def test_invalid_status_or_header_is_a_500_with_request_id_and_logged(tmp_path, style):
    files, env = STYLES[style]
    server = Server(write_function(tmp_path, files), env)
    asked = []
    try:
        for answer, reason in INVALID[style]:
            response, rid = ask(server, style, answer)
            assert response.status == 500, answer
            assert response.get("x-request-id") == rid, answer
            # the Functions Framework style answers FF's own 500 page (README "Coming from Functions Framework")
            assert style == "ff-http" or rid.encode() in response.body, answer
            assert b"x-injected" not in response.raw.lower(), answer
            if style == "ff-http":
                assert response.get("x-google-status") == "crash"
            asked.append((answer, reason, rid))
        assert ask(server, style, "('fine', 200)" if style != "knative" else "(200, [], [b'fine'])")[0].body == b"fine"
    finally:
        server.stop()
    for answer, reason, rid in asked:
        at = server.output.index(f"[request_id={rid}]")
        logged = server.output[server.output.rindex("\n", 0, at):server.output.find("[request_id=", at + 1)]
        assert "cannot be sent" in logged or "raised" in logged, (answer, logged)
        assert reason in logged, (answer, logged)


def test_any_header_from_an_asgi_handle_is_sent_exactly_or_answered_500(servers):
    """Property: whatever bytes a handle puts in a header, the client gets an answer — the
    header as sent (valid token name, value without control characters) or a 500 — never a
    closed connection, never a header split into two."""
    from hypothesis import HealthCheck, example, given, settings
    from hypothesis import strategies as st

    server = servers("knative")
    token = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
    names = st.one_of(st.sampled_from([b"x-ok", b"X-Mixed", b"content-length", b"transfer-encoding", b"", b"a b",
                                       b"a:b", b"\xe9", b"x\r\ny"]), st.binary(min_size=0, max_size=8))
    values = st.one_of(st.sampled_from([b"v", b"", b"a\r\nx-injected: 1", b"\x00", b"\t tab", b"caf\xe9", b"\x7f"]),
                       st.binary(max_size=12))

    @settings(max_examples=80, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
    @given(name=names, value=values)
    @example(name=b"x-ok", value=b"a\nx-injected: 1")
    @example(name=b"x-ok", value=b" padded ")
    def check(name, value):
        answer, rid = ask(server, "knative", f"(200, [({name!r}, {value!r})], [b'hello'])")
        valid = token.fullmatch(name) is not None and re.search(rb"[\x00-\x08\x0a-\x1f\x7f]", value) is None
        assert answer.status == (200 if valid else 500), answer.raw[:300]
        if not valid:
            assert rid.encode() in answer.body
            return
        assert answer.body == b"hello" and answer.all("content-length") == ["5"]
        if name.lower() not in (b"content-length", b"transfer-encoding"):
            sent = [v for k, v in answer.headers if k.lower() == name.decode().lower()]
            assert sent == [value.decode("latin-1").strip(" \t")]

    check()
