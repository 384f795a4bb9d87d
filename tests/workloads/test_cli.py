"""The `twincore` command end to end on a tiny data folder: train writes its files, compare
prints the side-by-side table, check passes."""

import json
import os

import pytest

from support import requires_torch
from twincore.cli import main


def test_train_native_writes_everything(tiny_data, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--model", "mlp", "--frontend", "native", "--data", tiny_data, "--epochs", "2",
                 "--max-steps", "5", "--out", str(out), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "test accuracy" in text and "precision" in text and "macro avg" in text
    summary = json.loads((out / "summary.json").read_text())
    assert summary["epochs"] == 2 and summary["steps"] == 10 and 0 <= summary["test_accuracy"] <= 1
    assert len((out / "metrics.csv").read_text().splitlines()) == 3  # header + 2 epochs
    for f in ("curves.png", "confusion.png", "checkpoint.npz"):
        assert os.path.getsize(out / f) > 1000


@requires_torch
def test_compare_prints_the_table(tiny_data, tmp_path, capsys):
    out = tmp_path / "cmp"
    assert main(["compare", "--model", "cnn", "--frontends", "torch,native", "--data", tiny_data,
                 "--max-steps", "4", "--batch-size", "20", "--dtype", "float64", "--out", str(out), "--quiet"]) == 0
    table = (out / "compare.md").read_text()
    rows = [r for r in table.splitlines() if r.startswith("| torch") or r.startswith("| native")]
    assert len(rows) == 2
    diff = float(rows[1].split("|")[-2])
    assert diff < 1e-9, table  # float64: the two frontends compute the same run
    assert os.path.getsize(out / "compare.png") > 1000


def test_check_passes(capsys):
    assert main(["check"]) == 0
    assert "all checks passed" in capsys.readouterr().out


@requires_torch
def test_compare_channels_last_is_bit_identical(tiny_data, tmp_path):
    out = tmp_path / "cmp"
    assert main(["compare", "--model", "cnn", "--frontends", "torch,native", "--data", tiny_data,
                 "--max-steps", "6", "--batch-size", "20", "--channels-last", "--out", str(out), "--quiet"]) == 0
    table = (out / "compare.md").read_text()
    assert "Bit-identical" in table and "float32" in table, table


def test_val_and_lr_schedule_options(tiny_data, tmp_path):
    out = tmp_path / "run"
    assert main(["train", "--model", "mlp", "--frontend", "native", "--data", tiny_data, "--epochs", "1",
                 "--max-steps", "3", "--val", "100", "--lr-schedule", "constant", "--out", str(out), "--quiet"]) == 0
    assert json.loads((out / "summary.json").read_text())["steps"] == 3
    for bad in ("-1", "12.5"):
        try:
            main(["train", "--model", "mlp", "--frontend", "native", "--data", tiny_data, "--val", bad, "--quiet"])
        except SystemExit as e:
            assert "--val" in str(e)
        else:
            raise AssertionError(f"--val {bad} was accepted")


@pytest.mark.parametrize("model,extra", [("cnn", ["--batch-size", "20"]),
                                         ("gan", ["--batch-size", "16", "--no-fd", "--limit-test", "32"])])
def test_compare_shows_the_keras_on_jax_run(model, extra, tiny_data, tmp_path):
    """compare runs keras-jax in a child process on Keras's JAX backend; with --channels-last
    it trains the same float32 weights as the tape (the table says bit-identical); the gan
    model's compare too (its own table: s/epoch, losses, FD)."""
    from twincore.cli import available_frontends

    if "keras-jax" not in available_frontends():
        pytest.skip("needs jax, keras and a _core built with the JAX FFI handlers")
    out = tmp_path / "cmp"
    assert main(["compare", "--model", model, "--frontends", "native,keras-jax", "--data", tiny_data,
                 "--max-steps", "3", *extra, "--channels-last", "--out", str(out), "--quiet"]) == 0
    table = (out / "compare.md").read_text()
    assert any(r.startswith("| keras-jax |") for r in table.splitlines()), table
    assert "Bit-identical training through native, keras-jax" in table, table
    assert os.path.exists(out / "keras-jax" / "summary.json")
