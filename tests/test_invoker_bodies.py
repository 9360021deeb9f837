"""Every style sees the whole request body, whatever its framing (issue 9: nothing lost).

Each function below records a digest of the body part it received in a file and, where its
style lets it answer, returns it; the requests are written on raw sockets so that the framing
(Content-Length, chunked, HTTP/1.0) is exactly the one under test.
"""

from __future__ import annotations

import hashlib
import json

import pytest

from conftest import Server, write_function
from rawhttp import chunked, exchange, request

RECORD = """
import hashlib, os

def seen(blob):
    digest = hashlib.sha256(blob.encode()).hexdigest()
    with open(os.environ["SEEN_FILE"], "a") as out:
        out.write(digest + "\\n")
    return digest
"""

KNATIVE_HTTP = RECORD + """
import json

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
        digest = seen(json.loads(body)["blob"]).encode()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": digest})
"""

KNATIVE_EVENT = RECORD + """
def new():
    return Function()

class Function:
    async def handle(self, scope, receive, send):
        digest = seen(scope["event"].get_data()["blob"]).encode()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": digest})
"""

#: style → (files, extra env, whether the request is a binary-mode CloudEvent, whether the answer carries the digest)
STYLES = {
    "pyfunc-body": ({"func.py": RECORD + "import json\ndef main(body):\n    return seen(json.loads(body)['blob'])\n"},
                    {}, False, True),
    "pyfunc-req-json": ({"func.py": RECORD + "def main(req):\n    return seen(req.get_json()['blob'])\n"}, {}, False, True),
    "pyfunc-req-form": ({"func.py": RECORD + "def main(req):\n    return seen(req.form['blob'])\n"}, {}, False, True),
    "pyfunc-headers-body": ({"func.py": RECORD + "import json\ndef main(headers, body):\n"
                                                 "    return seen(json.loads(body)['blob'])\n"}, {}, False, True),
    "pyfunc-event-data": ({"func.py": RECORD + "def main(data):\n    seen(data['blob'])\n"}, {}, True, False),
    "knative-asgi": ({"function/__init__.py": KNATIVE_HTTP}, {}, False, True),
    "knative-cloudevent": ({"function/__init__.py": KNATIVE_EVENT}, {"FUNC_INVOKE": "cloudevent"}, True, True),
    "ff-http": ({"main.py": RECORD + "def hello(request):\n    return seen(request.get_json()['blob'])\n"},
                {"FUNCTION_TARGET": "hello"}, False, True),
    # a CloudEvent of no Google type reaches an event function as its raw body, as in FF 3.10.2
    "ff-event": ({"main.py": RECORD + "import json\n\ndef hello(data, context):\n    seen(json.loads(data)['blob'])\n"},
                 {"FUNCTION_TARGET": "hello"}, True, False),
    "ff-cloudevent": ({"main.py": RECORD + "def hello(cloud_event):\n    seen(cloud_event.data['blob'])\n"},
                      {"FUNCTION_TARGET": "hello"}, True, False),
    "handler": ({"function/__init__.py": "", "function/handler.py": RECORD +
                 "def handle(logger, request):\n    return {'digest': seen(request['blob'])}\n"}, {}, False, True),
}

#: ~120 kB, so that the body spans several reads of the server; not repetitive, so a lost or
#: reordered piece changes the digest.
BLOB = "".join(f"{i:06d}" for i in range(20000))
DIGEST = hashlib.sha256(BLOB.encode()).hexdigest()


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    """One server per style, started on first use, stopped after the module."""
    started: dict[str, tuple[Server, object]] = {}

    def get(style: str):
        if style not in started:
            files, env, _, _ = STYLES[style]
            directory = write_function(tmp_path_factory.mktemp(style), files)
            seen_file = directory / "seen.txt"
            started[style] = (Server(directory, {"SEEN_FILE": str(seen_file), **env}), seen_file)
        return started[style]

    yield get
    for server, _ in started.values():
        server.stop()


def _request(style: str, framing: str) -> tuple[bytes, bool]:
    """The request bytes for ``style`` in ``framing``, and whether to half-close after sending."""
    _, _, event, _ = STYLES[style]
    if style == "pyfunc-req-form":
        content_type, body = "application/x-www-form-urlencoded", f"blob={BLOB}&n=1".encode()
    else:
        content_type, body = "application/json", json.dumps({"blob": BLOB, "n": 1}).encode()
    headers = [("Content-Type", content_type)]
    if event:
        headers += [("ce-specversion", "1.0"), ("ce-id", "body-1"), ("ce-source", "/tests"), ("ce-type", "dev.test")]
    if framing == "content-length":
        return request("POST", "/", headers + [("Content-Length", str(len(body)))], body), False
    if framing == "chunked":
        return request("POST", "/", headers + [("Transfer-Encoding", "chunked")], chunked(body)), False
    if framing == "http/1.0-content-length":
        return request("POST", "/", headers + [("Content-Length", str(len(body)))], body, version="1.0"), False
    assert framing == "http/1.0-until-close"
    return request("POST", "/", headers, body, version="1.0"), True


@pytest.mark.parametrize("framing", ["content-length", "chunked", "http/1.0-content-length"])
@pytest.mark.parametrize("style", list(STYLES))
def test_every_style_sees_the_whole_body(servers, style, framing):
    server, seen_file = servers(style)
    before = seen_file.read_text().splitlines() if seen_file.exists() else []
    data, half_close = _request(style, framing)
    answer = exchange(server.port, data, half_close)
    assert answer.status in (200, 202), answer.raw[:500]
    assert seen_file.read_text().splitlines() == before + [DIGEST]
    if STYLES[style][3]:
        assert DIGEST.encode() in answer.body


@pytest.mark.parametrize("style", list(STYLES))
def test_http10_body_without_length_is_refused_not_dropped(servers, style):
    """HTTP/1.0 has no chunked coding and a request body is never delimited by the close
    (RFC 1945 8.3, RFC 9112 6.3): rather than hand the function an empty body, 411."""
    server, seen_file = servers(style)
    before = seen_file.read_text() if seen_file.exists() else ""
    data, half_close = _request(style, "http/1.0-until-close")
    answer = exchange(server.port, data, half_close)
    assert answer.status == 411
    assert b"Content-Length" in answer.body
    assert (seen_file.read_text() if seen_file.exists() else "") == before  # the function was not called


def test_http10_request_without_body_is_served(servers):
    server, _ = servers("pyfunc-body")
    answer = exchange(server.port, request("GET", "/", version="1.0"))
    assert answer.status == 500  # reached the function (whose json.loads of b"" raises), not refused


@pytest.mark.parametrize("style", ["knative-asgi", "knative-cloudevent", "pyfunc-body", "ff-http", "handler"])
def test_oversized_content_length_is_413_before_100_continue(servers, style):
    """The limit is checked on the headers: no ``100 Continue`` invites a body that would be
    refused, and the streaming Knative style refuses as the buffered ones do."""
    server, seen_file = servers(style)
    before = seen_file.read_text() if seen_file.exists() else ""
    too_big = 10 * 1024 * 1024 + 1  # PYFUNC_MAX_BODY's default, plus one byte
    data = request("POST", "/", {"Content-Type": "application/json", "Content-Length": str(too_big),
                                 "Expect": "100-continue"})
    answer = exchange(server.port, data)  # the body is never sent
    assert answer.raw.startswith(b"HTTP/1.1 413 "), answer.raw[:200]
    assert b"100 Continue" not in answer.raw
    assert (seen_file.read_text() if seen_file.exists() else "") == before


def test_handler_metadata_activity_id_is_the_request_id_not_the_body_s(tmp_path, serve):
    """Seed handler-template-dockerization: ``metadata`` is injected by the SDK; a body that
    sends its own ``metadata.activityID`` cannot forge it (its other metadata is kept)."""
    write_function(tmp_path, {"function/__init__.py": "", "function/handler.py":
                              "def handle(logger, request):\n    return request['metadata']\n"})
    server = serve(tmp_path)
    body = json.dumps({"metadata": {"activityID": "forged", "projectID": "p-1"}, "k": 1}).encode()
    answer = exchange(server.port, request("POST", "/", {"Content-Type": "application/json", "X-Request-Id": "act-7",
                                                         "Content-Length": str(len(body))}, body))
    assert answer.status == 200
    assert json.loads(answer.body) == {"activityID": "act-7", "projectID": "p-1"}
    answer = exchange(server.port, request("POST", "/", {"Content-Type": "application/json",
                                                         "Content-Length": str(len(body))}, body))
    metadata = json.loads(answer.body)
    assert metadata["activityID"] not in ("forged", "act-7") and metadata["activityID"]


def test_werkzeug_http_exceptions_of_a_pyfunc_function_answer_as_in_flask(tmp_path, serve):
    write_function(tmp_path, {"func.py": """
        from werkzeug.exceptions import abort

        def main(req):
            if req.args.get("missing"):
                abort(404)
            return {"json": req.get_json()}
    """})
    server = serve(tmp_path)
    body = b"{not json"
    malformed = exchange(server.port, request("POST", "/", {"Content-Type": "application/json",
                                                            "Content-Length": str(len(body))}, body))
    assert malformed.status == 400
    assert exchange(server.port, request("GET", "/?missing=1")).status == 404
    body = b'{"k": 1}'
    fine = exchange(server.port, request("POST", "/", {"Content-Type": "application/json",
                                                       "Content-Length": str(len(body))}, body))
    assert fine.status == 200 and json.loads(fine.body) == {"json": {"k": 1}}


def test_a_flask_request_sees_the_fields_as_a_wsgi_server_gives_them(tmp_path, serve):
    """As gunicorn and Werkzeug's own server give them: no Content-Length the client did not
    send, a repeated field joined with ',', a field whose name holds '_' dropped (it would pose
    as its dashed twin, ``X-User`` here, as ``X_Forwarded_For`` would as ``X-Forwarded-For``)."""
    write_function(tmp_path, {"func.py": """
        def main(req):
            return {"headers": dict(req.headers), "content_length": req.content_length}
    """})
    server = serve(tmp_path)
    answer = exchange(server.port, request("GET", "/", [("X-User", "a"), ("x-user", "b"), ("X_User", "forged")]))
    assert answer.status == 200
    assert json.loads(answer.body) == {"headers": {"Host": "127.0.0.1", "X-User": "a,b", "Connection": "close"},
                                       "content_length": None}


def test_a_headers_parameter_and_a_flask_request_join_a_repeated_field_alike(tmp_path, serve):
    """One function taking both sees one spelling: ',' as the WSGI environ has it (gunicorn,
    Werkzeug's server); the ``headers`` parameter still keeps a name with '_' (README)."""
    write_function(tmp_path, {"func.py": """
        def main(req, headers):
            return {"req": req.headers.get("X-User"), "headers": headers.get("X-User"),
                    "underscored": headers.get("X_User")}
    """})
    server = serve(tmp_path)
    answer = exchange(server.port, request("GET", "/", [("X-User", "a"), ("x-user", "b"), ("X_User", "kept")]))
    assert answer.status == 200
    assert json.loads(answer.body) == {"req": "a,b", "headers": "a,b", "underscored": "kept"}


def test_a_field_value_excludes_the_whitespace_around_it(tmp_path, serve):
    """RFC 9112 5: the OWS before and after a field value is not part of it (h11, gunicorn and
    hypercorn strip it; httptools hands the trailing part over)."""
    write_function(tmp_path, {"function/__init__.py": """
        def new():
            return Echo()

        class Echo:
            async def handle(self, scope, receive, send):
                value = dict(scope["headers"])[b"x-padded"]
                await send({"type": "http.response.start", "status": 200, "headers": []})
                await send({"type": "http.response.body", "body": b"[" + value + b"]"})
    """})
    server = serve(tmp_path)
    answer = exchange(server.port, request("GET", "/", [("X-Padded", " \t padded value \t ")]))
    assert answer.status == 200 and answer.body == b"[padded value]"
