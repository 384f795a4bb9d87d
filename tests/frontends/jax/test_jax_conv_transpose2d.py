"""twincore.jax.conv_transpose2d: parity with the NumPy float64 reference (by definition) and
jax.lax (conv_general_dilated with lhs_dilation, and jax.lax.conv_transpose), forward and all
three gradients, torch's explicit padding and Keras's "same"/"valid", both layouts, float64
gradients, jit == eager, bad input named."""
import jax
import numpy as np
import pytest

import twincore.jax as tj
from twincore.kernels.reference import conv_transpose2d as R

from jax_testutil import TOL, grads, jit_equal, raises, rand

CASES = [  # (N, Cin, H, W, Cout, K, stride, padding, output_padding, dilation)
    (2, 3, 5, 4, 4, 3, 2, 1, 1, 1),
    (1, 2, 4, 5, 3, 4, 2, "same", None, 1),
    (2, 2, 3, 4, 2, 3, 3, "valid", None, 1),
    (1, 3, 4, 4, 2, 3, 1, 0, None, 2),
    (2, 2, 5, 3, 3, 2, 2, "same", 1, 1),
]


def _lax(x, w, b, s, p, op, d, layout):
    """The transposed conv as a conv of the stride-dilated input with the flipped kernel; the
    padding from the reference's (output size, top crop) per axis."""
    xs = x.shape[1:3] if layout == "NHWC" else x.shape[2:]
    ks = w.shape[:2] if layout == "NHWC" else w.shape[2:]
    pads = []
    for n, k in zip(xs, ks):
        out, top = R.out_size_and_pad(n, k, s, d, p, op)
        keff = d * (k - 1) + 1
        pads.append((keff - 1 - top, out - (n - 1) * s - 1 + top))
    if layout == "NHWC":  # w [KH, KW, Cout, Cin] -> HWIO of the forward conv: flip, swap in/out
        wf, dn = w[::-1, ::-1].transpose(0, 1, 3, 2), ("NHWC", "HWIO", "NHWC")
    else:  # w [Cin, Cout, KH, KW] -> OIHW
        wf, dn = w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3), ("NCHW", "OIHW", "NCHW")
    y = jax.lax.conv_general_dilated(x, wf, (1, 1), pads, lhs_dilation=(s, s), rhs_dilation=(d, d),
                                     dimension_numbers=dn, precision="highest")
    return y + (b if layout == "NHWC" else b[:, None, None])


@pytest.mark.parametrize("layout", ["NHWC", "NCHW"])
@pytest.mark.parametrize("case", CASES)
def test_forward_backward_parity(case, layout, dtype):
    n, c, h, w_, o, k, s, p, op, d = case
    rng = np.random.default_rng(hash((case, layout)) % 2**32)
    x = rand(rng, (n, h, w_, c) if layout == "NHWC" else (n, c, h, w_), dtype)
    w = rand(rng, (k, k, o, c) if layout == "NHWC" else (c, o, k, k), dtype)
    b = rand(rng, (o,), dtype)
    kw = dict(stride=s, padding=p, output_padding=op, dilation=d, layout=layout)

    def f(x, w, b):
        return tj.conv_transpose2d(x, w, b, **kw)

    y = jit_equal(f, x, w, b)
    assert y.dtype == dtype
    np.testing.assert_allclose(y, R.conv_transpose2d(x, w, b, **kw), **TOL[dtype])
    np.testing.assert_allclose(y, _lax(x, w, b, s, p, op, d, layout), **TOL[dtype])
    g = rand(rng, y.shape, dtype)
    ours = jax.vjp(f, x, w, b)[1](g)
    theirs = jax.vjp(lambda x, w, b: _lax(x, w, b, s, p, op, d, layout), x, w, b)[1](g)
    for a, t in zip(ours, theirs):
        np.testing.assert_allclose(a, t, **TOL[dtype])


def test_matches_lax_conv_transpose():
    # jax.lax.conv_transpose(transpose_kernel=True) is the gradient of a conv: the same op
    rng = np.random.default_rng(51)
    x, w = rand(rng, (2, 5, 4, 3)), rand(rng, (3, 3, 4, 3))  # NHWC, Keras's [KH, KW, out, in]
    for padding in ("SAME", "VALID"):
        theirs = jax.lax.conv_transpose(x, w, (2, 2), padding, dimension_numbers=("NHWC", "HWIO", "NHWC"),
                                        transpose_kernel=True, precision="highest")
        ours = tj.conv_transpose2d(x, w, stride=2, padding=padding.lower(), layout="NHWC")
        np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("layout", ["NHWC", "NCHW"])
def test_gradients_float64(layout):
    rng = np.random.default_rng(52)
    x = rand(rng, (2, 4, 3, 3) if layout == "NHWC" else (2, 3, 4, 3))
    w = rand(rng, (3, 3, 2, 3) if layout == "NHWC" else (3, 2, 3, 3))
    b = rand(rng, (2,))
    grads(lambda x, w, b: tj.conv_transpose2d(x, w, b, stride=2, padding="same", layout=layout), (x, w, b))
    grads(lambda x, w: tj.conv_transpose2d(x, w, stride=2, padding=1, output_padding=1, layout=layout), (x, w))


def test_grad_under_jit_and_vmap():
    rng = np.random.default_rng(53)
    x, w = rand(rng, (3, 2, 4, 4, 2), np.float32), rand(rng, (3, 3, 4, 2), np.float32)

    def loss(w, x):
        return (tj.conv_transpose2d(x, w, stride=2, padding="same", layout="NHWC") ** 2).sum()

    np.testing.assert_array_equal(jax.jit(jax.grad(loss))(w, x[0]), jax.grad(loss)(w, x[0]))
    ys = jax.vmap(lambda x: tj.conv_transpose2d(x, w, stride=2, padding="same", layout="NHWC"))(x)
    for i in range(3):
        np.testing.assert_array_equal(ys[i], tj.conv_transpose2d(x[i], w, stride=2, padding="same", layout="NHWC"))


def test_bad_input_names_op_and_argument():
    x, w = np.ones((1, 4, 4, 3), np.float32), np.ones((3, 3, 2, 3), np.float32)
    with raises(ValueError, "conv_transpose2d", "w"):
        tj.conv_transpose2d(x, np.ones((3, 3, 2, 5), np.float32), layout="NHWC")
    with raises(ValueError, "conv_transpose2d", "bias"):
        tj.conv_transpose2d(x, w, np.ones(3, np.float32), layout="NHWC")
    with raises(ValueError, "conv_transpose2d", "output_padding"):
        tj.conv_transpose2d(x, w, stride=2, output_padding=2, layout="NHWC")
    with raises(ValueError, "conv_transpose2d", "output_padding"):
        tj.conv_transpose2d(x, w, stride=2, output_padding=-1, layout="NHWC")
    with raises(TypeError, "conv_transpose2d", "layout"):
        tj.conv_transpose2d(x, w, layout=3)
