"""The worker threads of plain ``def`` functions, on the real server: concurrency, stuck calls,
a blocked event loop."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import requests

from conftest import write_function

OVERLAP = {"func.py": """
    import threading
    import time

    lock = threading.Lock()
    now = 0
    peak = 0

    def main(body):
        global now, peak
        if body == b"peak":
            with lock:
                seen, peak = peak, 0
            return str(seen)
        with lock:
            now += 1
            peak = max(peak, now)
        time.sleep(float(body or 0))
        with lock:
            now -= 1
        return "ok"
"""}


def test_concurrent_sync_calls_overlap_on_every_fresh_start(tmp_path, serve):
    """Four concurrent calls of a sleeping ``def`` run at once after one warm-up request left
    an idle thread (the hand-off once counted a thread about to take a queued job as idle)."""
    write_function(tmp_path, OVERLAP)
    for attempt in range(8):
        server = serve(tmp_path, {"MAX_WORKERS": "8"})
        assert requests.post(server.url, data="0").text == "ok"
        requests.post(server.url, data="peak")
        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(lambda _: requests.post(server.url, data="1", timeout=30).text, range(4)))
        assert answers == ["ok"] * 4
        assert requests.post(server.url, data="peak").text == "4", f"fresh start {attempt}"
        server.stop()


def test_max_workers_blocking_calls_run_at_once(tmp_path, serve):
    """As many sleeping calls as MAX_WORKERS all run at once, also when they arrive in one burst
    (the threads are woken once per loop turn, each waking the next while jobs wait)."""
    write_function(tmp_path, OVERLAP)
    server = serve(tmp_path, {"MAX_WORKERS": "6"})
    for round_ in range(3):
        requests.post(server.url, data="peak")
        started = time.monotonic()
        with ThreadPoolExecutor(6) as pool:
            answers = list(pool.map(lambda _: requests.post(server.url, data="1", timeout=30).text, range(6)))
        elapsed = time.monotonic() - started
        assert answers == ["ok"] * 6
        assert requests.post(server.url, data="peak").text == "6", f"round {round_}"
        assert elapsed < 1.9, f"round {round_}: six 1 s calls took {elapsed:.2f}s"


def test_calls_beyond_max_workers_wait_for_a_thread(tmp_path, serve):
    write_function(tmp_path, OVERLAP)
    server = serve(tmp_path, {"MAX_WORKERS": "2"})
    with ThreadPoolExecutor(5) as pool:
        answers = list(pool.map(lambda _: requests.post(server.url, data="0.3", timeout=30).text, range(5)))
    assert answers == ["ok"] * 5
    assert requests.post(server.url, data="peak").text == "2"


SLEEPER = {"func.py": """
    import time

    def main(body):
        time.sleep(float(body or 0))
        return "ok"
"""}


def _concurrently(url: str, bodies: list[str]) -> list[int]:
    with ThreadPoolExecutor(len(bodies)) as pool:
        return list(pool.map(lambda body: requests.post(url, data=body, timeout=30).status_code, bodies))


def _probes(server) -> tuple[int, int]:
    return (requests.get(server.url + "/healthz/ready", timeout=5).status_code,
            requests.get(server.url + "/health/liveness", timeout=5).status_code)


def test_timed_out_calls_are_replaced_then_stuck_workers_fail_readiness_and_later_liveness(tmp_path, serve):
    write_function(tmp_path, SLEEPER)
    server = serve(tmp_path, {"MAX_WORKERS": "4", "PYFUNC_TIMEOUT": "1", "PYFUNC_STUCK_LIVENESS": "3"})
    # Four calls that never return: 504 each; their threads are replaced, so service goes on.
    assert _concurrently(server.url, ["3600"] * 4) == [504] * 4
    assert requests.post(server.url, data="0", timeout=10).status_code == 200
    assert _probes(server) == (200, 200)
    # Four more (they return after 6 s): no replacement left, every place is stuck.
    started = time.monotonic()
    assert _concurrently(server.url, ["6"] * 4) == [504] * 4
    assert _probes(server) == (503, 200)  # traffic goes elsewhere; no restart yet
    assert requests.post(server.url, data="0", timeout=10).status_code == 504
    deadline = time.monotonic() + 10
    while _probes(server) != (503, 503):  # stuck past PYFUNC_STUCK_LIVENESS: the platform restarts it
        assert time.monotonic() < deadline, "liveness never failed"
        time.sleep(0.2)
    assert time.monotonic() - started >= 3
    # The six-second calls return: the threads serve again and both probes recover.
    deadline = time.monotonic() + 20
    while _probes(server) != (200, 200):
        assert time.monotonic() < deadline, "probes never recovered"
        time.sleep(0.2)
    assert requests.post(server.url, data="0", timeout=10).status_code == 200


def test_a_call_finishing_after_its_timeout_keeps_the_pool_whole(tmp_path, serve):
    write_function(tmp_path, OVERLAP)
    server = serve(tmp_path, {"MAX_WORKERS": "2", "PYFUNC_TIMEOUT": "2"})
    assert _concurrently(server.url, ["3"] * 2) == [504] * 2
    time.sleep(3)  # both calls returned: their threads rejoin or exit, never more than 2 calls at once
    requests.post(server.url, data="peak")
    assert _concurrently(server.url, ["0.2"] * 6) == [200] * 6
    assert requests.post(server.url, data="peak").text == "2"
    assert _probes(server) == (200, 200)


BLOCKING_ASYNC = {"func.py": """
    import time

    async def main(body):
        if body:
            blocking_helper(float(body))
        return "ok"

    def blocking_helper(seconds):
        time.sleep(seconds)
"""}


def test_a_blocked_event_loop_is_logged_with_the_blocking_frame(tmp_path, serve):
    write_function(tmp_path, BLOCKING_ASYNC)
    server = serve(tmp_path, {"PYFUNC_LOOP_WATCHDOG": "0.5"})
    assert requests.post(server.url, data="2.5", timeout=30).text == "ok"
    time.sleep(1)
    assert requests.post(server.url, data="", timeout=10).text == "ok"
    server.stop()
    reports = server.output.split("the event loop has not run for")[1:]
    blocked = [report for report in reports if "in blocking_helper" in report]
    assert len(blocked) == 1, server.output  # once per blocking episode
    assert "time.sleep(seconds)" in blocked[0] and "in main" in blocked[0]
    assert "the event loop runs again" in server.output


def test_no_watchdog_report_for_a_loop_that_keeps_running(tmp_path, serve):
    write_function(tmp_path, BLOCKING_ASYNC)
    server = serve(tmp_path, {"PYFUNC_LOOP_WATCHDOG": "2"})
    for _ in range(10):
        assert requests.post(server.url, data="", timeout=10).text == "ok"
        time.sleep(0.3)
    server.stop()
    assert "the event loop has not run" not in server.output


def test_a_returning_replaced_thread_frees_the_pool_from_stuck_ones(tmp_path, serve):
    write_function(tmp_path, SLEEPER)
    server = serve(tmp_path, {"MAX_WORKERS": "2", "PYFUNC_TIMEOUT": "1"})
    returning = threading.Thread(target=_concurrently, args=(server.url, ["8"] * 2))
    returning.start()  # 504 after 1 s; their threads are replaced and return after 8 s
    time.sleep(1.5)
    assert _concurrently(server.url, ["3600"] * 2) == [504] * 2  # no replacement left: stuck
    returning.join()
    assert _probes(server) == (503, 200)
    # When the first two calls return, their spare slots go to the stuck threads, and they serve.
    deadline = time.monotonic() + 15
    while _probes(server) != (200, 200):
        assert time.monotonic() < deadline, "the pool stayed stuck"
        time.sleep(0.2)
    assert _concurrently(server.url, ["0.1"] * 4) == [200] * 4


def test_an_outcome_whose_answer_fails_does_not_hold_up_the_rest_of_its_batch(caplog):
    """Outcomes come back to the loop in batches (``Runner._settle``): one whose answering
    raises (a bug of pyfunc's own) is logged, and the others of its batch are still answered."""
    import asyncio

    from pyfunc.runner import Runner

    answered = []

    class Outcome:
        def __init__(self, name: str) -> None:
            self.name = name

        def settled(self, result, error) -> None:
            answered.append((self.name, result))
            if self.name == "first":
                raise RuntimeError("answering failed")

    async def main() -> None:
        runner = Runner(1)  # one thread: the calls return in order
        for name in ("first", "second"):
            runner.submit(str.upper, (name,), {}, Outcome(name))
        await asyncio.sleep(0)  # the loop wakes a thread for them
        time.sleep(0.5)  # the loop is busy while both calls return: one batch
        deadline = time.monotonic() + 5
        while len(answered) < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        runner.shutdown()

    asyncio.run(main())
    assert answered == [("first", "FIRST"), ("second", "SECOND")]
    assert "answering a returned call failed" in caplog.text
