"""Run plain ``def`` user code off the event loop, in a bounded set of threads.

The hand-off is the cost that dominates a sync function's request (reference
perf-baselines: functions-framework ASGI serves sync functions 2.2× slower than async ones,
because of ``run_in_executor``), and most of it is the event loop and the worker threads
taking the GIL from each other. So the hand-off is batched both ways:

* a request appends its job to a deque; once per loop turn, after that turn's requests were
  queued, the loop wakes one thread if none is awake to take them (``_kick``);
* a thread that takes a job while more wait, and sees no other awake thread to take them,
  wakes a successor first: so a call that blocks (I/O, ``time.sleep``) never holds up the
  jobs behind it, and up to ``max_workers`` calls always run at once. A fast call keeps the
  GIL, finishes, and its thread takes the next job itself; the successor finds nothing and
  sleeps again;
* results go to a deque the loop empties in one callback (``_settle``), scheduled with one
  ``call_soon_threadsafe`` per batch, not one per result.

Threads start on demand, at most ``max_workers`` (MAX_WORKERS, seed handler-template: 50).
All accounting is under one lock: ``_looking`` counts awake threads not in a call (they will
take queued jobs); a sleeping thread waits on its own gate (``_idle``, most recent first).

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
import logging
import threading
import time
from collections import deque
from typing import Any, Callable

#: Markers in a job's ``claim`` list; the first one appended decides (both under the lock).
_RUN, _CANCEL, _DONE = "run", "cancel", "done"
_Future = asyncio.Future
log = logging.getLogger("pyfunc")


class Runner:
    """``wrap(func)`` gives an ``async`` callable: coroutine functions as they are, others in a thread.

    ``stuck_since`` is the ``time.monotonic()`` at which abandoned calls came to hold every
    worker place with no replacement left, or None.
    """

    def __init__(self, max_workers: int) -> None:
        self.max_workers = max_workers
        self.max_spares = max_workers
        self._jobs: deque[tuple] = deque()  # (func, args, kwargs, future, claim)
        self._lock = threading.Lock()
        self._idle: list[threading.Lock] = []  # the gates of sleeping threads
        self._looking = 0  # awake threads not in a call
        self._threads = 0  # threads holding one of the max_workers places
        self._spares = 0  # abandoned threads that were replaced and still run their call
        self._stuck: list[list] = []  # claims of abandoned calls whose threads still hold a place
        self._closing = False
        self._kicking = False  # a _kick is scheduled for this loop turn
        self._results: deque[tuple] = deque()  # (future or settled object, result, error) for the loop
        self._settling = False  # a _settle is scheduled
        self._loop: asyncio.AbstractEventLoop | None = None  # the loop jobs come from (one per process)
        self.stuck_since: float | None = None

    def wrap(self, func: Callable[..., Any]) -> Callable[..., Any]:
        if is_async(func):
            return func

        async def in_thread(*args: Any, **kwargs: Any) -> Any:
            future = asyncio.get_running_loop().create_future()
            claim = self.submit(func, args, kwargs, future)
            try:
                return await future
            except asyncio.CancelledError:
                self.abandon(claim)
                raise

        return in_thread

    def submit(self, func: Callable[..., Any], args: tuple, kwargs: dict, done: Any) -> list:
        """On the loop: queue ``func(*args, **kwargs)`` for a thread. ``done`` gets the outcome on
        the loop: an ``asyncio.Future`` its result or exception, any other object its
        ``settled(result, error)`` call. Returns the job's claim, for ``abandon``."""
        claim: list[str] = []
        self._jobs.append((func, args, kwargs, done, claim))
        if not self._kicking:
            self._kicking = True
            self._loop = loop = asyncio.get_running_loop()
            loop.call_soon(self._kick)
        return claim

    def _kick(self) -> None:
        """On the loop, once per turn: wake a thread for the jobs queued, unless one is awake."""
        self._kicking = False
        with self._lock:
            start = self._wake()
        if start:
            self._start()

    def _wake(self) -> bool:
        """Under the lock: make a thread look at the queue if none does. True: start one."""
        if not self._jobs or self._looking or self._closing:
            return False
        if self._idle:
            self._looking += 1
            self._idle.pop().release()
            return False
        if self._threads >= self.max_workers:
            return False  # every place is in a call: the first to return takes the job
        self._threads += 1
        self._looking += 1
        return True

    def _start(self) -> None:
        threading.Thread(target=self._work, name=f"pyfunc-{self._threads}", daemon=True).start()

    def _work(self) -> None:
        jobs, lock = self._jobs, self._lock
        gate = threading.Lock()  # held: acquiring it again sleeps until a _wake releases it
        gate.acquire()
        while True:
            job = None
            with lock:
                while jobs:
                    job = jobs.popleft()
                    claim = job[4]
                    claim.append(_RUN)
                    if claim[0] is _RUN:
                        break
                    job = None  # cancelled while it queued: skipped
                self._looking -= 1
                if job is None:
                    if self._closing:
                        return
                    self._idle.append(gate)
                else:
                    start = self._wake()  # a successor for the jobs behind this one
            if job is None:
                gate.acquire()
                continue
            if start:
                self._start()
            self._deliver(job[3], _call(job[0], job[1], job[2]))
            job = None  # an idle thread must not keep its last request (and body) alive
            with lock:
                claim.append(_DONE)
                if len(claim) > 2 and claim[1] is _CANCEL and not self._rejoin(claim):
                    return
                self._looking += 1

    def _deliver(self, done: Any, outcome: tuple) -> None:
        """From a thread: queue the outcome; the first of a batch schedules ``_settle``."""
        self._results.append((done, *outcome))
        if not self._settling:
            self._settling = True
            self._loop.call_soon_threadsafe(self._settle)  # type: ignore[union-attr]

    def _settle(self) -> None:
        """On the loop: hand every returned call's outcome to its future or ``settled``."""
        self._settling = False  # first: a result queued from now on schedules another _settle
        results = self._results
        while results:
            done, result, error = results.popleft()
            if type(done) is not _Future:
                try:
                    done.settled(result, error)
                except Exception:  # a bug of pyfunc's: the other outcomes of the batch still go out
                    log.exception("answering a returned call failed")
            elif done.done():
                continue
            elif error is None:
                done.set_result(result)
            else:
                done.set_exception(error)

    def abandon(self, claim: list) -> None:
        """On the loop: the request stopped waiting. A running call's thread is replaced or marked stuck."""
        with self._lock:
            claim.append(_CANCEL)
            if claim[0] is not _RUN or claim[1] is not _CANCEL:
                return  # cancelled while queued (the thread skips it), or already finished
            start = False
            if self._spares < self.max_spares:
                claim.append("spare")
                self._spares += 1
                self._threads -= 1
                start = self._wake()  # jobs wait: the replacement takes them now
            else:
                claim.append("stuck")
                self._stuck.append(claim)
                if len(self._stuck) >= self.max_workers and self.stuck_since is None:
                    self.stuck_since = time.monotonic()
        if start:
            self._start()

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
        """Let every thread finish its current call and exit."""
        with self._lock:
            self._closing = True
            while self._idle:
                self._looking += 1
                self._idle.pop().release()


def _call(func: Callable[..., Any], args: tuple, kwargs: dict) -> tuple[Any, BaseException | None]:
    """``(result, None)`` or ``(None, error)`` of ``func(*args, **kwargs)``, in a worker thread."""
    try:
        return func(*args, **kwargs), None
    except Exception as exc:
        return None, exc
    except BaseException as exc:  # SystemExit and the like must not stop the server
        return None, RuntimeError(f"{type(exc).__name__} raised: {exc}")


def is_async(func: Callable[..., Any]) -> bool:
    """True for ``async def`` functions and objects whose ``__call__`` is one."""
    return inspect.iscoroutinefunction(func) or inspect.iscoroutinefunction(getattr(func, "__call__", None))
