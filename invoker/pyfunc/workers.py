"""Worker processes: a pre-fork supervisor that runs the server in N processes.

The parent has already imported the function and the server, built the app and bound the
sockets (``pyfunc.server``); it then forks ``count`` workers, each running the same server, so
cold start does not grow with N (no worker imports anything again, unlike a spawned worker:
uvicorn's ``--workers``, hypercorn's ``-w``). The parent's sockets are bound but never listen:
each worker binds its own to the same addresses with ``SO_REUSEPORT`` (``server.own_sockets``)
and listens only once its ASGI lifespan startup (the function's ``start()``) completed, so no
worker is given a connection before its own ``start()`` returned, and the kernel spreads new
connections over the workers that listen. Everything per process stays per process:
``start()``/``stop()``, readiness, the thread pool, and every limit (concurrency, body budget,
connections).

The parent (PID 1 in a container, where a signal without a handler is dropped: it blocks
SIGTERM, SIGINT and SIGCHLD and takes them with ``sigtimedwait``, which PID 1 receives too):

* relays SIGTERM and SIGINT to every worker, which drain as a single server does (finish
  in-flight requests within ``PYFUNC_GRACE``, run ``stop()``, exit 0); once all have exited,
  the parent returns 0;
* replaces a worker that exits on its own (crash, OOM kill), logging how it ended; replacements
  of workers that died within ``STABLE`` seconds of starting back off (``BACKOFF`` doubling to
  ``MAX_BACKOFF``), so a function that crashes at once does not fork in a loop;
* stops every worker and returns ``STARTUP_FAILED`` (3) when a worker's ``start()`` failed, as
  uvicorn's own supervisor does: the function or its environment is broken and would fail the
  same way again.

Workers run in their own process group, so a terminal's Ctrl-C reaches the parent only and is
relayed once (a second SIGINT to uvicorn forces exit without draining); a worker whose parent
died (SIGKILL) drains and exits instead of serving on unsupervised. Linux and other systems
with ``signal.sigtimedwait`` only; elsewhere one process serves.
"""

from __future__ import annotations

import _thread
import logging
import os
import signal
import socket
import sys
import time
from typing import Callable

log = logging.getLogger("pyfunc")

#: Exit status of a server whose start() failed (uvicorn's STARTUP_FAILURE).
STARTUP_FAILED = 3
#: A worker that lived this many seconds died of something other than a broken start.
STABLE = 10.0
BACKOFF = 0.5
MAX_BACKOFF = 10.0
_WAITED = {signal.SIGCHLD, signal.SIGTERM, signal.SIGINT}


def supported() -> bool:
    """True where the supervisor can run (fork and sigtimedwait: Linux, BSDs; not macOS, Windows)."""
    return hasattr(os, "fork") and hasattr(signal, "sigtimedwait")


def supervise(serve: Callable[[], None], count: int, sockets: list[socket.socket]) -> int:
    """Run ``serve()`` in ``count`` forked workers until a signal drains them; the exit status.

    ``serve`` runs the server on ``sockets`` and returns when it drained (or raises
    SystemExit); each worker exits with its status. Returns 0 after SIGTERM/SIGINT, or
    ``STARTUP_FAILED`` when a worker's ``start()`` failed.
    """
    unblocked = signal.pthread_sigmask(signal.SIG_BLOCK, _WAITED)  # taken by sigtimedwait below
    alive_r, alive_w = os.pipe()  # workers see EOF on alive_r once the parent is gone
    workers: dict[int, tuple[int, float]] = {}  # pid → (slot, started at)
    due: dict[int, float] = {}  # slot → when its replacement starts
    streak, status, stopping = 0, 0, False

    def start(slot: int) -> None:
        pid = os.fork()
        if pid == 0:
            _worker(serve, unblocked, alive_r, alive_w)
        workers[pid] = (slot, time.monotonic())
        log.info("worker %d forked (pid %d)", slot + 1, pid)

    def stop(signo: int) -> None:
        for pid in workers:
            try:
                os.kill(pid, signo)
            except ProcessLookupError:  # ended, not reaped yet
                pass
        for sock in sockets:  # the socket closes once the workers closed theirs
            sock.close()
        due.clear()

    try:
        for slot in range(count):
            start(slot)
        while workers or due:
            wait = min((when for when in due.values()), default=time.monotonic() + 1.0) - time.monotonic()
            info = signal.sigtimedwait(_WAITED, max(wait, 0.0))
            if info is not None and info.si_signo != signal.SIGCHLD:
                if not stopping:
                    log.info("%s: draining %d worker processes", signal.Signals(info.si_signo).name, len(workers))
                stopping = True
                stop(info.si_signo)
            ended = [(pid, code, workers.pop(pid)) for pid, code in _reaped() if pid in workers]
            for pid, code, (slot, since) in ended:
                if stopping:
                    continue
                if code == STARTUP_FAILED:
                    log.error("worker %d (pid %d) could not start; stopping every worker", slot + 1, pid)
                    status, stopping = STARTUP_FAILED, True
                    stop(signal.SIGTERM)
                    continue
                streak = streak + 1 if time.monotonic() - since < STABLE else 0
                delay = min(MAX_BACKOFF, BACKOFF * 2 ** (streak - 1)) if streak else 0.0
                log.error("worker %d (pid %d) %s; starting a new one%s", slot + 1, pid, _ended(code),
                          f" in {delay:g}s" if delay else "")
                due[slot] = time.monotonic() + delay
            for slot, when in list(due.items()):
                if when <= time.monotonic():
                    del due[slot]
                    start(slot)
    finally:  # only the parent gets here: a worker leaves by os._exit
        signal.pthread_sigmask(signal.SIG_SETMASK, unblocked)
        os.close(alive_r)
        os.close(alive_w)
    return status


def _reaped() -> list[tuple[int, int]]:
    """``(pid, exit code)`` of every child that ended; a negative code is the signal that killed it."""
    ended = []
    while True:
        try:
            pid, wstatus = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return ended
        if pid == 0:
            return ended
        ended.append((pid, os.waitstatus_to_exitcode(wstatus)))


def _ended(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with status {code}"


def _worker(serve: Callable[[], None], unblocked, alive_r: int, alive_w: int) -> None:
    """The forked child: serve, then leave with the server's status (never returns)."""
    code = 1
    try:
        os.setpgid(0, 0)
        os.close(alive_w)
        signal.pthread_sigmask(signal.SIG_SETMASK, unblocked)
        _thread.start_new_thread(_orphaned, (alive_r,))  # not threading's: it waits for the thread to run
        serve()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        log.exception("worker process failed")
    finally:
        for handler in logging.getLogger().handlers:
            handler.flush()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _orphaned(alive_r: int) -> None:
    """Wait for the parent to go away (EOF on its pipe), then drain this worker like SIGTERM would."""
    while os.read(alive_r, 1):
        pass
    log.error("the supervisor process is gone; draining worker pid %d", os.getpid())
    os.kill(os.getpid(), signal.SIGTERM)
