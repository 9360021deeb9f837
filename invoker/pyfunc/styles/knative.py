"""The Knative func style (seed knative-func-python-guide): ASGI instances from ``new()``.

The module attribute ``new`` (whatever its ``__name__``) builds an instance whose
``handle(scope, receive, send)`` serves every request but the probes; optional ``start(cfg)``
(cfg: a copy of the environment) runs before serving, ``stop()`` after drain, ``alive()`` /
``ready()`` answer ``/health/liveness`` / ``/health/readiness`` with a bool or
``(bool, message)`` (503 when false). A module-level ASGI ``handle`` works too. Sync or
async, any of them: sync code runs in the thread pool, never on the event loop.

With ``invoke: cloudevent`` in func.yaml (``FUNC_INVOKE``) or ``FUNCTION_SIGNATURE_TYPE=
cloudevent`` the request is parsed as a CloudEvent into ``scope["event"]`` (400 if it is
not one) and ``send`` also accepts an event to reply with, as func-python's middleware does.
"""

from __future__ import annotations

import asyncio
import inspect
from typing import Any, Callable

from ..config import Config
from ..errors import LoadError
from ..framing import guard
from ..http import Receive, Request, Response, Scope, Send, read_body, send_response
from .base import Adapter, Runner, Target

ASGI_PARAMETERS = ("scope", "receive", "send")


def claim(target: Target, config: Config) -> str | None:
    """A ``new`` factory, or an ASGI callable ``handle(scope, receive, send)``."""
    if target.name == "new":
        return "module attribute 'new' is a Knative func factory"
    if _is_asgi(target.obj):
        return "handle(scope, receive, send) is an ASGI function"
    return None


def _is_asgi(func: Callable[..., Any]) -> bool:
    try:
        names = [p.name for p in inspect.signature(func).parameters.values() if p.default is p.empty]
    except (TypeError, ValueError):
        return False
    return names == list(ASGI_PARAMETERS) or names[-3:] == list(ASGI_PARAMETERS)


class KnativeAdapter(Adapter):
    """Passes the raw ASGI request to the instance's ``handle`` (streaming: the body is not buffered)."""

    style = "knative"
    streaming = True

    def __init__(self, target: Target, runner: Runner, reason: str, config: Config) -> None:
        super().__init__(target, runner, reason, config)
        if target.name == "new":
            try:
                self.instance = target.obj()
            except Exception as exc:
                raise LoadError(f"new() in {target.where} raised {type(exc).__name__}: {exc}",
                                fix="make new() return your function instance without raising") from None
            handle = getattr(self.instance, "handle", None)
            if handle is None or not callable(handle):
                raise LoadError(f"The instance new() returns ({type(self.instance).__name__}) has no handle method",
                                fix="define async def handle(self, scope, receive, send) on it")
        else:
            self.instance, handle = None, target.obj
        self.handle = handle if inspect.iscoroutinefunction(handle) else _threaded_asgi(handle, runner)
        self.cloudevents = config.invoke == "cloudevent" or config.signature_type == "cloudevent"
        if self.cloudevents:
            from .. import cloudevent_sdk

            self.events = cloudevent_sdk.knative()  # what func-python hands for the installed SDK

    async def asgi(self, scope: Scope, receive: Receive, send: Send) -> None:
        send, finish = guard(send, scope["method"])  # checked status and headers, the server's framing
        if self.cloudevents:
            body = await read_body(scope, receive, self.config.max_body)
            scope = dict(scope, event=self.events.decode(Request(scope, body)))
            receive, send = _replay(body), EventSender(send, self.events.encode)
        await self.handle(scope, receive, send)
        await finish()

    async def start(self, env: dict[str, str]) -> None:
        await self._hook("start", env)

    async def stop(self) -> None:
        await self._hook("stop")

    async def alive(self) -> tuple[bool, str]:
        return _probe_result(await self._hook("alive", default=True))

    async def ready(self) -> tuple[bool, str]:
        return _probe_result(await self._hook("ready", default=True))

    def probe_response(self, ok: bool, message: str) -> Response:
        """func-python's probe answer: the message as is ("OK" by default), ``text/plain``.
        A failed check is 503, not func-python's 500: the status probes and proxies expect."""
        return Response(200 if ok else 503, [(b"content-type", b"text/plain")], (message or "OK").encode("utf-8"))

    async def _hook(self, name: str, *args: Any, default: Any = None) -> Any:
        method = getattr(self.instance, name, None) if self.instance is not None else None
        if method is None:
            return default
        return await self.runner.wrap(method)(*args)

    def describe(self) -> str:
        kind = f"CloudEvent (scope['event']: {self.events.event_type})" if self.cloudevents else "HTTP"
        owner = f"{type(self.instance).__name__} instance from new()" if self.instance is not None else self.target.name
        hooks = [h for h in ("start", "stop", "alive", "ready") if self.instance is not None and hasattr(self.instance, h)]
        return f"ASGI {kind} function: {owner}.handle(scope, receive, send)" + (f"; hooks: {', '.join(hooks)}" if hooks else "")


def _probe_result(result: Any) -> tuple[bool, str]:
    if isinstance(result, tuple):
        ok, message = (result + ("",))[:2]
        return bool(ok), str(message)
    return bool(result), ""


def _replay(body: bytes) -> Receive:
    """A ``receive`` that yields the already-read body once, then waits for disconnect."""
    sent = False

    async def receive() -> dict:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()
        return {"type": "http.disconnect"}

    return receive


class EventSender:
    """``send`` for the CloudEvent variant: an ASGI message passes through; an event
    (the SDK's, 1.x or 2.x) is sent as a structured CloudEvent, or ``binary(event)`` for
    binary mode (func-python's CloudEventSender). ``encode(event, structured)`` → Response."""

    def __init__(self, send: Send, encode: Callable[[Any, bool], Any]) -> None:
        self._send = send
        self._encode = encode

    async def __call__(self, message: Any, status: int = 200) -> None:
        if isinstance(message, dict):
            await self._send(message)
        else:
            await self.structured(message, status)

    async def structured(self, event: Any, status: int = 200) -> None:
        await self._event(event, status, structured=True)

    async def binary(self, event: Any, status: int = 200) -> None:
        await self._event(event, status, structured=False)

    async def http(self, message: dict) -> None:
        await self._send(message)

    async def _event(self, event: Any, status: int, structured: bool) -> None:
        response = self._encode(event, structured)
        response.status = status
        await send_response(self._send, response)


def _threaded_asgi(handle: Callable[..., Any], runner: Runner) -> Callable[..., Any]:
    """Run a sync ``handle(scope, receive, send)`` in the pool with blocking receive/send."""

    async def run(scope: Scope, receive: Receive, send: Send) -> None:
        loop = asyncio.get_running_loop()

        def blocking(coroutine_function: Callable[..., Any]) -> Callable[..., Any]:
            return lambda *args: asyncio.run_coroutine_threadsafe(coroutine_function(*args), loop).result()

        await runner.wrap(handle)(scope, blocking(receive), blocking(send))

    return run

