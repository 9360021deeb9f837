"""Memory: the container's limit, the budget of request bodies buffered at once, giving freed memory back.

Buffered styles hold each request body in memory until the answer is sent. Without a bound,
a wave of large concurrent POSTs grows the process past its cgroup memory limit and the
kernel OOM-kills it, dropping every request in flight. ``BodyBudget`` bounds the body bytes
held at once (PYFUNC_MAX_INFLIGHT_BODY); beyond it the invoker answers 503 + Retry-After.
"""

from __future__ import annotations

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
