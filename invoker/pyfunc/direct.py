"""A buffered request to a plain ``def`` function, answered without ASGI and without a Task.

For a buffered style whose function runs in a worker thread (``Adapter.in_thread``), most of
a request's cost on the event loop was the ASGI plumbing around the call: a Task, the scope
messages, a coroutine per layer, a future for the thread's result (BENCHMARKS.md, "Hot
path"). pyfunc's HTTP/1.1 server (``pyfunc.http1``) instead hands such a request, once its
whole body has arrived, to ``dispatch``: ``Adapter.prepare``, the function and
``Adapter.finish``, framed (``respond``), in one worker thread (``Runner.submit``), and the
answer on the loop when it returned. The style's own work (a CloudEvent's parsing and reply,
JSON in and out) is then done by the thread that holds the interpreter lock for the call,
not handed back and forth with the loop thread at every turn: a CloudEvent in and out cost
16–23% less CPU a request, the handler template's JSON echo 11–23% less (interleaved runs,
tools/bench/hot-path-notes.md).
An ``async def`` function keeps the ASGI path: it needs a Task anyway (``asyncio.current_task``,
``asyncio.timeout``), and without the rest of the plumbing it measured no faster. A streaming
style's ``finish`` may give a ``Stream`` (a Functions Framework function's generator response):
a task of the call sends it, as the ASGI path would (``Call.stream``).

The rules are ``pyfunc.app.App``'s, and so are the answers: errors and timeouts through
``App.failure`` and ``App.timeout_answer`` (500 with a request id, 504, an HTTPError's own;
the timeout counts from the request's turn, so it covers a body slow to arrive, as App's does),
the concurrency cap and the body budget counted in the same ``App.inflight`` and
``App.body_budget``, the request log line through ``App.log_request``. A request takes this
path only when none of App's refusals can apply before the call (``eligible``, ``dispatch``):
a probe path, ``Expect: 100-continue``, a chunked body, a Content-Length over the body limit
or the flow-control mark, an HTTP/1.0 body without Content-Length, a full cap or body budget
all go through App, which answers them as it always did.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from .flow import HIGH_WATER
from .framing import frame
from .http import BODY_METHODS, Request, Response, Stream


def eligible(app: Any, scope: dict, expect_continue: bool) -> bool:
    """Whether the request whose head is ``scope`` may be answered by ``dispatch`` (module
    docstring): only the head is known here, the body has not been read."""
    if expect_continue or scope["path"] in app.probes:
        return False
    limit = min(HIGH_WATER, app.max_body) if app.max_body else HIGH_WATER
    for name, value in scope["headers"]:
        if name == b"content-length":
            return value.isdigit() and int(value) <= limit
        if name == b"transfer-encoding":
            return False
    return scope["http_version"] != "1.0" or scope["method"] not in BODY_METHODS


class Call:
    """One request to ``app``'s function through ``exchange`` (a ``pyfunc.exchange.Exchange``),
    from its turn to be answered (``begin``): ``dispatch``ed once its body has arrived,
    ``settled`` by the runner, or ``expire``d by the timeout."""

    __slots__ = ("app", "exchange", "request", "size", "claim", "timer", "start", "task")

    def __init__(self, app: Any, exchange: Any) -> None:
        self.app = app
        self.exchange = exchange
        self.request: Request | None = None  # once dispatched: counted in App.inflight
        self.size = 0  # bytes taken from the body budget
        self.claim: list | None = None  # the runner's job, for ``Runner.abandon``
        self.timer = exchange.conn.loop.call_later(app.timeout, self.expire) if app.timeout else None
        self.start = time.perf_counter() if app.access_log else 0.0
        self.task: asyncio.Task | None = None  # sends a streamed answer (``stream``)

    @property
    def over(self) -> bool:
        """Answered (or handed back to App): a late outcome is dropped. The exchange lets go of
        its call then (``_end``), so that the two hold no reference cycle."""
        return self.exchange.call is not self

    def settled(self, result: Any, error: Exception | None) -> None:
        """On the loop: ``respond`` gave ``result`` or raised ``error``."""
        if self.over:
            return
        if error is not None:
            self.reply(self.app.failure(self.exchange.scope, error))
        elif type(result) is Stream:
            self.stream(result)
        else:
            self.answer(*result)

    def stream(self, answer: Stream) -> None:
        """Send a streamed answer by a task of this call, tracked with the server's tasks; the
        call is over when the task ends. As on the ASGI path: an error after the answer began
        is logged and the connection closed; the timeout and the drain cancel the task."""
        self.task = task = self.exchange.conn.loop.create_task(self._send_stream(answer))
        tasks = self.exchange.conn.site.tasks
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    async def _send_stream(self, answer: Stream) -> None:
        exchange = self.exchange
        try:
            await answer.send_to(exchange.receive, exchange.send)
        except Exception as exc:
            response = self.app.failure(exchange.scope, exc)  # logged
            if not exchange.started and not exchange.disconnected:
                self.reply(response)
                return
        finally:
            if not self.over:
                self._end(answer.status)
                if not exchange.complete and not exchange.disconnected:  # cut short: the client must know
                    exchange.flush()
                    exchange.conn.close_after_answer()

    def expire(self) -> None:
        """On the loop, ``PYFUNC_TIMEOUT`` seconds after the request's turn came: 504; the
        worker thread, if the call runs, is abandoned (``Runner.abandon``: replaced, or counted
        stuck); a body still arriving is dropped."""
        self.timer = None
        if self.over:
            return
        if self.task is not None:  # a streamed answer began: it stops and the connection closes
            self.app.timeout_answer(self.exchange.scope)  # logged
            self.task.cancel()
            return
        if self.claim is not None:
            self.app.adapter.runner.abandon(self.claim)
        response = self.app.timeout_answer(self.exchange.scope)
        self.reply(response)

    def cancel(self) -> None:
        """The server stops waiting (the drain's grace ran out): 500, and the connection closes,
        as for a Task the drain cancels (``pyfunc.exchange.Exchange.run``). (A streamed answer's
        task is one of those Tasks: the drain cancels it itself.)"""
        if not self.over:
            if self.claim is not None:
                self.app.adapter.runner.abandon(self.claim)
            self._end(500)
            if not self.exchange.disconnected:
                self.exchange.fail()

    def reply(self, response: Response) -> None:
        """``answer`` with one of pyfunc's own responses, framed."""
        self.answer(response.status, *frame(response.status, response.headers, response.body, response.checked))

    def answer(self, status: int, headers: list, body: bytes) -> None:
        """Send the answer (once: ``over``), ending the call."""
        exchange = self.exchange
        self._end(status)
        if exchange.disconnected:
            return
        if exchange.conn.flow.write_paused:  # the client reads slowly: wait for the transport to drain
            exchange.conn.loop.create_task(exchange.answer(status, headers, body))
        else:
            exchange.answer_now(status, headers, body)

    def _end(self, status: int) -> None:
        self.exchange.call = None  # over; no cycle left for the garbage collector (its pauses made the p99)
        app = self.app
        if self.request is not None:
            app.inflight -= 1
        if self.size:
            app.body_budget.give(self.size)
        self._stop_timer()
        if self.start:
            app.log_request(self.exchange.scope, status, self.start)

    def _stop_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None


def begin(app: Any, exchange: Any) -> None:
    """``exchange``'s turn to be answered came (its body may still be arriving)."""
    exchange.call = Call(app, exchange)


def dispatch(app: Any, exchange: Any) -> bool:
    """Call ``app``'s function for ``exchange``, begun and whose whole body has arrived. False,
    with nothing taken, when App's cap or body budget would refuse it: App then answers it."""
    call = exchange.call
    if call is None:
        return True  # answered 504 while the body arrived
    if app.max_concurrency and app.inflight >= app.max_concurrency or \
            exchange.buffered and not app.body_budget.take(exchange.buffered):
        call._stop_timer()
        exchange.call = None
        return False
    call.size = exchange.buffered
    request = call.request = Request(exchange.scope, exchange.take_body())
    app.inflight += 1
    adapter = app.adapter
    call.claim = adapter.runner.submit(respond, (adapter, request), {}, call)
    return True


def respond(adapter: Any, request: Request) -> tuple[int, list, bytes] | Stream:
    """In a worker thread: ``adapter``'s answer to ``request`` (``Adapter.respond_in_thread``),
    framed: ``(status, headers, body)``, or the ``Stream`` to send. Raises what the adapter
    raised (an HTTPError is answered by App.failure as on the ASGI path)."""
    response = adapter.respond_in_thread(request)
    if type(response) is Stream:
        return response
    return response.status, *frame(response.status, response.headers, response.body, response.checked)
