"""Every kind of model serves with its own input and output form (regression: numbers in,
numbers out; multi-io: an image in, a class and a brightness out), and `twincore serve`
refuses what it cannot serve with a message that says why."""

import json
import os
import socket

import numpy as np
import pytest

from serve.helpers import train_run
from serve.helpers import post_json
from twincore.cli import main
from twincore.serve.loadtest import request, start_server
from twincore.serve.model import ModelLoadError, load_model


def test_regression_model(tmp_path):
    run = train_run("regression", None, tmp_path / "reg", steps=None, batch=200, epochs=30)
    x = run.task.test.x  # [200, 1]: the points the trainer evaluated
    s = start_server(run.out)
    try:
        _, _, m = request(s.url, "GET", "/model")
        assert m["task"] == "regress" and m["classes"] == [] and m["parameters"] == 1 * 10 + 10 + 10 + 1
        status, _, doc = post_json(s, {"instances": x[:, 0].tolist()})
        assert status == 200
        got = np.array([p["value"] for p in doc["predictions"]], np.float32)
        assert np.array_equal(got, run.outputs[:, 0])  # the trainer's test predictions, bit for bit
        status, _, doc = post_json(s, {"instances": [[0.1], 0.2]})
        assert status == 200 and len(doc["predictions"]) == 2
        status, _, doc = post_json(s, {"instances": [[[0] * 28] * 28]})
        assert (status, doc["field"]) == (400, "instances[0]")
        status, _, doc = request(s.url, "POST", "/predict", b"\x89PNG", {"Content-Type": "image/png"})
        assert (status, doc["field"]) == (400, "image")
    finally:
        s.stop()


def test_multi_io_model(fashion_tiny, tmp_path):
    run = train_run("multi-io", fashion_tiny, tmp_path / "mio", steps=10)
    logits, bright = run.outputs
    s = start_server(run.out)
    try:
        status, _, doc = post_json(s, {"instances": run.raw_test[:30].tolist(), "top_k": 2})
        assert status == 200
        got = np.array([p["logits"] for p in doc["predictions"]], np.float32)
        assert np.array_equal(got, logits[:30])  # left/right halves split as the trainer's data
        got_b = np.array([p["brightness"] for p in doc["predictions"]], np.float32)
        assert np.array_equal(got_b, bright[:30, 0])
        assert [p["label"] for p in doc["predictions"]] == list(run.summary["test_pred"][:30])
    finally:
        s.stop()


def test_float64_checkpoint(fashion_tiny, tmp_path):
    """A --dtype float64 run serves in float64: the JSON logits are its float64 outputs exactly."""
    run = train_run("cnn", fashion_tiny, tmp_path / "cnn64", steps=4, epochs=1, dtype="float64")
    assert run.outputs.dtype == np.float64
    s = start_server(run.out)
    try:
        _, _, m = request(s.url, "GET", "/model")
        assert m["dtype"] == "float64"
        status, _, doc = post_json(s, {"instances": run.raw_test[:20].tolist()})
        assert status == 200
        assert np.array_equal(np.array([p["logits"] for p in doc["predictions"]]), run.outputs[:20])
    finally:
        s.stop()


def test_load_errors(mlp_run, tmp_path):
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_model(str(tmp_path / "nothing"))
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(ModelLoadError, match="not a twincore checkpoint"):
        load_model(str(tmp_path / "bad.npz"))
    with np.load(os.path.join(mlp_run.out, "checkpoint.npz")) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(str(arrays["meta"]))
    np.savez(tmp_path / "other.npz", **{**arrays, "meta": np.array(json.dumps({**meta, "model": "gpt"}))})
    with pytest.raises(ModelLoadError, match="unknown model 'gpt'"):
        load_model(str(tmp_path / "other.npz"))
    np.savez(tmp_path / "shape.npz", **{**arrays, "w0": np.zeros((10, 512), np.float32)})
    with pytest.raises(ModelLoadError, match="w0 has shape"):
        load_model(str(tmp_path / "shape.npz"))
    with pytest.raises(ModelLoadError, match="frontend"):
        load_model(mlp_run.out, "jax")
    m = load_model(os.path.join(mlp_run.out, "checkpoint.npz"))  # the file itself works too
    assert m.spec.name == "mlp" and m.summary is not None


def test_cli_refuses_bad_paths_and_ports(mlp_run, tmp_path):
    with pytest.raises(SystemExit, match="twincore serve: .*does not exist"):
        main(["serve", str(tmp_path / "nothing")])
    with pytest.raises(SystemExit, match="--workers"):
        main(["serve", mlp_run.out, "--workers", "0"])
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(SystemExit, match="cannot listen"):
            main(["serve", mlp_run.out, "--port", str(taken.getsockname()[1])])


@pytest.mark.skipif(not __import__("support").has("torch"), reason="needs torch")
def test_torch_trained_run_served_natively(fashion_tiny, tmp_path):
    """The README's path: trained through torch, served by the native tape with no torch."""
    run = train_run("cnn", fashion_tiny, tmp_path / "cnn-torch", steps=6, epochs=1, frontend="torch")
    m = load_model(run.out)  # native
    assert m.frontend == "native" and m.meta["frontend"] == "torch"
    out = m.predict(run.task.test.x)
    np.testing.assert_allclose(out, run.outputs, rtol=1e-4, atol=1e-5)  # NCHW vs NHWC sums: rounding only
    assert np.array_equal(out.argmax(1), run.summary["test_pred"])
