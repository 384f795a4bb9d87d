"""Asynchronous training: the torch.distributed.rpc parameter server."""

import json

import numpy as np
from dist_helpers import run, small_npz
from support import requires_torch


def _cfg(tmp_path, data, **kw):
    return {"model": "tiny-mlp", "data": data, "seed": 0, "limit_train": None, "batch_size": 8, "lr": 0.01,
            "steps": 5, "out": str(tmp_path), "checkpoint_every": 0, "optimizer": None, **kw}


@requires_torch
def test_server_applies_each_push_at_once(tmp_path):
    """In one process (no RPC): every push is one fused Adam step on the server's
    parameters, applied without waiting for other workers; stale pushes are counted;
    pushes after the last step are refused."""
    import torch

    import twincore.kernels as K
    from twincore.distributed.ps import ParameterServer

    data = small_npz(str(tmp_path / "d.npz"))
    ps = ParameterServer(_cfg(tmp_path, data, steps=3), workers=2)
    v0, p0 = ps.pull()
    expect = [p.clone() for p in p0]
    m = [torch.zeros_like(p) for p in expect]
    v = [torch.zeros_like(p) for p in expect]
    rng = np.random.default_rng(1)
    grads = [[torch.from_numpy(rng.standard_normal(p.shape).astype(np.float32)) for p in expect] for _ in range(3)]
    # worker 0 pushes twice, worker 1 once on the parameters it pulled at version 0 (stale by 2)
    for step, (w, ver) in enumerate([(0, 0), (0, 1), (1, 0)], start=1):
        got_step, params = ps.push(w, grads[step - 1], 0.5 * step, ver)
        for e, g, mi, vi in zip(expect, grads[step - 1], m, v):
            K.adam_step(e, g, mi, vi, step, lr=0.01)
        assert got_step == step
        for a, b in zip(params, expect):
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=0, atol=0)
    assert ps.stale == [0, 0, 2]
    assert ps.push(1, grads[0], 0.1, 3) == (3, None)  # the run is over
    assert [r[3] for r in ps.rows] == [0, 0, 1]


@requires_torch
def test_two_workers_and_server_complete_a_short_run(tmp_path):
    data = small_npz(str(tmp_path / "d.npz"))
    out = tmp_path / "ps"
    rc, so, se = run(["train", "--strategy", "async", "--workers", "2", "--model", "tiny-mlp", "--data", data,
                      "--batch-size", "8", "--steps", "24", "--lr", "0.01", "--checkpoint-every", "10",
                      "--out", str(out), "--timeout", "150"])
    assert rc == 0, so + se
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == 24 and sum(summary["pushes_per_worker"]) == 24
    from twincore.distributed.common import TINY, load_checkpoint, read_steps
    from twincore.workloads.specs import init_weights

    meta, arrays = load_checkpoint(str(out / "checkpoint.npz"))
    assert meta["step"] == 24 and meta["strategy"] == "async"
    for i, w0 in enumerate(init_weights(TINY, 0)):
        assert np.isfinite(arrays[f"w{i}"]).all()
        assert np.abs(arrays[f"w{i}"] - w0).max() > 1e-4
    log = read_steps(str(out / "steps.csv"))
    assert list(log["step"]) == list(range(1, 25)) and np.isfinite(log["loss"]).all()
    assert (np.diff(log["seconds"]) >= 0).all()
