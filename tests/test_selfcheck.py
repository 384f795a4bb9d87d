import numpy as np

import twincore.kernels as K
from twincore import selfcheck


def test_selfcheck_passes_on_this_build(capsys):
    assert selfcheck.run_checks(verbose=True)
    out = capsys.readouterr().out
    assert "conv2d" in out and "FAIL" not in out and "all checks passed" in out


def test_selfcheck_catches_a_wrong_kernel(monkeypatch, capsys):
    real = K.relu
    monkeypatch.setattr(K, "relu", lambda x: real(x) * np.float32(1.001))
    assert not selfcheck.run_checks(verbose=True)
    assert "relu" in capsys.readouterr().out
