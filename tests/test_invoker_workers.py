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


def test_calls_beyond_max_workers_wait_for_a_thread(tmp_path, serve):
    write_function(tmp_path, OVERLAP)
    server = serve(tmp_path, {"MAX_WORKERS": "2"})
    with ThreadPoolExecutor(5) as pool:
        answers = list(pool.map(lambda _: requests.post(server.url, data="0.3", timeout=30).text, range(5)))
    assert answers == ["ok"] * 5
    assert requests.post(server.url, data="peak").text == "2"
