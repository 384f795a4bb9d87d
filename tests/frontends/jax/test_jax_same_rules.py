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
    "rotate layout": lambda m: m.rotate(X, np.zeros(2, f32), layout="HWCN"),
    "rotate layout type": lambda m: m.rotate(X, np.zeros(2, f32), layout=1),
    "conv2d activation": lambda m: m.conv2d(X, W, layout="NHWC", activation="gelu"),
    "conv2d activation type": lambda m: m.conv2d(X, W, layout="NHWC", activation=1),
    # the ops of issue 16 (sequence and GAN)
    "sigmoid dtype": lambda m: m.sigmoid(np.ones(3, np.int32)),
    "sigmoid empty": lambda m: m.sigmoid(np.ones((0, 2), f32)),
    "leaky_relu slope type": lambda m: m.leaky_relu(X, "steep"),
    "leaky_relu slope nan": lambda m: m.leaky_relu(X, float("inf")),
    "embedding ids dtype": lambda m: m.embedding(np.zeros(3, f32), np.ones((4, 2), f32)),
    "embedding weight rank": lambda m: m.embedding(np.zeros(3, np.int32), np.ones(4, f32)),
    "lstm x rank": lambda m: m.lstm(np.ones((2, 3), f32), np.ones((8, 3), f32), np.ones((8, 2), f32)),
    "lstm w_ih gates": lambda m: m.lstm(np.ones((4, 2, 3), f32), np.ones((6, 3), f32), np.ones((8, 2), f32)),
    "lstm w_hh": lambda m: m.lstm(np.ones((4, 2, 3), f32), np.ones((8, 3), f32), np.ones((8, 3), f32)),
    "lstm c0": lambda m: m.lstm(np.ones((4, 2, 3), f32), np.ones((8, 3), f32), np.ones((8, 2), f32),
                                c0=np.ones((2, 3), f32)),
    "bce shapes": lambda m: m.binary_cross_entropy_with_logits(np.ones((2, 3), f32), np.ones((3, 2), f32)),
    "bce smoothing": lambda m: m.binary_cross_entropy_with_logits(np.ones((2, 3), f32), np.ones((2, 3), f32),
                                                                  None, 1.5),
    "bce pos_weight": lambda m: m.binary_cross_entropy_with_logits(np.ones((2, 3), f32), np.ones((2, 3), f32),
                                                                   np.ones(2, f32)),
    "bce reduction": lambda m: m.binary_cross_entropy_with_logits(np.ones((2, 3), f32), np.ones((2, 3), f32),
                                                                  reduction="max"),
    "conv_transpose2d channels": lambda m: m.conv_transpose2d(X, np.ones((3, 3, 4, 2), f32), layout="NHWC"),
    "conv_transpose2d output_padding": lambda m: m.conv_transpose2d(X, np.ones((3, 3, 4, 3), f32), stride=2,
                                                                    output_padding=3, layout="NHWC"),
    "conv_transpose2d stride": lambda m: m.conv_transpose2d(X, np.ones((3, 3, 4, 3), f32), stride=0,
                                                            layout="NHWC"),
    "conv_transpose2d layout": lambda m: m.conv_transpose2d(X, np.ones((3, 3, 4, 3), f32), layout="HWCN"),
    "batch_norm rank": lambda m: m.batch_norm(X[0], None, None, 1e-3, "NHWC"),
    "batch_norm beta": lambda m: m.batch_norm(X, None, np.ones(2, f32), 1e-3, "NHWC"),
    "batch_norm eps": lambda m: m.batch_norm(X, None, None, -1.0, "NHWC"),
    "batch_norm_inference mean": lambda m: m.batch_norm_inference(X, None, None, np.ones(2, f32), np.ones(3, f32),
                                                                  1e-3, "NHWC"),
    "batch_norm_update_stats count": lambda m: m.batch_norm_update_stats(*(np.ones(3, f32),) * 4, 0.1, 0, True),
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
    for op in ("matmul", "conv2d", "max_pool2d", "global_avg_pool2d", "rotate", "mse", "activation", "leaky_relu",
               "embedding", "lstm", "conv_transpose2d", "batch_norm"):
        assert f"twincore_{op}" in names and f"twincore_{op}_backward" in names, op
    for op in ("softmax_cross_entropy", "binary_cross_entropy_with_logits"):
        assert f"twincore_{op}" in names  # their backward is the saved dlogits
    assert {"twincore_batch_norm_inference", "twincore_batch_norm_update_stats"} <= names
    assert _core.jax_handlers("CUDA") == {}  # none yet: the GPU host side lands separately
