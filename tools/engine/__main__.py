"""The project's Docker engine from make:  PYTHONPATH=tools python -m engine COMMAND

    up       install (Debian docker.io, docker-registry, debootstrap) when absent, start dockerd
             and the registry, make the stack images and the test builder; print how to use them
    down     stop the registry and dockerd this checkout started
    status   say whether they run, and where
"""

from __future__ import annotations

import sys

from .daemon import Engine, EngineUnavailable, unavailable
from .pack import PACK, ready


def main(command: str) -> int:
    engine = Engine()
    if command == "down":
        engine.down()
        print("engine stopped")
        return 0
    if command == "status":
        print(f"dockerd {'running' if engine.dockerd_running() else 'stopped'} on {engine.socket}")
        print(f"registry {'running' if engine.registry_running() else 'stopped'} on 127.0.0.1:{engine.registry_port}")
        return 0
    if command != "up":
        print(__doc__, file=sys.stderr)
        return 2
    reason = unavailable()
    if reason:
        print(f"engine: cannot be had here: {reason}", file=sys.stderr)
        return 1
    try:
        engine, builder, _ = ready(engine)
    except (EngineUnavailable, RuntimeError) as problem:
        print(f"engine: {problem}", file=sys.stderr)
        return 1
    print(f"engine up: export DOCKER_HOST={engine.host}\n"
          f"  {PACK} build my-fn --builder {builder} --trust-builder --docker-host inherit --path samples/http\n"
          f"  docker run --rm -p 127.0.0.1:8080:8080 my-fn\n  make engine-down stops it")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else ""))
