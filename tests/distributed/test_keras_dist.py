"""Keras with tf.distribute over our Keras layers (each run in a fresh interpreter:
TensorFlow's logical devices are fixed when its runtime starts)."""

import json
import os
import signal
import time

import numpy as np
import pytest
from dist_helpers import kill_group, run, script, small_npz, start
from support import requires_tf

MIRRORED = """
import json, numpy as np
from twincore.distributed.keras_dist import configure_cpus, fit_mirrored
from twincore.distributed.common import load_data
names = configure_cpus(2)
import tensorflow as tf
cfg = dict(model="tiny-mlp", data={data!r}, seed=0, batch_size=8, lr=0.01, steps=4, optimizer="adam")
train = load_data(cfg)
res = {{}}
for ours in (True, False):
    two = tf.distribute.MirroredStrategy(names[:2])
    m2, rows2 = fit_mirrored(two, cfg, train.x, train.y, ours=ours)
    one = tf.distribute.MirroredStrategy(names[:1])
    m1, rows1 = fit_mirrored(one, dict(cfg, batch_size=16), train.x, train.y, ours=ours)
    res[str(ours)] = dict(replicas=[two.num_replicas_in_sync, one.num_replicas_in_sync],
                          w2=[w.tolist() for w in m2.get_weights()], w1=[w.tolist() for w in m1.get_weights()],
                          loss2=[r[2] for r in rows2], loss1=[r[2] for r in rows1])
print("RESULT" + json.dumps(res))
"""


@requires_tf
def test_mirrored_two_devices_equal_one_device_on_global_batch(tmp_path):
    data = small_npz(str(tmp_path / "d.npz"))
    out = script(MIRRORED.format(data=data))
    res = json.loads(out.split("RESULT", 1)[1])
    from twincore.distributed.common import TINY
    from twincore.workloads.specs import init_weights

    init = init_weights(TINY, 0)
    for ours in ("True", "False"):
        r = res[ours]
        assert r["replicas"] == [2, 1]
        np.testing.assert_allclose(r["loss2"], r["loss1"], rtol=1e-5)
        for i, (a, b) in enumerate(zip(r["w2"], r["w1"])):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5, err_msg=f"ours={ours} weight {i}")
            assert np.abs(np.asarray(a) - init[i]).max() > 1e-4
    # our layers train like Keras's own under the strategy (same data, same start)
    for i, (a, b) in enumerate(zip(res["True"]["w2"], res["False"]["w2"])):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4, err_msg=f"ours vs keras weight {i}")


@requires_tf
def test_multiworker_two_processes_complete_a_short_run(tmp_path):
    data = small_npz(str(tmp_path / "d.npz"))
    out = tmp_path / "mw"
    rc, so, se = run(["train", "--frontend", "keras", "--strategy", "sync", "--nproc", "2", "--model", "tiny-mlp",
                      "--data", data, "--batch-size", "8", "--steps", "6", "--lr", "0.01", "--checkpoint-every", "3",
                      "--out", str(out), "--timeout", "150"])
    assert rc == 0, so + se
    assert so.count("num_replicas_in_sync = 2") == 2, so
    summary = json.loads((out / "summary.json").read_text())
    assert summary["replicas"] == 2 and summary["steps"] == 6 and np.isfinite(summary["final_loss"])
    from twincore.distributed.common import load_checkpoint

    _, arrays = load_checkpoint(str(out / "weights.npz"))
    assert all(np.isfinite(a).all() for a in arrays.values())
    assert any(p.name.startswith("ckpt") for p in (out / "ckpt").iterdir())


@requires_tf
@pytest.mark.slow
def test_multiworker_killed_worker_stops_job_and_restart_resumes(tmp_path):
    data = small_npz(str(tmp_path / "d.npz"))
    out = tmp_path / "mw"
    args = ["train", "--frontend", "keras", "--strategy", "sync", "--nproc", "2", "--model", "tiny-mlp", "--data", data,
            "--batch-size", "4", "--lr", "0.01", "--checkpoint-every", "5", "--out", str(out), "--timeout", "200"]
    p = start(args + ["--steps", "1000000"])
    try:
        deadline = time.monotonic() + 150
        while not list(out.glob("ckpt/ckpt-*.index")):  # the chief's first checkpoint
            assert p.poll() is None and time.monotonic() < deadline, "no checkpoint appeared"
            time.sleep(0.2)
        os.kill(int((out / "rank1.pid").read_text()), signal.SIGKILL)
        _, err = p.communicate(timeout=60)
    finally:
        kill_group(p)
    assert p.returncode == 1 and "keras worker 1" in err and "SIGKILL" in err, err[-2000:]
    import tensorflow as tf

    reader = tf.train.load_checkpoint(str(out / "ckpt"))
    done = int(reader.get_tensor("step/.ATTRIBUTES/VARIABLE_VALUE"))
    assert done >= 5 and done % 5 == 0
    rc, so, se = run(args + ["--steps", str(done + 3)])
    assert rc == 0, so + se
    assert f"resumed from" in so and f"at step {done}" in so, so
    assert json.loads((out / "summary.json").read_text())["steps"] == done + 3
