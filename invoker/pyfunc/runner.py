"""Run plain ``def`` user code off the event loop, in a bounded set of threads.

The hand-off is the cost that dominates a sync function's request (reference
perf-baselines: functions-framework ASGI serves sync functions 2.2× slower than async ones,
because of ``run_in_executor``). Here a job is one tuple on a ``SimpleQueue`` and one
``call_soon_threadsafe`` back: no ``concurrent.futures.Future`` and no future chaining.
Threads start on demand, at most ``max_workers`` (MAX_WORKERS, seed handler-template: 50).
"""

from __future__ import annotations

import asyncio
import inspect
import queue
import threading
from typing import Any, Callable


class Runner:
    """``wrap(func)`` gives an ``async`` callable: coroutine functions as they are, others in a thread."""

    def __init__(self, max_workers: int) -> None:
        self.max_workers = max_workers
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads = 0
        self._idle = 0

    def wrap(self, func: Callable[..., Any]) -> Callable[..., Any]:
        if is_async(func):
            return func

        async def in_thread(*args: Any, **kwargs: Any) -> Any:
            loop = asyncio.get_running_loop()
            future = loop.create_future()
            self._submit((func, args, kwargs, future, loop))
            return await future

        return in_thread

    def _submit(self, job: tuple) -> None:
        self._jobs.put(job)
        with self._lock:
            start = self._idle == 0 and self._threads < self.max_workers
            if start:
                self._threads += 1
        if start:
            threading.Thread(target=self._work, name=f"pyfunc-{self._threads}", daemon=True).start()

    def _work(self) -> None:
        jobs, lock = self._jobs, self._lock
        while True:
            with lock:
                self._idle += 1
            job = jobs.get()
            with lock:
                self._idle -= 1
            if job is None:
                return
            func, args, kwargs, future, loop = job
            if future.cancelled():  # the request timed out or its client left while it queued
                continue
            try:
                result = func(*args, **kwargs)
            except Exception as exc:
                loop.call_soon_threadsafe(_settle, future, None, exc)
            except BaseException as exc:  # SystemExit and the like must not stop the server
                loop.call_soon_threadsafe(_settle, future, None, RuntimeError(f"{type(exc).__name__} raised: {exc}"))
            else:
                loop.call_soon_threadsafe(_settle, future, result, None)

    def shutdown(self) -> None:
        """Let every thread finish its current job and exit."""
        for _ in range(self._threads):
            self._jobs.put(None)


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
