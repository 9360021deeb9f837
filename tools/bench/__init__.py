"""``make bench``: pyfunc against the anchors, side by side in one run, into BENCHMARKS.md.

    PYTHONPATH=tools python -m bench [--seconds 10] [--warmup 3] [--connections 50] [--passes 3]
                                     [--soak-seconds 60] [--only NAME[,NAME] ...] [--out BENCHMARKS.md]

Method (reference/perf-baselines.md): loopback only, bounded, in rounds: each round runs every
configuration in turn on a fresh server, warm-up then ``wrk -t2 -cN -dS --latency``; the median
of a configuration's passes (one a round, 3 rounds) is reported, and ratios to
functions-framework's default server measured in the same rounds. Cold start is
spawn → first HTTP 200 (median of 15, every hello configuration spawned in turn each round, so
the machine's drift falls on all alike; medians of 5 of one build strayed by a tenth between
runs). RSS/PSS are summed over the server's processes from
/proc. The anchors (functions-framework, func-python on hypercorn, raw ASGI on uvicorn and
granian) are installed into their own virtualenvs under .tools/bench/ on first use. As root,
pyfunc's hello is also measured straight and through Knative's queue-proxy in a network
namespace, over HTTP/1.1 (wrk) and h2c (``h2load``, Debian's nghttp2-client); ``--only queue-proxy``
measures just that and rewrites only its section of BENCHMARKS.md (``make queue-proxy`` builds it).
A CPU-bound function (≈ 2 ms of pure Python) runs in 1 and ``WORKERS`` worker processes, and
hello's cold start is measured in ``WORKERS`` processes too (they fork after import).
On the project's engine (tools/engine) samples/http is built with ``pack build`` next to a
functions-framework image built from the same run image, and their build times, sizes and cold
starts are measured (bench.image); ``--only image`` measures just that and rewrites only its
section.

Modules, one idea each: ``cases`` (environments, functions, configurations), ``server`` (a
server process, cold start), ``load`` (wrk, h2load, soak, queue-proxy), ``buildpack``
(detect and lifecycle build times on the host), ``image`` (pack build and docker run on the
engine), ``targets`` (goal rows), ``report`` and ``sections`` (BENCHMARKS.md), ``cli``.
"""
