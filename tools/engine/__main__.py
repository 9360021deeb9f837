"""The project's Docker engine from make:  PYTHONPATH=tools python -m engine COMMAND

    up       install (Debian docker.io, docker-registry, debootstrap) when absent, start dockerd
             and the registry, make the stack images and the test builder; print how to use them
    publish  start them if needed and push the buildpackage for linux/amd64 and linux/arm64 (an
             image index) to the registry; PYFUNC_BUILDPACKAGE=REFERENCE pushes elsewhere
    down     stop the registry and dockerd this checkout started
    status   say whether they run, and where
"""

from __future__ import annotations

import os
import sys

from .daemon import Engine, EngineUnavailable, unavailable
from .pack import PACK, PLATFORMS, buildpackage_reference, publish, ready


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
    if command not in ("up", "publish"):
        print(__doc__, file=sys.stderr)
        return 2
    reason = unavailable()
    if reason:
        print(f"engine: cannot be had here: {reason}", file=sys.stderr)
        return 1
    if command == "publish":
        return _publish(engine)
    try:
        engine, builder, _ = ready(engine)
    except (EngineUnavailable, RuntimeError) as problem:
        print(f"engine: {problem}", file=sys.stderr)
        return 1
    print(f"engine up: export DOCKER_HOST={engine.host}\n"
          f"  {PACK} build my-fn --builder {builder} --trust-builder --docker-host inherit --path samples/http\n"
          f"  docker run --rm -p 127.0.0.1:8080:8080 my-fn\n  make engine-down stops it")
    return 0


def _publish(engine: Engine) -> int:
    reference = os.environ.get("PYFUNC_BUILDPACKAGE") or buildpackage_reference(engine)
    try:
        engine.up()
    except EngineUnavailable as problem:
        print(f"engine: {problem}", file=sys.stderr)
        return 1
    print(f"==> pack buildpack package {reference} --publish ({', '.join(PLATFORMS)})", flush=True)
    result = publish(engine, reference)
    print(result.stdout, end="")
    if result.returncode != 0:
        print(f"publish: pack exited {result.returncode}", file=sys.stderr)
        return result.returncode
    print(f"published {reference}: an image index for {', '.join(PLATFORMS)}\n"
          f"  builder.toml: [[buildpacks]] uri = \"docker://{reference}\"")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else ""))
