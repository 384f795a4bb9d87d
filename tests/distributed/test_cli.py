"""The distributed command line: bad options are refused clearly, before any process starts."""

import numpy as np
from dist_helpers import run

from twincore.testing import run_bad_calls

# run_bad_calls inlines `setup` into an indented script: keep it on one line.
SETUP = ("import argparse; from twincore.distributed.cli import add_arguments, make_config; "
         "ns = lambda *argv: (lambda p: (add_arguments(p, standalone=True), p.parse_args(list(argv)))[1])"
         "(argparse.ArgumentParser())")


def test_bad_options():
    run_bad_calls([
        ("make_config(ns('--model', 'nope'))", "ValueError", "distributed", "model"),
        ("make_config(ns('--model', 'regression'))", "ValueError", "distributed", "model"),
        ("make_config(ns('--workers', '0'))", "ValueError", "distributed", "--workers"),
        ("make_config(ns('--nproc', '-2'))", "ValueError", "distributed", "--nproc"),
        ("make_config(ns('--steps', '0'))", "ValueError", "distributed", "--steps"),
        ("make_config(ns('--batch-size', '0'))", "ValueError", "distributed", "--batch-size"),
        ("make_config(ns('--lr', '-1'))", "ValueError", "distributed", "--lr"),
        ("make_config(ns('--lr', 'nan'))", "ValueError", "distributed", "--lr"),
        ("make_config(ns('--restarts', '-1'))", "ValueError", "distributed", "--restarts"),
        ("make_config(ns('--checkpoint-every', '-5'))", "ValueError", "distributed", "--checkpoint-every"),
        ("make_config(ns('--epochs', '0'))", "ValueError", "distributed", "--epochs"),
        ("make_config(ns('--max-steps', '0'))", "ValueError", "distributed", "--max-steps"),
        ("import types; make_config(types.SimpleNamespace(**{**vars(ns()), 'frontend': 'native'}))",
         "ValueError", "distributed", "--frontend"),
        ("import types; make_config(types.SimpleNamespace(**{**vars(ns()), 'lr_schedule': 'cosine'}))",
         "ValueError", "distributed", "--lr-schedule"),
    ], setup=SETUP)


def test_cli_reports_errors_and_exit_status(tmp_path):
    rc, so, se = run(["train", "--frontend", "keras", "--strategy", "async", "--model", "tiny-mlp",
                      "--steps", "2", "--out", str(tmp_path)], timeout=60)
    assert rc == 2 and "twincore.distributed: argument '--strategy'" in se
    rc, so, se = run(["train", "--strategy", "sync", "--workers", "2", "--nproc", "3", "--model", "tiny-mlp",
                      "--steps", "2", "--out", str(tmp_path)], timeout=60)
    assert rc == 2 and "argument '--nproc'" in se


def test_smoothing_used_by_the_comparison():
    from twincore.distributed.compare import roughness, smooth

    y = np.random.default_rng(0).standard_normal(50)
    s = smooth(y, 5)
    np.testing.assert_allclose(s[10], y[6:11].mean())
    np.testing.assert_allclose(s[0], y[0])
    np.testing.assert_allclose(smooth(np.full(7, 3.0), 4), 3.0)
    assert roughness(np.full(9, 2.0), 3) == 0.0 and roughness(y, 5) > 0.1


def test_options_fit_twincore_train():
    """add_arguments on a parser that already has `twincore train`'s options (as the lead
    wires it) adds no clashing flag, and make_config takes the train defaults."""
    import argparse

    from twincore.distributed.cli import add_arguments, make_config

    t = argparse.ArgumentParser()
    for flag, kw in (("--model", {"required": True}), ("--epochs", {"type": int}), ("--batch-size", {"type": int}),
                     ("--lr", {"type": float}), ("--data", {}), ("--out", {}), ("--seed", {"type": int, "default": 0}),
                     ("--max-steps", {"type": int}), ("--limit-train", {"type": int}), ("--limit-test", {"type": int}),
                     ("--quiet", {"action": "store_true"}), ("--frontend", {"default": "torch"}),
                     ("--device", {"default": "cpu"}), ("--resume", {"action": "store_true"}), ("--init-from", {}),
                     ("--freeze", {"type": int, "default": 0})):
        t.add_argument(flag, **kw)
    add_arguments(t)
    cfg = make_config(t.parse_args(["--model", "mlp", "--strategy", "async", "--workers", "2", "--max-steps", "7"]))
    assert cfg["strategy"] == "async" and cfg["batch_size"] == 32 and cfg["lr"] == 1e-3 and cfg["epochs"] == 5
    assert cfg["max_steps"] == 7 and cfg["frontend"] == "torch" and cfg["ours"]
