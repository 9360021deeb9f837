"""CloudEvents checked as CloudEvents 1.0 says, on the real server (issue 9: nothing forged).

An event that breaks the spec (spec.md, json-format.md, the HTTP binding) is answered 400 with
the reason and never reaches the function; a reply is always a valid 1.0 event; JSON nested
too deeply to decode is a 400 in every style that decodes JSON for the function.
"""

from __future__ import annotations

import base64
import json
import re

import pytest
from cloudevents.http import from_http

from conftest import Server, write_function
from rawhttp import exchange, request

#: Records the attributes it got, replies with them (plus its own type and source) and the data.
ECHO = """
import json, os

def echo(attributes, data):
    with open(os.environ["SEEN_FILE"], "a") as out:
        out.write(json.dumps(attributes) + "\\n")
    shown = {"type": type(data).__name__, "value": data.decode("latin-1") if isinstance(data, bytes) else data}
    return {**attributes, "type": "dev.reply", "source": "/validation"}, shown
"""
#: The echo taking the SDK's whole event, or only its parts (read without the SDK's object).
ECHOES = {
    "event": ECHO + "\ndef main(event):\n    return echo(dict(event.get_attributes()), event.get_data())\n",
    "parts": ECHO + "\ndef main(data, attributes):\n    return echo(attributes, data)\n",
}

BINARY = {"ce-specversion": "1.0", "ce-id": "v-1", "ce-source": "/tests", "ce-type": "dev.test",
          "content-type": "application/json"}
STRUCTURED = {"specversion": "1.0", "id": "v-1", "source": "/tests", "type": "dev.test",
              "datacontenttype": "application/json", "data": {"k": 1}}
DEEP = b"[" * 100_000 + b"]" * 100_000


@pytest.fixture(scope="module", params=list(ECHOES))
def echo(request, tmp_path_factory):
    directory = write_function(tmp_path_factory.mktemp("echo"), {"func.py": ECHOES[request.param]})
    server = Server(directory, {"SEEN_FILE": str(directory / "seen.jsonl")})
    server.seen = directory / "seen.jsonl"
    yield server
    server.stop()


def seen(server) -> list[dict]:
    return [json.loads(line) for line in server.seen.read_text().splitlines()] if server.seen.exists() else []


def post(server, headers: dict[str, str], body: bytes):
    pairs = [*headers.items(), ("Content-Length", str(len(body)))]
    return exchange(server.port, request("POST", "/", pairs, body))


def head(answer) -> bytes:
    return answer.raw.partition(b"\r\n\r\n")[0].lower()


def binary(**changes: str | None) -> dict[str, str]:
    headers = dict(BINARY)
    for name, value in changes.items():
        name = name.replace("_", "-")
        if value is None:
            headers.pop(name, None)
        else:
            headers[name] = value
    return headers


def structured(**changes) -> bytes:
    return json.dumps({**STRUCTURED, **changes}).encode()


CE_JSON = {"Content-Type": "application/cloudevents+json"}

REFUSED = [
    pytest.param(binary(ce_id=""), b"{}", "id must not be empty", id="binary-empty-id"),
    pytest.param(binary(ce_source=""), b"{}", "source must not be empty", id="binary-empty-source"),
    pytest.param(binary(ce_type=""), b"{}", "type must not be empty", id="binary-empty-type"),
    pytest.param(binary(ce_time="yesterday"), b"{}", "RFC 3339", id="binary-time-words"),
    pytest.param(binary(ce_time="2026-13-01T00:00:00Z"), b"{}", "RFC 3339", id="binary-time-month-13"),
    pytest.param(binary(ce_time="2026-01-01T00:00:00"), b"{}", "RFC 3339", id="binary-time-no-offset"),
    pytest.param(binary(ce_time="2026-01-01"), b"{}", "RFC 3339", id="binary-time-date-only"),
    pytest.param(binary(**{"ce-my-ext": "x"}), b"{}", "attribute name 'my-ext'", id="binary-ext-hyphen"),
    pytest.param(binary(**{"ce-my.ext": "x"}), b"{}", "attribute name 'my.ext'", id="binary-ext-dot"),
    pytest.param(binary(**{"ce-averyveryverylongextname": "x"}), b"{}", "1 to 20", id="binary-ext-too-long"),
    pytest.param(binary(ce_specversion="0.2"), b"{}", "specversion '0.2'", id="binary-specversion-0.2"),
    pytest.param(binary(ce_specversion="1.1"), b"{}", "specversion '1.1'", id="binary-specversion-1.1"),
    pytest.param(binary(ce_datacontenttype="text/plain%0D%0AX-Injected:%201"), b"{}", "ce-datacontenttype",
                 id="binary-ce-datacontenttype"),
    pytest.param(binary(content_type=None, ce_datacontenttype="text/plain%0D%0AX-Injected:%201"), b"x",
                 "ce-datacontenttype", id="binary-ce-datacontenttype-only"),
    pytest.param(binary(ce_subject="a%0D%0AX-Injected:%201"), b"{}", "control character", id="binary-decoded-crlf"),
    pytest.param(binary(ce_subject="%C0%A0"), b"{}", "invalid CloudEvent", id="binary-overlong-utf8"),
    pytest.param(binary(ce_dataschema="not a uri"), b"{}", "absolute URI", id="binary-dataschema"),
    pytest.param(binary(), DEEP, "nested too deeply", id="binary-deep-json-data"),
    pytest.param(CE_JSON, structured(id=""), "id must not be empty", id="structured-empty-id"),
    pytest.param(CE_JSON, structured(source=""), "source must not be empty", id="structured-empty-source"),
    pytest.param(CE_JSON, structured(type=""), "type must not be empty", id="structured-empty-type"),
    pytest.param(CE_JSON, structured(source=5), "source must be a string", id="structured-source-int"),
    pytest.param(CE_JSON, structured(type=["dev.test"]), "type must be a string", id="structured-type-list"),
    pytest.param(CE_JSON, structured(type=None), "missing required attributes type", id="structured-type-null"),
    pytest.param(CE_JSON, structured(id=True), "id must be a string", id="structured-id-bool"),
    pytest.param(CE_JSON, structured(time="2026-01-01 noon"), "RFC 3339", id="structured-time"),
    pytest.param(CE_JSON, structured(time=1767225600), "time must be a string", id="structured-time-number"),
    pytest.param(CE_JSON, structured(data_base64=base64.b64encode(b"x").decode()), "not both",
                 id="structured-data-and-data_base64"),
    pytest.param(CE_JSON, structured(data=None, data_base64="!!not base64!!"), "base64", id="structured-bad-base64"),
    pytest.param(CE_JSON, structured(data=None, data_base64=12), "base64", id="structured-base64-not-string"),
    pytest.param(CE_JSON, structured(**{"Bad-Name": "x"}), "attribute name 'Bad-Name'", id="structured-ext-name"),
    pytest.param(CE_JSON, structured(**{"comexampleext": {"a": 1}}), "string, integer or boolean",
                 id="structured-ext-object"),
    pytest.param(CE_JSON, structured(**{"comexampleext": 1.5}), "string, integer or boolean", id="structured-ext-float"),
    pytest.param(CE_JSON, structured(**{"comexampleext": 2 ** 40}), "32-bit", id="structured-ext-int64"),
    pytest.param(CE_JSON, structured(datacontenttype="json"), "media type", id="structured-datacontenttype-form"),
    pytest.param(CE_JSON, structured(subject="a\r\nX-Injected: 1"), "control character", id="structured-subject-crlf"),
    pytest.param(CE_JSON, structured(datacontenttype="text/plain\r\nX-Injected: 1"), "control character",
                 id="structured-datacontenttype-crlf"),
    pytest.param(CE_JSON, structured(specversion="2.0"), "specversion '2.0'", id="structured-specversion"),
    pytest.param(CE_JSON, b'{"specversion": "1.0", "id": "1", "source": "/s", "type": "t", "data": '
                 + DEEP + b"}", "nested too deeply", id="structured-deep-json"),
    pytest.param(CE_JSON, DEEP, "nested too deeply", id="structured-deep-body"),
    pytest.param({"Content-Type": "application/cloudevents+xml"}, b"<e/>", "not supported", id="other-format"),
]


@pytest.mark.parametrize("headers, body, reason", REFUSED)
def test_invalid_events_are_400_with_the_reason_and_never_reach_the_function(echo, headers, body, reason):
    before = len(seen(echo))
    answer = post(echo, headers, body)
    assert answer.status == 400, answer.raw[:300]
    assert reason in answer.body.decode("utf-8", "replace"), answer.body
    assert b"x-injected" not in head(answer)  # (the reason may quote it, escaped, in the body)
    assert len(seen(echo)) == before


def test_structured_content_type_matches_case_insensitively(echo):
    answer = post(echo, {"Content-Type": "Application/CloudEvents+JSON; charset=UTF-8"}, structured())
    assert answer.status == 200
    assert answer.get("content-type").startswith("application/cloudevents+json")  # replied in the same mode
    reply = json.loads(answer.body)
    assert reply["specversion"] == "1.0" and reply["data"] == {"type": "dict", "value": {"k": 1}}


def test_structured_mode_wins_over_stray_ce_headers(echo):
    """HTTP binding 3.2.3: a structured event MAY repeat its attributes as headers."""
    answer = post(echo, {**CE_JSON, "ce-specversion": "9.9", "ce-id": "header"}, structured(id="body-id"))
    assert answer.status == 200
    assert seen(echo)[-1]["id"] == "body-id"


def test_the_function_sees_the_attributes_that_were_sent_and_no_invented_time(echo):
    answer = post(echo, binary(ce_comexampleext="v%20%E2%82%AC"), b'{"k": 1}')
    assert answer.status == 200
    attributes = seen(echo)[-1]
    assert "time" not in attributes
    assert attributes["comexampleext"] == "v \u20ac"  # percent-decoded as UTF-8 (HTTP binding 3.1.3.2)
    answer = post(echo, CE_JSON, structured(subject=None, comexampleext=None, comexampleint=7, comexamplebool=True))
    assert answer.status == 200
    attributes = seen(echo)[-1]
    assert "subject" not in attributes and "comexampleext" not in attributes  # null members are unset
    assert attributes["comexampleint"] == 7 and attributes["comexamplebool"] is True and "time" not in attributes


def test_data_base64_is_binary_data(echo):
    raw = bytes(range(256))
    answer = post(echo, CE_JSON, structured(data=None, datacontenttype="application/octet-stream",
                                            data_base64=base64.b64encode(raw).decode()))
    assert answer.status == 200
    assert json.loads(answer.body)["data"] == {"type": "bytes", "value": raw.decode("latin-1")}


@pytest.mark.parametrize("mode", ["binary", "structured"])
def test_v03_event_is_accepted_as_1_0_and_never_echoed_as_0_3(echo, mode):
    if mode == "binary":
        answer = post(echo, binary(ce_specversion="0.3", ce_schemaurl="https://example.com/schema"), b'{"k": 1}')
        reply = from_http({k: v for k, v in answer.headers}, answer.body)
    else:
        document = {**STRUCTURED, "specversion": "0.3", "schemaurl": "https://example.com/schema",
                    "datacontentencoding": "base64", "data": base64.b64encode(b'{"k": 1}').decode()}
        answer = post(echo, CE_JSON, json.dumps(document).encode())
        reply = from_http({k: v for k, v in answer.headers}, answer.body)
    assert answer.status == 200, answer.body
    attributes = seen(echo)[-1]
    assert attributes["specversion"] == "1.0" and attributes["dataschema"] == "https://example.com/schema"
    assert "schemaurl" not in attributes and "datacontentencoding" not in attributes
    assert reply["specversion"] == "1.0" and "schemaurl" not in reply and reply["dataschema"] == attributes["dataschema"]
    if mode == "binary":
        assert answer.get("ce-specversion") == "1.0"


@pytest.mark.parametrize("mode", ["binary", "structured"])
def test_replies_are_valid_1_0_events(echo, mode):
    if mode == "binary":
        answer = post(echo, binary(ce_time="2026-01-31T12:00:00.5+01:00", ce_comexampleext="x y"), b'"text"')
    else:
        answer = post(echo, CE_JSON, structured(time="2026-01-31T12:00:00Z", comexampleint=3))
    assert answer.status == 200
    reply = from_http({k: v for k, v in answer.headers}, answer.body)
    assert reply["specversion"] == "1.0" and reply["type"] == "dev.reply" and reply["source"] == "/validation"
    assert reply["id"] != "v-1" and reply["time"] not in ("2026-01-31T12:00:00.5+01:00", "2026-01-31T12:00:00Z")


@pytest.mark.parametrize("returned, reason", [
    ("{'type': 'out', 'source': '/f', 'Bad_Name': 1}, 'x'", "attribute name 'Bad_Name'"),
    ("{'type': 'out', 'source': '/f', 'datacontenttype': 'text/plain\\r\\nX-Injected: 1'}, 'x'", "control character"),
    ("{'type': 'out', 'source': '/f', 'datacontenttype': 'json'}, 'x'", "not a media type"),
    ("{'type': 'out', 'source': '/f', 'subject': ''}, 'x'", "subject must be a non-empty string"),
    ("{'type': 'out', 'source': '/f', 'comexampleext': 1.5}, 'x'", "string, integer or boolean"),
])
def test_invalid_reply_is_a_500_not_an_invalid_event(tmp_path, returned, reason):
    server = Server(write_function(tmp_path, {"func.py": f"def main(data):\n    return {returned}\n"}))
    try:
        answer = post(server, binary(), b"{}")
        assert answer.status == 500 and b"x-injected" not in answer.raw.lower()  # (a 500 quotes nothing)
    finally:
        server.stop()
    assert "replied with an invalid CloudEvent" in server.output and reason in server.output


# -- JSON too deep to decode, wherever the invoker decodes JSON for the function ---------------

DEEP_JSON = {
    "handler": ({"function/__init__.py": "", "function/handler.py": "def handle(logger, request):\n    return {}\n"},
                {}, {"Content-Type": "application/json"}),
    "pyfunc-get-json": ({"func.py": "def main(req):\n    return {'got': req.get_json() is not None}\n"},
                        {}, {"Content-Type": "application/json"}),
    "ff-http-get-json": ({"main.py": "def hello(request):\n    return {'got': request.get_json() is not None}\n"},
                         {"FUNCTION_TARGET": "hello"}, {"Content-Type": "application/json"}),
    "ff-legacy-event": ({"main.py": "def hello(data, context):\n    pass\n"}, {"FUNCTION_TARGET": "hello"},
                        {"Content-Type": "application/json"}),
    "knative-cloudevent": ({"function/__init__.py": "def new():\n    return F()\nclass F:\n"
                            "    async def handle(self, scope, receive, send):\n        raise AssertionError\n"},
                           {"FUNC_INVOKE": "cloudevent"}, BINARY),
}


@pytest.mark.parametrize("style", list(DEEP_JSON))
def test_json_nested_too_deeply_is_a_400(tmp_path, style):
    files, env, headers = DEEP_JSON[style]
    server = Server(write_function(tmp_path, files), env)
    try:
        answer = post(server, headers, DEEP)
        assert answer.status == 400, answer.raw[:300]
        fine = post(server, headers, b'{"k": [[1]]}')
        assert fine.status in (200, 204) or style == "knative-cloudevent"  # (that handle always raises)
    finally:
        server.stop()
    assert "RecursionError" not in server.output


# -- properties: whatever an attribute holds, the answer is a 400 or a faithful echo, never a 500 --

def _valid_string(value: str) -> bool:
    from pyfunc.cloudevent_attributes import CONTROL

    return bool(value) and CONTROL.search(value) is None


def test_any_subject_and_extension_is_echoed_faithfully_or_refused(echo):
    from urllib.parse import quote, unquote

    from hypothesis import HealthCheck, example, given, settings
    from hypothesis import strategies as st

    safe = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in ' "%')
    names = st.one_of(st.sampled_from(["comexampleext", "x", "a" * 20, "a" * 21, "Upper", "with-dash", "é"]),
                      st.text(alphabet="abcz09_-.A", min_size=1, max_size=24))

    @settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
    @given(value=st.text(max_size=20), name=names, mode=st.sampled_from(["binary", "structured"]))
    @example(value="\ud800", name="x", mode="structured")
    @example(value="\ufffe", name="x", mode="binary")
    @example(value="a\r\nb", name="x", mode="binary")
    @example(value="100% \"quoted\" €", name="comexampleext", mode="binary")
    def check(value, name, mode):
        if mode == "binary":
            headers = binary(ce_subject=quote(value, safe=safe), **{f"ce-{name}": "v"})
            answer = post(echo, headers, b"{}")
        else:
            document = {**STRUCTURED, "subject": value, name: "v"}
            answer = post(echo, CE_JSON, json.dumps(document).encode())
        effective = name.lower() if mode == "binary" else name  # HTTP header names are case-insensitive
        valid = _valid_string(value) and (effective in ("id", "source", "type", "subject") or
                                          re.fullmatch(r"[a-z0-9]{1,20}", effective) is not None)
        if effective in ("specversion", "time", "datacontenttype", "dataschema"):
            valid = False  # "v" is not a valid value for those
        assert answer.status == (200 if valid else 400), (answer.status, answer.body[:200])
        if valid:  # the reply's attributes, decoded as the HTTP binding says (3.1.3.2)
            reply = json.loads(answer.body) if mode == "structured" else \
                {k[3:]: unquote(v, errors="strict") for k, v in answer.headers if k.startswith("ce-")}
            assert reply["subject"] == value and reply[effective] == ("v" if effective != "subject" else value)

    check()


def test_the_printable_fast_path_agrees_with_the_string_rule_on_every_code_point():
    """``is_string`` skips the pattern for printable text: for every single code point (so for
    every string) it must decide as the pattern does."""
    from pyfunc.cloudevent_attributes import CONTROL, is_string

    disagree = [hex(c) for c in range(0x110000) if is_string(chr(c)) != (CONTROL.search(chr(c)) is None)]
    assert disagree == []
    assert not is_string("ok\x85") and not is_string("\U0010ffff") and is_string("\xa0 é €")


def test_a_binary_reply_percent_encodes_every_code_point_but_the_header_safe_ones():
    """HTTP binding 3.1.3.2: a reply's header value keeps printable ASCII but space, '"' and '%'
    as it is and percent-encodes every other code point; the one-class pattern that finds them
    must pick exactly those, for every code point."""
    from pyfunc.cloudevent import _UNSAFE

    safe = {chr(c) for c in range(0x21, 0x7F)} - set(' "%')
    disagree = [hex(c) for c in range(0x110000) if (_UNSAFE.search(chr(c)) is None) != (chr(c) in safe)]
    assert disagree == []


def test_binary_replies_are_marked_checked_only_with_headers_the_checks_keep_as_they_are():
    """A binary-mode reply's headers skip ``framing.check_headers`` (``Response.checked``): for
    any reply the 1.0 rules accept, they must be exactly what those checks keep, with no
    framing header; a reply the rules refuse is the function's bug (TypeError, a 500)."""
    from hypothesis import HealthCheck, example, given, settings
    from hypothesis import strategies as st

    from pyfunc.cloudevent import encode
    from pyfunc.framing import check_headers

    @settings(max_examples=200, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
    @given(subject=st.text(max_size=20), ext=st.one_of(st.text(max_size=20), st.integers(-2 ** 31, 2 ** 31 - 1),
                                                       st.booleans()),
           content_type=st.sampled_from([None, "application/json", "text/plain; charset=utf-8", "text/x; q=\"é\"",
                                         "text/x;\tq=1", "text/x; a=b\r\nX-Injected: 1", "json"]))
    @example(subject="a\r\nb", ext="v", content_type=None)
    @example(subject="100% \"quoted\" €", ext=" \x7e\x80 ", content_type="application/json")
    def check(subject, ext, content_type):
        attrs = {"type": "dev.reply", "source": "/s", "subject": subject, "comexampleext": ext,
                 "datacontenttype": content_type}
        valid = _valid_string(subject) and (type(ext) is not str or ext == "" or _valid_string(ext)) \
            and content_type in (None, "application/json", "text/plain; charset=utf-8", "text/x; q=\"é\"")
        try:
            response = encode(attrs, {"k": 1}, structured=False)
        except TypeError:
            assert not valid, attrs
            return
        assert valid and response.checked, attrs
        assert check_headers(response.headers) == (response.headers, []), response.headers

    check()
