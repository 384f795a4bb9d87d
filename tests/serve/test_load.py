"""A bounded load test on localhost (benchmarks/bench_serve.py is the full one: 2,000
requests): 8 concurrent clients, zero errors, every answer checked, p50/p99 printed."""

import json

import numpy as np

from twincore.serve.loadtest import load


def test_bounded_load(mlp_server, mlp_run, capsys):
    raw = mlp_run.raw_test
    bodies = [json.dumps({"instances": raw[i:i + 1 + i % 2].tolist()}).encode() for i in range(64)]
    r = load(mlp_server.url, bodies, n_requests=400, clients=8, time_limit=120)
    with capsys.disabled():
        print(f"\nserve load: {r['requests']} requests, {r['clients']} clients, {r['errors']} errors, "
              f"{r['rps']:.0f} req/s, p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms")
    assert r["requests"] == 400 and not r["timed_out"]
    assert r["errors"] == 0, r["error_samples"]
    assert np.isfinite(r["p50_ms"]) and r["p50_ms"] <= r["p99_ms"]
