"""A server process under measurement, and cold start: spawn → first HTTP 200."""

from __future__ import annotations


import os
import signal
import statistics
import subprocess
import time
from pathlib import Path

import cnb_host

from .cases import Config


class Server:
    def __init__(self, config: Config, root: Path) -> None:
        self.port = cnb_host.free_port()
        args = [a.replace("{port}", str(self.port)) for a in config.args]
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        env.update({k: v.replace("{port}", str(self.port)) for k, v in config.env.items()})
        self.started = time.perf_counter()
        self.process = subprocess.Popen([str(config.python()), *args], cwd=root / config.function, env=env,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)

    def wait(self, timeout: float = 30, path: str = "/", any_status: bool = False) -> float:
        """Seconds from spawn to the first 200 on ``path`` (or any answer)."""
        import http.client

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited {self.process.returncode}")
            try:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                connection.request("GET", path)
                status = connection.getresponse().status
                if status == 200 or any_status:
                    return time.perf_counter() - self.started
            except OSError:
                time.sleep(0.005)
        raise RuntimeError("server did not answer")

    def memory(self) -> tuple[float, float]:
        """(RSS, PSS) in MiB summed over the server and its child processes."""
        rss = pss = 0
        for pid in _tree(self.process.pid):
            try:
                for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1])
                    elif line.startswith("Pss:"):
                        pss += int(line.split()[1])
            except OSError:
                pass
        return rss / 1024, pss / 1024

    def stop(self) -> None:
        for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, None)):
            try:
                os.killpg(self.process.pid, sig)
                self.process.wait(wait)
                return
            except ProcessLookupError:
                self.process.wait()
                return
            except subprocess.TimeoutExpired:
                continue


def _tree(pid: int) -> list[int]:
    pids = [pid]
    for child in Path("/proc").glob("[0-9]*"):
        try:
            if int(Path(child, "stat").read_text().split(") ", 1)[1].split()[1]) in pids:
                pids.append(int(child.name))
        except (OSError, IndexError, ValueError):
            pass
    return pids



def cold_starts(configs: list[Config], root: Path, runs: int) -> list[float]:
    """Median ms from spawn to the first 200 of each configuration, spawned in turn ``runs``
    times, so that the machine's changing load falls on all of them alike."""
    times: list[list[float]] = [[] for _ in configs]
    for attempt in range(runs + 1):  # the first round warms the page cache; it is not counted
        for config, seen in zip(configs, times):
            server = Server(config, root)
            try:
                elapsed = server.wait() * 1000
            finally:
                server.stop()
            if attempt:
                seen.append(elapsed)
    return [statistics.median(t) for t in times]

