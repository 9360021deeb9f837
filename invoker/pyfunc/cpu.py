"""The CPUs this container may use: its cgroup CPU quota, not the host's CPU count.

Functions Framework sizes its threads from the host's CPUs and ignores cgroups
(reference/function-styles.md); a pod limited to one CPU on a 64-core node would start
hundreds of threads. This reads cgroup v2 ``cpu.max``, then cgroup v1
``cpu.cfs_quota_us``/``cpu.cfs_period_us``, then the CPU affinity mask.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

#: Threads per CPU of quota for plain ``def`` functions (they mostly wait on I/O), and the cap,
#: the handler template's default (seed handler-template-dockerization: MAX_WORKERS 50).
THREADS_PER_CPU = 25
MAX_THREADS = 50


def quota(root: Path = Path("/sys/fs/cgroup")) -> float:
    """CPUs available: the cgroup quota when one is set, else the affinity mask (≥ 1)."""
    limited = _cgroup_v2(root / "cpu.max") or _cgroup_v1(root / "cpu")
    available = float(len(os.sched_getaffinity(0))) if hasattr(os, "sched_getaffinity") else float(os.cpu_count() or 1)
    return max(min(limited, available) if limited else available, 1.0)


def default_threads(root: Path = Path("/sys/fs/cgroup")) -> int:
    """The default MAX_WORKERS: THREADS_PER_CPU per CPU of quota, at most MAX_THREADS."""
    return min(MAX_THREADS, math.ceil(THREADS_PER_CPU * quota(root)))


def default_processes(root: Path = Path("/sys/fs/cgroup")) -> int:
    """The default number of worker processes: the whole CPUs of the cgroup quota, at least 1.

    Without a quota (a pod with no CPU limit) this is 1, not the host's CPU count: a process
    per host CPU on a 64-core node would multiply the memory by 64 for CPUs the pod may not get.
    """
    limited = _cgroup_v2(root / "cpu.max") or _cgroup_v1(root / "cpu")
    if not limited:
        return 1
    if hasattr(os, "sched_getaffinity"):
        limited = min(limited, float(len(os.sched_getaffinity(0))))
    return max(1, int(limited))


def _cgroup_v2(path: Path) -> float | None:
    try:
        limit, period = path.read_text().split()[:2]
    except (OSError, ValueError):
        return None
    return None if limit == "max" else int(limit) / int(period)


def _cgroup_v1(directory: Path) -> float | None:
    try:
        limit = int((directory / "cpu.cfs_quota_us").read_text())
        period = int((directory / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return None if limit <= 0 or period <= 0 else limit / period
