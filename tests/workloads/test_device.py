"""`twincore train/compare --device cuda`: the device checks and their messages, the Keras
frontend on Keras's torch backend (what the GPU machine runs: no TensorFlow imported), the
trainer's device mode (metrics summed on the device, one read per log interval, clipping
without reading the norm) -- all checkable on the CPU -- and, on a GPU, training end to end
equal to the CPU run in float64."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import twincore
from support import has, requires_torch
from twincore.cli import check_device, main
from twincore.workloads.specs import MODELS
from twincore.workloads.tasks import load_task
from twincore.workloads.trainer import RunConfig, fit


def _cuda_ok() -> bool:
    if not has("torch"):
        return False
    import torch

    return torch.cuda.is_available()


requires_gpu = pytest.mark.skipif(not _cuda_ok(), reason="needs a CUDA GPU (torch.cuda.is_available() is False)")
requires_keras = pytest.mark.skipif(not has("keras") or not has("torch"), reason="needs keras and torch")
# Child processes import the twincore this run imports (installed under `make test`, src/
# under PYTHONPATH=src), never a source tree without its built _core.
SRC = os.path.dirname(os.path.dirname(os.path.abspath(twincore.__file__)))


def test_device_checks_say_what_to_do(monkeypatch):
    check_device("torch", "cpu")  # always fine
    with pytest.raises(SystemExit, match="native frontend .* CPU only"):
        check_device("native", "cuda")
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    with pytest.raises(SystemExit, match="KERAS_BACKEND=torch"):
        check_device("keras", "cuda")
    with pytest.raises(SystemExit, match="expected 'cpu' or 'cuda'"):
        check_device("torch", "tpu")


@requires_torch
def test_gpu_without_our_cuda_kernels_refuses_clearly(monkeypatch):
    """A GPU visible to torch but a CPU-only twincore without CuPy: say how to get the kernels."""
    import torch

    import twincore.kernels

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(twincore.kernels, "gpu_info",
                        lambda: {"nvcc_build": False, "cupy": False, "devices": 0, "kernels": 0})
    for frontend in ("torch", "torch-native"):
        with pytest.raises(SystemExit, match="no CUDA kernels and CuPy is not installed"):
            check_device(frontend, "cuda")


@pytest.mark.skipif(_cuda_ok(), reason="checks the message on a machine without a GPU")
@requires_torch
def test_cli_without_gpu_refuses_clearly(tiny_data, tmp_path, monkeypatch):
    for argv in (["train", "--model", "mlp", "--frontend", "torch"],
                 ["compare", "--model", "mlp", "--frontends", "torch,native"]):
        with pytest.raises(SystemExit, match="no CUDA GPU is visible to torch"):
            main(argv + ["--data", tiny_data, "--device", "cuda", "--out", str(tmp_path / "o"), "--quiet"])
    monkeypatch.setenv("KERAS_BACKEND", "torch")
    with pytest.raises(SystemExit, match="no CUDA GPU"):
        check_device("keras", "cuda")


@requires_torch
@pytest.mark.parametrize("model", ["cnn", "multi-io"])
def test_trainer_device_mode_equals_host_mode(model, tiny_data):
    """The device-mode loop (device scalars summed, losses read once per epoch, clipping by
    device arithmetic) trains exactly as the host-mode loop: run on CPU tensors here."""
    from twincore.workloads.torch_backend import TorchBackend

    spec = MODELS[model]
    task = load_task(spec, tiny_data, limit_train=200, limit_test=60)
    runs = []
    for device_mode in (False, True):
        b = TorchBackend(spec, seed=0, dtype="float64")
        if device_mode:
            b.device = "cuda"  # the device-mode protocol on CPU tensors (b._dev stays cpu)
        c = RunConfig(epochs=2, batch_size=25, lr=3e-3, seed=0, progress=False, max_steps=4, dtype="float64")
        s = fit(spec, b, task, c)
        runs.append((s, [b.to_canonical(i, p) for i, p in enumerate(b.params)]))
    (host, wh), (dev, wd) = runs
    assert all(isinstance(v, float) for v in dev["step_losses"])
    np.testing.assert_allclose(dev["step_losses"], host["step_losses"], rtol=1e-12)
    for key in ("train_loss", "train_accuracy"):
        np.testing.assert_allclose([r[key] for r in dev["history"]], [r[key] for r in host["history"]], rtol=1e-12)
    for a, b_ in zip(wd, wh):
        np.testing.assert_allclose(a, b_, rtol=1e-10, atol=1e-12)


def _run_keras_torch(args: list[str], cwd) -> subprocess.CompletedProcess:
    code = ("import sys; from twincore.cli import main; rc = main(sys.argv[1:]); "
            "assert 'tensorflow' not in sys.modules, 'TensorFlow was imported'; sys.exit(rc)")
    env = dict(os.environ, KERAS_BACKEND="torch", PYTHONPATH=os.path.abspath(SRC))
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=600)


@requires_keras
def test_keras_frontend_on_torch_backend_matches_torch_frontend(tiny_data, tmp_path):
    """Keras on KERAS_BACKEND=torch trains through the trainer without TensorFlow, and in
    float64 computes the same run as the torch frontend in NHWC (the same kernels), up to
    Keras's float32 loss scaling."""
    out = tmp_path / "cmp"
    r = _run_keras_torch(["compare", "--model", "cnn", "--frontends", "torch,keras", "--channels-last",
                          "--limit-test", "50", "--data", tiny_data, "--epochs", "1", "--max-steps", "3",
                          "--val", "0", "--batch-size", "20", "--dtype", "float64", "--out", str(out), "--quiet"],
                         tmp_path)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    table = (out / "compare.md").read_text()
    row = [x for x in table.splitlines() if x.startswith("| keras")]
    assert len(row) == 1, table
    # Keras's own mean reduction on its torch backend scales by 1/batch in float32 (a
    # relative 2**-26 on every gradient): the runs agree to that, not bit for bit.
    assert float(row[0].split("|")[-2]) < 1e-6, table


# ---- on a GPU ----------------------------------------------------------------------------

@pytest.mark.gpu
@requires_gpu
@pytest.mark.parametrize("frontend", ["torch", pytest.param("keras", marks=requires_keras)])
def test_train_on_gpu_equals_cpu_float64(frontend, tiny_data, tmp_path):
    """twincore train --device cuda end to end on a small slice, equal to the CPU run (float64)."""
    losses = {}
    for device in ("cpu", "cuda"):
        out = tmp_path / device
        args = ["train", "--model", "cnn", "--frontend", frontend, "--data", tiny_data, "--epochs", "2",
                "--max-steps", "5", "--batch-size", "20", "--dtype", "float64", "--limit-test", "100",
                "--device", device, "--out", str(out), "--quiet"]
        if frontend == "keras":
            r = _run_keras_torch(args, tmp_path)
            assert r.returncode == 0, r.stderr[-3000:]
        else:
            assert main(args) == 0
        summary = json.loads((out / "summary.json").read_text())
        assert summary["steps"] == 10
        losses[device] = [h["train_loss"] for h in summary["history"]] + [summary["test_loss"]]
    np.testing.assert_allclose(losses["cuda"], losses["cpu"], rtol=1e-7)


# ---- the GAN on --device cuda (its ops' GPU plans: tests/kernels/test_cuda_gan.py) -------------------

def _pretend_gpu(monkeypatch):
    """torch sees a GPU and twincore has CUDA kernels: what check_device lets through."""
    import torch

    import twincore.kernels

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(twincore.kernels, "gpu_info",
                        lambda: {"nvcc_build": True, "cupy": False, "devices": 1, "kernels": 1})


@requires_torch
def test_gan_on_cuda_goes_to_the_torch_gan_backend(monkeypatch):
    """--model gan --device cuda is no longer refused for the torch frontends: the GAN backend is
    made on the device (recorded here: no GPU to build it on)."""
    from twincore.cli import make_backend
    from twincore.workloads import gan

    _pretend_gpu(monkeypatch)
    made = []
    real = gan.make_gan_backend
    monkeypatch.setattr(gan, "make_gan_backend", lambda *a: made.append(a) or "backend")
    for frontend, last in (("torch", False), ("torch", True), ("torch-native", False)):
        assert make_backend(frontend, MODELS["gan"], 3, "cuda", "float64", last) == "backend"
        assert made[-1] == (frontend, MODELS["gan"], 3, "float64", last, "cuda")
    monkeypatch.setattr(gan, "make_gan_backend", real)
    b = real("torch", MODELS["gan"], device="cpu")  # the device reaches the modules and batches
    assert {p.device.type for p in b.params} == {"cpu"} and b.device == "cpu"


@requires_torch
def test_gan_on_cuda_refuses_keras_and_native_clearly(monkeypatch, tiny_data, tmp_path):
    """The Keras GAN backend is tf.function + GradientTape (TensorFlow only), the tape is CPU only:
    both are refused with what to use instead, before any work (no feature net trained)."""
    from twincore.cli import make_backend

    _pretend_gpu(monkeypatch)
    monkeypatch.setenv("KERAS_BACKEND", "torch")
    for frontend in ("keras", "keras-native"):
        with pytest.raises(SystemExit, match="gan model trains on the GPU through the torch frontends only"):
            make_backend(frontend, MODELS["gan"], device="cuda")
    with pytest.raises(SystemExit, match="native frontend .* CPU only"):
        make_backend("native", MODELS["gan"], device="cuda")
    out = tmp_path / "o"
    with pytest.raises(SystemExit, match="torch frontends only"):
        main(["train", "--model", "gan", "--frontend", "keras", "--data", tiny_data, "--device", "cuda",
              "--out", str(out), "--quiet"])
    with pytest.raises(SystemExit, match="torch frontends only"):
        main(["compare", "--model", "gan", "--frontends", "torch,keras", "--data", tiny_data, "--device", "cuda",
              "--out", str(out), "--quiet", "--no-fd"])
    assert not (out / "fd_cnn.npz").exists()


@pytest.mark.gpu
@requires_gpu
def test_gan_train_on_gpu_equals_cpu_float64(tiny_data, tmp_path):
    """twincore train --model gan --frontend torch --device cuda end to end on a small slice: the
    losses and the final weights equal the CPU run's (float64, both layouts)."""
    for last in ([], ["--channels-last"]):
        runs = {}
        for device in ("cpu", "cuda"):
            out = tmp_path / f"{device}{len(last)}"
            assert main(["train", "--model", "gan", "--frontend", "torch", "--data", tiny_data, "--epochs", "1",
                         "--max-steps", "3", "--batch-size", "16", "--dtype", "float64", "--no-fd", "--device",
                         device, "--out", str(out), "--quiet", *last]) == 0
            s = json.loads((out / "summary.json").read_text())
            assert s["steps"] == 3
            ck = np.load(out / "checkpoint.npz")
            runs[device] = (s["d_loss"], s["g_loss"], [ck[k] for k in sorted(ck.files) if k != "meta"])
        np.testing.assert_allclose(runs["cuda"][:2], runs["cpu"][:2], rtol=1e-9)
        for a, b in zip(runs["cuda"][2], runs["cpu"][2]):
            np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-10)
