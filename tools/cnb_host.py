"""Drive the real CNB lifecycle (detector, builder, launcher) on the host, without Docker.

See reference/lifecycle-on-host.md. The phases refuse uid 0, so as root every phase runs as
the unprivileged user PYFUNC_TEST_USER (default ``cnb``, created by ``make tools``).
"""

from __future__ import annotations

import functools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOOLS = Path(os.environ.get("PYFUNC_TOOLS", ROOT / ".tools" / "bin"))
LIFECYCLE = TOOLS / "lifecycle"
LAUNCHER = TOOLS / "launcher"
BUILDPACK = Path(os.environ.get("PYFUNC_BUILDPACK", ROOT / "build" / "buildpack"))
HOST_PYTHON_BP = ROOT / "tests" / "buildpacks" / "host-python"
SITE_PACKAGES_BP = ROOT / "tests" / "buildpacks" / "site-packages"
POETRY_VENV_BP = ROOT / "tests" / "buildpacks" / "poetry-venv"
PLATFORM_API = "0.13"
USER = os.environ.get("PYFUNC_TEST_USER", "cnb")


def missing() -> str | None:
    """Why the lifecycle cannot run here, or None."""
    if not LIFECYCLE.is_file() or not LAUNCHER.is_file():
        return f"the CNB lifecycle is not installed in {TOOLS}: run make tools"
    if not (BUILDPACK / "wheels").is_dir():
        return f"the buildpack is not assembled at {BUILDPACK}: run make buildpack"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(USER)
        except KeyError:
            return f"running as root needs the unprivileged user {USER!r}: run make tools"
    return None


@functools.lru_cache(maxsize=None)
def staged(path: Path) -> Path:
    """``path`` where the unprivileged user can read it.

    As root, the checkout may sit in a directory that user cannot enter (CI clones anywhere),
    so files and directories are copied once per process into a world-readable temp dir.
    """
    if os.geteuid() != 0:
        return path
    stage = Path(tempfile.mkdtemp(prefix="pyfunc-stage-"))
    stage.chmod(0o755)
    target = stage / path.name
    if path.is_dir():
        shutil.copytree(path, target, symlinks=True)
    else:
        shutil.copy2(path, target)
    for item in [target, *(target.rglob("*") if target.is_dir() else [])]:
        if not item.is_symlink():
            mode = item.stat().st_mode
            item.chmod(mode | (0o755 if item.is_dir() or mode & 0o100 else 0o644))
    return target


def _buildpack_id(directory: Path) -> tuple[str, str]:
    text = (directory / "buildpack.toml").read_text()
    values = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and key.strip() in ("id", "version") and key.strip() not in values:
            values[key.strip()] = value.strip().strip('"')
    return values["id"], values["version"]


@dataclass
class Workspace:
    """One app built and launched under the lifecycle in ``root`` (app/, layers/, platform/...)."""

    root: Path
    app_source: Path
    platform_env: dict[str, str] = field(default_factory=dict)
    buildpacks: tuple[Path, ...] = (HOST_PYTHON_BP, BUILDPACK)
    optional: tuple[Path, ...] = ()  # buildpacks of the group marked optional = true
    log_level: str = "debug"  # the lifecycle's -log-level: the tests read debug lines; make run-host shows info
    last: subprocess.CompletedProcess | None = None

    def __post_init__(self) -> None:
        self.app = self.root / "app"
        self.layers = self.root / "layers"
        self.platform = self.root / "platform"
        self.home = self.root / "home"
        if not self.app.exists():
            shutil.copytree(self.app_source, self.app, symlinks=True)
        for directory in (self.layers, self.platform / "env", self.home, self.root / "buildpacks"):
            directory.mkdir(parents=True, exist_ok=True)
        for name, value in self.platform_env.items():
            (self.platform / "env" / name).write_text(value)
        groups = []
        for directory in self.buildpacks:
            bp_id, version = _buildpack_id(directory)
            link = self.root / "buildpacks" / bp_id.replace("/", "_") / version
            link.parent.mkdir(parents=True, exist_ok=True)
            if not link.exists():
                link.symlink_to(staged(directory))
            optional = "    optional = true\n" if directory in self.optional else ""
            groups.append(f'  [[order.group]]\n    id = "{bp_id}"\n    version = "{version}"\n{optional}')
        (self.root / "order.toml").write_text("[[order]]\n" + "".join(groups))
        arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine)
        (self.root / "analyzed.toml").write_text(f'[run-image]\n  [run-image.target]\n    os = "linux"\n    arch = "{arch}"\n')
        self._own()

    def _own(self) -> None:
        if os.geteuid() != 0:
            return
        user = pwd.getpwnam(USER)
        for path in [self.root, *self.root.rglob("*")]:
            os.lchown(path, user.pw_uid, user.pw_gid)

    def _command(self, argv: list[str], user: str = USER) -> list[str]:
        if os.geteuid() == 0:
            account = pwd.getpwnam(user)
            return ["setpriv", f"--reuid={account.pw_uid}", f"--regid={account.pw_gid}", "--init-groups", *argv]
        return argv

    def _env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(self.home), "CNB_PLATFORM_API": PLATFORM_API,
               "LANG": "C.UTF-8"}
        env.update(extra or {})
        return env

    def _common(self) -> list[str]:
        return ["-app", str(self.app), "-buildpacks", str(self.root / "buildpacks"), "-layers", str(self.layers),
                "-platform", str(self.platform), "-analyzed", str(self.root / "analyzed.toml"), "-log-level", self.log_level]

    def run(self, argv: list[str], env: dict[str, str] | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
        self.last = subprocess.run(self._command(argv), env=self._env(env), cwd=self.root, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True, timeout=timeout)
        return self.last

    def detect(self) -> subprocess.CompletedProcess:
        """``lifecycle detect``: exit 0 and group.toml/plan.toml in layers/, 20 when no group passes."""
        return self.run([str(staged(LIFECYCLE)), "detect", *self._common(), "-order", str(self.root / "order.toml")])

    def build(self) -> subprocess.CompletedProcess:
        """``lifecycle build`` on the detected group and plan."""
        return self.run([str(staged(LIFECYCLE)), "build", *self._common(), "-group", str(self.layers / "group.toml"),
                         "-plan", str(self.layers / "plan.toml")])

    def detect_and_build(self) -> subprocess.CompletedProcess:
        detected = self.detect()
        if detected.returncode != 0:
            return detected
        built = self.build()
        built.stdout = detected.stdout + built.stdout
        return built

    def launch(self, env: dict[str, str] | None = None, process: str = "web", stream: bool = False,
               user: str = USER) -> subprocess.Popen:
        """Start the launcher under the process type's name (how the launcher picks the process).

        Output is captured (``process.stdout``) unless ``stream`` leaves it on this terminal;
        as root, ``user`` runs it (images run as another uid than the build's).
        """
        link = self.root / process
        if not link.exists():
            link.symlink_to(staged(LAUNCHER))
        launch_env = {"CNB_LAYERS_DIR": str(self.layers), "CNB_APP_DIR": str(self.app)}
        launch_env.update(env or {})
        output = {} if stream else {"stdout": subprocess.PIPE, "stderr": subprocess.STDOUT, "text": True}
        return subprocess.Popen(self._command([str(link)], user), env=self._env(launch_env), cwd=self.app, **output)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(port: int, process: subprocess.Popen, timeout: float = 30.0, path: str = "/healthz/ready") -> None:
    """Block until ``GET path`` answers 200 on 127.0.0.1:port; raise with the process output if it dies."""
    import http.client

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process exited {process.returncode}:\n{process.stdout.read()}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            connection.request("GET", path)
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"no answer on port {port} within {timeout}s:\n{process.stdout.read()}")
