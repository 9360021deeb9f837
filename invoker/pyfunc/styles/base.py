"""What every style adapter is: a user function wrapped so the server can call it.

A style module provides ``claim(candidate) -> reason | None`` (does this object look like
mine?) and an ``Adapter`` subclass. The server (``pyfunc.app``) only ever talks to Adapter.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..config import Config
from ..http import Receive, Request, Response, Scope, Send, Stream, to_response
from ..runner import Runner, is_async


@dataclass(frozen=True)
class Target:
    """The user's callable (function, or factory for instance styles) and where it lives.

    ``obj`` the attribute, ``name`` its attribute name, ``module`` the dotted module name,
    ``path`` the module file, ``line`` the definition line (0 when unknown).
    """

    obj: Callable[..., Any]
    name: str
    module: str
    path: Path
    line: int = 0

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}" if self.line else str(self.path)


class Adapter:
    """A user function served by the invoker.

    Buffered adapters implement ``respond(request) -> Response``; streaming ones
    (``streaming = True``) implement the ASGI ``asgi(scope, receive, send)``. A buffered
    adapter that calls one function per request may instead give ``calls(func)`` and
    implement ``prepare(request) -> (args, kwargs)`` and ``finish(request, value, error) ->
    Response``: ``respond`` is then those around the call, and for a ``def`` function
    pyfunc's HTTP/1.1 server calls them itself, without ASGI, in the call's worker thread
    (``pyfunc.direct``): they must not need the event loop. A streaming
    adapter may give them too (Functions Framework: the Flask app in a thread): the server then
    answers the requests it can that way, ``finish`` giving a Response or a ``Stream``, and the
    others through ``asgi``.
    ``start``/``stop`` run at server start and after drain; ``alive``/``ready`` answer the
    liveness/readiness probes as ``(ok, message)``. ``describe`` says how the function will be called.
    ``error_headers`` go on the generic 500 answer (Functions Framework: X-Google-Status).
    """

    style: str = ""
    streaming: bool = False
    error_headers: list[tuple[bytes, bytes]] = []

    def __init__(self, target: Target, runner: Runner, reason: str, config: Config) -> None:
        self.target = target
        self.runner = runner
        self.reason = reason
        self.config = config
        self.call: Callable[..., Any] = _unset  # an ``async def`` function, awaited on the loop
        self.respond_by_thread: Callable[..., Any] = _unset  # ``respond_in_thread`` in a worker thread
        self.function: Callable[..., Any] | None = None  # what ``respond`` calls, set by ``calls``
        self.in_thread = False  # ``function`` is a plain ``def``: called in a worker thread

    def calls(self, func: Callable[..., Any]) -> None:
        """Call ``func`` per request, between ``prepare`` and ``finish``: on the event loop when
        it is ``async def``; else ``prepare``, ``func`` and ``finish`` together in a worker
        thread (``respond_in_thread``, ``pyfunc.runner``)."""
        self.function = func
        self.in_thread = not is_async(func)
        if self.in_thread:
            self.respond_by_thread = self.runner.wrap(self.respond_in_thread)
        else:
            self.call = func

    async def respond(self, request: Request) -> Response | Stream:
        if self.in_thread:
            return await self.respond_by_thread(request)
        args, kwargs = self.prepare(request)
        try:
            value = await self.call(*args, **kwargs)
        except Exception as exc:
            return self.finish(request, None, exc)
        return self.finish(request, value, None)

    def respond_in_thread(self, request: Request) -> Response | Stream:
        """The answer to ``request`` from a plain ``def`` function, made in the worker thread
        that calls it: ``prepare``, the call, ``finish``. The style's own work around the call
        (a CloudEvent's parsing and reply, JSON in and out) is then done by the thread that holds
        the interpreter lock for the call, instead of the loop and the worker taking turns at it
        (tools/bench/hot-path-notes.md). Raises what ``prepare`` or ``finish`` raise."""
        args, kwargs = self.prepare(request)
        try:
            value = self.function(*args, **kwargs)  # type: ignore[misc]
        except Exception as exc:
            return self.finish(request, None, exc)
        return self.finish(request, value, None)

    def prepare(self, request: Request) -> tuple[tuple, dict[str, Any]]:
        """The arguments of the call for ``request``; HTTPError to answer without calling."""
        raise NotImplementedError

    def finish(self, request: Request, value: Any, error: Exception | None) -> Response:
        """The answer to ``request`` from what the call returned (``value``, as an HTTP
        function's return: ``http.to_response``) or raised (``error``, re-raised unless the
        style answers it, as Flask answers ``abort(404)``)."""
        if error is not None:
            raise error
        return to_response(value, self.target.name)

    async def asgi(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise NotImplementedError

    async def start(self, env: dict[str, str]) -> None:
        """Called once before the first request with a copy of the environment."""

    async def stop(self) -> None:
        """Called once after in-flight requests have drained."""

    async def alive(self) -> tuple[bool, str]:
        return True, "OK"

    async def ready(self) -> tuple[bool, str]:
        return True, "OK"

    def probe_response(self, ok: bool, message: str) -> Response:
        """The answer to a liveness/readiness probe: 200 or 503, the message (or OK / not ready) as text."""
        return Response.text((message or ("OK" if ok else "not ready")) + "\n", 200 if ok else 503)

    def describe(self) -> str:
        return f"{self.target.name}(...)"


async def _unset(*args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError("the adapter called no function: Adapter.calls(func) sets it")
