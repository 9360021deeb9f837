"""HTTP request and response as the invoker passes them between the server and a style adapter.

The ASGI contract (scope, receive, send) is the server's side; ``Request`` is a buffered
request, ``Response`` a complete answer. ``to_response`` turns what an HTTP function returns
into a Response, accepting what Flask accepts (seed python-invoker-pyfunc, functions-framework).
"""

from __future__ import annotations

import itertools
import json
import os
import random
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Awaitable, Callable, MutableMapping

from .framing import InvalidResponse, answerer, frame

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]

TEXT = b"text/plain; charset=utf-8"
JSON = b"application/json"
OCTETS = b"application/octet-stream"

_ID_PREFIX = os.urandom(4).hex()
_ID_COUNTER = itertools.count(1)

#: Random ids drawn per request come from this generator, seeded from os.urandom at start and
#: again in every forked worker, and untouched by a function's ``random.seed``. Not
#: ``os.urandom`` per request: it releases the GIL around getrandom(2), and taking it back
#: waits behind the event loop (5 ms switch interval): py-spy showed a Functions Framework
#: hello spending 14% of its samples there (BENCHMARKS.md, "Hot path"). Ids, not secrets.
_random = random.Random()
os.register_at_fork(after_in_child=_random.seed)
random_bits = _random.getrandbits


def header(scope: Scope, wanted: bytes) -> str | None:
    """One raw header of an ASGI scope by lower-case name (at most 256 characters), or None."""
    for name, value in scope["headers"]:
        if name == wanted:
            return value.decode("latin-1")[:256]
    return None


def request_id(scope: Scope) -> str:
    """The request's id: its X-Request-Id header, else a process-unique one (a random prefix
    drawn at start and a counter, cheaper than uuid4). Kept in the scope, so the error log,
    the 500 answer, the request log line and the handler template's activityID agree."""
    found = scope.get("pyfunc.request_id")
    if found is None:
        found = scope["pyfunc.request_id"] = (header(scope, b"x-request-id") or f"{_ID_PREFIX}-{next(_ID_COUNTER)}")[:128]
    return found


class JSONTooDeep(ValueError):
    """JSON nested deeper than the interpreter's recursion limit (about 1000 levels) lets it decode."""


def loads_json(data: bytes | str) -> Any:
    """``json.loads``, with nesting too deep to decode a ValueError (``JSONTooDeep``) like any
    other undecodable body instead of a RecursionError, so that callers answer 400, not 500."""
    try:
        return json.loads(data)
    except RecursionError:
        raise JSONTooDeep("JSON nested too deeply to decode (more than about 1000 levels)") from None


class HTTPError(Exception):
    """An answer other than the function's own: ``status`` and a short ``reason`` for the client."""

    def __init__(self, status: int, reason: str = "", headers: Headers | None = None) -> None:
        super().__init__(reason or HTTPStatus(status).phrase)
        self.status = status
        self.reason = reason or HTTPStatus(status).phrase
        self.headers = headers or []

    def response(self) -> "Response":
        return Response.text(self.reason + "\n", self.status, self.headers)


class Request:
    """A request whose body has been read: ``scope`` (ASGI HTTP scope) and ``body`` (bytes)."""

    __slots__ = ("scope", "body", "_headers")

    def __init__(self, scope: Scope, body: bytes) -> None:
        self.scope = scope
        self.body = body
        self._headers: dict[str, str] | None = None

    @property
    def headers(self) -> dict[str, str]:
        """Header names lower-cased, a repeated field's values joined with ',' (RFC 9110 5.3), as
        gunicorn and Werkzeug's server join them into the WSGI environ (``pyfunc.wsgi``), so that
        a Flask request, a ``headers`` parameter and a CloudEvent's attributes agree."""
        if self._headers is None:
            merged: dict[str, str] = {}
            for raw_name, raw_value in self.scope["headers"]:
                name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
                merged[name] = f"{merged[name]},{value}" if name in merged else value
            self._headers = merged
        return self._headers


@dataclass(slots=True)
class Response:
    """A complete HTTP answer: ``status``, ``headers`` (raw byte pairs), ``body``."""

    status: int = 200
    headers: Headers = field(default_factory=list)
    body: bytes = b""
    #: pyfunc made ``headers`` itself, valid and without Content-Length or Transfer-Encoding
    #: (a binary-mode CloudEvent reply), so ``framing.frame`` does not check them again.
    checked: bool = False

    @classmethod
    def text(cls, text: str, status: int = 200, headers: Headers | None = None) -> "Response":
        return cls(status, [(b"content-type", TEXT), *(headers or [])], text.encode("utf-8"))

    @classmethod
    def json(cls, value: Any, status: int = 200, headers: Headers | None = None) -> "Response":
        return cls(status, [(b"content-type", JSON), *(headers or [])], json.dumps(value).encode("utf-8"))


@dataclass(slots=True)
class Stream:
    """An answer sent piece by piece, which a streaming adapter's ``finish`` may give instead
    of a Response (``pyfunc.direct``): ``status`` (for the request log), and ``send_to``, the
    coroutine function that sends it as ASGI messages to ``(receive, send)``."""

    status: int
    send_to: Callable[[Receive, Send], Awaitable[None]]


async def send_response(send: Send, response: Response) -> None:
    """Send ``response`` as the two ASGI messages, framed by the server (``framing.frame``:
    its own Content-Length, none for 204/304). Raises ``framing.InvalidResponse`` before
    anything is sent when the status or a header cannot be sent. Where ``send`` has a one-call
    answer (``framing.answerer``: pyfunc's own HTTP/1.1 server's ``Exchange.answer``, also behind
    App's tracking send) it goes in that call: the same bytes without two message dicts, two
    sends and a flush callback (~9% of a sync hello's CPU)."""
    headers, body = frame(response.status, response.headers, response.body, response.checked)
    answer = answerer(send)
    if answer is not None:
        await answer(response.status, headers, body)
        return
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


#: Methods whose HTTP/1.0 requests carry a body (RFC 1945 8.3: with a Content-Length).
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def check_length(scope: Scope, limit: int) -> None:
    """Refuse a request by its headers alone, before any of its body is read (and before
    ``100 Continue``): HTTPError(413) when Content-Length passes ``limit`` bytes; HTTPError(411)
    for an HTTP/1.0 POST, PUT or PATCH without Content-Length, whose body the server cannot
    delimit (RFC 1945 8.3; RFC 9112 6.3: such a request's body is read as empty, so the
    function would get less than was sent)."""
    framed = False
    for name, value in scope["headers"]:
        if name == b"content-length":
            if limit and value.isdigit() and int(value) > limit:
                raise HTTPError(413, f"request body larger than {limit} bytes")
            framed = True
        elif name == b"transfer-encoding":
            framed = True
    if not framed and scope.get("http_version") == "1.0" and scope["method"] in BODY_METHODS:
        raise HTTPError(411, f"an HTTP/1.0 {scope['method']} must carry Content-Length: "
                             "send it, or use HTTP/1.1 (chunked bodies are fine there)")


async def read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    """The whole request body, whatever its framing; HTTPError(413) as soon as it would pass
    ``limit`` bytes, HTTPError(411/413) from ``check_length`` before it is read."""
    check_length(scope, limit)
    chunks = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise HTTPError(400, "client disconnected before sending the whole body")
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if limit and size > limit:
                raise HTTPError(413, f"request body larger than {limit} bytes")
            chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def limited(receive: Receive, limit: int) -> Receive:
    """``receive`` for streaming adapters, raising HTTPError(413) past ``limit`` bytes."""
    size = 0

    async def limited_receive() -> dict:
        nonlocal size
        message = await receive()
        size += len(message.get("body", b""))
        if limit and size > limit:
            raise HTTPError(413, f"request body larger than {limit} bytes")
        return message

    return limited_receive


def to_response(value: Any, function_name: str) -> Response:
    """Convert an HTTP function's return value to a Response.

    Accepted: None (204, no body); str (text/plain); bytes (application/octet-stream);
    dict/list/number/bool (JSON); ``(body, status)``, ``(body, headers)``,
    ``(body, status, headers)`` with headers a dict or pairs; a Werkzeug/Flask Response;
    a ``Response``. Raises TypeError naming the function and the type otherwise.
    """
    if isinstance(value, tuple):
        return _from_tuple(value, function_name)
    if value is None:
        return Response(204)
    if isinstance(value, str):
        return Response(200, [(b"content-type", TEXT)], value.encode("utf-8"))
    if isinstance(value, (bytes, bytearray, memoryview)):
        return Response(200, [(b"content-type", OCTETS)], bytes(value))
    if isinstance(value, (dict, list, int, float, bool)):
        return Response.json(value)
    if isinstance(value, Response):
        return value
    if hasattr(value, "status_code") and hasattr(value, "get_data"):  # werkzeug.wrappers.Response
        headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in value.headers.items()
                   if k.lower() != "content-length"]
        return Response(value.status_code, headers, value.get_data())
    raise TypeError(
        f"{function_name} returned {type(value).__name__}; return str, bytes, a dict or list (JSON), "
        "None, (body, status[, headers]) or a Flask/Werkzeug response"
    )


def _from_tuple(value: tuple, function_name: str) -> Response:
    if len(value) == 3:
        body, status, headers = value
    elif len(value) == 2 and isinstance(value[1], int):
        (body, status), headers = value, None
    elif len(value) == 2:
        (body, headers), status = value, None
    else:
        raise TypeError(f"{function_name} returned a tuple of {len(value)}; use (body, status[, headers])")
    response = to_response(body, function_name)
    if status is not None:
        if not isinstance(status, int) or not 200 <= status <= 599:
            raise InvalidResponse(f"{function_name} returned status {status!r}; use an int from 200 to 599")
        response.status = status
    if headers:
        pairs = headers.items() if hasattr(headers, "items") else headers
        extra = [(str(k).lower().encode("latin-1"), str(v).encode("latin-1")) for k, v in pairs]
        names = {name for name, _ in extra}
        response.headers = [h for h in response.headers if h[0] not in names] + extra
    return response
