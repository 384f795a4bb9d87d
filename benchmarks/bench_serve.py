"""Load test and footprint of `twincore serve` on localhost: the native server (no torch/TF
import) beside a server running the same checkpoint through torch (and keras, if asked).

    python benchmarks/bench_serve.py [--run RUN_DIR] [--requests 2000] [--clients 8]
                                     [--frontends native,torch] [--images-per-request 1] [--results-md FILE]

For each frontend: start-up time (spawn -> first 200 from /health, median of --startup-runs
starts), RSS after warm-up and after the load, then --requests POST /predict from --clients
closed-loop clients on keep-alive connections (each request one Fashion-MNIST test image
as 0-255 JSON), zero errors required (exit status 1 otherwise), p50/p99 latency and
throughput. Without --run it trains the document mlp for 300 steps (native) first.
Figures, not a pass/fail test: the machine's load average is printed beside them.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import machine  # noqa: E402

from twincore.serve.loadtest import json_body, load, request, start_server  # noqa: E402


def _run_dir(args) -> str:
    if args.run:
        return args.run
    from twincore.cli import main

    out = os.path.join(tempfile.mkdtemp(prefix="bench-serve-"), "mlp")
    main(["train", "--model", "mlp", "--frontend", "native", "--epochs", "1", "--max-steps", "300",
          "--out", out, "--quiet", "--data", args.data] if args.data else
         ["train", "--model", "mlp", "--frontend", "native", "--epochs", "1", "--max-steps", "300", "--out", out,
          "--quiet"])
    return out


def bench_frontend(run: str, frontend: str, bodies: list[bytes], args) -> dict:
    starts = []
    for _ in range(args.startup_runs - 1):  # extra cold starts, for the median
        s = start_server(run, frontend, workers=args.workers)
        starts.append(s.startup_seconds)
        s.stop()
    s = start_server(run, frontend, workers=args.workers)
    starts.append(s.startup_seconds)
    try:
        _, _, health = request(s.url, "GET", "/health")
        warm = load(s.url, bodies, 50, clients=2)
        rss_idle = s.rss_mib()
        r = load(s.url, bodies, args.requests, clients=args.clients, time_limit=args.time_limit)
        r.update(frontend=frontend, startup_s=statistics.median(starts), startup_all=starts, rss_idle_mib=rss_idle,
                 rss_after_mib=s.rss_mib(), frameworks=health["imported_frameworks"], warm_errors=warm["errors"])
        return r
    finally:
        s.stop()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", help="a run folder of `twincore train` (default: train the mlp for 300 steps)")
    ap.add_argument("--data", help="data for the images and the default run (default: Fashion-MNIST)")
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--workers", type=int, default=8, help="server threads")
    ap.add_argument("--images-per-request", type=int, default=1)
    ap.add_argument("--frontends", default="native,torch")
    ap.add_argument("--startup-runs", type=int, default=3)
    ap.add_argument("--time-limit", type=float, default=600.0, help="seconds per frontend's load run")
    ap.add_argument("--results-md", help="append the table to this markdown file")
    args = ap.parse_args()

    from twincore import data as tcdata

    run = _run_dir(args)
    model = json.load(open(os.path.join(run, "summary.json")))["model"] if os.path.exists(
        os.path.join(run, "summary.json")) else "?"
    x = tcdata.load(args.data).x_test[:512]
    n = args.images_per_request
    bodies = [json_body(x[i:i + n].tolist()) for i in range(0, len(x) - n + 1, n)]
    load_avg = os.getloadavg()[0]
    rows, bad = [], 0
    for fe in args.frontends.split(","):
        r = bench_frontend(run, fe, bodies, args)
        bad += r["errors"] + r["warm_errors"] + (r["requests"] < args.requests)
        rows.append(r)
        print(f"{fe}: {json.dumps({k: v for k, v in r.items()})}", flush=True)
    head = (f"## Serving (`benchmarks/bench_serve.py`, model {model}, {args.requests} requests x "
            f"{n} image(s), {args.clients} clients, {args.workers} server threads) — {datetime.date.today()}\n\n"
            f"{machine()}; load average {load_avg:.1f} at start\n\n")
    table = ["| server | frameworks imported | start-up (s, median of %d) | RSS idle (MiB) | RSS after load (MiB) "
             "| requests | errors | req/s | p50 (ms) | p99 (ms) |" % args.startup_runs,
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        table.append(f"| {r['frontend']} | {', '.join(r['frameworks']) or 'none'} | {r['startup_s']:.2f} | "
                     f"{r['rss_idle_mib']:.0f} | {r['rss_after_mib']:.0f} | {r['requests']} | {r['errors']} | "
                     f"{r['rps']:.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} |")
    if len(rows) > 1 and rows[0]["frontend"] == "native":
        for r in rows[1:]:
            table.append("")
            table.append(f"native vs {r['frontend']}: start-up {r['startup_s'] / rows[0]['startup_s']:.1f}x faster, "
                         f"RSS {r['rss_idle_mib'] / rows[0]['rss_idle_mib']:.1f}x smaller, "
                         f"its p50 {r['p50_ms'] / rows[0]['p50_ms']:.2f}x and p99 {r['p99_ms'] / rows[0]['p99_ms']:.2f}x native's")
    text = head + "\n".join(table) + "\n"
    print("\n" + text)
    if args.results_md:
        with open(args.results_md, "a") as f:
            f.write("\n" + text)
    if bad:
        print(f"FAILED: {bad} error(s) or unfinished run(s)", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
