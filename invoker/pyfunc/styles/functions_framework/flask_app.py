"""Functions Framework functions behind a real Flask app, as functions-framework serves them
without ``--asgi`` (3.10.2 ``create_app``/``_configure_app``).

Routes per signature type: ``http`` — every method on every path, but ``/robots.txt`` and
``/favicon.ico`` answer Flask's 404 without calling the function; ``event`` — POST on every
path and an empty 200 for ``GET /``; ``cloudevent`` and ``typed`` — POST on every path
(other methods: Flask's 405). Flask's own error pages, ``flask.abort`` and handlers
registered with ``@functions_framework.errorhandler`` apply. A crash answers 500 with
``X-Google-Status: crash`` and Werkzeug's 500 text (FF's ``crash_handler``) plus pyfunc's
``X-Request-Id``; the traceback is logged with that id.

The app runs in a runner thread, dispatched as ``Flask.wsgi_app`` dispatches (request
context, handlers, teardown). A streamed response (a generator, sync or async) is sent chunk
by chunk (``streaming``).
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import logging
import os
from typing import Any, Callable, Iterator

from ...http import Receive, Request, Response, Scope, Send, Stream, read_body, request_id, send_response
from ...runner import Runner
from . import events, execution, streaming

log = logging.getLogger("pyfunc")

CRASH = ("X-Google-Status", "crash")


def settle(result: Any) -> Any:
    """What an async function or generator gives, for Flask: coroutines are run to their
    result; async generators become generators."""
    if inspect.isawaitable(result):
        result = asyncio.run(_awaited(result))
    if inspect.isasyncgen(result):
        return _sync_chunks(result)
    return result


async def _awaited(awaitable: Any) -> Any:
    return await awaitable


def _sync_chunks(agen: Any) -> Iterator[Any]:
    loop = asyncio.new_event_loop()
    try:
        while True:
            try:
                yield loop.run_until_complete(agen.__anext__())
            except StopAsyncIteration:
                return
    finally:
        loop.run_until_complete(agen.aclose())
        loop.close()


class TypedCallFailed(Exception):
    """A typed function's input, call or output failed (functions-framework answers 500)."""


def _views(function: Callable, signature: str, input_type: Any) -> dict[str, Callable]:
    import flask

    def http(path: str = "") -> Any:
        return settle(function(flask.request._get_current_object()))

    def event(path: str = "") -> Any:
        settle(function(*events.legacy_arguments(flask.request)))
        return "OK"

    def cloudevent(path: str = "") -> Any:
        settle(function(events.cloudevent_of(flask.request)))
        return "OK"

    def typed(path: str = "") -> Any:
        try:
            result = settle(function(input_type.from_dict(flask.request.get_json())))
            if result is None:
                return "", 200
            if type(result).__module__ == "builtins":
                return result
            if not callable(getattr(result, "to_dict", None)):
                raise TypeError(f"{type(result).__name__} returned by the function has no to_dict()")
            return json.dumps(result.to_dict())
        except Exception as exc:
            raise TypedCallFailed("Function execution failed with the error") from exc

    return {"http": http, "event": event, "cloudevent": cloudevent, "typed": typed}


def configure(app: Any, function: Callable, signature: str, input_type: Any = None) -> None:
    """Add the function's routes for ``signature`` to the Flask ``app`` (see module docstring)."""
    import flask
    from werkzeug.routing import Rule

    view = _views(function, signature, input_type)[signature]
    methods = None if signature == "http" else ["POST"]
    app.url_map.add(Rule("/", defaults={"path": ""}, endpoint="run", methods=methods))
    if signature == "http":
        for path in ("/robots.txt", "/favicon.ico"):
            app.url_map.add(Rule(path, endpoint="not-found"))
        app.view_functions["not-found"] = lambda: flask.abort(404, description="Not Found")
    app.url_map.add(Rule("/<path:path>", endpoint="run", methods=methods))
    if signature == "event":
        app.url_map.add(Rule("/", endpoint="get", methods=["GET"]))
        app.view_functions["get"] = lambda: ""
    app.view_functions["run"] = view


def prepare(app: Any, function_name: str, debug: bool = False) -> None:
    """The crash answer, request-id logging and legacy ``ENTRY_POINT`` mode on ``app``.
    ``debug`` (``--debug``) is Flask's debug mode as FF runs it (indented JSON, ...), but
    exceptions still get the crash answer, never Werkzeug's interactive debugger."""
    import flask

    if debug:
        app.debug = True
        app.config["PROPAGATE_EXCEPTIONS"] = False

    def crash(error: Exception) -> Any:
        return str(error), 500, [CRASH, ("X-Request-Id", _request_id())]

    def log_exception(exc_info: Any) -> None:
        request = flask.request
        log.error("%s raised while handling %s %s [request_id=%s]", function_name, request.method, request.path,
                  _request_id(), exc_info=exc_info)

    app.register_error_handler(500, crash)
    app.log_exception = log_exception
    if os.environ.get("ENTRY_POINT"):  # GCF's Python 3.7 runtime: a function returning None answers "OK"
        make_response = app.make_response
        app.make_response = lambda value: make_response("OK" if value is None else value)


def _request_id() -> str:
    import flask

    return request_id(flask.request.environ["pyfunc.request"].scope)


class WSGICall:
    """The ASGI side of the Flask app: read the body, run the app in a thread (``dispatch``), send
    the answer. Without FF's own timeout (``deadline``), pyfunc's HTTP/1.1 server calls
    ``dispatch`` itself instead, where it may (``pyfunc.direct``), and sends ``answer``."""

    def __init__(self, app: Any, runner: Runner, max_body: int, log_execution_id: bool,
                 deadline: float | None = None) -> None:
        self.app = app
        self.deadline = deadline
        self.max_body = max_body
        self.log_execution_id = log_execution_id
        self.call = runner.wrap(self.dispatch)
        self.runner = runner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, await read_body(scope, receive, self.max_body))
        if self.deadline is None:
            status, headers, body = await self.call(request)
        else:
            try:
                status, headers, body = await asyncio.wait_for(self.call(request), self.deadline)
            except asyncio.TimeoutError:
                status, headers, body = self._timed_out(request)
        answer = self.answer(status, headers, body)
        if type(answer) is Stream:
            await answer.send_to(receive, send)
        else:
            await send_response(send, answer)

    def answer(self, status: int, headers: list[tuple[bytes, bytes]], body: Any) -> Response | Stream:
        """What ``dispatch`` made, as the answer to send: a Response, or a Stream (the body an iterator)."""
        if isinstance(body, bytes):
            return Response(status, headers, body)
        return Stream(status, functools.partial(streaming.send_chunks, self.runner, status, headers, body))

    def _timed_out(self, request: Request) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        from werkzeug.exceptions import InternalServerError

        rid = request_id(request.scope)
        log.warning("Request handling exceeded %s seconds timeout [request_id=%s]", self.deadline, rid)
        return 500, [(b"content-type", b"text/html; charset=utf-8"), (b"x-google-status", b"crash"),
                     (b"x-request-id", rid.encode("latin-1"))], str(InternalServerError()).encode()

    def dispatch(self, request: Request) -> tuple[int, list[tuple[bytes, bytes]], Any]:
        """The app's answer to ``request`` (in a runner thread), as ``Flask.wsgi_app`` makes it:
        request context, dispatch, the error handlers for an exception, teardown."""
        from ...wsgi import environ as make_environ

        environ = make_environ(request)
        environ["pyfunc.request"] = request
        if execution.WSGI_KEY not in environ:  # as FF's WsgiMiddleware: the client's id, else a new one
            environ[execution.WSGI_KEY] = execution.new_id()
        app = self.app
        token = execution.enter(environ.get(execution.WSGI_KEY), environ.get("HTTP_X_CLOUD_TRACE_CONTEXT")) \
            if self.log_execution_id else None
        context = app.request_context(environ)
        error: BaseException | None = None
        try:
            try:
                context.push()
                response = app.full_dispatch_request()
            except Exception as exc:
                error = exc
                response = app.handle_exception(exc)
            except BaseException as exc:
                error = exc
                raise
        finally:
            context.pop(error)
            if token is not None:
                execution.leave(token)
        if response.is_streamed:
            chunks, status, headers = response.get_wsgi_response(environ)
            return response.status_code, [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers], \
                iter(chunks)
        headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in response.headers.items()
                   if k != "Content-Length"]
        return response.status_code, headers, response.get_data()
