"""The command line of ``make bench``: run the selected parts, write BENCHMARKS.md."""

from __future__ import annotations

import argparse
import datetime
import shutil
import sys
import tempfile
from pathlib import Path

from . import __doc__ as DOC
from .buildpack import buildpack_times
from .cases import CONFIGS, ENVIRONMENTS, ROOT, WHEELS, prepare
from .image import measure_images
from .load import cold_start_all, measure_all, queue_proxy, soak
from .report import chart, proxied_section, report, splice
from .sections import IMAGE_HEADING, image_section, image_targets, section_of, with_image
from .targets import targets

#: Parts that rewrite only their own section of BENCHMARKS.md when they are all ``--only`` names.
SECTION_PARTS = ("queue-proxy", "image")
#: What ``--only`` selects: a configuration of cases.CONFIGS, or a part measured apart from them.
PARTS = (*(c.name for c in CONFIGS), *SECTION_PARTS)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=DOC.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--cold-starts", type=int, default=15)
    parser.add_argument("--soak-seconds", type=int, default=60)
    parser.add_argument("--only", nargs="*", metavar="NAME[,NAME]",
                        help=f"parts to run (default: all): {', '.join(PARTS)}")
    parser.add_argument("--out", default=str(ROOT / "BENCHMARKS.md"))
    args = parser.parse_args()
    args.only = [name for item in args.only or () for name in item.split(",") if name] or None
    unknown = [name for name in args.only or () if name not in PARTS]
    if unknown:
        parser.error(f"--only {','.join(unknown)}: no such part; choose from {', '.join(PARTS)}")
    sections_only = bool(args.only) and set(args.only) <= set(SECTION_PARTS)
    if args.only == ["image"]:  # no load generator, no comparison environments
        return write_sections(args, None)
    if not shutil.which("wrk"):
        sys.exit("make bench needs wrk (apt-get install wrk)")
    if not shutil.which("h2load") and (not args.only or "queue-proxy" in args.only):
        sys.exit("make bench needs h2load for HTTP/2 through queue-proxy (apt-get install nghttp2-client)")
    if not list(WHEELS.glob("pyfunc-*.whl")):
        sys.exit("make bench needs the assembled buildpack: make buildpack")
    with tempfile.TemporaryDirectory(prefix="pyfunc-bench-") as tmp:
        root = Path(tmp)
        prepare(root, ("pyfunc",) if sections_only else tuple(ENVIRONMENTS))
        results = measure_all([config for config in CONFIGS if not args.only or config.name in args.only], root, args)
        cold_start_all(CONFIGS, results, root, args.cold_starts)
        for name, r in results.items():
            if r["cold_ms"]:
                print(f"cold start {name}: {r['cold_ms']:.0f} ms", flush=True)
        if results.get("pyfunc-body", {}).get("cold_ms") and results.get("pyfunc-body-workers", {}).get("cold_ms"):
            results["pyfunc-body-workers"]["cold_vs_one"] = (results["pyfunc-body-workers"]["cold_ms"]
                                                             / results["pyfunc-body"]["cold_ms"])
        if sections_only:  # only those sections change; the rest of the file stays
            return write_sections(args, root)
        build = buildpack_times()
        print(f"buildpack: {build}", flush=True)
        soaked = soak(root, args.soak_seconds, 64) if args.soak_seconds else None
        proxied = queue_proxy(root, args) if not args.only or "queue-proxy" in args.only else None
    image = measure_images(args.cold_starts) if not args.only or "image" in args.only else None
    rows = targets(results, build)
    out = Path(args.out)
    command = "PYTHONPATH=tools python -m bench " + " ".join(sys.argv[1:])
    image_text = ""
    if image is not None:
        if "skipped" in image:
            print(f"skipping the image part: {image['skipped']}", flush=True)
        rows += image_targets(image)
        host = {key: results[name]["cold_ms"] for key, name in (("pyfunc", "pyfunc-req"), ("ff", "ff"))
                if results.get(name, {}).get("cold_ms")}
        previous = section_of(out.read_text(), IMAGE_HEADING) if out.exists() else None
        image_text = image_section(image, command.strip(), datetime.date.today().isoformat(), host, previous)
    chart(results, rows, out.parent / "benchmarks.png")
    out.write_text(report(results, build, soaked, rows, args, command.strip(), proxied, image_text))
    print(out.read_text())
    return 0


def write_sections(args: argparse.Namespace, root: Path | None) -> int:
    """``--only`` naming section parts only: measure them, rewrite only their sections (and the
    image's rows of the targets table); 1 when one of them could not be measured, saying why."""
    out = Path(args.out)
    status = 0
    if "queue-proxy" in args.only:
        proxied = queue_proxy(root, args)
        if proxied:
            out.write_text(splice(out.read_text() if out.exists() else "# Benchmarks\n",
                                  proxied_section(proxied, args)))
            print(proxied_section(proxied, args))
        status = status or (0 if proxied else 1)
    if "image" in args.only:
        image = measure_images(args.cold_starts)
        document = out.read_text() if out.exists() else "# Benchmarks\n"
        if "skipped" in image:
            print(f"skipping the image part: {image['skipped']}", flush=True)
            status = 1
        command = " ".join(["PYTHONPATH=tools python -m bench", *sys.argv[1:]])
        document = with_image(document, image, command, datetime.date.today().isoformat())
        out.write_text(document)
        print(section_of(document, IMAGE_HEADING))
    return status
