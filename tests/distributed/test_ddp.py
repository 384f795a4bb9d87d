"""Synchronous data parallelism (torch DDP over our modules, gloo, 127.0.0.1)."""

import os
import signal
import time

import numpy as np
import pytest
from dist_helpers import kill_group, run, small_npz, start
from support import requires_torch

STEPS, B, LR = 4, 8, 0.01
# float(loss) on a tensor that requires grad, in the torch backend: harmless here
pytestmark = pytest.mark.filterwarnings("ignore:Converting a tensor with requires_grad")


def _single_process(spec_name: str, data: str, world: int, ours: bool = True):
    """One process on the concatenated batch: the same batch order, batch world x B."""
    import torch

    import twincore.kernels as K
    from twincore.data import batch_order
    from twincore.distributed.common import get_spec, load_data
    from twincore.workloads.specs import init_weights
    from twincore.workloads.torch_backend import TorchBackend

    spec = get_spec(spec_name)
    be = TorchBackend(spec, ours=ours, seed=0)
    for i, w in enumerate(init_weights(spec, 0)):
        be.set_param(i, be.to_native(i, w))
    train = load_data({"model": spec_name, "data": data, "seed": 0})
    order = batch_order(len(train), world * B, 0, 0)
    if ours:
        m = [torch.zeros_like(p.detach()) for p in be.params]
        v = [torch.zeros_like(p.detach()) for p in be.params]
    else:
        opt = torch.optim.Adam(be.params, lr=LR)
    for step in range(1, STEPS + 1):
        part = train.take(order[step - 1])
        _, _, grads = be.grad_step(part.x, part.y)
        if ours:
            for p, g, mi, vi in zip(be.params, grads, m, v):
                K.adam_step(p, g, mi, vi, step, lr=LR)
        else:
            opt.step()
    return [be.to_canonical(i, p) for i, p in enumerate(be.params)]


@requires_torch
def test_two_ranks_equal_one_process_on_concatenated_batch(tmp_path):
    data = small_npz(str(tmp_path / "d.npz"))
    out = tmp_path / "ddp"
    rc, so, se = run(["train", "--strategy", "sync", "--nproc", "2", "--model", "tiny-mlp", "--data", data,
                      "--batch-size", str(B), "--steps", str(STEPS), "--lr", str(LR), "--out", str(out),
                      "--timeout", "150"])
    assert rc == 0, so + se
    from twincore.distributed.common import load_checkpoint

    meta, arrays = load_checkpoint(str(out / "checkpoint.npz"))
    assert meta["step"] == STEPS and meta["world"] == 2
    ref = _single_process("tiny-mlp", data, 2)
    native = _single_process("tiny-mlp", data, 2, ours=False)  # torch.nn + torch.optim.Adam
    from twincore.distributed.common import TINY
    from twincore.workloads.specs import init_weights

    init = init_weights(TINY, 0)
    for i, (r, n) in enumerate(zip(ref, native)):
        got = arrays[f"w{i}"]
        np.testing.assert_allclose(got, r, rtol=1e-5, atol=2e-6, err_msg=f"parameter {i} vs one process")
        np.testing.assert_allclose(got, n, rtol=1e-4, atol=2e-5, err_msg=f"parameter {i} vs torch.nn + Adam")
        assert np.abs(got - init[i]).max() > 1e-4, "training did not move the parameters"
    log = (out / "steps.csv").read_text().splitlines()
    assert len(log) == STEPS + 1


@requires_torch
@pytest.mark.slow
def test_finished_ranks_exit_cleanly_every_time(tmp_path):
    """torch's gloo teardown aborted about one finished rank in twenty at interpreter exit
    (SIGABRT after "sync done"): 40 short jobs must all end with status 0."""
    data = small_npz(str(tmp_path / "d.npz"))
    for i in range(40):
        rc, so, se = run(["train", "--strategy", "sync", "--nproc", "2", "--model", "tiny-mlp", "--data", data,
                          "--batch-size", str(B), "--steps", "2", "--out", str(tmp_path / f"r{i}"), "--timeout", "150"])
        assert rc == 0, f"job {i}: " + so + se


@requires_torch
def test_killed_rank_stops_job_with_clear_error_and_checkpoint_loads(tmp_path):
    data = small_npz(str(tmp_path / "d.npz"))
    out = tmp_path / "run"
    p = start(["train", "--strategy", "sync", "--nproc", "2", "--model", "tiny-mlp", "--data", data,
               "--batch-size", "4", "--steps", "1000000", "--checkpoint-every", "5", "--out", str(out),
               "--timeout", "150"])
    try:
        ckpt, pid = out / "checkpoint.npz", out / "rank1.pid"
        deadline = time.monotonic() + 120
        while not (ckpt.exists() and pid.exists()) and p.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert ckpt.exists() and pid.exists(), "no checkpoint appeared"
        os.kill(int(pid.read_text()), signal.SIGKILL)
        _, err = p.communicate(timeout=60)
    finally:
        kill_group(p)
    assert p.returncode == 1
    assert "rank 1" in err and "SIGKILL" in err and "stopped the other 1 rank(s)" in err, err[-2000:]
    assert "--resume" in err, err[-2000:]
    # The checkpoint is whole (written by rename) and loads; no temp file is left as the checkpoint.
    from twincore.distributed.common import load_checkpoint

    meta, arrays = load_checkpoint(str(ckpt))
    assert meta["step"] >= 5 and meta["step"] % 5 == 0
    assert all(np.isfinite(a).all() for a in arrays.values())
    assert {f"w{i}" for i in range(4)} <= set(arrays)


@requires_torch
@pytest.mark.slow
def test_restart_resumes_from_last_checkpoint(tmp_path):
    """--restarts 1: a killed rank brings the group down, then it starts again from the checkpoint."""
    data = small_npz(str(tmp_path / "d.npz"))
    out = tmp_path / "run"
    p = start(["train", "--strategy", "sync", "--nproc", "2", "--model", "tiny-mlp", "--data", data,
               "--batch-size", "4", "--steps", "400", "--checkpoint-every", "5", "--restarts", "1",
               "--out", str(out), "--timeout", "250"])
    try:
        deadline = time.monotonic() + 120
        while not (out / "checkpoint.npz").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        os.kill(int((out / "rank1.pid").read_text()), signal.SIGKILL)
        so, err = p.communicate(timeout=250)
    finally:
        kill_group(p)
    assert p.returncode == 0, so + err
    assert "restarting all ranks" in err and "resumed from" in so, so + err
    from twincore.distributed.common import load_checkpoint

    assert load_checkpoint(str(out / "checkpoint.npz"))[0]["step"] == 400
