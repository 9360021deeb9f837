"""One server process: start the app, listen, serve HTTP/1.1 (``pyfunc.http1``) until a
signal, drain, stop the app.

Order, as Kubernetes and Knative expect of a container (and as uvicorn does it):

1. the app's startup (the function's ``start()``) runs before the sockets listen, so a TCP
   readiness probe fails until it returned; if it fails, nothing ever listened
   (``Server.started`` stays False);
2. the bound sockets listen and connections are served;
3. on SIGTERM or SIGINT: stop accepting, close idle connections, let each connection finish
   the answer in flight (then close it), wait up to ``grace`` seconds for that, cancel what
   still runs, run the app's shutdown (``stop()``) and return. A second SIGINT skips the wait
   and the shutdown (a terminal's second Ctrl-C).
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import signal
import socket
from typing import Any, Callable

from .connection import Site
from .http1 import H1Connection
from .limits import Limits

log = logging.getLogger("pyfunc")

#: How often the drain checks whether connections and exchanges are done (seconds).
POLL = 0.05
#: Pending connections the kernel queues per listening socket.
BACKLOG = 2048


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    """uvloop's event loop where installed (CPython on Linux), else asyncio's."""
    if importlib.util.find_spec("uvloop"):
        import uvloop

        return uvloop.new_event_loop
    return asyncio.new_event_loop


class Server:
    """Serves ``app`` (an ASGI app with ``startup()``/``shutdown()``, ``pyfunc.app.App``) under ``limits``."""

    def __init__(self, app: Any, limits: Limits, grace: float) -> None:
        self.app = app
        self.limits = limits
        self.grace = grace
        self.started = False
        self.should_exit = False
        self.force_exit = False
        self._wake: Callable[[], None] = lambda: None
        self._ticker: asyncio.TimerHandle | None = None
        self._signal: str | None = None  # the name of the signal that stopped the server

    def run(self, sockets: list[socket.socket]) -> None:
        """Serve on ``sockets`` (bound, not listening) until a signal drained the server."""
        loop = loop_factory()()
        asyncio.set_event_loop(loop)
        handlers = {signum: signal.signal(signum, self._signalled) for signum in (signal.SIGTERM, signal.SIGINT)}
        try:
            loop.run_until_complete(self._serve(sockets))
        finally:
            for signum, handler in handlers.items():
                signal.signal(signum, handler)
            try:
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                asyncio.set_event_loop(None)
                loop.close()

    def _signalled(self, signum: int, frame: object) -> None:
        if self.should_exit and signum == signal.SIGINT:
            self.force_exit = True
        self.should_exit = True
        if self._signal is None:
            self._signal = signal.Signals(signum).name
            log.info("%s: draining", self._signal)
        self._wake()

    async def _serve(self, sockets: list[socket.socket]) -> None:
        loop = asyncio.get_running_loop()
        stop = loop.create_future()
        self._wake = lambda: loop.call_soon_threadsafe(lambda: stop.done() or stop.set_result(None))
        if not await self.app.startup():
            return
        site = Site(self.app, self.limits, loop)
        servers = [await loop.create_server(lambda: H1Connection(site), sock=sock, backlog=BACKLOG)
                   for sock in sockets]
        self.started = True
        self._tick(site)
        if not self.should_exit:
            await stop
        self._ticker.cancel()  # type: ignore[union-attr]
        await self._drain(site, servers)
        if not self.force_exit:
            await self.app.shutdown()
        log.info("stopped after %s", self._signal or "a signal before the start")

    def _tick(self, site: Site) -> None:
        """Refresh the Date header each second."""
        site.refresh_date()
        self._ticker = site.loop.call_later(1.0, self._tick, site)

    async def _drain(self, site: Site, servers: list[asyncio.AbstractServer]) -> None:
        for server in servers:
            server.close()
        for connection in list(site.connections):
            connection.shutdown()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.grace
        if site.connections or site.tasks:
            log.info("waiting up to %gs for %d connections to finish their answers", self.grace,
                     len(site.connections))
        while (site.connections or site.tasks) and not self.force_exit and loop.time() < deadline:
            await asyncio.sleep(POLL)
        calls = [call for call in (c.running_call() for c in site.connections) if call is not None]
        if (site.tasks or calls) and not self.force_exit:
            log.error("cancelling %d requests still running after %gs (PYFUNC_GRACE)", len(site.tasks) + len(calls),
                      self.grace)
            for call in calls:
                call.cancel()
            for task in list(site.tasks):
                task.cancel()
            await asyncio.gather(*site.tasks, return_exceptions=True)
        for connection in list(site.connections):
            connection.transport.close()
