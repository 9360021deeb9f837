"""``make run``: build APP into an image with pack and run it with docker; the host lifecycle as fallback.

    python tools/run.py APP_DIR PORT [--host]

With an engine (tools/engine: Debian's dockerd, installed and started for this checkout), APP
is built by ``pack build`` with the test builder into the image ``pyfunc-run/<name>-<hash>``
and run with ``docker run -p 127.0.0.1:PORT:8080`` on the bridge network. An unchanged app
(same files, builder and settings) is not rebuilt. Without one (not root, no apt, or
``--host`` / ``make run-host``), detector → builder → launcher run on the host. Build settings
come from APP's project.toml and from ``BP_*``, ``BPE_*``, ``GOOGLE_FUNCTION_*`` in the env
(``make run BP_FUNCTION=...``). Serves in the foreground until Ctrl-C, SIGTERM or SIGHUP, which
stop the function (and the engine, when this run started it).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cnb_host  # noqa: E402
from engine.daemon import Engine, EngineUnavailable, unavailable  # noqa: E402
from engine.pack import build, build_settings, cnb_file  # noqa: E402
from engine.stack import Stack  # noqa: E402

SKIP = {"__pycache__", ".git", ".venv", "node_modules"}


def slug(app: Path) -> str:
    """``<basename>-<hash of the full path>``: two apps of the same name never share caches."""
    full = str(app.resolve())
    return f"{app.resolve().name.lower() or 'app'}-{hashlib.sha256(full.encode()).hexdigest()[:8]}"


def tree_digest(app: Path, *extra: str) -> str:
    sha = hashlib.sha256("\0".join(extra).encode())
    for path in sorted(app.rglob("*")):
        if SKIP.isdisjoint(path.relative_to(app).parts) and path.is_file():
            sha.update(path.relative_to(app).as_posix().encode() + b"\0" + path.read_bytes())
    return sha.hexdigest()


def project_env(app: Path) -> dict[str, str]:
    """``[[io.buildpacks.build.env]]`` of APP's project.toml (schema 0.2), as pack reads it."""
    descriptor = app / "project.toml"
    if not descriptor.is_file():
        return {}
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import toml as tomllib  # type: ignore[no-redef]
    data = tomllib.loads(descriptor.read_text())
    entries = data.get("io", {}).get("buildpacks", {}).get("build", {}).get("env", [])
    return {entry["name"]: str(entry["value"]) for entry in entries if "name" in entry}


def _interrupt(signum, frame):  # SIGTERM/SIGHUP (a plain `kill` of make) stop the function like Ctrl-C
    raise KeyboardInterrupt


def run_engine(app: Path, port: str) -> int:
    engine = Engine()
    started = engine.up()
    name = f"pyfunc-run-{slug(app)}"
    running = None
    try:
        builder = Stack(engine).builder(cnb_file())
        settings = build_settings()
        image = f"pyfunc-run/{slug(app)}"
        stamp = engine.state / "run" / f"{slug(app)}.inputs"
        inputs = tree_digest(app, builder, *sorted(f"{k}={v}" for k, v in settings.items()))
        current = engine.docker("image", "inspect", "--format", "{{.Id}}", image, check=False).stdout.strip()
        if stamp.is_file() and stamp.read_text() == f"{inputs} {current}\n":
            print(f"==> {image} is up to date with {app} (not rebuilt)", flush=True)
        else:
            print(f"==> pack build {image} --builder {builder} --path {app}", flush=True)
            result = build(engine, builder, image, app, settings)
            print(result.stdout, flush=True)
            if result.returncode != 0:
                print(f"make run: pack build failed (exit {result.returncode})", file=sys.stderr)
                return result.returncode
            current = engine.docker("image", "inspect", "--format", "{{.Id}}", image).stdout.strip()
            stamp.parent.mkdir(parents=True, exist_ok=True)
            stamp.write_text(f"{inputs} {current}\n")
        engine.docker("rm", "-f", name, check=False)
        engine.docker("run", "-d", "--name", name, "-p", f"127.0.0.1:{port}:8080", image)
        running = name
        print(f"==> docker run -p 127.0.0.1:{port}:8080 {image}  (DOCKER_HOST={engine.host})")
        print(f"==> Try: curl http://127.0.0.1:{port}/  (Ctrl-C stops it)", flush=True)
        engine.docker("logs", "-f", name, check=False, capture=False)
        return int(engine.docker("inspect", "--format", "{{.State.ExitCode}}", name).stdout.strip() or 1)
    except KeyboardInterrupt:
        return 130
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not skip the cleanup
        if running:
            print(f"==> docker stop {running}", flush=True)
            engine.docker("stop", "-t", "30", running, check=False)
            engine.docker("rm", "-f", running, check=False)
        if started:
            engine.down()


def run_host(app: Path, port: str) -> int:
    problem = cnb_host.missing()
    if problem:
        print(f"make run: {problem}", file=sys.stderr)
        return 1
    root = Path(tempfile.gettempdir()) / "pyfunc-run" / slug(app)
    for stale in ("app", "buildpacks", "platform"):
        shutil.rmtree(root / stale, ignore_errors=True)
    (root / "web").unlink(missing_ok=True)
    root.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix="pyfunc-run-stage-"))  # cnb_host copies tools here: removed at exit
    stage.chmod(0o755)
    tempfile.tempdir = str(stage)
    process = None
    try:
        workspace = cnb_host.Workspace(root, app.resolve(), {**project_env(app), **build_settings()},
                                        log_level="info")  # as pack shows the lifecycle
        print(f"==> Building {app} with the CNB lifecycle on the host ({cnb_host.LIFECYCLE})", flush=True)
        result = workspace.detect_and_build()
        print(result.stdout, flush=True)
        if result.returncode != 0:
            print(f"make run: the build failed (lifecycle exit {result.returncode})", file=sys.stderr)
            return result.returncode
        print(f"==> Layers: {workspace.layers}")
        print("==> Launching process type web (python -m pyfunc start) through the CNB launcher")
        print(f"==> Try: curl http://localhost:{port}/  (Ctrl-C stops it)", flush=True)
        process = workspace.launch({"PORT": port}, stream=True)
        return process.wait()
    except KeyboardInterrupt:
        return 130
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(stage, ignore_errors=True)


def main(app: Path, port: str, host_only: bool) -> int:
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)
    if not app.is_dir():
        print(f"make run: APP={app} is not a directory", file=sys.stderr)
        return 1
    if not host_only:
        reason = unavailable()
        if reason is None:
            try:
                return run_engine(app, port)
            except EngineUnavailable as problem:
                reason = str(problem)
            except RuntimeError as problem:  # a docker or pack step failed: its output says why
                print(f"make run: {problem}", file=sys.stderr)
                return 1
        print(f"==> No container engine ({reason}): building and serving on the host instead", flush=True)
    return run_host(app, port)


if __name__ == "__main__":
    arguments = [a for a in sys.argv[1:] if a != "--host"]
    if len(arguments) != 2:
        sys.exit(__doc__)
    sys.exit(main(Path(arguments[0]), arguments[1], "--host" in sys.argv[1:]))
