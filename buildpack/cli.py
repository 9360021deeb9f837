"""Run a phase and map its outcome to the lifecycle's exit codes (Buildpack API 0.10).

detect: 0 pass, 100 fail. build: 0 ok, 1 a BuildpackError (message, no traceback).
"""

from __future__ import annotations

import os
import sys

from .context import Context
from .errors import BuildpackError

DETECT_FAIL = 100
BUILD_ERROR = 1


def main(argv: list[str]) -> None:
    # Names and values from the platform may hold bytes that are not UTF-8: show them escaped.
    sys.stdout.reconfigure(errors="backslashreplace")
    phase, args = (argv[0], argv[1:]) if argv else ("", [])
    if phase == "detect":
        code = run_detect(Context.for_detect(args))
    elif phase == "build":
        code = run_build(Context.for_build(args))
    else:
        print("usage: buildpack detect|build [args]", file=sys.stderr)
        code = 2
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # interpreter teardown costs more than the phase (perf-baselines.md)


def run_detect(ctx: Context) -> int:
    from .detect import detect, has_root_requirements, is_poetry_project

    result = detect(ctx)
    print(f"pyfunc/python-function: {result.reason}")
    if not result.passed:
        return DETECT_FAIL
    if ctx.plan_path is not None:
        from .plan import build_plan
        from .tomlio import dumps

        plan = build_plan(root_requirements=has_root_requirements(ctx),
                          poetry=is_poetry_project(ctx.app_dir))
        ctx.plan_path.write_text(dumps(plan), encoding="utf-8")
    return 0


def run_build(ctx: Context) -> int:
    from .build import build
    from .log import Log

    log = Log(ctx.raw_setting("BP_LOG_LEVEL"))
    try:
        build(ctx, log)
    except OSError as exc:  # e.g. an unreadable app file or a full disk: say which file
        error = BuildpackError(f"Cannot use {exc.filename or 'a file'}: {exc.strerror or exc}",
                               fix="check the file's permissions and the disk space of the build")
    except BuildpackError as exc:
        error = exc
    except Exception as exc:  # a defect of the buildpack: still one clear message, never a bare traceback
        if log.debug_on:
            import traceback

            traceback.print_exc(file=sys.stdout)
        error = BuildpackError(f"The buildpack failed unexpectedly ({type(exc).__name__}: {exc})",
                               detail="this is a defect of pyfunc/python-function, not of your app",
                               fix="report it with the build log (BP_LOG_LEVEL=DEBUG shows where it happened)")
    else:
        return 0
    print("", file=sys.stderr)
    for number, line in enumerate(str(error).splitlines()):
        print(f"{'ERROR: ' if number == 0 else '       '}{line}", file=sys.stderr)
    return BUILD_ERROR
