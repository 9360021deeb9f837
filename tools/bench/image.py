"""The image side (issues #10 and #14) on the project's engine (tools/engine).

samples/http is built with ``pack build`` and the test builder (Debian bookworm python3, then
this buildpack): first from a clean cache (no previous image, ``--clear-cache``), then again
unchanged. Next to it, the same hello function for functions-framework 3.10.2 is built with
``docker build`` from a Dockerfile ``FROM`` the same run image (the test builder has no
functions-framework process type: its group is test/host-python then pyfunc, and pyfunc would
serve that function itself). Sizes are ``docker image inspect`` Size (bytes, reported in MB of
10^6 bytes as ``docker images`` does). Cold start, spawn → first HTTP 200 on ``GET /``, median
of ``runs`` (one uncounted warm-up round, variants in turn each round):

* ``docker run``: from starting ``docker run -d -p 127.0.0.1:PORT:8080`` to the first 200 on the
  published loopback port; pyfunc through its default entrypoint (the CNB launcher, process
  ``web``) and with ``--entrypoint`` set to the web process's own command and the launch env
  the launcher computes, passed with ``-e``; functions-framework through its entrypoint.
* in one running container (``docker exec``): the container's /usr/bin/python3 spawns the
  server and polls 127.0.0.1 inside it, so container setup is not counted: ``/cnb/process/web``
  (the launcher) against the same command started directly with the launcher's env.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

import cnb_host
from engine.daemon import which

from .cases import ROOT

APP = ROOT / "samples" / "http"
FF_VERSION = "3.10.2"
PYFUNC_IMAGE = "pyfunc-bench/http"
FF_IMAGE = "pyfunc-bench/ff-http"
#: samples/http/func.py's function in functions-framework's signature (a Flask request; a dict
#: return becomes JSON in both).
FF_MAIN = '''\
def hello(request):
    name = request.args.get("name")
    if name is None and request.is_json:
        name = (request.get_json(silent=True) or {}).get("name")
    return {"greeting": f"Hello, {name or 'world'}!", "method": request.method, "path": request.path}
'''
#: Root only to install; served as the run image's user, like the CNB image. The run image trusts
#: the host's extra CA certificates (stack.py), which pip needs behind this machine's proxy.
FF_DOCKERFILE = """\
FROM {run}
USER root
RUN python3 -m venv /opt/ff \\
 && PIP_CERT=/etc/ssl/certs/ca-certificates.crt /opt/ff/bin/pip install --no-cache-dir \\
    --disable-pip-version-check --quiet functions-framework=={version}
COPY main.py /workspace/main.py
WORKDIR /workspace
USER 1001:1000
ENTRYPOINT ["/opt/ff/bin/functions-framework", "--target", "hello", "--port", "8080"]
"""
#: Run inside a container by its /usr/bin/python3: spawn each variant in turn, poll GET / on
#: 127.0.0.1:port every 5 ms (port 0: wait for the process to exit); prints {variant: [ms, ...]}
#: (the first round is not counted).
PROBE = r"""
import http.client, json, os, signal, subprocess, sys, time
variants, runs = json.loads(sys.argv[1]), int(sys.argv[2])
times = {name: [] for name in variants}
for attempt in range(runs + 1):
    for name, (argv, env, port) in variants.items():
        started = time.perf_counter()
        process = subprocess.Popen(argv, env={**os.environ, **env, "PORT": str(port)},
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        while port:
            if process.poll() is not None:
                sys.exit(f"{name} exited {process.returncode}")
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                connection.request("GET", "/")
                if connection.getresponse().status == 200:
                    break
            except (OSError, http.client.HTTPException):
                time.sleep(0.005)
        if not port and process.wait() != 0:
            sys.exit(f"{name} exited {process.returncode}")
        elapsed = (time.perf_counter() - started) * 1000
        if port:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait()
        if attempt:
            times[name].append(elapsed)
print(json.dumps(times))
"""


def measure_images(runs: int = 5) -> dict[str, object]:
    """Build both images, measure them: a dict for sections.image_section, or {"skipped": reason}
    when the engine cannot be had or a build or run fails (the engine is stopped again if this
    call started it; the two images stay in it, tagged pyfunc-bench/*)."""
    from engine.daemon import EngineUnavailable, unavailable
    from engine.pack import ready

    reason = unavailable()
    if reason:
        return {"skipped": f"no container engine: {reason}"}
    try:
        engine, builder, started = ready()
    except (EngineUnavailable, RuntimeError) as problem:
        return {"skipped": f"the engine did not come up: {problem}"}
    try:
        return _measure(engine, builder, runs)
    except (RuntimeError, subprocess.SubprocessError, OSError) as problem:  # a failed build or run
        print(f"the image part failed: {problem}", flush=True)
        return {"skipped": f"it failed: {str(problem).splitlines()[0]} (the whole message is in make bench's output)"}
    finally:
        if started:
            engine.down()


def _measure(engine, builder: str, runs: int) -> dict[str, object]:
    from engine.pack import build
    from engine.stack import Stack

    run_image = Stack(engine).run
    for reference in (builder, run_image):  # in the daemon before the clock starts (a registry pull)
        engine.docker("pull", reference)
    engine.docker("rmi", "-f", PYFUNC_IMAGE, FF_IMAGE, check=False)
    result: dict[str, object] = {"builder": builder, "run_image": run_image, "runs": runs}
    print(f"==> pack build {PYFUNC_IMAGE} --path {APP.relative_to(ROOT)} (clean cache)", flush=True)
    for key, extra in (("pyfunc_build_s", ("--clear-cache",)), ("pyfunc_rebuild_s", ())):
        start = time.perf_counter()
        built = build(engine, builder, PYFUNC_IMAGE, APP, extra=extra)
        result[key] = time.perf_counter() - start
        if built.returncode != 0:
            raise RuntimeError(f"pack build {PYFUNC_IMAGE} failed:\n{built.stdout[-3000:]}")
    result["pyfunc_rebuild_reused"] = "Reusing cached layer /layers/pyfunc_python-function/invoker" in built.stdout
    with tempfile.TemporaryDirectory(prefix="pyfunc-bench-ff-") as context:
        (Path(context) / "Dockerfile").write_text(FF_DOCKERFILE.format(run=run_image, version=FF_VERSION))
        (Path(context) / "main.py").write_text(FF_MAIN)
        print(f"==> docker build {FF_IMAGE} (functions-framework {FF_VERSION} FROM the run image)", flush=True)
        for key, extra in (("ff_build_s", ("--no-cache",)), ("ff_rebuild_s", ())):
            start = time.perf_counter()
            engine.docker("build", "--network", "host", *extra, "-t", FF_IMAGE, context)
            result[key] = time.perf_counter() - start
    for name, reference in (("run", run_image), ("pyfunc", PYFUNC_IMAGE), ("ff", FF_IMAGE)):
        result[f"{name}_size_mb"] = int(engine.docker("image", "inspect", "--format", "{{.Size}}",
                                                      reference).stdout.strip()) / 1e6
    web, launch_env, workdir = _web_process(engine)
    result["web"] = " ".join(web)
    result["launch_env"] = sorted(launch_env)
    direct = [*(option for k, v in launch_env.items() for option in ("--env", f"{k}={v}")), "--entrypoint", web[0]]
    print("==> cold start, docker run → first 200", flush=True)
    result["docker_run_ms"] = _docker_run_cold(engine, {
        "pyfunc-launcher": ([], PYFUNC_IMAGE, []), "pyfunc-direct": (direct, PYFUNC_IMAGE, web[1:]),
        "ff": ([], FF_IMAGE, [])}, runs)
    result["setup_ms"] = _container_setup(engine, {"pyfunc": PYFUNC_IMAGE, "ff": FF_IMAGE}, runs)
    for name, reference in (("pyfunc", PYFUNC_IMAGE), ("ff", FF_IMAGE)):
        result[f"{name}_layers"] = int(engine.docker("image", "inspect", "--format", "{{len .RootFS.Layers}}",
                                                     reference).stdout.strip())
    print("==> cold start inside one running container", flush=True)
    inside = 3 * runs  # cheap here: no container setup
    result["inside_runs"] = inside
    result["in_container_ms"] = {
        **_in_container(engine, PYFUNC_IMAGE, {
            "pyfunc-launcher": (["/cnb/process/web"], {}, 8101), "pyfunc-direct": (web, launch_env, 8102),
            # the launcher alone: what it adds before exec, with a program that does nothing
            "launcher-true": (["/cnb/lifecycle/launcher", "--", "/bin/true"], {}, 0),
            "true": (["/bin/true"], launch_env, 0)}, inside, workdir),
        **_in_container(engine, FF_IMAGE, {"ff": (["/opt/ff/bin/functions-framework", "--target", "hello",
                                                   "--port", "8103"], {}, 8103)}, inside, "/workspace")}
    result["load_average"] = os.getloadavg()[0]
    print(f"image: {json.dumps(result)}", flush=True)
    return result


def _web_process(engine) -> tuple[list[str], dict[str, str], str]:
    """The ``web`` process's command (build metadata label), the env the launcher adds to the image's
    env (what ``launcher env`` prints that the image config does not already say), and the workdir."""
    config = json.loads(engine.docker("image", "inspect", "--format", "{{json .Config}}", PYFUNC_IMAGE).stdout)
    metadata = json.loads(config["Labels"]["io.buildpacks.build.metadata"])
    process = next(p for p in metadata["processes"] if p["type"] == "web")
    command = process["command"]
    web = [*([command] if isinstance(command, str) else command), *process.get("args", [])]
    image_env = dict(item.split("=", 1) for item in config.get("Env") or [])
    printed = engine.docker("run", "--rm", "--network", "none", "--entrypoint", "/cnb/lifecycle/launcher",
                            PYFUNC_IMAGE, "--", "env").stdout  # "--": env run directly, not through bash
    launched = dict(line.split("=", 1) for line in printed.splitlines() if "=" in line)
    added = {k: v for k, v in launched.items()
             if image_env.get(k) != v and k not in ("HOSTNAME", "HOME", "PWD", "OLDPWD", "SHLVL", "_")}
    return web, added, config.get("WorkingDir") or "/workspace"


def _docker_run_cold(engine, variants: dict[str, tuple[list[str], str, list[str]]], runs: int) -> dict[str, list]:
    """ms from starting ``docker run -d`` to the first 200 on the published port, per variant."""
    times: dict[str, list] = {name: [] for name in variants}
    for attempt in range(runs + 1):
        for name, (options, image, args) in variants.items():
            port = cnb_host.free_port()
            container = f"pyfunc-bench-{name}-{attempt}"
            engine.docker("rm", "-f", container, check=False)  # left by an interrupted run
            argv = ["run", "-d", "--name", container, "--network", "bridge", "-p", f"127.0.0.1:{port}:8080",
                    *options, image, *args]
            start = time.perf_counter()
            runner = subprocess.Popen([which("docker") or "docker", *argv], env=engine.env(), stdout=subprocess.DEVNULL,
                                      stderr=subprocess.PIPE, text=True)
            try:
                elapsed = _first_200(port, runner, start)
            finally:
                runner.wait()
                engine.docker("rm", "-f", container, check=False)
            if attempt:
                times[name].append(elapsed)
    return times


def _container_setup(engine, images: dict[str, str], runs: int) -> dict[str, list]:
    """ms of ``docker run --rm`` with the same network options and ``--entrypoint /bin/true``: the
    container's setup and removal without a server, per image."""
    times: dict[str, list] = {name: [] for name in images}
    for attempt in range(runs + 1):
        for name, image in images.items():
            start = time.perf_counter()
            engine.docker("run", "--rm", "--network", "bridge", "-p", "127.0.0.1::8080", "--entrypoint", "/bin/true",
                          image)
            if attempt:
                times[name].append((time.perf_counter() - start) * 1000)
    return times


def _first_200(port: int, runner: subprocess.Popen, start: float, timeout: float = 60) -> float:
    while time.perf_counter() - start < timeout:
        if runner.poll() not in (None, 0):
            raise RuntimeError(f"docker run exited {runner.returncode}: {runner.stderr.read()}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/")
            if connection.getresponse().status == 200:
                return (time.perf_counter() - start) * 1000
        except (OSError, http.client.HTTPException):
            time.sleep(0.005)
    raise RuntimeError(f"no 200 on 127.0.0.1:{port} within {timeout} s")


def _in_container(engine, image: str, variants: dict, runs: int, workdir: str) -> dict[str, list]:
    """PROBE in one container of ``image`` kept alive by ``sleep``: {variant: [ms, ...]}."""
    container = f"pyfunc-bench-probe-{image.rsplit('/', 1)[-1]}"
    engine.docker("rm", "-f", container, check=False)
    engine.docker("run", "-d", "--name", container, "--network", "none", "--entrypoint", "/bin/sleep", image, "infinity")
    try:
        out = engine.docker("exec", "-w", workdir, container, "/usr/bin/python3", "-c", PROBE,
                            json.dumps(variants), str(runs)).stdout
    finally:
        engine.docker("rm", "-f", container, check=False)
    return json.loads(out.strip().splitlines()[-1])
