"""Live reload for ``--debug`` / ``DEBUG``, as ``functions-framework --debug`` restarts on a
changed source file (its Flask development server's reloader).

``python -m pyfunc start --debug`` becomes a supervisor: it runs the server as a child
process (the same command line, ``PYFUNC_RELOADER_CHILD=1`` in its environment) and polls
the ``.py`` files under the function directory twice a second; when one is added, removed
or changed, the child is stopped (SIGTERM, its drain) and started again. A child that fails
to load is reported and started again at the next change. SIGTERM/SIGINT to the supervisor
stop the child and end with its exit status.

Never in an image: a process the CNB launcher started (``CNB_LAYERS_DIR`` set, as the
lifecycle's exporter sets it in every app image) serves without reloading, ``--debug``
then only turns on debug logs.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

log = logging.getLogger("pyfunc")
CHILD = "PYFUNC_RELOADER_CHILD"
SKIPPED = {"__pycache__", ".git", ".venv", "venv", "node_modules", ".tools"}
POLL = 0.5


def wanted(debug: bool, env: dict[str, str] | os._Environ = os.environ) -> bool:
    """True when this process should supervise a reloading child."""
    return debug and not env.get(CHILD) and not env.get("CNB_LAYERS_DIR")


def snapshot(directory: Path) -> dict[str, tuple[int, int]]:
    """``{path: (mtime_ns, size)}`` of the ``.py`` files under ``directory``."""
    found: dict[str, tuple[int, int]] = {}
    for root, dirs, files in os.walk(directory):
        dirs[:] = [d for d in dirs if d not in SKIPPED]
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(root, name)
                try:
                    stat = os.stat(path)
                except OSError:
                    continue
                found[path] = (stat.st_mtime_ns, stat.st_size)
    return found


def supervise(argv: list[str], directory: Path) -> int:
    """Run ``python -m pyfunc <argv>`` and restart it on source changes. Returns the exit status."""
    stopping = {"signal": None}

    def stop(signum: int, frame: object) -> None:
        stopping["signal"] = signum

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    env = {**os.environ, CHILD: "1"}
    while True:
        seen = snapshot(directory)
        child = subprocess.Popen([sys.executable, "-m", "pyfunc", *argv], env=env)
        log.info("live reload: serving with process %s; watching %s", child.pid, directory)
        reported = False
        while stopping["signal"] is None:
            time.sleep(POLL)
            if child.poll() is not None and not reported:
                log.error("live reload: the server exited with status %s; waiting for a change", child.returncode)
                reported = True
            now = snapshot(directory)
            if now != seen:
                changed = sorted(set(now.items()) ^ set(seen.items()))
                log.info("live reload: %s changed, restarting", changed[0][0] if changed else directory)
                break
        if child.poll() is None:
            child.send_signal(stopping["signal"] or signal.SIGTERM)
            try:
                child.wait(30)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        if stopping["signal"] is not None:
            return child.returncode if child.returncode and child.returncode > 0 else 0
