"""Notice an event loop that stopped running, and log what blocks it.

An ``async def`` function that calls blocking code (``time.sleep``, a sync HTTP client, a
long computation) stops the event loop: every request waits, probes too. The loop keeps a
heartbeat (a callback every ``interval`` seconds); a daemon thread checks it and, once the
loop has been silent for ``after`` seconds (PYFUNC_LOOP_WATCHDOG), logs the loop thread's
stack from ``sys._current_frames()``, once per blocking episode, so the log names the
function and line that block. A blocked loop also stops answering liveness probes, so the
platform restarts the instance if it never recovers.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
import traceback

log = logging.getLogger("pyfunc")


class LoopWatchdog:
    """Watch ``loop`` (started from the loop's own thread) for gaps longer than ``after`` seconds."""

    def __init__(self, loop: asyncio.AbstractEventLoop, after: float) -> None:
        self.loop = loop
        self.after = after
        self.interval = min(1.0, after / 4)
        self.beat = time.monotonic()
        self.loop_thread = threading.get_ident()
        self._stop = threading.Event()

    def start(self) -> None:
        self.loop.call_soon(self._beat)
        threading.Thread(target=self._watch, name="pyfunc-watchdog", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def _beat(self) -> None:
        self.beat = time.monotonic()
        if not self._stop.is_set():
            self.loop.call_later(self.interval, self._beat)

    def _watch(self) -> None:
        blocked_since = None
        while not self._stop.wait(self.interval):
            silent = time.monotonic() - self.beat
            if silent >= self.after and blocked_since is None:
                blocked_since = self.beat
                frame = sys._current_frames().get(self.loop_thread)
                stack = "".join(traceback.format_stack(frame)) if frame is not None else "(no stack)\n"
                log.error("the event loop has not run for %.1fs (PYFUNC_LOOP_WATCHDOG=%g): an async function "
                          "is calling blocking code; await it or make the function a plain def (run in a thread). "
                          "Event loop stack, most recent call last:\n%s", silent, self.after, stack.rstrip("\n"))
            elif silent < self.after and blocked_since is not None:
                log.warning("the event loop runs again after being blocked for %.1fs", self.beat - blocked_since)
                blocked_since = None
