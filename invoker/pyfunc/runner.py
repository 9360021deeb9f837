"""Run plain ``def`` user code off the event loop, in a bounded set of threads.

The hand-off is the cost that dominates a sync function's request (reference
perf-baselines: functions-framework ASGI serves sync functions 2.2× slower than async ones,
because of ``run_in_executor``). Here a job is one tuple on a ``SimpleQueue`` and one
``call_soon_threadsafe`` back: no ``concurrent.futures.Future`` and no future chaining.
Threads start on demand, at most ``max_workers`` (MAX_WORKERS, seed handler-template: 50).

Accounting, all under one lock taken once per hand-off and once per finished job:
``_free`` is idle threads minus queued jobs. A job decrements it; when it goes negative no
thread is free for the job and one starts (below ``max_workers``). A thread that finished
a job increments it. So a thread that is about to take an already-queued job is never
counted twice, and up to ``max_workers`` calls always run at once.

Stuck calls: when a request gives up on a running call (the invoker's timeout cancelled it),
the thread is *abandoned*: it still runs user code nobody waits for. Up to ``max_workers``
abandoned threads are replaced (the pool may then hold twice ``max_workers`` threads), so
later requests are served; a replaced thread exits when its call returns, unless the pool
is short of threads, or gives its replacement slot to a thread stuck without one and
takes that thread's place. Once abandoned threads hold every place, the runner is stuck (``stuck_since``):
readiness answers 503, and liveness too after PYFUNC_STUCK_LIVENESS seconds (pyfunc.app).
A thread cannot be stopped from outside: Functions Framework's opt-in threaded timeout
(THREADED_TIMEOUT_ENABLED) injects an exception with ``PyThreadState_SetAsyncExc``, which
never reaches a thread blocked in C (a socket read, ``time.sleep``) and can leave the
function's locks held, so pyfunc replaces the thread instead and lets the platform restart
an instance whose every thread is stuck.
"""

from __future__ import annotations

import asyncio
import inspect
import queue
import threading
import time
from typing import Any, Callable

#: Markers in a job's ``claim`` list; the first one appended decides (``list.append`` is atomic).
_RUN, _CANCEL, _DONE = "run", "cancel", "done"


class Runner:
    """``wrap(func)`` gives an ``async`` callable: coroutine functions as they are, others in a thread.

    ``stuck_since`` is the ``time.monotonic()`` at which abandoned calls came to hold every
    worker place with no replacement left, or None.
    """

    def __init__(self, max_workers: int) -> None:
        self.max_workers = max_workers
        self.max_spares = max_workers
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads = 0  # threads holding one of the max_workers places
        self._free = 0  # idle threads minus queued jobs
        self._spares = 0  # abandoned threads that were replaced and still run their call
        self._stuck: list[list] = []  # claims of abandoned calls whose threads still hold a place
        self.stuck_since: float | None = None

    def wrap(self, func: Callable[..., Any]) -> Callable[..., Any]:
        if is_async(func):
            return func

        async def in_thread(*args: Any, **kwargs: Any) -> Any:
            loop = asyncio.get_running_loop()
            future = loop.create_future()
            claim: list[str] = []
            self._submit((func, args, kwargs, future, loop, claim))
            try:
                return await future
            except asyncio.CancelledError:
                self._abandon(claim)
                raise

        return in_thread

    def _submit(self, job: tuple) -> None:
        self._jobs.put(job)
        with self._lock:
            self._free -= 1
            start = self._free < 0 and self._threads < self.max_workers
            if start:
                self._threads += 1
                self._free += 1
        if start:
            threading.Thread(target=self._work, name=f"pyfunc-{self._threads}", daemon=True).start()

    def _work(self) -> None:
        jobs, lock = self._jobs, self._lock
        while True:
            job = jobs.get()
            if job is None:
                return
            claim = job[5]
            claim.append(_RUN)
            if claim[0] is _RUN:  # not cancelled while it queued
                _run(*job)
            job = None  # an idle thread must not keep its last request (and body) alive
            with lock:
                claim.append(_DONE)
                if len(claim) > 2 and claim[1] is _CANCEL and not self._rejoin(claim):
                    return
                self._free += 1

    def _abandon(self, claim: list) -> None:
        """On the loop: the request stopped waiting. A running call's thread is replaced or marked stuck."""
        with self._lock:
            claim.append(_CANCEL)
            if claim[0] is not _RUN or claim[1] is not _CANCEL:
                return  # cancelled while queued (the thread skips it), or already finished
            if self._spares < self.max_spares:
                claim.append("spare")
                self._spares += 1
                self._threads -= 1
                start = self._free < 0  # jobs wait: start the replacement now
                if start:
                    self._threads += 1
                    self._free += 1
            else:
                claim.append("stuck")
                self._stuck.append(claim)
                if len(self._stuck) >= self.max_workers and self.stuck_since is None:
                    self.stuck_since = time.monotonic()
                start = False
        if start:
            threading.Thread(target=self._work, name=f"pyfunc-{self._threads}", daemon=True).start()

    def _rejoin(self, claim: list) -> bool:
        """Under the lock, in a thread whose abandoned call returned: whether it goes on serving.

        A returning spare hands its spare slot to a stuck thread, whose place it then takes."""
        if claim[2] == "stuck":
            del self._stuck[next(i for i, stuck in enumerate(self._stuck) if stuck is claim)]
        else:
            self._spares -= 1
            if self._stuck:
                self._stuck.pop()[2] = "spare"
                self._spares += 1
                self._threads -= 1
            if self._threads >= self.max_workers:
                return False
            self._threads += 1
        if len(self._stuck) < self.max_workers:
            self.stuck_since = None
        return True

    def shutdown(self) -> None:
        """Let every thread finish its current job and exit."""
        for _ in range(self._threads + self._spares):
            self._jobs.put(None)


def _run(func: Callable[..., Any], args: tuple, kwargs: dict, future: asyncio.Future,
         loop: asyncio.AbstractEventLoop, claim: list) -> None:
    """Call ``func`` in this worker thread and settle ``future`` on ``loop`` with the outcome."""
    try:
        result = func(*args, **kwargs)
    except Exception as exc:
        loop.call_soon_threadsafe(_settle, future, None, exc)
    except BaseException as exc:  # SystemExit and the like must not stop the server
        loop.call_soon_threadsafe(_settle, future, None, RuntimeError(f"{type(exc).__name__} raised: {exc}"))
    else:
        loop.call_soon_threadsafe(_settle, future, result, None)


def _settle(future: asyncio.Future, result: Any, error: BaseException | None) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(result)
    else:
        future.set_exception(error)


def is_async(func: Callable[..., Any]) -> bool:
    """True for ``async def`` functions and objects whose ``__call__`` is one."""
    return inspect.iscoroutinefunction(func) or inspect.iscoroutinefunction(getattr(func, "__call__", None))
