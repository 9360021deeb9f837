"""Worker processes (WEB_CONCURRENCY / GUNICORN_WORKERS) on the real server: every request is
answered by a forked worker, connections opened together reach every worker (a socket each), a
port another server listens on is refused, CPU-bound calls run in two processes at once,
SIGTERM drains every worker, a killed worker is replaced, Knative start()/stop() run once per
worker and a failed start() ends the whole server."""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

import cnb_host
import rawhttp
from conftest import write_function

PID = {"func.py": """
    import os

    def main(body):
        return str(os.getpid())
"""}

#: ~20 ms of pure Python per call; the call's own view of when it ran, in which process.
CPU_BOUND = {"func.py": """
    import json
    import os
    import time

    def main(body):
        start = time.monotonic()
        n = 0
        while time.monotonic() - start < 0.02:
            for i in range(1000):
                n += i * i
        return json.dumps({"pid": os.getpid(), "start": start, "end": time.monotonic()})
"""}

#: Sleeps as long as the body says; leaves a mark named after its process for each call.
SLOW = {"func.py": """
    import os
    import time
    import uuid
    from pathlib import Path

    MARKS = Path(os.environ["MARKS"])

    def main(body):
        (MARKS / f"{os.getpid()}-{uuid.uuid4()}").touch()
        time.sleep(float(body or 0))
        return str(os.getpid())
"""}

#: Knative instance: logs start/stop/handle with its pid in EVENTS. With SLOW_SECOND set, the
#: worker that starts second sleeps that long in start(); with FAIL set to "all" every start()
#: raises, to "second" only the second one's.
KNATIVE = {
    "function/__init__.py": "from .func import new\n",
    "function/func.py": """
        import os
        import time

        def new():
            return F()

        def note(what):
            with open(os.environ["EVENTS"], "a") as events:
                events.write(f"{what} {os.getpid()}\\n")

        def second():
            try:
                os.close(os.open(os.environ["EVENTS"] + ".first", os.O_CREAT | os.O_EXCL))
                return False
            except FileExistsError:
                return True

        class F:
            def start(self, cfg):
                note("start-begin")
                later = second()
                if cfg.get("FAIL") == "all" or (cfg.get("FAIL") == "second" and later):
                    raise RuntimeError("no database")
                if later and cfg.get("SLOW_SECOND"):
                    time.sleep(float(cfg["SLOW_SECOND"]))
                note("start-end")

            def stop(self):
                note("stop")

            async def handle(self, scope, receive, send):
                note("handle")
                await send({"type": "http.response.start", "status": 200, "headers": []})
                await send({"type": "http.response.body", "body": str(os.getpid()).encode()})
    """,
}


def _pids_answering(url: str, want: int, tries: int = 400) -> set[int]:
    """PIDs seen answering fresh connections, until ``want`` different ones (or ``tries`` requests)."""
    seen: set[int] = set()
    for _ in range(tries):
        seen.add(int(requests.get(url, timeout=30).text))
        if len(seen) >= want:
            break
    return seen


def _parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()[1])


def test_two_worker_processes_answer_from_two_pids(tmp_path, serve):
    write_function(tmp_path, PID)
    server = serve(tmp_path, {"WEB_CONCURRENCY": "2"})
    pids = _pids_answering(server.url, 2)
    assert len(pids) == 2
    assert all(_parent(pid) == server.process.pid for pid in pids), "workers are children of the server process"
    assert "in 2 worker processes" in server.output


def _burst(port: int, count: int) -> list[int]:
    """Open ``count`` connections at once (non-blocking connects, as wrk or a proxy's pool
    does), then one request on each: the PID that answered each connection."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.setblocking(False)
            sock.connect_ex(("127.0.0.1", port))
            sockets.append(sock)
        for sock in sockets:
            select.select([], [sock], [], 10)
            sock.settimeout(30)
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        return [int(rawhttp.parse(_one_answer(sock)).body) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _one_answer(sock: socket.socket) -> bytes:
    """One whole answer (its Content-Length of body) read from ``sock``."""
    data = b""
    while True:
        head, found, body = data.partition(b"\r\n\r\n")
        if found:
            length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:"))
            if len(body) >= length:
                return data
        piece = sock.recv(4096)
        assert piece, f"connection closed after {data!r}"
        data += piece


def test_connections_opened_together_are_spread_over_the_workers(tmp_path, serve):
    """Each worker listens on a socket of its own (SO_REUSEPORT): a burst of keep-alive
    connections lands on both workers every time. On one shared socket, the worker that woke
    first accepted all it found, often the whole burst (then the other worker idles for as
    long as the connections live: half the throughput of a CPU-bound function)."""
    write_function(tmp_path, PID)
    server = serve(tmp_path, {"WEB_CONCURRENCY": "2"})
    assert len(_pids_answering(server.url, 2)) == 2  # both listening
    rounds = [Counter(_burst(server.port, 40)) for _ in range(10)]
    # Spread by a hash, 40 connections leave fewer than 5 on one of two workers with a chance
    # of about 2e-7 a round.
    assert all(len(split) == 2 and min(split.values()) >= 5 for split in rounds), rounds


@pytest.mark.parametrize("processes", ["1", "2"])
def test_a_port_another_server_with_workers_listens_on_is_refused(tmp_path, serve, processes):
    """SO_REUSEPORT would let a second server share the port unnoticed: it is refused with the
    error a port in use gets, with one worker process or more."""
    write_function(tmp_path, PID)
    first = serve(tmp_path, {"WEB_CONCURRENCY": "2"})
    env = {**os.environ, "LISTEN_ADDRESS": f"127.0.0.1:{first.port}", "WEB_CONCURRENCY": processes}
    second = subprocess.run([sys.executable, "-m", "pyfunc", "start", "-s", str(tmp_path)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60)
    assert second.returncode != 0 and f"Address 127.0.0.1:{first.port} is already in use" in second.stdout, \
        second.stdout
    assert "Traceback" not in second.stdout
    assert len(_pids_answering(first.url, 2)) == 2  # the first server still has the port to itself


def test_the_function_is_imported_once_before_the_workers_fork(tmp_path, serve):
    """Fork after import: cold start does not grow with the workers, and module-level code runs once."""
    imports = tmp_path / "imports"
    write_function(tmp_path / "fn", {"func.py": f"""
        import os

        with open({str(imports)!r}, "a") as log:
            log.write(f"{{os.getpid()}}\\n")

        def main(body):
            return str(os.getpid())
    """})
    server = serve(tmp_path / "fn", {"WEB_CONCURRENCY": "3"})
    assert len(_pids_answering(server.url, 3)) == 3
    assert imports.read_text().split() == [str(server.process.pid)]


def test_handler_template_gunicorn_workers_sets_the_processes(tmp_path, serve):
    write_function(tmp_path, PID)
    server = serve(tmp_path, {"WEB_CONCURRENCY": "", "GUNICORN_WORKERS": "2"})
    assert len(_pids_answering(server.url, 2)) == 2


def test_one_worker_process_is_the_server_process_itself(tmp_path, serve):
    """No supervisor with one worker: the process that was started answers."""
    write_function(tmp_path, PID)
    server = serve(tmp_path, {"WEB_CONCURRENCY": "1"})
    assert {int(requests.get(server.url).text) for _ in range(5)} == {server.process.pid}


def _most_processes_busy_at_once(calls: list[dict]) -> int:
    """The largest number of different processes running the function at one moment."""
    most = 0
    for call in calls:
        at = call["start"]
        busy = {c["pid"] for c in calls if c["start"] <= at < c["end"]}
        most = max(most, len(busy))
    return most


@pytest.mark.parametrize("processes", [1, 2])
def test_cpu_bound_calls_run_in_parallel_with_two_worker_processes(tmp_path, serve, processes):
    """A fixed batch of concurrent CPU-bound calls: with two workers, two processes compute at
    once (the GIL no longer serialises them); with one, never more than one."""
    write_function(tmp_path, CPU_BOUND)
    server = serve(tmp_path, {"WEB_CONCURRENCY": str(processes)})
    with ThreadPoolExecutor(8) as pool:
        calls = list(pool.map(lambda _: requests.post(server.url, timeout=60).json(), range(80)))
    assert len({c["pid"] for c in calls}) == processes
    assert _most_processes_busy_at_once(calls) == processes


def test_sigterm_drains_in_flight_requests_in_every_worker_and_exits_0(tmp_path, serve):
    marks = tmp_path / "marks"
    marks.mkdir()
    write_function(tmp_path / "fn", SLOW)
    server = serve(tmp_path / "fn", {"WEB_CONCURRENCY": "2", "MARKS": str(marks)})
    workers = _pids_answering(server.url, 2)
    for mark in marks.iterdir():
        mark.unlink()
    pool = ThreadPoolExecutor(40)
    pending = []
    busy: set[int] = set()
    deadline = time.monotonic() + 30
    for _ in range(40):  # fresh connections until both workers hold a sleeping call
        pending.append(pool.submit(lambda: requests.post(server.url, data="2", timeout=60)))
        while len(list(marks.iterdir())) < len(pending):  # every request sent is in a call
            assert time.monotonic() < deadline
            time.sleep(0.02)
        busy = {int(mark.name.split("-")[0]) for mark in marks.iterdir()}
        if len(busy) == 2:
            break
    assert busy == workers, "both workers have a call in flight"
    assert server.stop() == 0
    answers = [future.result() for future in pending]
    pool.shutdown()
    assert [a.status_code for a in answers] == [200] * len(answers)
    assert {int(a.text) for a in answers} == workers
    assert server.output.count("stopped after SIGTERM") == 2  # once per worker
    assert "draining 2 worker processes" in server.output


def test_ctrl_c_drains_every_worker_in_flight_requests_answered(tmp_path):
    """A terminal's Ctrl-C signals the whole foreground process group: the workers, in their own
    groups, get only the parent's one relayed SIGINT (a second would make uvicorn exit without
    waiting for the call in flight)."""
    marks = tmp_path / "marks"
    marks.mkdir()
    write_function(tmp_path / "fn", SLOW)
    port = cnb_host.free_port()
    env = {**os.environ, "LISTEN_ADDRESS": f"127.0.0.1:{port}", "WEB_CONCURRENCY": "2", "MARKS": str(marks)}
    server = subprocess.Popen([sys.executable, "-m", "pyfunc", "start", "-s", str(tmp_path / "fn")], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        cnb_host.wait_for(port, server)
        with ThreadPoolExecutor(1) as pool:
            answer = pool.submit(lambda: requests.post(f"http://127.0.0.1:{port}", data="1.5", timeout=60))
            deadline = time.monotonic() + 30
            while not any(marks.iterdir()):
                assert time.monotonic() < deadline
                time.sleep(0.02)
            os.killpg(server.pid, signal.SIGINT)  # as the terminal does
            assert answer.result().status_code == 200
        assert server.wait(30) == 0
        assert server.stdout.read().count("stopped after SIGINT") == 2
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def test_a_killed_worker_is_replaced_and_logged(tmp_path, serve):
    write_function(tmp_path, PID)
    server = serve(tmp_path, {"WEB_CONCURRENCY": "2"})
    first, second = sorted(_pids_answering(server.url, 2))
    os.kill(first, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while f"(pid {first}) was killed by SIGKILL; starting a new one" not in server.output:
        assert time.monotonic() < deadline, server.output
        time.sleep(0.05)
    now = _pids_answering(server.url, 2)
    while len(now) < 2 and time.monotonic() < deadline:  # the new worker accepts once its startup is done
        time.sleep(0.1)
        now = _pids_answering(server.url, 2, tries=20)
    assert second in now and first not in now and len(now) == 2, "a new worker serves beside the surviving one"
    for pid in now:  # every worker at once, soon after they started: replaced after a back-off
        os.kill(pid, signal.SIGKILL)
    while server.output.count(" forked (pid ") < 5:
        assert time.monotonic() < deadline + 30, server.output
        time.sleep(0.05)
    again = _pids_answering(server.url, 2)
    while len(again) < 2 and time.monotonic() < deadline + 30:
        time.sleep(0.1)
        again = _pids_answering(server.url, 2, tries=20)
    assert len(again) == 2 and not again & (now | {first})
    assert "starting a new one in " in server.output
    assert server.process.poll() is None
    assert server.stop() == 0


def _events(path: Path) -> list[tuple[str, int]]:
    return [(what, int(pid)) for what, pid in (line.split() for line in path.read_text().splitlines())]


def test_knative_start_and_stop_run_once_in_each_worker_before_it_serves(tmp_path, serve):
    """The second worker's start() takes 3 s: meanwhile the first answers every request and
    readiness probe, and no worker handles a request before its own start() returned."""
    events = tmp_path / "events"
    write_function(tmp_path / "fn", KNATIVE)
    server = serve(tmp_path / "fn", {"WEB_CONCURRENCY": "2", "EVENTS": str(events), "SLOW_SECOND": "3"})
    during = [int(requests.get(server.url, timeout=30).text) for _ in range(20)]
    probes = [requests.get(server.url + "/health/readiness", timeout=30).status_code for _ in range(20)]
    assert probes == [200] * 20
    started = [pid for what, pid in _events(events) if what == "start-end"]
    if len(started) == 1:  # the slow start() was still running: only the other worker answered
        assert set(during) == set(started)
    deadline = time.monotonic() + 30
    while len(started) < 2:
        assert time.monotonic() < deadline, server.output
        time.sleep(0.1)
        started = [pid for what, pid in _events(events) if what == "start-end"]
    assert _pids_answering(server.url, 2) == set(started), "the slow worker serves once started"
    assert server.stop() == 0
    log = _events(events)
    pids = {pid for _, pid in log}
    assert len(pids) == 2
    for pid in pids:
        mine = [what for what, p in log if p == pid]
        assert mine.count("start-end") == 1 and mine.count("stop") == 1, mine
        assert mine.index("start-end") < mine.index("handle") and mine[-1] == "stop", mine


@pytest.mark.parametrize("failing", ["all", "second"])
def test_a_failed_start_in_any_worker_ends_the_server_non_zero(tmp_path, failing):
    events = tmp_path / "events"
    write_function(tmp_path / "fn", KNATIVE)
    port = cnb_host.free_port()
    env = {**os.environ, "LISTEN_ADDRESS": f"127.0.0.1:{port}", "WEB_CONCURRENCY": "2", "EVENTS": str(events),
           "FAIL": failing}
    done = subprocess.run([sys.executable, "-m", "pyfunc", "start", "-s", str(tmp_path / "fn")], env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60)
    assert done.returncode == 3, done.stdout
    assert "RuntimeError: no database" in done.stdout
    assert "could not start; stopping every worker" in done.stdout
    log = _events(events)
    assert [what for what, _ in log].count("start-begin") == 2
    if failing == "second":  # the worker that did start was drained: its stop() ran
        assert [what for what, _ in log].count("stop") == 1


def test_worker_process_settings_are_checked(tmp_path):
    from pyfunc.config import Config
    from pyfunc.errors import ConfigError

    assert Config.load({"search_dir": str(tmp_path)}, {"WEB_CONCURRENCY": "3", "GUNICORN_WORKERS": "4"}).worker_processes == 3
    assert Config.load({"search_dir": str(tmp_path)}, {"GUNICORN_WORKERS": "4"}).worker_processes == 4
    for bad in ("0", "two", "-1"):
        with pytest.raises(ConfigError) as error:
            Config.load({"search_dir": str(tmp_path)}, {"WEB_CONCURRENCY": bad})
        assert "WEB_CONCURRENCY" in str(error.value)


def test_default_processes_follow_the_cgroup_quota_not_the_host(tmp_path):
    from pyfunc import cpu

    assert cpu.default_processes(tmp_path) == 1  # no cgroup files: no quota
    (tmp_path / "cpu.max").write_text("max 100000\n")  # no limit: one process, not one per host CPU
    assert cpu.default_processes(tmp_path) == 1
    (tmp_path / "cpu.max").write_text("150000 100000\n")  # 1.5 CPUs: the whole ones
    assert cpu.default_processes(tmp_path) == 1
    (tmp_path / "cpu.max").write_text("50000 100000\n")
    assert cpu.default_processes(tmp_path) == 1
    (tmp_path / "cpu.max").unlink()
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("200000\n")  # cgroup v1, 2 CPUs
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert cpu.default_processes(tmp_path) == min(2, len(os.sched_getaffinity(0)))
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")
    assert cpu.default_processes(tmp_path) == 1


def test_default_body_budget_is_shared_by_the_worker_processes(tmp_path):
    from pyfunc.config import Config
    from pyfunc.memory import default_body_budget

    one = Config.load({"search_dir": str(tmp_path)}, {"WEB_CONCURRENCY": "1"}).max_inflight_body
    four = Config.load({"search_dir": str(tmp_path)}, {"WEB_CONCURRENCY": "4"}).max_inflight_body
    assert one == default_body_budget() and four == one // 4
    set_per_worker = Config.load({"search_dir": str(tmp_path)}, {"WEB_CONCURRENCY": "4", "PYFUNC_MAX_INFLIGHT_BODY": "1000"})
    assert set_per_worker.max_inflight_body == 1000


def test_workers_drain_and_exit_when_the_supervisor_is_killed(tmp_path, serve):
    write_function(tmp_path, PID)
    server = serve(tmp_path, {"WEB_CONCURRENCY": "2"})
    workers = _pids_answering(server.url, 2)
    server.process.kill()
    server.process.wait()
    deadline = time.monotonic() + 30
    while any(_running(pid) for pid in workers):
        assert time.monotonic() < deadline, f"workers {workers} outlived their supervisor"
        time.sleep(0.05)
    server.stop()
    assert server.output.count("the supervisor process is gone; draining worker") == 2


def _running(pid: int) -> bool:
    """True while ``pid`` runs (an exited process its new parent has not reaped yet is a zombie)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare"), reason="needs root and unshare(1)")
def test_as_pid_1_of_a_container_sigterm_still_drains_the_workers(tmp_path):
    """PID 1 of a PID namespace gets no signal it has no handler for: the supervisor's blocked,
    waited-for SIGTERM must still reach it, as from the container runtime."""
    write_function(tmp_path, PID)
    port = cnb_host.free_port()
    env = {**os.environ, "LISTEN_ADDRESS": f"127.0.0.1:{port}", "WEB_CONCURRENCY": "2"}
    outer = subprocess.Popen(["unshare", "--pid", "--fork", "--mount-proc", sys.executable, "-m", "pyfunc", "start",
                              "-s", str(tmp_path)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        cnb_host.wait_for(port, outer)
        workers = _pids_answering(f"http://127.0.0.1:{port}", 2)
        assert len(workers) == 2 and 1 not in workers and max(workers) < 50, "numbered inside the namespace"
        init = int(Path(f"/proc/{outer.pid}/task/{outer.pid}/children").read_text().split()[0])
        os.kill(init, signal.SIGTERM)
        assert outer.wait(30) == 0
        assert outer.stdout.read().count("stopped after SIGTERM") == 2
    finally:
        if outer.poll() is None:
            outer.kill()
            outer.wait()
