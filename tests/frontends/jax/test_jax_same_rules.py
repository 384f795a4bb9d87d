"""One set of rules: for the same bad input, twincore.jax (the plans, at trace time) and
twincore.kernels (the pybind bindings) raise the same exception with the same message,
because both run the op's C++ check. And every op has its forward handler registered."""
import numpy as np
import pytest

import twincore.jax as tj
import twincore.kernels as K
from twincore import _core

f32 = np.float32
X = np.ones((2, 6, 6, 3), f32)
W = np.ones((3, 3, 3, 4), f32)
BAD = {  # name: (kernels call, jax call) on the same arguments
    "conv2d channels": lambda m: m.conv2d(X, np.ones((3, 3, 2, 4), f32), layout="NHWC"),
    "conv2d bias": lambda m: m.conv2d(X, W, np.ones(5, f32), layout="NHWC"),
    "conv2d kernel too big": lambda m: m.conv2d(X, np.ones((9, 9, 3, 4), f32), layout="NHWC"),
    "conv2d stride": lambda m: m.conv2d(X, W, stride=(1, 0), layout="NHWC"),
    "conv2d padding": lambda m: m.conv2d(X, W, padding=-1, layout="NHWC"),
    "conv2d dtype": lambda m: m.conv2d(X, W.astype(np.float64), layout="NHWC"),
    "matmul inner": lambda m: m.matmul(np.ones((3, 4), f32), np.ones((5, 2), f32)),
    "matmul bias": lambda m: m.matmul(np.ones((3, 4), f32), np.ones((4, 2), f32), np.ones(3, f32)),
    "max_pool2d kernel": lambda m: m.max_pool2d(X, 7, layout="NHWC"),
    "max_pool2d padding": lambda m: m.max_pool2d(X, 2, 2, 3, layout="NHWC"),
    "global_avg_pool2d rank": lambda m: m.global_avg_pool2d(X[0], "NHWC"),
    "softmax_cross_entropy labels": lambda m: m.softmax_cross_entropy(np.ones((4, 3), f32), np.zeros(5, np.int32)),
    "softmax_cross_entropy smoothing": lambda m: m.softmax_cross_entropy(np.ones((4, 3), f32),
                                                                         np.zeros(4, np.int32), 2.0),
    "mse shapes": lambda m: m.mse(np.ones((2, 3), f32), np.ones((3, 2), f32)),
    "mse reduction": lambda m: m.mse(np.ones((2, 3), f32), np.ones((2, 3), f32), "max"),
    "rotate angle": lambda m: m.rotate(X, np.zeros(3, f32), layout="NHWC"),
    "rotate fill": lambda m: m.rotate(X, np.zeros(2, f32), fill="wrap", layout="NHWC"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_same_error_as_the_bindings(case):
    with pytest.raises((ValueError, TypeError)) as theirs:
        BAD[case](K)
    with pytest.raises(type(theirs.value)) as ours:
        BAD[case](tj)
    assert str(ours.value) == str(theirs.value)
    assert str(ours.value).startswith("twincore.")


def test_every_op_has_a_cpu_handler():
    names = set(_core.jax_handlers("cpu"))
    for op in ("matmul", "conv2d", "max_pool2d", "global_avg_pool2d", "rotate", "mse", "activation"):
        assert f"twincore_{op}" in names and f"twincore_{op}_backward" in names, op
    assert "twincore_softmax_cross_entropy" in names  # its backward is the saved dlogits
    assert _core.jax_handlers("CUDA") == {}  # none yet: the GPU host side lands separately
