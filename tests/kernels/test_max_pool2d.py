import numpy as np
import pytest

import twincore.kernels as K
from twincore.kernels.reference import max_pool2d as ref
from twincore.testing import assert_close, check_grads, randn, run_bad_calls, tol

from support import requires_tf, requires_torch


def random_cases(seed, count):
    """(x NCHW shape, kernel, stride, padding) with odd sizes, kernel 1..3, stride 1..3,
    padding 0/1/"same"/"valid", batch 1 and > 1."""
    r = np.random.default_rng(seed)
    out = []
    while len(out) < count:
        k = (int(r.integers(1, 4)), int(r.integers(1, 4)))
        s = (int(r.integers(1, 4)), int(r.integers(1, 4)))
        pad = [0, 1, "same", "valid"][int(r.integers(0, 4))]
        if pad == 1 and min(k) < 2:
            pad = 0  # explicit padding is at most half the kernel
        shape = (int(r.choice([1, 2, 3])), int(r.choice([1, 3, 17])), int(r.integers(3, 12)), int(r.integers(3, 12)))
        out.append((shape, k, s, pad))
    return out


CASES = random_cases(0, 16) + [
    ((1, 1, 1, 513), (1, 3), (1, 2), 0),       # a long row
    ((2, 127, 3, 5), 2, 1, "same"),            # channel tails of the vector loop (NHWC)
    ((1, 513, 3, 3), 3, 2, 1),
    ((3, 17, 17, 17), 3, 3, "valid"),
    ((2, 3, 14, 14), 2, None, 0),              # the CNN's pool
    ((1, 2, 5, 5), 3, 1, 1),                   # overlapping windows: the scatter adds up
]


def to_layout(x, layout):
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1)) if layout == "NHWC" else x


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]}-k{c[1]}-s{c[2]}-p{c[3]}" for c in CASES])
def test_parity_with_reference(case, layout, dtype, isa):
    shape, k, s, pad = case
    x = to_layout(randn(shape, dtype, seed=sum(shape)), layout)
    y, idx = K.max_pool2d(x, k, s, pad, layout, return_indices=True)
    yr, ir = ref.max_pool2d(x, k, s, pad, layout)
    assert y.dtype == dtype and idx.dtype == np.int64
    assert_close(y, yr, rtol=0, atol=0, what="y")
    np.testing.assert_array_equal(idx, ir)
    assert_close(K.max_pool2d(x, k, s, pad, layout), yr, rtol=0, atol=0, what="y without indices")
    g = randn(y.shape, dtype, seed=7)
    dx = K.max_pool2d_backward(g, idx, x.shape, layout)
    assert dx.shape == x.shape and dx.dtype == dtype
    assert_close(dx, ref.max_pool2d_backward(g, ir, x.shape, layout), **tol(dtype), what="dx")


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("k,s,pad", [(2, 2, 0), (3, 1, 1), (3, 2, "same"), (2, 1, "valid")])
def test_gradcheck(layout, k, s, pad):
    x = to_layout(randn((2, 3, 5, 6), np.float64, seed=11), layout)  # distinct values: no ties
    y, idx = K.max_pool2d(x, k, s, pad, layout, return_indices=True)
    w = randn(y.shape, np.float64, seed=12)
    loss = lambda: float((K.max_pool2d(x, k, s, pad, layout) * w).sum())
    check_grads(loss, [x], [K.max_pool2d_backward(w, idx, x.shape, layout)], eps=1e-7, names=["x"])


def test_nan_propagates_and_padding_never_wins():
    x = -np.abs(randn((1, 2, 4, 4), np.float32, seed=1)) - 1.0  # all negative: a 0 pad would win
    x[0, 0, 1, 2] = np.nan
    y, idx = K.max_pool2d(x, 3, 1, 1, return_indices=True)
    yr, _ = ref.max_pool2d(x, 3, 1, 1)
    assert_close(y, yr, rtol=0, atol=0)
    assert_close(K.max_pool2d(x, 3, 1, 1), yr, rtol=0, atol=0, what="without indices")
    nan_windows = np.isnan(y[0, 0])
    assert nan_windows.sum() == 9 and (idx[0, 0][nan_windows] == 1 * 4 + 2).all()
    assert np.isfinite(y[0, 1]).all() and (y[~np.isnan(y)] < 0).all()
    ys = K.max_pool2d(np.ascontiguousarray(x.transpose(0, 2, 3, 1)), 3, 2, "same", "NHWC")
    assert np.isnan(ys[0, 0, 1, 0]) and (ys[..., 1] < 0).all()


def test_minus_inf_windows_and_non_contiguous_input():
    x = np.full((1, 1, 4, 4), -np.inf, np.float32)
    x[0, 0, 3, 3] = 1.0
    y, idx = K.max_pool2d(x, 2, return_indices=True)
    assert y[0, 0, 0, 0] == -np.inf and idx[0, 0, 0, 0] == 0 and idx[0, 0, 1, 1] == 15
    xs = randn((2, 6, 9, 8), np.float32, seed=3)[:, ::2]  # a strided view
    assert_close(K.max_pool2d(xs, 2), ref.max_pool2d(xs, 2)[0], rtol=0, atol=0)


@requires_torch
@pytest.mark.parametrize("k,s,p", [(2, 2, 0), (3, 2, 1), (3, 1, 1), (2, 3, 1), ((3, 2), (1, 2), (1, 0))])
@pytest.mark.parametrize("channels_last", [False, True], ids=["NCHW", "NHWC"])
def test_torch_parity(k, s, p, channels_last):
    import torch
    import torch.nn.functional as F

    x = torch.randn(3, 5, 11, 9, dtype=torch.float32)
    x[0, 0, 2, 2] = float("nan")
    xt = x.contiguous(memory_format=torch.channels_last) if channels_last else x
    xt.requires_grad_()
    yt, it = F.max_pool2d(xt, k, s, p, return_indices=True)
    gt = torch.randn_like(yt)
    yt.backward(gt)
    if channels_last:  # our NHWC is torch's channels_last memory, as an [N,H,W,C] array
        ours, idx = K.max_pool2d(x.permute(0, 2, 3, 1).contiguous(), k, s, p, "NHWC", return_indices=True)
        ours, idx = ours.permute(0, 3, 1, 2), idx.permute(0, 3, 1, 2)
        dx = K.max_pool2d_backward(gt.permute(0, 2, 3, 1).contiguous(), idx.permute(0, 2, 3, 1).contiguous(),
                                   (3, 11, 9, 5), "NHWC").permute(0, 3, 1, 2)
    else:
        ours, idx = K.max_pool2d(x, k, s, p, return_indices=True)
        dx = K.max_pool2d_backward(gt, idx, x.shape)
    assert isinstance(ours, torch.Tensor) and idx.dtype == torch.int64
    torch.testing.assert_close(ours, yt.detach(), rtol=0, atol=0, equal_nan=True)
    torch.testing.assert_close(idx, it)
    torch.testing.assert_close(dx, xt.grad, rtol=1e-6, atol=1e-6)


@requires_tf
@pytest.mark.parametrize("k,s,pad", [(2, 2, "SAME"), (3, 2, "SAME"), (3, 1, "VALID"), (2, 3, "VALID"), (3, 3, "SAME")])
def test_tf_parity(k, s, pad):
    import tensorflow as tf

    x = tf.random.normal((2, 10, 7, 6), seed=4)
    with tf.GradientTape() as tape:
        tape.watch(x)
        yt = tf.nn.max_pool2d(x, k, s, pad)
        g = tf.random.normal(yt.shape, seed=5)
        loss = tf.reduce_sum(yt * g)
    want_dx = tape.gradient(loss, x)
    y, idx = K.max_pool2d(x, k, s, pad.lower(), "NHWC", return_indices=True)
    assert isinstance(y, tf.Tensor)
    np.testing.assert_array_equal(y.numpy(), yt.numpy())
    dx = K.max_pool2d_backward(g, idx, x.shape, "NHWC")
    assert isinstance(dx, tf.Tensor)
    np.testing.assert_allclose(dx.numpy(), want_dx.numpy(), rtol=1e-6, atol=1e-6)


def test_bad_input():
    x = "np.ones((2, 3, 6, 6), np.float32)"
    run_bad_calls([
        ("K.max_pool2d(np.ones((2, 3, 6), np.float32))", "ValueError", "max_pool2d", "x"),
        ("K.max_pool2d(np.ones((2, 3, 6, 6), np.int32))", "TypeError", "max_pool2d", "x"),
        ("K.max_pool2d(np.ones((0, 3, 6, 6), np.float32))", "ValueError", "max_pool2d", "x"),
        ("K.max_pool2d(None)", "TypeError", "max_pool2d", "x"),
        (f"K.max_pool2d({x}, 0)", "ValueError", "max_pool2d", "kernel_size"),
        (f"K.max_pool2d({x}, 7)", "ValueError", "max_pool2d", "kernel_size"),
        (f"K.max_pool2d({x}, 'a')", "TypeError", "max_pool2d", "kernel_size"),
        (f"K.max_pool2d({x}, (2, 2, 2))", "TypeError", "max_pool2d", "kernel_size"),
        (f"K.max_pool2d({x}, 2, 0)", "ValueError", "max_pool2d", "stride"),
        (f"K.max_pool2d({x}, 2, 2, -1)", "ValueError", "max_pool2d", "padding"),
        (f"K.max_pool2d({x}, 2, 2, 2)", "ValueError", "max_pool2d", "padding"),
        (f"K.max_pool2d({x}, 2, 2, 'full')", "ValueError", "max_pool2d", "padding"),
        (f"K.max_pool2d({x}, 2, layout='NWHC')", "ValueError", "max_pool2d", "layout"),
        ("K.max_pool2d(np.ones((1, 1, 1, 1), np.float32), 2)", "ValueError", "max_pool2d", "kernel_size"),
        ("K.max_pool2d_backward(np.ones((1, 1, 2, 2)), np.zeros((1, 1, 2, 2), np.int32), (1, 1, 4, 4))",
         "TypeError", "max_pool2d_backward", "indices"),
        ("K.max_pool2d_backward(np.ones((1, 1, 2, 2)), np.zeros((1, 1, 2, 3), np.int64), (1, 1, 4, 4))",
         "ValueError", "max_pool2d_backward", "indices"),
        ("K.max_pool2d_backward(np.ones((1, 1, 2, 2)), np.full((1, 1, 2, 2), 16, np.int64), (1, 1, 4, 4))",
         "ValueError", "max_pool2d_backward", "indices"),
        ("K.max_pool2d_backward(np.ones((1, 1, 2, 2)), np.full((1, 1, 2, 2), -1, np.int64), (1, 1, 4, 4))",
         "ValueError", "max_pool2d_backward", "indices"),
        ("K.max_pool2d_backward(np.ones((1, 1, 2, 2)), np.zeros((1, 1, 2, 2), np.int64), (1, 2, 4, 4))",
         "ValueError", "max_pool2d_backward", "x_shape"),
        ("K.max_pool2d_backward(np.ones((1, 1, 2, 2)), np.zeros((1, 1, 2, 2), np.int64), (1, 1, 4))",
         "ValueError", "max_pool2d_backward", "x_shape"),
        ("K.max_pool2d_backward(np.ones((1, 1, 2, 2)), np.zeros((1, 1, 2, 2), np.int64), (1, 1, 0, 4))",
         "ValueError", "max_pool2d_backward", "x_shape"),
        ("K.max_pool2d_backward(np.ones((1, 1, 2, 2)), np.zeros((1, 1, 2, 2), np.int64), 5)",
         "TypeError", "max_pool2d_backward", "x_shape"),
        ("K.max_pool2d_backward(np.ones((1, 2, 2)), np.zeros((1, 2, 2), np.int64), (1, 1, 4, 4))",
         "ValueError", "max_pool2d_backward", "grad"),
    ])


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_2x2_stride_2_ties_nans_and_odd_sizes(dtype, layout, isa):
    # The 2x2 stride-2 pool has its own loop in each layout: ties go to the first cell, a NaN
    # makes the window NaN with the index of its last NaN, -inf windows keep the first cell; an
    # odd last row/column is dropped; channel counts with vector tails (19). NHWC gives the NCHW
    # call's values and indices.
    rng = np.random.default_rng(6)
    x = rng.integers(-2, 3, size=(3, 19, 9, 11)).astype(dtype)  # many ties
    x[0, 0, 0, 1] = x[0, 0, 1, 0] = np.nan  # two NaNs in one window: the later one's index
    x[1, 2, 2:4, 2:4] = -np.inf
    x[2, 18, 5, 7] = np.nan
    nhwc = layout == "NHWC"
    xl = np.ascontiguousarray(x.transpose(0, 2, 3, 1)) if nhwc else x
    y, idx = K.max_pool2d(xl, 2, layout=layout, return_indices=True)
    if nhwc:
        y, idx = y.transpose(0, 3, 1, 2), idx.transpose(0, 3, 1, 2)
    yr, ir = ref.max_pool2d(x, 2)
    assert_close(y, yr, rtol=0, atol=0, what=f"values ({layout}, {isa})")
    finite = ~np.isnan(yr)  # the reference takes a window's first NaN, torch and we its last
    np.testing.assert_array_equal(idx[finite], ir[finite], err_msg=f"indices ({layout}, {isa})")
    assert idx[0, 0, 0, 0] == 1 * 11 + 0 and idx[2, 18, 2, 3] == 5 * 11 + 7 and idx[1, 2, 1, 1] == 2 * 11 + 2
    assert np.isnan(y[2, 18, 2, 3]) and np.isnan(y[0, 0, 0, 0])
    y_only = K.max_pool2d(xl, 2, layout=layout)
    assert_close(y_only.transpose(0, 3, 1, 2) if nhwc else y_only, yr, rtol=0, atol=0,
                 what=f"without indices ({layout}, {isa})")
    if nhwc:
        np.testing.assert_array_equal(idx, K.max_pool2d(x, 2, return_indices=True)[1],
                                      err_msg=f"NCHW indices ({isa})")
