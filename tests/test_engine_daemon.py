"""Two checkouts of one host starting their engines at once (tools/engine/daemon.py).

dockerd makes its iptables chains in the host's network namespace as it starts, so two
dockerds started in the same second race ("iptables: Chain already exists") and one exits: it
happened with two fresh clones running ``make test`` side by side. Each checkout's dockerd
start holds a host-wide lock (``START_LOCK``); both engines must come up.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from engine import daemon
from engine.daemon import Engine, unavailable
from engine_harness import unavailable_engine


def test_two_checkouts_starting_their_engines_at_once_both_come_up():
    reason = unavailable()
    if reason:
        unavailable_engine(reason)
    # Short state dirs: containerd's socket path under them must stay below the 108-byte limit.
    engines = [Engine(Path(tempfile.mkdtemp(prefix="pyf-engine-", dir="/tmp"))) for _ in range(2)]
    pool = ThreadPoolExecutor(len(engines))
    try:
        with daemon.host_lock():  # a third checkout is starting its dockerd
            starts = [pool.submit(engine.up) for engine in engines]
            time.sleep(2)
            spawned = [engine.state for engine in engines if (engine.state / "dockerd.pid").exists()]
            assert not spawned, f"dockerd started while another checkout held {daemon.START_LOCK}: {spawned}"
        assert [start.result(300) for start in starts] == [True, True]
        assert all(engine.dockerd_running() and engine.registry_running() for engine in engines)
        versions = [engine.docker("version", "--format", "{{.Server.Version}}").stdout.strip() for engine in engines]
        assert all(versions), versions
    finally:
        pool.shutdown(wait=True)
        for engine in engines:
            engine.down()
            shutil.rmtree(engine.state, ignore_errors=True)
