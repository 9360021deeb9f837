"""The CNB stack (base, build and run images), the lifecycle tarball and the test builder.

Images are tagged with a hash of their recipe, in the engine's registry namespace
``localhost:PORT/pyfunc/...``, so they are built once and rebuilt only when the recipe (the
text below, the host's extra CA certificates, the lifecycle, the buildpacks) changes.
See reference/real-engine.md for why each step is needed on a machine without Docker Hub.
"""

from __future__ import annotations

import hashlib
import io
import re
import shutil
import subprocess
import tarfile
import tempfile
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .daemon import ROOT, Engine, EngineUnavailable, which

SUITE = "bookworm"
#: debootstrap --include: one rootfs serves build and run, so both have the same /usr/bin/python3
#: (the test CPython provider links its venv to it).
BASE_PACKAGES = ("python3", "python3-venv", "ca-certificates")
HOST_CAS = Path("/usr/local/share/ca-certificates")
RUN_DOCKERFILE = """\
FROM {base}
COPY certs/ /usr/local/share/ca-certificates/
RUN update-ca-certificates >/dev/null \\
 && groupadd --gid 1000 cnb && useradd --uid 1001 --gid 1000 --create-home --shell /bin/bash cnb
ENV CNB_USER_ID=1001 CNB_GROUP_ID=1000
LABEL io.buildpacks.base.distro.name=debian io.buildpacks.base.distro.version=12 \\
      io.buildpacks.base.description="pyfunc test stack: Debian bookworm minbase with python3"
USER 1001:1000
"""
BUILD_DOCKERFILE = """\
FROM {run}
LABEL io.buildpacks.base.description="pyfunc test build image: the run image, for the lifecycle's build phases"
"""
LIFECYCLE_TOML = """\
[apis.buildpack]
  supported = ["0.7", "0.8", "0.9", "0.10", "0.11", "0.12"]
[apis.platform]
  supported = ["0.7", "0.8", "0.9", "0.10", "0.11", "0.12", "0.13", "0.14", "0.15"]
[lifecycle]
  version = "{version}"
"""
LIFECYCLE_PHASES = ("detector", "analyzer", "restorer", "builder", "exporter", "rebaser", "creator", "extender")
HOST_PYTHON_BP = ROOT / "tests" / "buildpacks" / "host-python"
TOOLS_BIN = ROOT / ".tools" / "bin"


def _digest(*parts: bytes | str) -> str:
    sha = hashlib.sha256()
    for part in parts:
        sha.update(part.encode() if isinstance(part, str) else part)
        sha.update(b"\0")
    return sha.hexdigest()[:12]


def _tree_bytes(directory: Path) -> bytes:
    return b"".join(p.relative_to(directory).as_posix().encode() + p.read_bytes()
                    for p in sorted(directory.rglob("*")) if p.is_file())


def mirror() -> str:
    """The Debian mirror this machine's apt uses for SUITE (read now, never written into a file)."""
    deb822 = Path("/etc/apt/sources.list.d/debian.sources")
    if deb822.exists():
        for stanza in deb822.read_text().split("\n\n"):
            fields = dict(re.findall(r"^(\w[\w-]*):\s*(.+)$", stanza, re.M))
            if SUITE in fields.get("Suites", "").split() and "deb" in fields.get("Types", "").split():
                return fields["URIs"].split()[0]
    for sources in [Path("/etc/apt/sources.list"), *Path("/etc/apt/sources.list.d").glob("*.list")]:
        if sources.exists():
            for line in sources.read_text().splitlines():
                words = line.split()
                if len(words) >= 3 and words[0] == "deb" and SUITE in words:
                    return next(w for w in words[1:] if "://" in w)
    raise EngineUnavailable(f"no Debian {SUITE} mirror in this machine's apt sources for debootstrap")


def _certificates() -> list[Path]:
    return sorted(HOST_CAS.rglob("*.crt")) if HOST_CAS.is_dir() else []


class Stack:
    """Image references of the stack and builder in ``engine``'s registry, and how to make them."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        base_tag = _digest(SUITE, "minbase", *BASE_PACKAGES)
        self.base = f"{engine.registry}/pyfunc/base:{SUITE}-{base_tag}"
        run_tag = _digest(self.base, RUN_DOCKERFILE, *(c.read_bytes() for c in _certificates()))
        self.run = f"{engine.registry}/pyfunc/run:{run_tag}"
        self.build = f"{engine.registry}/pyfunc/build:{_digest(self.run, BUILD_DOCKERFILE)}"
        self.work = engine.state / "stack"

    # -- images ---------------------------------------------------------------------------
    def ensure_images(self) -> None:
        """Base, run and build images in the daemon and pushed to the registry (for --publish)."""
        if not self.engine.has_image(self.base):
            self._base()
        if not self.engine.has_image(self.run):
            self._docker_build(self.run, RUN_DOCKERFILE.format(base=self.base), certs=True)
        if not self.engine.has_image(self.build):
            self._docker_build(self.build, BUILD_DOCKERFILE.format(run=self.run))
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(self._push, (self.run, self.build)))

    def _push(self, reference: str) -> None:
        if not self.in_registry(reference):
            self.engine.docker("push", reference)

    def in_registry(self, reference: str) -> bool:
        name, _, tag = reference.partition("/")[2].rpartition(":")
        request = urllib.request.Request(f"http://127.0.0.1:{self.engine.registry_port}/v2/{name}/manifests/{tag}",
                                         method="HEAD", headers={"Accept": "application/vnd.oci.image.manifest.v1+json,"
                                                                 "application/vnd.docker.distribution.manifest.v2+json,"
                                                                 "application/vnd.oci.image.index.v1+json"})
        try:
            with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(request, timeout=10) as answer:
                return answer.status == 200
        except OSError:
            return False

    def _base(self) -> None:
        """``debootstrap --variant=minbase`` into a scratch dir, cleaned, then ``docker import``."""
        self.work.mkdir(parents=True, exist_ok=True)
        rootfs = Path(tempfile.mkdtemp(prefix="rootfs-", dir=self.work))
        try:
            print(f"==> debootstrap {SUITE} (minbase, {', '.join(BASE_PACKAGES)}): about a minute", flush=True)
            result = subprocess.run([which("debootstrap"), "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}",
                                     SUITE, str(rootfs), mirror()], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    text=True, env=self.engine.env())
            if result.returncode != 0:
                raise EngineUnavailable(f"debootstrap failed:\n{result.stdout[-3000:]}")
            for junk in ("var/cache/apt/archives", "var/lib/apt/lists", "var/log", "usr/share/doc", "usr/share/man",
                         "usr/share/info", "usr/share/locale"):
                shutil.rmtree(rootfs / junk, ignore_errors=True)
                (rootfs / junk).mkdir(parents=True, exist_ok=True)
            tar = subprocess.Popen(["tar", "-C", str(rootfs), "--numeric-owner", "-c", "."], stdout=subprocess.PIPE)
            self.engine.docker("import", "-", self.base, stdin=tar.stdout)
            if tar.wait() != 0:
                raise EngineUnavailable("tar of the debootstrap rootfs failed")
        finally:
            shutil.rmtree(rootfs, ignore_errors=True)

    def _docker_build(self, reference: str, dockerfile: str, certs: bool = False) -> None:
        self.work.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.work) as context:
            (Path(context) / "Dockerfile").write_text(dockerfile)
            (Path(context) / "certs").mkdir()
            for cert in _certificates() if certs else ():
                shutil.copy2(cert, Path(context) / "certs" / cert.name)
            print(f"==> docker build {reference}", flush=True)
            self.engine.docker("build", "--network", "none", "-t", reference, context)

    # -- lifecycle and builder --------------------------------------------------------------
    def lifecycle_tarball(self) -> Path:
        """The Go-built lifecycle (``make lifecycle``) as the tarball ``pack builder create`` wants."""
        binaries = {name: TOOLS_BIN / name for name in ("lifecycle", "launcher")}
        for path in binaries.values():
            if not path.is_file():
                raise EngineUnavailable(f"{path} is missing: run make lifecycle")
        version = "0.21.11"
        module = (ROOT / "tools" / "lifecycle" / "go.mod").read_text()
        found = re.search(r"github.com/buildpacks/lifecycle v(\S+)", module)
        version = found.group(1) if found else version
        tag = _digest(*(p.read_bytes() for p in binaries.values()), version)
        target = self.engine.state / f"lifecycle-{tag}.tgz"
        if target.exists():
            return target
        partial = target.with_suffix(".partial")
        with tarfile.open(partial, "w:gz") as archive:
            def add(name: str, data: bytes | None = None, link: str | None = None, mode: int = 0o755) -> None:
                info = tarfile.TarInfo(f"lifecycle/{name}" if name else "lifecycle")
                info.uid = info.gid = 0
                info.mode = mode
                if link:
                    info.type, info.linkname = tarfile.SYMTYPE, link
                elif data is None:
                    info.type = tarfile.DIRTYPE
                else:
                    info.size = len(data)
                archive.addfile(info, io.BytesIO(data) if data is not None else None)
            add("")
            for name, path in binaries.items():
                add(name, path.read_bytes())
            for phase in LIFECYCLE_PHASES:
                add(phase, link="lifecycle")
            (partial.parent / "lifecycle.toml").write_text(LIFECYCLE_TOML.format(version=version))
            archive.add(partial.parent / "lifecycle.toml", "lifecycle.toml",
                        filter=lambda info: _owned_by_root(info))
        partial.rename(target)
        return target

    def builder(self, cnb: Path) -> str:
        """The test builder (test/host-python, then this buildpack's ``.cnb``), created once per input hash."""
        if not cnb.is_file():
            raise EngineUnavailable(f"{cnb} is missing: run make package")
        self.ensure_images()
        lifecycle = self.lifecycle_tarball()
        tag = _digest(self.run, self.build, lifecycle.name, cnb.read_bytes(), _tree_bytes(HOST_PYTHON_BP))
        reference = f"{self.engine.registry}/pyfunc/builder:{tag}"
        if self.in_registry(reference):
            return reference
        directory = self.engine.state / "builder"
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "builder.toml").write_text(BUILDER_TOML.format(
            host_python=HOST_PYTHON_BP, cnb=cnb.resolve(), lifecycle=lifecycle, build=self.build, run=self.run))
        print(f"==> pack builder create {reference}", flush=True)
        result = subprocess.run([str(TOOLS_BIN / "pack"), "builder", "create", reference, "--config",
                                 str(directory / "builder.toml"), "--publish", "--target", "linux/amd64",
                                 "--pull-policy", "if-not-present"],
                                env=self.engine.env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"pack builder create failed:\n{result.stdout}")
        return reference


def _owned_by_root(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    info.mode = 0o644
    return info


BUILDER_TOML = """\
# Written by tools/engine/stack.py: the pyfunc test builder (never edited by hand).
description = "pyfunc test builder: Debian bookworm python3 (test/host-python), then pyfunc/python-function"

[[buildpacks]]
  uri = "{host_python}"

[[buildpacks]]
  uri = "{cnb}"

[[order]]
  [[order.group]]
    id = "test/host-python"

  [[order.group]]
    id = "pyfunc/python-function"

[lifecycle]
  uri = "{lifecycle}"

[build]
  image = "{build}"

[run]
  [[run.images]]
    image = "{run}"
"""
