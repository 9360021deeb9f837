"""Functions Framework functions in ASGI mode, as ``functions-framework --asgi`` serves them
(3.10.2 ``functions_framework.aio``): ``--asgi``, ``FUNCTION_USE_ASGI``, or a function
decorated with ``@functions_framework.aio.http`` / ``aio.cloud_event``.

``http`` functions get a ``starlette.requests.Request`` and may return a ``str``
(``Response(text)``, no Content-Type, as FF), a ``dict`` (JSON), ``(content, status)``, or a
Starlette ``Response``; ``None`` is a 500 "No response returned". pyfunc also streams a
returned generator or async generator (FF answers 500). ``/robots.txt`` and
``/favicon.ico`` answer 404 ``Not Found`` without calling the function; methods other
than GET, POST, PUT, DELETE, OPTIONS, HEAD, PATCH get Starlette's 405. ``cloudevent``
functions take POSTs; a request that is no CloudEvent is a 400
``Bad Request: Got CloudEvent exception: ...``. ``event`` and ``typed`` have no ASGI mode
in FF: a load error says so. A crash answers 500 ``Internal Server Error`` with
``X-Google-Status: crash`` (and pyfunc's ``X-Request-Id``).

Starlette is imported only here, and comes from the app's dependencies: functions-framework
3.10.2 depends on it (``starlette>=1.0.1,<2`` on Python 3.10+), so an app written for FF's
ASGI mode already lists it (README "Coming from Functions Framework").
"""

from __future__ import annotations

import inspect
import logging
from typing import Any, Callable

from ...errors import LoadError
from ...http import HTTPError, Receive, Scope, Send, request_id, send_response
from ...runner import Runner
from . import execution

log = logging.getLogger("pyfunc")
METHODS = ["GET", "POST", "PUT", "DELETE", "OPTIONS", "HEAD", "PATCH"]


def _starlette() -> Any:
    try:
        import starlette  # noqa: F401
    except ImportError:
        raise LoadError(
            "ASGI mode needs Starlette, which is not installed",
            detail="--asgi / FUNCTION_USE_ASGI and functions_framework.aio serve functions with Starlette requests",
            fix="add functions-framework (which depends on starlette) or starlette to requirements.txt",
        ) from None


def app(function: Callable, name: str, signature: str, runner: Runner, log_execution_id: bool) -> Any:
    """The Starlette app serving ``function`` of ``signature`` in ASGI mode. Raises LoadError."""
    if signature not in ("http", "cloudevent"):
        raise LoadError(
            f"The {signature} signature type has no ASGI mode",
            detail="functions-framework serves only http and cloudevent functions with --asgi",
            fix="drop --asgi / FUNCTION_USE_ASGI, or use the cloudevent signature type",
        )
    _starlette()
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.routing import Route

    call = runner.wrap(_tagged(function) if log_execution_id else function)
    if signature == "http":
        endpoint = _http_endpoint(call)
        routes = [Route("/", endpoint, methods=METHODS),
                  Route("/robots.txt", _not_found, methods=["GET"]),
                  Route("/favicon.ico", _not_found, methods=["GET"]),
                  Route("/{path:path}", endpoint, methods=METHODS)]
    else:
        endpoint = _cloudevent_endpoint(call)
        routes = [Route("/{path:path}", endpoint, methods=["POST"]), Route("/", endpoint, methods=["POST"])]
    return Starlette(routes=routes, middleware=[Middleware(CrashAnswer, function_name=name)])


def _tagged(function: Callable) -> Callable:
    """``function`` run with its execution id set for log lines (the first argument is the request)."""
    def enter(request: Any) -> Any:
        headers = request.headers if hasattr(request, "headers") else {}
        return execution.enter(headers.get("function-execution-id"), headers.get("x-cloud-trace-context"))

    if inspect.iscoroutinefunction(function):
        async def tagged_async(first: Any, *args: Any) -> Any:
            token = enter(first)
            try:
                return await function(first, *args)
            finally:
                execution.leave(token)
        return tagged_async

    def tagged(first: Any, *args: Any) -> Any:
        token = enter(first)
        try:
            return function(first, *args)
        finally:
            execution.leave(token)
    return tagged


def _http_endpoint(call: Callable) -> Callable:
    from starlette.exceptions import HTTPException
    from starlette.responses import JSONResponse, Response, StreamingResponse

    async def endpoint(request: Any) -> Any:
        result = await call(request)
        if isinstance(result, str):
            return Response(result)
        if isinstance(result, dict):
            return JSONResponse(result)
        if isinstance(result, tuple) and len(result) == 2:
            content, status = result
            return JSONResponse(content, status_code=status) if isinstance(content, dict) \
                else Response(content, status_code=status)
        if result is None:
            raise HTTPException(status_code=500, detail="No response returned")
        if inspect.isasyncgen(result) or inspect.isgenerator(result):
            return StreamingResponse(result)
        return result

    return endpoint


def _cloudevent_endpoint(call: Callable) -> Callable:
    from cloudevents.http import from_http
    from starlette.exceptions import HTTPException
    from starlette.responses import Response

    async def endpoint(request: Any) -> Any:
        body = await request.body()
        try:
            event = from_http(request.headers, body)
        except Exception as exc:
            raise HTTPException(400, detail=f"Bad Request: Got CloudEvent exception: {exc!r}") from None
        await call(event)
        return Response("OK")

    return endpoint


async def _not_found(request: Any) -> Any:
    from starlette.exceptions import HTTPException

    raise HTTPException(status_code=404, detail="Not Found")


class CrashAnswer:
    """ASGI middleware: an exception from the function is logged with the request id and
    answered 500 ``Internal Server Error`` with ``X-Google-Status: crash``, unless the
    answer had begun."""

    def __init__(self, app: Any, function_name: str) -> None:
        self.app = app
        self.function_name = function_name

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def tracked(message: dict) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except HTTPError as exc:  # pyfunc's own answers, e.g. 413 from the body limit
            if not started:
                await send_response(send, exc.response())
        except Exception:
            rid = request_id(scope)
            log.exception("%s raised while handling %s %s [request_id=%s]", self.function_name,
                          scope.get("method"), scope.get("path"), rid)
            if not started:
                body = b"Internal Server Error"
                await send({"type": "http.response.start", "status": 500, "headers": [
                    (b"content-type", b"text/plain"), (b"x-google-status", b"crash"),
                    (b"x-request-id", rid.encode("latin-1")), (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
