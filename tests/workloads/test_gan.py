"""The GAN workload (workloads/gan.py): bit-identical float32 training through torch, keras and the
tape; float64 parity of our layers with torch.nn's and Keras's own; the Frechet distance and its
CNN features; `twincore train --model gan` writes its figures."""

import os

import numpy as np
import pytest

from support import requires_tf, requires_torch
from twincore.workloads import gan
from twincore.workloads.specs import MODELS
from twincore.workloads.tasks import load_task
from twincore.workloads.trainer import RunConfig

SPEC = MODELS["gan"]


def cfg(**kw):
    base = dict(epochs=1, batch_size=16, lr=2e-4, seed=0, progress=False)
    base.update(kw)
    return RunConfig(**base)


def run(frontend, task, channels_last=False, dtype="float32", steps=4, out=None):
    b = gan.make_gan_backend(frontend, SPEC, 0, dtype, channels_last)
    return gan.fit_gan(SPEC, b, task, cfg(max_steps=steps, dtype=dtype, out=out), None, grid=16)


def keras_jax_available() -> bool:
    from twincore.cli import available_frontends

    return "keras-jax" in available_frontends()


@requires_tf
@requires_torch
def test_float32_runs_are_bit_identical_across_frontends(tiny_data):
    """torch (channels-last modules), keras (on TF and, when jax is installed, on JAX) and the tape:
    the same kernels on the same numbers, so the same weights at the end, bit for bit, and the same
    losses at every step (Keras's within 2 ulp on TF, 4 on JAX: it averages the per-sample losses
    itself). The final samples (the generator with its moving batch-norm statistics) are the same
    bits through keras, keras-jax and the tape (torch's running variance is its unbiased one)."""
    task = load_task(SPEC, tiny_data, limit_train=128, limit_test=16)
    runs = {f: run(f, task, channels_last=True, steps=6) for f in ("torch", "keras", "native")}
    if keras_jax_available():  # a child process: keras here is on TF
        from twincore.workloads.keras_jax import run_child

        runs["keras-jax"] = run_child("keras-jax", SPEC, task, cfg(max_steps=6), True)
        assert runs["keras-jax"]["frontend"] == "keras-jax"
    np.testing.assert_array_equal(runs["native"]["d_losses"], runs["torch"]["d_losses"])
    np.testing.assert_array_equal(runs["native"]["g_losses"], runs["torch"]["g_losses"])
    for f, rtol in (("keras", 2.5e-7), ("keras-jax", 5e-7)):
        for key in ("d_losses", "g_losses"):
            if f in runs:
                np.testing.assert_allclose(runs[f][key], runs["torch"][key], rtol=rtol, atol=0, err_msg=f"{f} {key}")
    for f in [f for f in runs if f != "torch"]:
        for i, (a, b) in enumerate(zip(runs[f]["weights"], runs["torch"]["weights"])):
            np.testing.assert_array_equal(a, b, err_msg=f"{f}: parameter {i} differs from torch's")
    for f in [f for f in runs if f not in ("torch", "keras")]:
        np.testing.assert_array_equal(runs[f]["samples"][:16], runs["keras"]["samples"], err_msg=f)
    assert runs["native"]["weights"][0].dtype == np.float32
    assert not np.array_equal(runs["native"]["weights"][0], gan.init_weights(SPEC, 0)[0])  # it did train


@requires_torch
def test_torch_frontend_matches_torch_nn_in_float64(tiny_data):
    """Our NCHW modules (ConvTranspose2d, LeakyReLU, BCEWithLogitsLoss, ...) against torch.nn's own."""
    task = load_task(SPEC, tiny_data, limit_train=64, limit_test=16)
    ours, ref = run("torch", task, dtype="float64"), run("torch-native", task, dtype="float64")
    np.testing.assert_allclose(ours["d_losses"], ref["d_losses"], rtol=1e-10)
    np.testing.assert_allclose(ours["g_losses"], ref["g_losses"], rtol=1e-10)
    for a, b in zip(ours["weights"], ref["weights"]):
        np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-10)


@requires_tf
def test_keras_frontend_matches_keras_layers_in_float64(tiny_data):
    task = load_task(SPEC, tiny_data, limit_train=64, limit_test=16)
    # TensorFlow's LeakyRelu keeps its slope as a float32 attribute (0.2 -> 0.20000000298), so Keras's
    # own layers differ from an exact float64 slope by ~1e-9 relative; everything else agrees to ~1e-15.
    ours, ref = run("keras", task, dtype="float64"), run("keras-native", task, dtype="float64")
    np.testing.assert_allclose(ours["d_losses"], ref["d_losses"], rtol=1e-8)
    np.testing.assert_allclose(ours["g_losses"], ref["g_losses"], rtol=1e-8)
    for a, b in zip(ours["weights"], ref["weights"]):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-8)  # Adam amplifies it where g ~ 0


@requires_torch
def test_torch_layout_conversions_round_trip():
    import torch

    ws = gan.init_weights(SPEC, 3, np.float64)
    ws = [w + np.random.default_rng(i).standard_normal(w.shape) for i, w in enumerate(ws)]  # non-zero biases
    for nhwc in (False, True):
        b = gan.make_gan_backend("torch", SPEC, 0, "float64", channels_last=nhwc)
        for i, w in enumerate(ws):
            b.set_param(i, b.to_native(i, w))
            np.testing.assert_array_equal(b.to_canonical(i, b.params[i]), w)
    # The NCHW generator computes the canonical (NHWC) generator's images.
    nchw, nhwc = (gan.make_gan_backend("torch", SPEC, 0, "float64", channels_last=c) for c in (False, True))
    for b in (nchw, nhwc):
        for i, w in enumerate(ws):
            b.set_param(i, b.to_native(i, w))
    z = np.random.default_rng(1).standard_normal((3, SPEC.extra["z_dim"]))
    np.testing.assert_allclose(nchw.generate(z), nhwc.generate(z), rtol=1e-12, atol=1e-12)
    real = np.random.default_rng(2).uniform(-1, 1, (3, 28, 28, 1))
    with torch.no_grad():
        d = [b.D(b._img(real)).numpy() for b in (nchw, nhwc)]
    np.testing.assert_allclose(d[0], d[1], rtol=1e-12, atol=1e-12)


def test_frechet_distance_of_gaussians():
    r = np.random.default_rng(0)
    a = r.standard_normal((20000, 3))
    b = r.standard_normal((20000, 3)) * 2.0 + 1.0
    # N(0, I) vs N(1, 4I): |mu|^2 = 3, Tr(I + 4I - 2 * 2I) = 3.
    assert gan.frechet_distance(a, b) == pytest.approx(6.0, rel=0.03)
    assert abs(gan.frechet_distance(a, a)) < 1e-8
    c = a @ np.array([[1.0, 0.5, 0], [0, 1.0, 0.2], [0, 0, 0.5]])  # correlated: still >= 0 and symmetric
    assert gan.frechet_distance(a, c) == pytest.approx(gan.frechet_distance(c, a), rel=1e-6)


def test_cnn_features_are_the_cnn_models_penultimate_layer(tiny_data):
    from twincore.workloads.native_backend import NativeBackend
    from twincore.workloads.specs import init_weights

    spec = MODELS["cnn"]
    ws = [w + np.float32(0.01) for w in init_weights(spec, 1)]  # non-zero biases
    b = NativeBackend(spec)
    for i, w in enumerate(ws):
        b.set_param(i, w)
    task = load_task(spec, tiny_data, limit_train=10, limit_test=20)
    feats = gan.CnnFeatures(ws, "test")
    np.testing.assert_allclose(feats.logits(task.test.x), b.predict(task.test.x), rtol=1e-4, atol=1e-5)
    assert feats(task.test.x).shape == (20, 64)


def test_train_cli_writes_samples_curves_and_fd(tiny_data, tmp_path):
    from twincore.cli import main

    out = str(tmp_path / "g")
    assert main(["train", "--model", "gan", "--frontend", "native", "--data", tiny_data, "--epochs", "2",
                 "--max-steps", "3", "--batch-size", "16", "--limit-test", "64", "--quiet", "--out", out]) == 0
    for name in ("samples_epoch0.png", "samples_epoch2.png", "curves.png", "fd.png", "metrics.csv",
                 "summary.json", "checkpoint.npz", "fd_cnn.npz"):
        assert os.path.getsize(os.path.join(out, name)) > 0, name
    import json

    s = json.load(open(os.path.join(out, "summary.json")))
    assert s["steps"] == 6 and len(s["fd"]) == 3 and all(np.isfinite(s["fd"]))
    assert "project's cnn" in s["fd_features"]


@pytest.mark.slow
def test_frechet_distance_falls_on_fashion_mnist(tmp_path):
    """The quality figure on the real data: 300 steps of the native GAN at least halve the distance
    of the initial generator (172 -> ~20 in the recorded 5-epoch run, benchmarks/RESULTS.md)."""
    from twincore.data import DataError

    try:
        task = load_task(SPEC, None, limit_test=1000)
    except DataError:
        pytest.skip("Fashion-MNIST is not installed (make data)")
    features = gan.feature_net(task, str(tmp_path), steps=100)
    b = gan.make_gan_backend("native", SPEC)
    s = gan.fit_gan(SPEC, b, task, cfg(batch_size=64, max_steps=300, out=str(tmp_path)), features, fd_samples=1000)
    assert s["fd"][-1] < 0.5 * s["fd"][0], s["fd"]
