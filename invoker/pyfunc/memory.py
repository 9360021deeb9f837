"""Memory: the container's limit, the budget of request bodies buffered at once, giving freed memory back.

Buffered styles hold each request body in memory until the answer is sent. Without a bound,
a wave of large concurrent POSTs grows the process past its cgroup memory limit and the
kernel OOM-kills it, dropping every request in flight. ``BodyBudget`` bounds the body bytes
held at once (PYFUNC_MAX_INFLIGHT_BODY); beyond it the invoker answers 503 + Retry-After.
"""

from __future__ import annotations

import threading
from pathlib import Path

#: Share of the cgroup memory limit that bodies held at once may use by default, and the
#: budget when no limit is set.
LIMIT_SHARE = 4
UNLIMITED_BUDGET = 1 << 30


def limit(root: Path = Path("/sys/fs/cgroup")) -> int | None:
    """The cgroup memory limit in bytes (v2 ``memory.max``, else v1 ``memory.limit_in_bytes``), or None."""
    for path in (root / "memory.max", root / "memory" / "memory.limit_in_bytes"):
        try:
            text = path.read_text().strip()
        except OSError:
            continue
        if text.isdigit() and int(text) < 1 << 60:  # v1 writes a huge number for "no limit"
            return int(text)
        return None
    return None


def default_body_budget(root: Path = Path("/sys/fs/cgroup")) -> int:
    """The default PYFUNC_MAX_INFLIGHT_BODY: a 1/LIMIT_SHARE of the memory limit, else UNLIMITED_BUDGET."""
    found = limit(root)
    return found // LIMIT_SHARE if found else UNLIMITED_BUDGET


#: Give freed memory back to the system once a wave of bodies this large has drained.
TRIM_AFTER = 32 << 20


class BodyBudget:
    """Request body bytes held at once, at most ``limit`` (0 for no limit). Used on the event loop only.

    ``take(size)`` reserves ``size`` bytes, False when the budget cannot hold them (the caller
    answers 503 + Retry-After); ``give(size)`` returns them. Sizes are in bytes. When the bytes held fall to zero
    after a wave of at least TRIM_AFTER bytes, the C allocator is asked to give its free
    memory back (glibc keeps freed heap memory, so without this RSS stays at the wave's peak).
    """

    __slots__ = ("limit", "held", "wave")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0
        self.wave = 0

    def take(self, size: int, own: int = 0) -> bool:
        """Reserve ``size`` more bytes for a request already holding ``own``; a request holding
        everything that is held (a lone body) always gets them, so no body is refused forever."""
        held = self.held + size
        if self.limit and held > self.limit and self.held > own:
            return False
        self.held = held
        if held > self.wave:
            self.wave = held
        return True

    def give(self, size: int) -> None:
        self.held -= size
        if not self.held and self.wave >= TRIM_AFTER:
            self.wave = 0
            # malloc_trim walks the whole heap (~30 ms after a 300 MiB wave): not on the event loop.
            threading.Thread(target=trim, name="pyfunc-trim", daemon=True).start()


_TRIM: list = []  # glibc's malloc_trim, or None; looked up on first use (ctypes costs cold start)


def trim() -> bool:
    """Return the C allocator's free memory to the system (glibc ``malloc_trim(0)``); False where unavailable."""
    if not _TRIM:
        try:
            import ctypes

            _TRIM.append(ctypes.CDLL(None).malloc_trim)
        except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to call
            _TRIM.append(None)
    if _TRIM[0] is None:
        return False
    _TRIM[0](0)
    return True
