"""Build: contribute the function's layers and launch process (Buildpack API 0.10, bin/build).

Layers (seed python-function-buildpack, "Behaviour"):

| layer         | types               | holds                                                  |
|---------------|---------------------|--------------------------------------------------------|
| invoker       | launch, cache       | pyfunc and invoker.lock (hash-checked), on PYTHONPATH  |
|               |                     | (appended)                                             |
| dependencies  | launch, cache       | the app's requirements, resolved with the invoker      |
|               |                     | (buildpack.resolution), on PYTHONPATH (prepended)      |
| function-env  | launch              | func.yaml envs and the resolved function (defaults),   |
|               |                     | BPE_* settings; exec.d for names holding '.'           |
| validation    | build               | the report of ``python -m pyfunc check`` (every build) |

All configuration (func.yaml, settings, requirement sources, launch env) is read and checked
before anything is installed, so bad input fails fast with a BuildpackError. Sources of the
app and both package layers are precompiled to hash-checked ``.pyc`` so the
image runs read-only, under any uid, without Python writing bytecode.
"""

from __future__ import annotations

import hashlib
import os
import platform
import re
import shutil
import subprocess
import sys
import zipfile
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from . import func_layout, funcyaml, function, lockfile, parliament, pip, requirements, resolution, sbom
from .context import Context
from .errors import BuildpackError
from .launch import Launch, Process
from .launchenv import LaunchEnv
from .layers import Layer, LayerEnv, Types
from .log import Log

NAME = "pyfunc Python Function Buildpack"
WEB = Process("web", ("python", "-m", "pyfunc", "start"), default=True)


def build(ctx: Context, log: Log) -> None:
    log.title(NAME, _version(ctx))
    env = pip.environment(ctx.env, ctx.setting)
    sbom_time = sbom.timestamp(ctx.setting("SOURCE_DATE_EPOCH"))

    log.step("Resolving function")
    config = funcyaml.load(ctx.app_dir, ctx.setting)
    envs = config.envs if config else {}
    for skipped in config.skipped if config else []:
        log.warn(f"func.yaml env skipped: {skipped}")
    defaults, shown = function.launch_defaults(ctx.setting("BP_FUNCTION"), envs)
    defaults.update(function.google_defaults(ctx.setting))
    if config and config.invoke:
        defaults["FUNC_INVOKE"] = config.invoke
    for probe, path in (config.health_endpoints if config else {}).items():
        defaults[HEALTH_ENDPOINTS[probe]] = path
    labels = funcyaml.option_labels(config.options if config else {})
    log.detail(f"Named by: {shown}")

    layout = func_layout.recognise(
        ctx.app_dir, lambda path: requirements.project_dependencies(ctx.app_dir, path, str(path.relative_to(ctx.app_dir))))
    source = layout.source if layout else ctx.app_dir
    if layout:
        log.detail(f"Function source: {source.relative_to(ctx.app_dir)}/ (the layout func build makes; "
                   f"its glue project, {layout.reference}, is func's runtime, which pyfunc replaces: not installed)")

    sources = _requirement_sources(ctx, log, source, glue=layout is not None)
    launch_env = LaunchEnv.plan(ctx, {**envs, **defaults})

    invoker = Invoker(ctx)
    invoker_packages = _invoker(ctx, log, env, invoker, sbom_time)
    dependencies = _dependencies(ctx, log, env, sources, invoker, invoker_packages, sbom_time)
    launch_env.write(ctx, log)
    _validate(ctx, log, env, [p for p in (dependencies, invoker_packages) if p], launch_env, source)

    web = WEB if source == ctx.app_dir else replace(WEB, args=("-s", str(source.relative_to(ctx.app_dir))))
    Launch([web], labels).write(ctx.layers_dir)
    log.step("Assigning launch processes:")
    log.detail(f"{web.type} (default): {web.shown()}")


def _version(ctx: Context) -> str:
    from .tomlio import loads

    return loads((ctx.buildpack_dir / "buildpack.toml").read_text(encoding="utf-8"))["buildpack"]["version"]


class Invoker:
    """The invoker wheel of the buildpack, its lock, and what keys their layers."""

    def __init__(self, ctx: Context) -> None:
        self.wheel = _invoker_wheel(ctx)
        with zipfile.ZipFile(self.wheel) as archive:
            names = archive.namelist()
            record = next(n for n in names if n.endswith(".dist-info/RECORD"))
            self.record_digest = hashlib.sha256(archive.read(record)).hexdigest()
            metadata = archive.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode("utf-8")
        self.requires = resolution.requires(metadata)
        self.name = " ".join(self.wheel.name.split("-")[:2])
        self.lock = lockfile.Lock.read(ctx.buildpack_dir / "buildpack" / LOCK)
        self.links = ["--find-links", str(self.wheel.parent)]
        wheelhouse = ctx.buildpack_dir / "wheelhouse"
        if wheelhouse.is_dir():
            self.links += ["--find-links", str(wheelhouse)]

    def key(self) -> dict[str, str]:
        return {"invoker": self.wheel.name, "record-sha256": self.record_digest, "lock-sha256": self.lock.digest}


#: func.yaml deploy.healthEndpoints keys and the invoker settings that serve them (README "Health endpoints").
HEALTH_ENDPOINTS = {"liveness": "PYFUNC_LIVENESS_PATH", "readiness": "PYFUNC_READINESS_PATH"}

#: The invoker lock in the buildpack (make lock).
LOCK = "invoker.lock"


def _invoker(ctx: Context, log: Log, env: dict[str, str], invoker: Invoker, sbom_time: datetime | None) -> Path:
    """The invoker layer: the lock, hash-checked, and the invoker wheel; reused while they and Python are unchanged."""
    def install(packages: Path) -> None:
        if not invoker.lock.covers_this_python():
            log.warn(f"no locked wheels for Python {pip.python_version()} on {platform.machine()} (the lock covers "
                     f"CPython {', '.join(lockfile.PYTHONS)} on {', '.join(lockfile.MACHINES)}): resolving the "
                     "invoker's requirements unlocked")
            pip.install(packages, [*invoker.links, str(invoker.wheel), *INVOKER_PINS], log, ctx.app_dir, env,
                        invoker.wheel.name)
            return
        digest = hashlib.sha256(invoker.wheel.read_bytes()).hexdigest()
        own = packages.parent / "invoker-wheel.txt"
        own.write_text(f"{invoker.wheel} --hash=sha256:{digest}\n", encoding="utf-8")
        try:
            pip.install(packages, [*invoker.links, "--no-deps", "--require-hashes", "-r", str(invoker.lock.path),
                                   "-r", str(own)], log, ctx.app_dir, env, f"{invoker.wheel.name} and its lock")
        finally:
            own.unlink()
    return _packages_layer(ctx, log, env, "invoker", "Installing invoker", invoker.key(), install,
                           f"{invoker.wheel.name} and {LOCK} ({len(invoker.lock.entries)} locked packages)",
                           first_on_path=False, sbom_time=sbom_time)


#: The invoker layer's own choice where pyfunc allows several (the lock is made with it): the
#: cloudevents 1.x API that functions written for the old invoker import; an app needing 2.x
#: moves it in the joint resolution (buildpack.resolution).
INVOKER_PINS = ("cloudevents<2",)


def _packages_layer(ctx: Context, log: Log, env: dict[str, str], name: str, title: str, key: dict[str, str], install, what: str,
                    first_on_path: bool, sbom_time: datetime | None = None) -> Path:
    """A launch+cache layer of pip-installed packages in ``<layer>/packages``, reused while
    ``key``, the Python version and the arch are unchanged; ``install(packages)`` fills it.
    It goes on PYTHONPATH first (the app's packages) or last (the invoker's)."""
    expected = {**key, "python": pip.python_version(), "arch": platform.machine()}
    layer = Layer(ctx.layers_dir, name, Types(launch=True, cache=True))
    packages = layer.path / "packages"
    with log.timed(title):
        reusable, why = layer.reusable(expected)
        if reusable:
            log.detail(f"Reusing cached layer {layer.path} ({why})")
        else:
            log.detail(f"Installing {what} into {layer.path} ({why})")
            layer.reset()
            install(packages)
            packages.mkdir(exist_ok=True)
            pip.compile_bytecode(packages, log, env)
        launch_env = LayerEnv()
        (launch_env.prepend if first_on_path else launch_env.append)("PYTHONPATH", str(packages), os.pathsep)
        layer.commit(expected, launch_env)
        log.detail(f"SBOM: {sbom.write(ctx.layers_dir, name, packages, sbom_time)} components ({name}.sbom.cdx.json)")
    return packages


def _invoker_wheel(ctx: Context) -> Path:
    wheels = sorted((ctx.buildpack_dir / "wheels").glob("pyfunc-*.whl"))
    if not wheels:
        raise BuildpackError(
            f"The buildpack at {ctx.buildpack_dir} has no invoker wheel",
            detail="wheels/pyfunc-*.whl is made when the buildpack is packaged",
            fix="use the packaged buildpack (make buildpack, or make package for a .cnb), not the source tree",
        )
    return wheels[-1]


#: The plan marker of an alternative with a Paketo provider, and the source it installs.
PROVIDED = (("pyfunc-site-packages", "requirements.txt"), ("pyfunc-poetry-venv", "pyproject.toml"))


def _requirement_sources(ctx: Context, log: Log, source: Path, glue: bool = False) -> requirements.Sources:
    """Every requirement source of the app, checked before anything is installed.

    detect's plan marks which alternative the lifecycle took (see plan.build_plan): what a
    provider of the group installs is skipped here. With ``glue`` (func's ``fn/`` layout,
    ``func_layout``) the app dir holds func's glue project and only the function's dir counts.
    """
    entries = ctx.plan_entries()
    log.debug(f"Buildpack plan entries: {', '.join(entries) or 'none'}")
    roots = requirements.root_files(ctx.setting)
    provided = {"requirements.txt": roots, "pyproject.toml": ["pyproject.toml"]}
    skip = tuple(name for marker, kind in PROVIDED if marker in entries for name in provided[kind])
    return requirements.collect(ctx.app_dir, source, roots, skip, glue=glue,
                                explicit=bool((ctx.setting("BP_PIP_REQUIREMENT") or "").split()))


def _dependencies(ctx: Context, log: Log, env: dict[str, str], sources: requirements.Sources, invoker: Invoker,
                  invoker_packages: Path, sbom_time: datetime | None = None) -> Path | None:
    """The dependencies layer: every requirement source of the app, resolved with the invoker
    (``_resolve_jointly``), keyed by their content, the invoker, its lock and Python."""
    if not sources.names:
        log.step("Installing dependencies")
        if sources.skipped:
            log.detail(f"{' and '.join(sources.skipped)} installed by a provider of this group "
                       "(Paketo pip-install or poetry-install): skipping")
        else:
            log.detail("No requirements.txt, function/requirements.txt or pyproject.toml dependencies: skipping")
        return None
    extra = parliament.pins(sources.args)
    if extra:
        log.detail(f"parliament-functions with cloudevents unconstrained: adding {' '.join(extra)} "
                   "(parliament imports the cloudevents 1.x API), as func does for parliament-era functions")

    def install(packages: Path) -> None:
        _resolve_jointly(ctx, log, env, invoker, packages, [*sources.args, *extra], invoker_packages)
    return _packages_layer(ctx, log, env, "dependencies", "Installing dependencies",
                           {"requirements-sha256": sources.digest, **invoker.key()}, install,
                           f"{', '.join(sources.names)} resolved with {invoker.name}", first_on_path=True,
                           sbom_time=sbom_time)


def _resolve_jointly(ctx: Context, log: Log, env: dict[str, str], invoker: Invoker, packages: Path,
                     app_args: list[str], invoker_packages: Path) -> None:
    """One pip resolution of the invoker wheel and the app's requirements under the lock
    (buildpack.resolution); the lock lets go of the packages a conflict names, one retry at a time."""
    free: set[str] = set()
    while True:
        constraints = invoker.lock.constraints(packages.parent, free)
        process = pip.run(packages, [*invoker.links, "-c", str(constraints), str(invoker.wheel), *app_args],
                          log, ctx.app_dir, env, quiet=True)
        constraints.unlink()
        if process.returncode == 0:
            break
        if not resolution.is_conflict(process.stdout):
            raise pip.failure("the app's requirements", process)
        more = resolution.named(process.stdout) & {name for name, _, _ in invoker.lock.entries} - free
        if not more:
            raise resolution.explain(process.stdout, invoker.requires, invoker.name)
        log.subdetail(f"The app's requirements move {', '.join(sorted(more))} off the invoker lock: resolving again")
        free |= more
        shutil.rmtree(packages, ignore_errors=True)
    moved = resolution.prune(packages, invoker_packages)
    resolution.check_shadowing(packages, invoker_packages)
    for line in moved:
        log.subdetail(f"The app's version: {line}")


#: The check report's ``name: value`` lines (pyfunc.__main__._report).
_REPORT = re.compile(r"^  (module|function|style|call):\s+(.*)$", re.M)
#: The invoker's style names (pyfunc.styles.*.style) as the build output shows them.
STYLE_NAMES = {"pyfunc": "pyfunc", "knative": "Knative", "functions-framework": "Functions Framework",
               "handler": "handler", "parliament": "parliament"}


def _validate(ctx: Context, log: Log, env: dict[str, str], paths: list[Path], launch_env: LaunchEnv,
              source: Path) -> None:
    """The validation layer: import the function as the image will (``python -m pyfunc check``)."""
    layer = Layer(ctx.layers_dir, "validation", Types(build=True))
    layer.reset()
    check_env = {k: v for k, v in env.items() if k not in ("BP_FUNCTION", "PYTHONPATH")}
    check_env = launch_env.apply(check_env)
    # Our layers first; then what earlier buildpacks put on the path (a site-packages provider).
    check_env["PYTHONPATH"] = os.pathsep.join([*(str(p) for p in paths), *filter(None, [env.get("PYTHONPATH")])])
    check_env["PYTHONDONTWRITEBYTECODE"] = "1"
    with log.timed("Validating function"):
        process = subprocess.run([sys.executable, "-m", "pyfunc", "check", "-s", str(source)],
                                 cwd=ctx.app_dir, env=check_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 text=True, errors="replace")
        (layer.path / "check.txt").write_text(process.stdout, encoding="utf-8")
        if process.returncode != 0:
            report = process.stdout.strip().splitlines()
            raise BuildpackError(
                "The function failed validation (python -m pyfunc check)",
                detail="\n".join(line for line in report if not line.startswith("pyfunc check: FAILED")),
            )
        report = dict(_REPORT.findall(process.stdout))
        style = report.get("style", "").split(" ", 1)[0]
        log.detail(f"Function: {report.get('module', '?').split(' ', 1)[0]}.{report.get('function', '?').split(' ', 1)[0]} "
                   f"({STYLE_NAMES.get(style, style)})")
        for line in process.stdout.strip().splitlines()[1:]:
            log.subdetail(line.strip())
        pip.compile_bytecode(ctx.app_dir, log, check_env)
    layer.commit({})
