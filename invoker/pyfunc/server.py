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
    """Bound, not yet listening sockets for ``addresses``, as ``(host, port)`` pairs.

    The sockets do not ``listen()``: uvicorn's ``create_server`` does that after the ASGI
    lifespan startup (the function's ``start()``) completed, so until then a TCP connect — a
    Knative readiness probe's default — is refused, and a failed start never accepted one.

    ``::`` (``[::]``) serves IPv4 too: as func-python does, the IPv4 wildcard on the same port
    is added when the list lacks it (IPv6 sockets stay v6-only so both can bind), so
    ``LISTEN_ADDRESS=[::]:8080`` as func sets it answers on 127.0.0.1 (queue-proxy) and
    on hosts without IPv6 (Docker's default bridge). An address this host cannot serve (IPv6
    without IPv6) is skipped when another one bound. Raises ConfigError when none can bind.
    """
    sockets: list[socket.socket] = []
    problems: list[str] = []
    wildcard_v4 = {port for host, port in addresses if host == "0.0.0.0"}
    pending = list(addresses)
    while pending:
        host, port = pending.pop(0)
        sock, problem = _bound(host, port)
        if problem:
            problems.append(problem)
        else:
            sockets.append(sock)
        if host == "::" and port not in wildcard_v4:
            wildcard_v4.add(port)
            pending.insert(0, ("0.0.0.0", sock.getsockname()[1] if sock else port))
    if not sockets:
        raise ConfigError("Could not listen on any address", detail="; ".join(problems),
                          fix="set LISTEN_ADDRESS (or HOST and PORT) to an address of this host")
    for problem in problems:
        log.info("skipping listen address %s", problem)
    return sockets


def _bound(host: str, port: int) -> tuple[socket.socket | None, str]:
    """A socket bound to ``(host, port)``, or None and why not. Raises ConfigError when in use."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        sock = socket.socket(family, socket.SOCK_STREAM)
    except OSError as exc:
        return None, f"{host}:{port}: {exc.strerror}"
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((host, port))
        sock.set_inheritable(True)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ConfigError(f"Address {host}:{port} is already in use",
                              fix="stop the other server or choose another PORT / LISTEN_ADDRESS") from None
        return None, f"{host}:{port}: {exc.strerror}"
    return sock, ""


def serve(app, config: Config) -> None:
    """Run ``app`` until a signal ends the server (blocks)."""
    import uvicorn

    sockets = bind(config.addresses)
    if importlib.util.find_spec("httptools"):
        from .limits import Limits, raise_descriptor_limit
        from .protocol import protocol_class

        raise_descriptor_limit()
        http: object = protocol_class(Limits.from_config(config))
    else:  # PyPy: uvicorn's h11 protocol, with h11's head limit and uvicorn's idle timeout only
        http = "h11"
    uconfig = uvicorn.Config(
        app,
        loop="uvloop" if importlib.util.find_spec("uvloop") else "asyncio",
        http=http,
        h11_max_incomplete_event_size=config.max_header_bytes or None,
        timeout_keep_alive=config.idle_timeout or 5,
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
    log.info("serving %s on %s (accepting connections once started)",
             getattr(app.adapter, "describe", lambda: "")(), listening)
    server.run(sockets=sockets)
    if not server.started:
        raise SystemExit(3)


def _drained(signum: int, frame: object) -> None:
    log.info("stopped after %s", signal.Signals(signum).name)


def _shown(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
