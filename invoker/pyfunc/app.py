"""The ASGI application the server runs: probes, limits and errors around one style adapter.

Order per request: liveness/readiness probes (never reach user code) → concurrency cap
(503 + Retry-After) → body limit (413 before the body is read past it; by Content-Length,
and 411 for an undelimited HTTP/1.0 body, before ``100 Continue``) → the adapter, within the
per-request timeout (504) → any exception, or an answer that cannot be sent as HTTP
(``framing.InvalidResponse``), becomes a generic 500 whose only detail is a request id; the
traceback or the invalid part goes to the log with that id.

Also: buffered styles read bodies within the in-flight body budget (503 + Retry-After,
``pyfunc.memory``); readiness, then liveness, answer 503 while timed-out calls hold every
worker thread (``pyfunc.runner``); a watchdog logs a blocked event loop (``pyfunc.watchdog``).

A request to a buffered style's ``def`` function that none of these refusals can stop before
the call is answered by pyfunc's HTTP/1.1 server without this ASGI app (``pyfunc.direct``),
with the same counters and the same answers: ``failure``, ``timeout_answer``, ``log_request``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time

from .config import Config
from .framing import InvalidResponse, answerer
from .http import (HTTPError, Receive, Request, Response, Scope, Send, check_length, header, limited, read_body,
                   request_id, send_response)
from .memory import BodyBudget
from .styles import Adapter
from .watchdog import LoopWatchdog

log = logging.getLogger("pyfunc")
access = logging.getLogger("pyfunc.request")
_RETRY = [(b"retry-after", b"1")]

#: Probe paths of every style (seed pyfunc: /healthz/*; Knative: /health/*; handler template: /_/ready).
PROBES = {
    "/healthz/live": "alive",
    "/healthz/ready": "ready",
    "/health/liveness": "alive",
    "/health/readiness": "ready",
    "/_/ready": "ready",
    "/health/live": "alive",  # the VMware function buildpack's invoker
    "/health/ready": "ready",
}


class App:
    """ASGI 3 application serving ``adapter`` under ``config``'s limits."""

    def __init__(self, adapter: Adapter, config: Config) -> None:
        self.adapter = adapter
        self.max_body = config.max_body
        self.timeout = config.timeout or None
        self.max_concurrency = config.max_concurrency
        self.access_log = config.access_log
        self.stuck_liveness = config.stuck_liveness
        self.loop_watchdog = config.loop_watchdog
        self.watchdog = None
        self.body_budget = BodyBudget(config.max_inflight_body)
        self.inflight = 0
        self.probes = {**PROBES, **dict(config.probe_paths)}  # func.yaml deploy.healthEndpoints
        #: Requests to a ``def`` function called between ``prepare`` and ``finish`` may skip ASGI
        #: (``pyfunc.direct``); a streaming adapter's other requests still go to ``asgi``.
        self.direct = adapter.in_thread

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            probe = self.probes.get(scope["path"])
            if probe is not None:
                await self._probe(probe, send)
            elif self.max_concurrency and self.inflight >= self.max_concurrency:
                await send_response(send, HTTPError(503, "too many requests in flight, retry shortly",
                                                    [(b"retry-after", b"1")]).response())
            else:
                self.inflight += 1
                try:
                    if self.access_log:
                        await self._logged(scope, receive, send)
                    else:
                        await self._invoke(scope, receive, send)
                finally:
                    self.inflight -= 1
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _invoke(self, scope: Scope, receive: Receive, send: Send) -> None:
        tracked = None  # notes whether a streaming adapter has begun its answer (then no error answer)
        if self.adapter.streaming:
            tracked = _Tracked(send)
            work = self._stream(scope, receive, tracked.send)
        else:  # a buffered answer is sent in one go, after the adapter returned
            work = self._respond(scope, receive, send)
        try:
            if self.timeout is None:
                await work
            else:
                await asyncio.wait_for(work, self.timeout)
        except Exception as exc:
            if tracked is None or not tracked.started:
                await send_response(send, self.failure(scope, exc))
            elif not isinstance(exc, HTTPError):
                self.failure(scope, exc)  # logged; the answer had begun

    def failure(self, scope: Scope, exc: Exception) -> Response:
        """The answer for ``exc``, raised while answering ``scope``: an HTTPError's own; else,
        with the cause logged under the request id, 504 for the timeout and 500 for the rest.

        ``exc`` loses its traceback here: the frames it lists hold ``exc`` (a style's ``finish``
        re-raises the error it was given), a reference cycle that only the cycle collector
        would free, with the request's objects, in a pause of every request in flight."""
        if isinstance(exc, HTTPError):
            response = exc.response()
        elif self.timeout is not None and _timed_out(exc):
            response = self.timeout_answer(scope)
        else:
            if isinstance(exc, InvalidResponse):
                log.error("%s answered %s %s with a response that cannot be sent: %s [request_id=%s]",
                          self.adapter.target.name, scope["method"], scope["path"], exc, request_id(scope))
            else:
                log.error("%s raised while handling %s %s [request_id=%s]", self.adapter.target.name,
                          scope["method"], scope["path"], request_id(scope), exc_info=exc)
            response = self._crash(scope)
        exc.__traceback__ = None
        return response

    def timeout_answer(self, scope: Scope) -> Response:
        """504, with the request logged as timed out (``PYFUNC_TIMEOUT``)."""
        log.error("request %s %s timed out after %ss [request_id=%s]",
                  scope["method"], scope["path"], self.timeout, request_id(scope))
        return HTTPError(504, "the function did not answer in time").response()

    def _crash(self, scope: Scope) -> Response:
        """The generic 500: no detail but the request id, under which the log has the cause."""
        headers = [(b"x-request-id", request_id(scope).encode("latin-1")), *self.adapter.error_headers]
        return Response.text(f"Internal Server Error (request id {request_id(scope)})\n", 500, headers)

    async def _logged(self, scope: Scope, receive: Receive, send: Send) -> None:
        """``_invoke`` plus one request log line: id, method, path, status, duration, traceparent."""
        start = time.perf_counter()
        status = 0

        async def status_send(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self._invoke(scope, receive, status_send)
        finally:
            self.log_request(scope, status, start)

    def log_request(self, scope: Scope, status: int, start: float) -> None:
        """The request log line (``PYFUNC_ACCESS_LOG``): id, method, path, status, duration
        since ``start`` (``time.perf_counter()``), client, traceparent."""
        fields = {"request_id": request_id(scope), "method": scope["method"], "path": scope["path"],
                  "status": status, "duration_ms": round((time.perf_counter() - start) * 1000, 3),
                  "client": _client(scope)}
        traceparent = header(scope, b"traceparent")
        if traceparent:
            fields["traceparent"] = traceparent
        access.info("%s %s %s %.1fms request_id=%s%s", fields["method"], fields["path"], status,
                    fields["duration_ms"], fields["request_id"], f" traceparent={traceparent}" if traceparent else "",
                    extra={"fields": fields})

    async def _stream(self, scope: Scope, receive: Receive, send: Send) -> None:
        check_length(scope, self.max_body)  # 413/411 before the adapter can ask for 100 Continue
        await self.adapter.asgi(scope, limited(receive, self.max_body), send)

    async def _respond(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Read the body within the in-flight body budget (503 + Retry-After beyond it), then answer."""
        budget = self.body_budget
        taken = [0]
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit():  # reserved before any of it is read
                size = int(value)
                if size <= self.max_body or not self.max_body:  # else read_body answers 413
                    if not budget.take(size):
                        raise HTTPError(503, "too many request bodies in memory, retry shortly", _RETRY)
                    taken[0] = size
                break
            if name == b"transfer-encoding":  # chunked: taken as the chunks arrive
                receive = _budgeted(receive, budget, taken)
                break
        try:
            body = await read_body(scope, receive, self.max_body)
            response = await self.adapter.respond(Request(scope, body))
            await send_response(send, response)
        finally:
            if taken[0]:
                budget.give(taken[0])

    async def _probe(self, probe: str, send: Send) -> None:
        stuck_since = self.adapter.runner.stuck_since
        if stuck_since is not None and (probe == "ready" or self.stuck_liveness and
                                        time.monotonic() - stuck_since >= self.stuck_liveness):
            await send_response(send, Response.text(
                f"all {self.adapter.runner.max_workers} worker threads are stuck in calls that timed out "
                f"{time.monotonic() - stuck_since:.0f}s ago\n", 503))
            return
        try:
            ok, message = await getattr(self.adapter, probe)()
        except Exception as exc:
            log.exception("%s() check raised", probe)
            ok, message = False, f"{probe} check raised {type(exc).__name__}"
        await send_response(send, self.adapter.probe_response(ok, message))

    async def startup(self) -> bool:
        """Run the function's ``start()`` (Knative) with a copy of the environment, then start the
        loop watchdog. False, with the traceback logged, when ``start()`` raised."""
        try:
            await self.adapter.start(dict(os.environ))
        except Exception as exc:
            log.exception("the function's start() raised %s: %s; not serving", type(exc).__name__, exc)
            return False
        if self.loop_watchdog:
            self.watchdog = LoopWatchdog(asyncio.get_running_loop(), self.loop_watchdog)
            self.watchdog.start()
        return True

    async def shutdown(self) -> None:
        """Run the function's ``stop()`` (its exception is logged), then stop the worker threads."""
        try:
            await self.adapter.stop()
        except Exception:
            log.exception("stop() of %s failed", self.adapter.target.name)
        self.adapter.runner.shutdown()
        if self.watchdog is not None:
            self.watchdog.stop()

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        """The ASGI lifespan protocol around ``startup``/``shutdown`` (for ASGI servers: uvicorn on PyPy)."""
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                if not await self.startup():
                    await send({"type": "lifespan.startup.failed", "message": "the function's start() raised"})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return


def _budgeted(receive: Receive, budget: BodyBudget, taken: list[int]) -> Receive:
    """``receive`` that takes each chunk from ``budget`` (adding to ``taken[0]``), HTTPError(503) when it cannot."""

    async def budgeted_receive() -> dict:
        message = await receive()
        size = len(message.get("body", b""))
        if size:
            if not budget.take(size, taken[0]):
                raise HTTPError(503, "too many request bodies in memory, retry shortly", _RETRY)
            taken[0] += size
        return message

    return budgeted_receive


def _client(scope: Scope) -> str:
    """The client as proxies forward it (Knative's queue-proxy turns ``X-Forwarded-For`` into
    ``Forwarded``, RFC 7239): the first ``for=`` of ``Forwarded``, else the first address of
    ``X-Forwarded-For``, else the peer address. For the request log only: never trusted."""
    forwarded = header(scope, b"forwarded")
    if forwarded:
        for pair in forwarded.split(",", 1)[0].split(";"):
            name, _, value = pair.strip().partition("=")
            if name.lower() == "for" and value:
                return value.strip('"')
    chain = header(scope, b"x-forwarded-for")
    if chain:
        return chain.split(",", 1)[0].strip()
    peer = scope.get("client")
    return str(peer[0]) if peer else ""


class _Tracked:
    """A streaming adapter's ``send``, noting whether the answer ``started``; ``answer`` is the
    server's one-call answer (``framing.answerer``), passed on, or None where it has none."""

    __slots__ = ("_send", "_answer", "answer", "started")

    def __init__(self, send: Send) -> None:
        self._send = send
        self._answer = answerer(send)
        self.answer = None if self._answer is None else self._answered
        self.started = False

    async def send(self, message: dict) -> None:
        self.started = True
        await self._send(message)

    async def _answered(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        self.started = True
        await self._answer(status, headers, body)  # type: ignore[misc]


def _timed_out(exc: BaseException) -> bool:
    """True for the TimeoutError ``asyncio.wait_for`` raises (from the cancelled work), not
    for one the function raised itself (in 3.11+ both are the builtin TimeoutError)."""
    return isinstance(exc, asyncio.TimeoutError) and isinstance(exc.__cause__ or exc.__context__, asyncio.CancelledError)
