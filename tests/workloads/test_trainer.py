"""The document models through the training loop: every model trains in every installed
frontend, checkpoints resume exactly, transfer loads and freezes, data errors are clear."""

import os

import numpy as np
import pytest

from support import requires_tf, requires_torch
from twincore.workloads.specs import MODELS, init_weights, param_shapes
from twincore.workloads.tasks import load_task
from twincore.workloads.trainer import RunConfig, fit, load_checkpoint

FRONTENDS = [pytest.param("torch", marks=requires_torch), pytest.param("keras", marks=requires_tf), "native"]


def keras_jax_available() -> bool:
    from twincore.cli import available_frontends

    return "keras-jax" in available_frontends()


def backend(frontend, spec, dtype="float32"):
    from twincore.cli import make_backend

    return make_backend(frontend, spec, seed=0, dtype=dtype)


def cfg(**kw):
    base = dict(epochs=1, batch_size=32, lr=1e-3, seed=0, progress=False)
    base.update(kw)
    return RunConfig(**base)


@pytest.mark.parametrize("frontend", FRONTENDS)
@pytest.mark.parametrize("model", ["mlp", "deep-mlp", "cnn", "rotation-cnn", "multi-io", "lstm"])
def test_every_model_trains(frontend, model, tiny_data):
    spec = MODELS[model]
    task = load_task(spec, tiny_data, limit_train=320, limit_test=100)
    s = fit(spec, backend(frontend, spec), task, cfg(epochs=3, batch_size=32, max_steps=10, lr=3e-3))
    losses = s["step_losses"]
    assert len(losses) == 30 and np.isfinite(losses).all()
    assert np.mean(losses[-5:]) < np.mean(losses[:5]), f"{model} did not learn: {losses}"


@pytest.mark.parametrize("frontend", FRONTENDS)
def test_regression_toy_reaches_the_bar(frontend):
    spec = MODELS["regression"]
    s = fit(spec, backend(frontend, spec), load_task(spec), cfg(epochs=2000, batch_size=200, lr=0.1))
    assert s["test_loss"] < 1e-3, s["test_loss"]  # the noise variance is 4e-4


@pytest.mark.parametrize("frontend", FRONTENDS)
def test_resume_continues_exactly(frontend, tiny_data, tmp_path):
    spec = MODELS["mlp"]
    task = load_task(spec, tiny_data, limit_train=256, limit_test=50)
    full = fit(spec, backend(frontend, spec), task, cfg(epochs=2, out=str(tmp_path / "full")))
    fit(spec, backend(frontend, spec), task, cfg(epochs=1, out=str(tmp_path / "part")))
    resumed = fit(spec, backend(frontend, spec), task, cfg(epochs=2, out=str(tmp_path / "part"), resume=True))
    _, a = load_checkpoint(str(tmp_path / "full" / "checkpoint.npz"))
    _, b = load_checkpoint(str(tmp_path / "part" / "checkpoint.npz"))
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    np.testing.assert_array_equal(full["step_losses"][-8:], resumed["step_losses"][-8:])
    for f in ("metrics.csv", "curves.png", "confusion.png", "summary.json", "checkpoint.npz"):
        assert os.path.getsize(tmp_path / "part" / f) > 0


@pytest.mark.parametrize("frontend", FRONTENDS)
def test_deep_mlp_transfer_loads_and_freezes_three_layers(frontend, tiny_data, tmp_path):
    spec = MODELS["deep-mlp"]
    task = load_task(spec, tiny_data, limit_train=256, limit_test=50)
    fit(spec, backend(frontend, spec), task, cfg(epochs=1, out=str(tmp_path / "base"), seed=1))
    _, base = load_checkpoint(str(tmp_path / "base" / "checkpoint.npz"))
    fit(spec, backend(frontend, spec), task,
        cfg(epochs=1, out=str(tmp_path / "transfer"), init_from=str(tmp_path / "base" / "checkpoint.npz"), freeze=3))
    _, new = load_checkpoint(str(tmp_path / "transfer" / "checkpoint.npz"))
    init = init_weights(spec, 0)
    for i in range(len(param_shapes(spec))):
        if i < 6:  # three layers x (kernel, bias): loaded exactly and never updated
            np.testing.assert_array_equal(new[f"w{i}"], base[f"w{i}"])
        else:  # the rest start from the new run's init and train
            assert not np.array_equal(new[f"w{i}"], base[f"w{i}"])
            assert not np.array_equal(new[f"w{i}"], init[i])


@requires_torch
def test_torch_frontend_matches_torch_nn_in_float64(tiny_data):
    """Same weights, batches and optimizer: our modules vs torch.nn's, step by step."""
    spec = MODELS["cnn"]
    task = load_task(spec, tiny_data, limit_train=400, limit_test=50)
    runs = [fit(spec, backend(f, spec, "float64"), task, cfg(batch_size=20, dtype="float64"))["step_losses"]
            for f in ("torch", "torch-native")]
    assert len(runs[0]) == 20
    np.testing.assert_allclose(runs[0], runs[1], rtol=1e-9)


def test_bad_data_paths_give_one_clear_message(tmp_path):
    from twincore.cli import main

    with pytest.raises(SystemExit, match="dataset-fashion-mnist"):
        main(["train", "--model", "mlp", "--frontend", "native", "--data", str(tmp_path / "missing")])
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "train-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x03garbage")
    with pytest.raises(SystemExit, match="twincore:"):
        main(["train", "--model", "mlp", "--frontend", "native", "--data", str(tmp_path / "bad")])


@requires_tf
@pytest.mark.parametrize("model", ["cnn", "multi-io"])
def test_keras_frontend_matches_keras_layers_in_float64(model, tiny_data):
    spec = MODELS[model]
    task = load_task(spec, tiny_data, limit_train=200, limit_test=50)
    runs = [fit(spec, backend(f, spec, "float64"), task, cfg(batch_size=20, dtype="float64"))["step_losses"]
            for f in ("keras", "keras-native")]
    np.testing.assert_allclose(runs[0], runs[1], rtol=1e-9)


@requires_tf
@requires_torch
def test_torch_keras_native_frontends_agree_step_by_step(tiny_data):
    """The issue's parity bar in miniature: same weights, batches, optimizer kernel; NCHW vs NHWC
    conv paths differ only in summation order, which float64 makes invisible."""
    spec = MODELS["cnn"]
    task = load_task(spec, tiny_data, limit_train=400, limit_test=50)
    runs = [fit(spec, backend(f, spec, "float64"), task, cfg(batch_size=20, dtype="float64"))["step_losses"]
            for f in ("torch", "keras", "native")]
    np.testing.assert_allclose(runs[0], runs[1], rtol=1e-9)
    np.testing.assert_allclose(runs[0], runs[2], rtol=1e-9)


@pytest.mark.parametrize("frontend", FRONTENDS)
def test_restore_best_tests_with_the_best_validation_weights(frontend, tiny_data):
    spec = MODELS["mlp"]
    task = load_task(spec, tiny_data, limit_train=256, limit_test=100)
    s = fit(spec, backend(frontend, spec), task, cfg(epochs=4, lr=1e-3, restore_best=True))
    losses = [h["val_loss"] for h in s["history"]]
    assert s["restored_epoch"] == 1 + int(np.argmin(losses))
    # the test set is evaluated with those weights: re-running to that epoch gives the same test loss
    again = fit(spec, backend(frontend, spec), task, cfg(epochs=s["restored_epoch"], lr=1e-3))
    np.testing.assert_allclose(s["test_loss"], again["test_loss"], rtol=1e-5, atol=1e-6)


@requires_tf
@requires_torch
@pytest.mark.parametrize("model", ["cnn", "mlp", "lstm"])
def test_float32_runs_are_bit_identical_across_frontends(model, tiny_data):
    """The parity bar in float32: with the torch frontend's conv layers channels-last (NHWC,
    Keras's layout), torch, keras (on TF and, when jax is installed, on JAX) and the tape run
    the same kernel paths on the same numbers and end with the same weights, bit for bit.
    torch and the tape report the same loss at every step; Keras averages the per-sample
    losses itself (float32 sum), within 2 ulp on TF and 4 on JAX."""
    from twincore.cli import make_backend

    spec = MODELS[model]
    task = load_task(spec, tiny_data, limit_train=400, limit_test=50)
    runs = {}
    for f in ("torch", "keras", "native"):
        b = make_backend(f, spec, seed=0, channels_last=True)
        losses = fit(spec, b, task, cfg(epochs=2, batch_size=20, lr_schedule="cosine"))["step_losses"]
        runs[f] = (losses, [np.asarray(b.to_canonical(i, p)) for i, p in enumerate(b.params)])
    # The fourth column, Keras on JAX (a child process: keras here is on TF): every model here
    # has its ops' JAX handlers (lstm: embedding, lstm).
    if keras_jax_available():
        from twincore.workloads.keras_jax import run_child

        s, weights = run_child("keras-jax", spec, task, cfg(epochs=2, batch_size=20, lr_schedule="cosine"), True)
        runs["keras-jax"] = (s["step_losses"], weights)
    assert len(runs["torch"][0]) == 40
    np.testing.assert_array_equal(runs["torch"][0], runs["native"][0])
    # Keras averages the per-sample losses in float32 itself: TF's sum within 2 ulp, XLA's
    # (another summation order) within 4; the weights below are the same bits either way.
    for f, rtol in (("keras", 2.5e-7), ("keras-jax", 5e-7)):
        if f in runs:
            np.testing.assert_allclose(runs["torch"][0], runs[f][0], rtol=rtol, atol=0, err_msg=f)
    for f in [f for f in runs if f != "torch"]:
        for i, (a, b) in enumerate(zip(runs[f][1], runs["torch"][1])):
            np.testing.assert_array_equal(a, b, err_msg=f"{f}: parameter {i} differs from torch's")


@requires_torch
def test_cosine_schedule_matches_torch_and_keras():
    import torch

    from twincore.workloads.trainer import lr_at

    c, total = cfg(lr=1e-3, lr_schedule="cosine"), 50
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total)
    for step in range(1, total + 1):
        assert lr_at(c, step, total) == pytest.approx(opt.param_groups[0]["lr"], rel=1e-12, abs=1e-15)
        opt.step()
        sched.step()
    assert lr_at(cfg(lr=0.1), 7, total) == 0.1
    with pytest.raises(ValueError, match="lr_schedule"):
        lr_at(cfg(lr_schedule="step"), 1, total)


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"),
                    reason="needs Fashion-MNIST (Debian's dataset-fashion-mnist)")
def test_lstm_reaches_the_bar_on_fashion_mnist():
    """issue 16's bar: sequential Fashion-MNIST (28 steps of 28 pixels), LSTM 128 -> Dense 10,
    the spec's full run (10 epochs), test accuracy >= 0.88. Minutes on 2 cores."""
    spec = MODELS["lstm"]
    s = fit(spec, backend("native", spec), load_task(spec), cfg(epochs=spec.epochs, batch_size=spec.batch_size,
                                                                lr=spec.lr, lr_schedule=spec.lr_schedule))
    assert s["test_accuracy"] >= 0.88, s["test_accuracy"]


def test_progress_on_a_pipe_is_one_line_per_epoch(tiny_data, capsys):
    # pytest captures stderr into a file (not a terminal), as `make demo > log 2>&1` does
    spec = MODELS["mlp"]
    task = load_task(spec, tiny_data, limit_train=128, limit_test=50)
    fit(spec, backend("native", spec), task, cfg(epochs=2, max_steps=4, progress=True))
    err = capsys.readouterr().err
    assert "\r" not in err
    lines = [ln for ln in err.splitlines() if " epoch " in ln]
    assert [ln.split(":")[0] for ln in lines] == ["native mlp epoch 1/2", "native mlp epoch 2/2"]
    assert all("4/4 batch" in ln and "loss=" in ln and "acc=" in ln for ln in lines), lines
