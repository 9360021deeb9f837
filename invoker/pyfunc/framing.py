"""What goes on the wire is valid HTTP, framed by the server alone (issue 9).

A function's status and headers are checked before anything is sent: a status outside
200–599 (``int`` only), a header name that is not an RFC 9110 token (5.1), a value with CR,
LF, NUL or another control character but tab (5.5), or ``str`` where ASGI wants ``bytes``
raise ``InvalidResponse`` — the server then answers 500 with the request id instead of
closing the connection without a word (uvicorn refuses such headers only after it has
marked the response started).

Framing (RFC 9112 6) is the server's: ``Content-Length`` and ``Transfer-Encoding`` set by the
function are dropped and the server's own ``Content-Length`` is sent (a warning is logged the
first time a function's value was wrong). For an ASGI ``handle`` (Knative) that sends its
body in several messages, one valid ``Content-Length`` is kept (a declared download size);
otherwise the server chunks the body.
"""

from __future__ import annotations

import logging
import re
from collections import abc
from typing import Any, Awaitable, Callable, Iterable, MutableMapping

Headers = list[tuple[bytes, bytes]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

log = logging.getLogger("pyfunc")

#: RFC 9110 5.1 field-name = token; 5.5 field values exclude CTLs but HTAB.
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_BAD_VALUE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_FRAMING = frozenset({b"content-length", b"transfer-encoding"})
#: Statuses whose answer has no content and no Content-Length (RFC 9110 8.6, 15.3.5, 15.4.5).
NO_CONTENT = frozenset({204, 304})
_warned: set[bytes] = set()


class InvalidResponse(Exception):
    """The function's answer cannot be sent as HTTP; the message says what and why."""


def check_status(status: Any) -> int:
    """``status`` when it is a final status (RFC 9110 15: an ``int`` from 200 to 599; a 1xx is
    not an answer), else InvalidResponse."""
    if type(status) is not int or not 200 <= status <= 599:
        raise InvalidResponse(f"status {status!r} is not a final HTTP status: use an int from 200 to 599")
    return status


#: Header pairs already found valid (bytes, name a token, value without CTLs; neither framing
#: nor ``Connection``), seeded with the ones the invoker itself makes: a function answers with
#: the same few pairs again and again, and skipping their regex checks (~0.3 µs a pair) keeps a
#: hello answer within the ~5% budget of issue 9; ``pyfunc.exchange`` writes them as they are.
#: Validity is a property of the pair's bytes alone, so a pair checked once needs no second
#: check; the set is bounded (pairs up to VALID_PAIR_BYTES, emptied at VALID_PAIRS entries),
#: so unique values (ids, dates) cannot grow it.
KNOWN = frozenset({(b"content-type", b"text/plain; charset=utf-8"), (b"content-type", b"application/json"),
                   (b"content-type", b"application/octet-stream"),
                   (b"content-type", b"application/cloudevents+json")})
VALID_PAIRS = 256
VALID_PAIR_BYTES = 256
VALID: set[tuple[bytes, bytes]] = set(KNOWN)
_valid_framing: set[tuple[bytes, bytes]] = set()  # the same for Content-Length/Transfer-Encoding pairs


def check_headers(headers: Iterable[Any]) -> tuple[Headers, list[tuple[bytes, bytes]]]:
    """``headers`` without the framing ones, and the framing ones the function set.
    Raises InvalidResponse naming the first header that cannot be sent."""
    kept: Headers = []
    framing: list[tuple[bytes, bytes]] = []
    for pair in headers:
        try:
            if type(pair) is tuple:  # (a list pair is unhashable: not looked up)
                if pair in VALID:
                    kept.append(pair)
                    continue
                if pair in _valid_framing:
                    framing.append((pair[0].lower(), pair[1]))
                    continue
            name, value = pair
        except (TypeError, ValueError):
            raise InvalidResponse(f"header {pair!r} is not a (name, value) pair") from None
        if type(name) is not bytes or type(value) is not bytes:
            raise InvalidResponse(f"header ({name!r}, {value!r}) is not a pair of bytes (ASGI headers are bytes)")
        if _TOKEN.fullmatch(name) is None:
            raise InvalidResponse(f"header name {name!r} is not an HTTP token (RFC 9110 5.1)")
        if _BAD_VALUE.search(value) is not None:
            raise InvalidResponse(f"header {name.decode('latin-1')} has a value with a control character "
                                  f"(CR, LF, NUL...): {value!r}")
        lower = name.lower()
        if lower in _FRAMING:
            framing.append((lower, value))
            learned = _valid_framing
        else:
            kept.append((name, value))
            learned = VALID
        if len(name) + len(value) <= VALID_PAIR_BYTES and type(pair) is tuple and lower != b"connection":
            if len(learned) >= VALID_PAIRS:
                learned.clear()
                learned.update(KNOWN if learned is VALID else ())
            learned.add(pair)
    return kept, framing


def warn_framing(framing: list[tuple[bytes, bytes]], length: int | None) -> None:
    """Log once per header name (a process serves one function: once per function) that the
    function's framing header was not sent as it set it; a right Content-Length is not worth one."""
    for name, value in framing:
        if name == b"content-length" and length is not None and value.strip() == str(length).encode():
            continue  # right anyway: replaced silently
        if name not in _warned:
            _warned.add(name)
            actual = f" (the body has {length} bytes)" if length is not None else ""
            log.warning("the function set %s: %s%s; the server frames responses itself, so it was dropped "
                        "(warned once)", name.decode(), value.decode("latin-1"), actual)


def frame(status: int, headers: Iterable[Any], body: bytes, checked: bool = False) -> tuple[Headers, bytes]:
    """Checked headers with the server's own Content-Length, and the body to send
    (none for 204 and 304). ``checked``: pyfunc made ``headers`` valid and without framing
    headers itself (``Response.checked``), so they are not checked again. Raises InvalidResponse."""
    if type(status) is not int or not 200 <= status <= 599:
        check_status(status)
    if checked:
        kept, framing = list(headers), []
    else:
        kept, framing = check_headers(headers)
    if status in NO_CONTENT:
        if framing:
            warn_framing(framing, 0)
        return kept, b""
    if framing:
        warn_framing(framing, len(body))
    kept.append((b"content-length", str(len(body)).encode("ascii")))
    return kept, body


Answer = Callable[[int, Headers, bytes], Awaitable[None]]


def answerer(send: Send) -> Answer | None:
    """The one-call answer behind ``send``, or None: when ``send`` is a bound method of an
    object with ``answer(status, headers, body)``, which takes a whole answer framed here
    (``frame``) and writes it without the two ASGI messages. pyfunc's HTTP/1.1 server has it
    (``pyfunc.exchange.Exchange``), and ``pyfunc.app``'s tracking send passes it on; uvicorn's
    h11 fallback and h2c do not (then the messages are sent)."""
    return getattr(getattr(send, "__self__", None), "answer", None)


def guard(send: Send, method: str) -> tuple[Send, Callable[[], Awaitable[None]]]:
    """``send`` for an ASGI ``handle``: its ``http.response.start`` is checked and held until the
    first body message, so that a one-message body gets the server's Content-Length and an
    invalid start raises before anything is sent. Also returns ``finish()``, which completes
    an answer the function started but never gave a body to. A whole answer in one body message
    goes to the server's ``answerer`` where it has one: ~7% less CPU a Knative hello request."""
    answer = answerer(send)
    pending: dict[str, Any] | None = None
    declared: list[tuple[bytes, bytes]] = []
    done = False

    async def guarded(message: MutableMapping[str, Any]) -> None:
        nonlocal pending, declared, done
        kind = message.get("type") if type(message) is dict or isinstance(message, abc.MutableMapping) else None
        if kind == "http.response.start":
            if pending is not None or done:
                raise InvalidResponse("http.response.start sent twice")
            status = check_status(message.get("status"))
            kept, declared = check_headers(message.get("headers") or ())
            pending = {"type": kind, "status": status, "headers": kept}
            return
        if kind == "http.response.body" and pending is not None:
            start, pending, done = pending, None, True
            body = message.get("body", b"")
            if start["status"] in NO_CONTENT:
                if declared:
                    warn_framing(declared, 0)
                message = {"type": kind, "body": b"", "more_body": False} if body else message
            elif not message.get("more_body", False) and method != "HEAD":
                if declared:
                    warn_framing(declared, len(body))
                start["headers"].append((b"content-length", str(len(body)).encode("ascii")))
                if answer is not None:
                    await answer(start["status"], start["headers"], body)
                    return
            else:  # streamed (or HEAD): a lone valid Content-Length is kept, anything else is chunked
                lengths = {v.strip() for _, v in declared}
                length = lengths.pop() if len(lengths) == 1 else b""
                if {n for n, _ in declared} == {b"content-length"} and length.isdigit():
                    start["headers"].append((b"content-length", length))
                else:
                    warn_framing(declared, None)
            await send(start)
        elif kind is None:
            raise InvalidResponse(f"ASGI message {message!r} is not a dict with a type")
        elif kind == "http.response.body" and not done:
            raise InvalidResponse("http.response.body sent before http.response.start")
        await send(message)

    async def finish() -> None:
        if pending is not None:
            await guarded({"type": "http.response.body", "body": b"", "more_body": False})

    return guarded, finish
