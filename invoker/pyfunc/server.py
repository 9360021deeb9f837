"""Serve the App on every listen address: ``pyfunc.serving`` (HTTP/1.1 on httptools, uvloop
where installed), or uvicorn's h11 protocol where httptools is missing (PyPy).

On SIGTERM/SIGINT the server stops accepting, waits up to ``grace`` seconds for in-flight
requests, then runs the function's ``stop()`` and returns, so the process exits 0. With more
than one worker process (``Config.worker_processes``) each runs this server on the sockets
bound here, forked by ``pyfunc.workers`` once everything is imported.
"""

from __future__ import annotations

import errno
import gc
import importlib.util
import logging
import signal
import socket
import sys
from typing import Any

from .config import Config
from .errors import ConfigError

log = logging.getLogger("pyfunc")


def bind(addresses: tuple[tuple[str, int], ...], reuse_port: bool = False) -> list[socket.socket]:
    """Bound, not yet listening sockets for ``addresses``, as ``(host, port)`` pairs;
    ``reuse_port``: with ``SO_REUSEPORT``, so that worker processes can bind their own
    (``own_sockets``).

    The sockets do not ``listen()``: the server's ``create_server`` does that after the app's
    startup (the function's ``start()``) completed, so until then a TCP connect — a
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
        sock, problem = _bound(host, port, reuse_port)
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


def _bound(host: str, port: int, reuse_port: bool) -> tuple[socket.socket | None, str]:
    """A socket bound to ``(host, port)``, or None and why not. Raises ConfigError when in use."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        sock = _socket(family, reuse_port)
    except OSError as exc:
        return None, f"{host}:{port}: {exc.strerror}"
    try:
        if reuse_port and port:
            _probe(family, (host, port))
        sock.bind((host, port))
        sock.set_inheritable(True)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ConfigError(f"Address {host}:{port} is already in use",
                              fix="stop the other server or choose another PORT / LISTEN_ADDRESS") from None
        return None, f"{host}:{port}: {exc.strerror}"
    return sock, ""


def _socket(family: int, reuse_port: bool) -> socket.socket:
    # IPPROTO_TCP, not 0: asyncio turns Nagle's algorithm off (TCP_NODELAY) only on accepted
    # sockets whose ``proto`` says TCP, and they inherit the listener's; with 0, the fallback
    # server (uvicorn on asyncio) held every small write after the first until the client's
    # delayed ACK, ~45 ms a streamed answer. (uvloop sets TCP_NODELAY either way.)
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    except OSError:
        sock.close()
        raise
    return sock


def _probe(family: int, address: tuple[str, int]) -> None:
    """Raise OSError(EADDRINUSE) when another server listens on ``address``. ``SO_REUSEPORT``
    lets every socket of this user that sets it bind the port too, so a second server with
    worker processes would otherwise share the port silently; a socket without it cannot bind
    where one listens. (Between its bind and its first worker's listen, a starting server is
    not seen.)"""
    probe = _socket(family, reuse_port=False)
    try:
        probe.bind(address)
    finally:
        probe.close()


def own_sockets(inherited: list[socket.socket]) -> list[socket.socket]:
    """A worker process's own sockets, bound (``SO_REUSEPORT``) to the addresses of the
    sockets it inherited, which it closes; the parent's copies keep the addresses bound.

    Each worker listens on its own socket after its own startup, and the kernel spreads new
    connections over the listening ones by a hash of their addresses (Linux ``SO_REUSEPORT``).
    With one shared socket, the worker that woke first took every pending connection (libuv
    accepts until none is left): keep-alive connections opened together (wrk, a proxy's pool)
    could all land on one worker while the other stayed idle, half the throughput of a
    CPU-bound function for as long as they lived."""
    own = []
    for sock in inherited:
        mine = _socket(sock.family, reuse_port=True)
        mine.bind(sock.getsockname())
        own.append(mine)
        sock.close()
    return own


def serve(app, config: Config) -> None:
    """Run ``app`` until a signal ends the server (blocks), in ``config.worker_processes`` processes.

    Raises SystemExit(3) when the function's ``start()`` failed (in any worker).
    """
    processes = config.worker_processes
    if processes > 1 and not _supervisable():
        processes = 1
    reuse_port = processes > 1 and hasattr(socket, "SO_REUSEPORT")
    sockets = bind(config.addresses, reuse_port)
    if importlib.util.find_spec("httptools"):
        from .limits import Limits, raise_descriptor_limit
        from .serving import Server

        raise_descriptor_limit()
        server: Any = Server(app, Limits.from_config(config), config.grace)
    else:  # PyPy: uvicorn's h11 protocol, with h11's head limit and uvicorn's idle timeout only
        server = _uvicorn_server(app, config)
    listening = ", ".join(_shown(s) for s in sockets)
    log.info("serving %s on %s%s (accepting connections once started)", getattr(app.adapter, "describe", lambda: "")(),
             listening, f" in {processes} worker processes" if processes > 1 else "")
    # What was imported and loaded lives as long as the process: out of the collector's reach,
    # a full collection no longer walks it (a pause of 10-25 ms with Flask, in the p99), and
    # forked workers do not write to its pages (Python's gc.freeze documentation; not in PyPy).
    # Garbage of the start-up itself (a few argparse objects) stays: collecting it first would
    # cost 5-11 ms of every cold start.
    getattr(gc, "freeze", lambda: None)()
    if processes == 1:
        _run(server, sockets)
        return
    from .workers import supervise

    status = supervise(lambda: _run(server, own_sockets(sockets) if reuse_port else sockets), processes, sockets)
    if status:
        raise SystemExit(status)


def _uvicorn_server(app, config: Config) -> Any:
    import uvicorn

    uconfig = uvicorn.Config(app, loop="asyncio", http="h11", h11_max_incomplete_event_size=config.max_header_bytes or None,
                             timeout_keep_alive=config.idle_timeout or 5, lifespan="on", access_log=False,
                             server_header=False, log_config=None, log_level="debug" if config.debug else "info",
                             timeout_graceful_shutdown=config.grace, ws="none", workers=1)
    uconfig.load()  # imported once, before any fork
    return uvicorn.Server(uconfig)


def _run(server, sockets: list[socket.socket]) -> None:
    """Run one server on ``sockets`` until it drained; SystemExit(3) when it never started."""
    # A signal that comes before the server's own handlers are in place (a worker told to
    # stop as it forks) still stops the server: right after its startup. uvicorn (PyPy)
    # re-raises the signal it caught once it has drained: absorbed here, so a SIGTERM drain
    # ends with exit status 0 as Kubernetes and Knative expect.
    def drained(signum: int, frame: object) -> None:
        if server.should_exit:
            log.info("stopped after %s", signal.Signals(signum).name)
        else:
            server.should_exit = True
            log.info("%s before the server started: stopping once started", signal.Signals(signum).name)

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, drained)
    server.run(sockets=sockets)
    if not server.started:
        raise SystemExit(3)


def _supervisable() -> bool:
    from .workers import supported

    if supported():
        return True
    log.warning("worker processes need fork and sigtimedwait, which %s lacks: serving in one process", sys.platform)
    return False


def _shown(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
