"""Serve the App with uvicorn (httptools and uvloop where installed) on every listen address.

uvicorn owns the signals: on SIGTERM/SIGINT it stops accepting, waits up to ``grace``
seconds for in-flight requests, then runs the lifespan shutdown (the function's ``stop()``)
and returns, so the process exits 0.
"""

from __future__ import annotations

import errno
import importlib.util
import logging
import signal
import socket

from .config import Config
from .errors import ConfigError

log = logging.getLogger("pyfunc")


def bind(addresses: tuple[tuple[str, int], ...]) -> list[socket.socket]:
    """Listening sockets for ``addresses``. IPv6 sockets are v6-only so ``[::]`` and
    ``0.0.0.0`` on one port can both bind; an IPv6 address on a host without IPv6 is
    skipped when another address bound. Raises ConfigError when none can bind."""
    sockets: list[socket.socket] = []
    problems: list[str] = []
    for host, port in addresses:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        try:
            sock = socket.socket(family, socket.SOCK_STREAM)
        except OSError as exc:
            problems.append(f"{host}:{port}: {exc.strerror}")
            continue
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind((host, port))
            sock.listen(2048)
            sock.set_inheritable(True)
        except OSError as exc:
            sock.close()
            if exc.errno == errno.EADDRINUSE:
                raise ConfigError(f"Address {host}:{port} is already in use",
                                  fix="stop the other server or choose another PORT / LISTEN_ADDRESS") from None
            problems.append(f"{host}:{port}: {exc.strerror}")
            continue
        sockets.append(sock)
    if not sockets:
        raise ConfigError("Could not listen on any address", detail="; ".join(problems),
                          fix="set LISTEN_ADDRESS (or HOST and PORT) to an address of this host")
    for problem in problems:
        log.info("skipping listen address %s", problem)
    return sockets


def serve(app, config: Config) -> None:
    """Run ``app`` until a signal ends the server (blocks)."""
    import uvicorn

    sockets = bind(config.addresses)
    uconfig = uvicorn.Config(
        app,
        loop="uvloop" if importlib.util.find_spec("uvloop") else "asyncio",
        http="httptools" if importlib.util.find_spec("httptools") else "h11",
        lifespan="on",
        access_log=False,
        server_header=False,
        log_config=None,
        log_level="debug" if config.debug else "info",
        timeout_graceful_shutdown=config.grace,
        ws="none",
    )
    server = uvicorn.Server(uconfig)
    # uvicorn re-raises the signal it caught once it has drained; these handlers absorb it,
    # so a SIGTERM drain ends with exit status 0 as Kubernetes and Knative expect.
    for drained in (signal.SIGTERM, signal.SIGINT):
        signal.signal(drained, _drained)
    listening = ", ".join(_shown(s) for s in sockets)
    log.info("serving %s on %s", getattr(app.adapter, "describe", lambda: "")(), listening)
    server.run(sockets=sockets)
    if not server.started:
        raise SystemExit(3)


def _drained(signum: int, frame: object) -> None:
    log.info("stopped after %s", signal.Signals(signum).name)


def _shown(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
