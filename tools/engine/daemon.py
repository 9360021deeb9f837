"""The Docker engine and OCI registry the project installs and starts for itself.

Debian's ``docker.io`` (dockerd, containerd, runc) and ``docker-registry`` (distribution),
started on their own socket, data root, bridge and loopback port under ``.tools/engine/``
(``PYFUNC_ENGINE_DIR``), never the machine's default socket. See reference/real-engine.md.

    engine = Engine()
    started = engine.up()        # True when this call started dockerd and the registry
    engine.docker("images")      # the docker CLI pointed at this engine (DOCKER_HOST)
    engine.down()                # stop both (only what this project started)
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import http.client
import ipaddress
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
STATE = Path(os.environ.get("PYFUNC_ENGINE_DIR", ROOT / ".tools" / "engine")).resolve()
#: Held while a checkout starts its dockerd. dockerd creates its iptables chains (``DOCKER``,
#: ``DOCKER-USER``...) in the host's one network namespace as it starts: two checkouts starting
#: theirs in the same second race on them, and one dockerd exits with "iptables: Chain already
#: exists". One start at a time, host-wide.
START_LOCK = Path(os.environ.get("PYFUNC_ENGINE_START_LOCK", "/run/lock/pyfunc-engine-start.lock"))
#: Debian package of each program the engine needs.
PACKAGES = {"dockerd": "docker.io", "docker-registry": "docker-registry", "debootstrap": "debootstrap",
            "ip": "iproute2"}
SBIN = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class EngineUnavailable(RuntimeError):
    """The engine cannot be had on this machine; ``str()`` says why (a test's skip reason)."""


def which(program: str) -> str | None:
    return shutil.which(program, path=os.environ.get("PATH", "") + ":" + SBIN)


def unavailable() -> str | None:
    """Why the engine cannot be installed or started here, or None (installing is allowed)."""
    if os.environ.get("PYFUNC_ENGINE") == "off":
        return "PYFUNC_ENGINE=off"
    missing = [pkg for program, pkg in PACKAGES.items() if not which(program)]
    if os.geteuid() != 0:
        return "starting dockerd (and installing it with apt-get) needs root; not root here"
    if missing and not which("apt-get"):
        return f"no apt-get to install Debian's {', '.join(missing)}"
    return None


def install() -> None:
    """``apt-get update`` once, then install the Debian packages that are missing (as root)."""
    missing = sorted({pkg for program, pkg in PACKAGES.items() if not which(program)})
    if not missing:
        return
    reason = unavailable()
    if reason:
        raise EngineUnavailable(reason)
    print(f"==> Installing Debian's {' '.join(missing)} (apt-get)", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", *missing]):
        result = subprocess.run(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if result.returncode != 0:
            raise EngineUnavailable(f"{' '.join(command)} failed:\n{result.stdout[-2000:]}")


@contextlib.contextmanager
def host_lock(path: Path = START_LOCK):
    """An exclusive ``flock(2)`` on ``path`` (made if absent; START_LOCK unless given) while the block runs;
    waits for other holders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _stable(text: str, modulo: int) -> int:
    return int(hashlib.sha256(text.encode()).hexdigest(), 16) % modulo


class Engine:
    """dockerd and the registry of one checkout: paths, ports and the CLI environment."""

    def __init__(self, state: Path = STATE) -> None:
        self.state = state
        self.socket = state / "docker.sock"
        self.host = f"unix://{self.socket}"
        self.bridge = "pyf" + hashlib.sha256(str(state).encode()).hexdigest()[:8]
        port = os.environ.get("PYFUNC_REGISTRY_PORT")
        self.registry_port = int(port) if port else 20000 + _stable(str(state), 10000)
        self.registry = f"localhost:{self.registry_port}"

    # -- the CLI --------------------------------------------------------------------------
    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        """The process env with DOCKER_HOST at this engine and pack's home under the state dir."""
        env = {**os.environ, "DOCKER_HOST": self.host, "PACK_HOME": str(self.state / "pack-home"),
               "DOCKER_BUILDKIT": "0", "PATH": os.environ.get("PATH", "") + ":" + SBIN,
               "PACK_VOLUME_KEY": self.volume_key()}
        env.pop("DOCKER_CONTEXT", None)
        env.update(extra or {})
        return env

    def volume_key(self) -> str:
        """A secret kept in the state dir: pack run inside a container names its cache volumes with it,
        so rebuilds find their cache (without it pack makes a new cache volume on every build)."""
        path = self.state / "pack-volume-key"
        if not path.is_file():
            self.state.mkdir(parents=True, exist_ok=True)
            path.touch(mode=0o600)
            path.write_text(os.urandom(16).hex())
        return path.read_text().strip()

    def docker(self, *args: str, check: bool = True, capture: bool = True, **options) -> subprocess.CompletedProcess:
        """``docker ARGS`` against this engine; output captured as text unless ``capture`` is False."""
        output = {"stdout": subprocess.PIPE, "stderr": subprocess.STDOUT, "text": True} if capture else {}
        result = subprocess.run([which("docker") or "docker", *args], env=self.env(), **output, **options)
        if check and result.returncode != 0:
            raise RuntimeError(f"docker {' '.join(args)} exited {result.returncode}:\n{result.stdout}")
        return result

    def has_image(self, reference: str) -> bool:
        return self.docker("image", "inspect", "--format", "{{.Id}}", reference, check=False).returncode == 0

    # -- liveness ---------------------------------------------------------------------------
    def _get(self, connection: http.client.HTTPConnection, path: str) -> int:
        try:
            connection.request("GET", path)
            return connection.getresponse().status
        except OSError:
            return 0
        finally:
            connection.close()

    def dockerd_running(self) -> bool:
        class Unix(http.client.HTTPConnection):
            def connect(inner):  # noqa: N805
                inner.sock = socket.socket(socket.AF_UNIX)
                inner.sock.settimeout(2)
                inner.sock.connect(str(self.socket))
        return self.socket.exists() and self._get(Unix("localhost", timeout=2), "/_ping") == 200

    def registry_running(self) -> bool:
        return self._get(http.client.HTTPConnection("127.0.0.1", self.registry_port, timeout=2), "/v2/") == 200

    # -- start and stop ---------------------------------------------------------------------
    def up(self) -> bool:
        """Install when absent, then start dockerd and the registry unless running. True if started here."""
        install()
        self.state.mkdir(parents=True, exist_ok=True)
        started = False
        if not self.dockerd_running():
            with host_lock():  # see START_LOCK
                self._start_dockerd()
            started = True
        if not self.registry_running():
            self._start_registry()
            started = True
        return started

    def down(self) -> None:
        """Stop the registry and dockerd (SIGTERM, then SIGKILL after 30 s) and remove the bridge."""
        for name in ("registry", "dockerd"):
            self._stop(name)
        subprocess.run(["ip", "link", "delete", self.bridge], capture_output=True, env=self.env())
        self._unmount()

    def _unmount(self) -> None:
        """Mounts dockerd leaves under the state dir (its default netns, the data root bind), deepest first,
        so ``make clean`` can remove it."""
        try:
            mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
        except OSError:
            return
        for point in sorted((m for m in mounts if m.startswith(f"{self.state}/")), key=len, reverse=True):
            subprocess.run(["umount", "-l", point], capture_output=True, env=self.env())

    def _spawn(self, name: str, argv: list[str]) -> subprocess.Popen:
        log = open(self.state / f"{name}.log", "ab")  # noqa: SIM115 - handed to the child
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   env=self.env(), start_new_session=True)  # Ctrl-C of make reaches us, not it
        (self.state / f"{name}.pid").write_text(str(process.pid))
        return process

    def _wait(self, name: str, process: subprocess.Popen, ready, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            if process.poll() is not None or time.monotonic() > deadline:
                self._stop(name)
                tail = (self.state / f"{name}.log").read_text(errors="replace")[-3000:]
                raise EngineUnavailable(f"{name} did not come up (exit {process.poll()}); its log ends:\n{tail}")
            time.sleep(0.2)

    def _stop(self, name: str) -> None:
        pid_file = self.state / f"{name}.pid"
        try:
            pid = int(pid_file.read_text())
        except (OSError, ValueError):
            return
        try:
            os.kill(pid, signal.SIGTERM)
            for _ in range(300):
                os.kill(pid, 0)
                try:
                    if os.waitpid(pid, os.WNOHANG)[0] == pid:
                        break
                except ChildProcessError:
                    pass
                time.sleep(0.1)
            else:
                os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        pid_file.unlink(missing_ok=True)

    def _subnet(self) -> str:
        used = subprocess.run(["ip", "-4", "route"], capture_output=True, text=True, env=self.env()).stdout
        networks = [ipaddress.ip_network(word, strict=False) for word in used.split() if "/" in word]
        for offset in range(200):
            candidate = ipaddress.ip_network(f"10.{200 + (_stable(str(self.state), 50) + offset) % 50}."
                                             f"{_stable(str(self.state) + 'b', 250)}.0/24")
            if not any(candidate.overlaps(network) for network in networks):
                return f"{candidate.network_address + 1}/24"
        raise EngineUnavailable("no free 10.200-249.x.0/24 subnet for the engine's bridge")

    def _start_dockerd(self) -> None:
        """dockerd with its own socket, data root, exec root and bridge (so two checkouts never share docker0)."""
        self._stop("dockerd")  # a stale one from a killed run
        for link in (["ip", "link", "delete", self.bridge],):
            subprocess.run(link, capture_output=True, env=self.env())
        for command in (["ip", "link", "add", self.bridge, "type", "bridge"],
                        ["ip", "addr", "add", self._subnet(), "dev", self.bridge],
                        ["ip", "link", "set", self.bridge, "up"]):
            result = subprocess.run(command, capture_output=True, text=True, env=self.env())
            if result.returncode != 0:
                raise EngineUnavailable(f"{' '.join(command)}: {result.stderr.strip()}")
        (self.state / "daemon.json").write_text("{}\n")
        self.socket.unlink(missing_ok=True)
        print(f"==> Starting dockerd on {self.socket}", flush=True)
        process = self._spawn("dockerd", [which("dockerd"), "--host", self.host, "--data-root", str(self.state / "data"),
                                          "--exec-root", str(self.state / "exec"),
                                          "--pidfile", str(self.state / "dockerd.daemon.pid"),
                                          "--config-file", str(self.state / "daemon.json"),
                                          "--bridge", self.bridge, "--log-level", "warn"])
        self._wait("dockerd", process, self.dockerd_running)

    def _start_registry(self) -> None:
        storage = self.state / "registry"
        storage.mkdir(exist_ok=True)
        config = self.state / "registry.json"  # YAML is a superset of JSON
        config.write_text(json.dumps({
            "version": 0.1, "log": {"level": "warn"}, "storage": {"filesystem": {"rootdirectory": str(storage)}},
            "http": {"addr": f"127.0.0.1:{self.registry_port}"}}))
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", self.registry_port)) == 0:
                raise EngineUnavailable(f"port {self.registry_port} is taken by something that is not a registry:"
                                        " set PYFUNC_REGISTRY_PORT to a free port")
        print(f"==> Starting the OCI registry on 127.0.0.1:{self.registry_port}", flush=True)
        process = self._spawn("registry", [which("docker-registry"), "serve", str(config)])
        self._wait("registry", process, self.registry_running, timeout=30)
