import math

import numpy as np
import pytest

import twincore.kernels as K
from twincore.kernels.reference import rotate as ref
from twincore.testing import assert_close, check_grads, randn, rng, run_bad_calls, tol

from support import requires_tf, requires_torch

FILLS = ["zeros", "constant", "nearest", "reflect"]
INTERPS = ["bilinear", "nearest"]
# scipy.ndimage / TF names of our fill modes (ours interpolate towards the constant
# across the border: scipy's "grid-constant", not its "constant").
SCIPY_MODE = {"zeros": "grid-constant", "constant": "grid-constant", "nearest": "nearest", "reflect": "reflect"}
TF_MODE = {"zeros": "CONSTANT", "constant": "CONSTANT", "nearest": "NEAREST", "reflect": "REFLECT"}
FILL_VALUE = {"zeros": 0.0, "constant": 1.75, "nearest": 0.0, "reflect": 0.0}


def images_of(shape_nchw, layout, dtype, seed):
    x = randn(shape_nchw, dtype, seed=seed)
    return x if layout == "NCHW" else np.ascontiguousarray(x.transpose(0, 2, 3, 1))


def params(n, shared, dtype, seed, max_shift=4.0):
    """Generic (non-grid) angles and non-integer shifts, already in the images' dtype."""
    r = rng(seed)
    if shared:
        return np.asarray(r.uniform(-200, 200), dtype), r.uniform(-max_shift, max_shift, 2).astype(dtype)
    return r.uniform(-200, 200, n).astype(dtype), r.uniform(-max_shift, max_shift, (n, 2)).astype(dtype)


# ---- parity with the NumPy float64 reference ----

@pytest.mark.parametrize("shape", [(1, 1, 1, 1), (3, 2, 17, 5), (2, 1, 3, 127), (1, 3, 13, 1), (2, 2, 1, 17)])
@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("interp", INTERPS)
@pytest.mark.parametrize("fill", FILLS)
@pytest.mark.parametrize("shared", [False, True], ids=["per_sample", "shared"])
def test_parity_with_reference(shape, layout, interp, fill, shared, dtype):
    seed = sum(shape) + 7 * FILLS.index(fill) + 3 * shared
    x = images_of(shape, layout, dtype, seed)
    g = images_of(shape, layout, dtype, seed + 1)
    a, t = params(shape[0], shared, dtype, seed + 2)
    kw = dict(interpolation=interp, fill=fill, fill_value=FILL_VALUE[fill], layout=layout)
    y = K.rotate(x, a, t, **kw)
    assert y.dtype == dtype and y.shape == x.shape
    assert_close(y, ref.rotate(x, a, t, **kw), **tol(dtype), what="forward")
    di, da, dt = K.rotate_backward(g, x, a, t, need_angle=True, need_translate=True, **kw)
    rdi, rda, rdt = ref.rotate_backward(g, x, a, t, **kw)
    assert da.shape == a.shape and dt.shape == t.shape and di.dtype == dtype
    assert_close(di, rdi, **tol(dtype), what="dimages")
    big = {"rtol": 1e-3, "atol": 1e-3} if dtype == np.float32 else tol(dtype)  # sums of many terms
    assert_close(da, rda, **big, what="dangle")
    assert_close(dt, rdt, **big, what="dtranslate")


@pytest.mark.parametrize("shape", [(2, 2, 67, 65), (1, 1, 9, 513)])  # > 4096 pixels: several table blocks
@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("interp", INTERPS)
def test_large_images_parity(shape, layout, interp):
    x = images_of(shape, layout, np.float64, 40)
    g = images_of(shape, layout, np.float64, 41)
    a, t = params(shape[0], False, np.float64, 42, max_shift=9.0)
    kw = dict(interpolation=interp, fill="constant", fill_value=0.5, layout=layout)
    assert_close(K.rotate(x, a, t, **kw), ref.rotate(x, a, t, **kw), what="forward")
    di, da, dt = K.rotate_backward(g, x, a, t, need_angle=True, need_translate=True, **kw)
    for got, want, what in zip((di, da, dt), ref.rotate_backward(g, x, a, t, **kw), ("dimages", "dangle", "dtranslate")):
        assert_close(got, want, rtol=1e-9, atol=1e-9, what=what)


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_same_result_for_any_thread_count(layout):
    x = images_of((7, 5, 30, 31), layout, np.float32, 50)
    g = images_of((7, 5, 30, 31), layout, np.float32, 51)
    a, t = params(7, False, np.float32, 52)
    before = K.num_threads()
    try:
        outs = []
        for n in (1, 3, 8):
            K.set_num_threads(n)
            outs.append((K.rotate(x, a, t, layout=layout),)
                        + K.rotate_backward(g, x, a, t, layout=layout, need_angle=True, need_translate=True))
    finally:
        K.set_num_threads(before)
    for other in outs[1:]:
        for u, v in zip(outs[0], other):
            assert np.array_equal(u, v)  # each plane is owned by one thread: no races, same sums


def test_backward_need_flags():
    x = randn((2, 3, 6, 7), np.float64, seed=1)
    g = randn((2, 3, 6, 7), np.float64, seed=2)
    out = K.rotate_backward(g, x, 17.0, (0.3, -0.4))
    assert out[1] is None and out[2] is None and out[0].shape == x.shape
    di, da, dt = K.rotate_backward(g, x, 17.0, (0.3, -0.4), need_images=False, need_angle=True,
                                   need_translate=True)
    assert di is None and da.shape == () and dt.shape == (2,)
    rdi, rda, rdt = ref.rotate_backward(g, x, 17.0, (0.3, -0.4))
    assert_close(da, rda, what="shared dangle")
    assert_close(dt, rdt, what="shared dtranslate")


def test_shared_equals_per_sample_and_sums_over_batch():
    x = randn((4, 2, 9, 8), np.float64, seed=3)
    g = randn((4, 2, 9, 8), np.float64, seed=4)
    a, t = np.asarray(33.3), np.array([1.25, -0.6])
    a4, t4 = np.full(4, 33.3), np.tile(t, (4, 1))
    assert np.array_equal(K.rotate(x, a, t), K.rotate(x, a4, t4))
    _, da, dt = K.rotate_backward(g, x, a, t, need_angle=True, need_translate=True)
    _, da4, dt4 = K.rotate_backward(g, x, a4, t4, need_angle=True, need_translate=True)
    assert_close(da, da4.sum(), rtol=1e-12, atol=1e-12, what="dangle sum")
    assert_close(dt, dt4.sum(0), rtol=1e-12, atol=1e-12, what="dtranslate sum")


def test_nearest_has_zero_coordinate_gradient():
    x = randn((2, 1, 7, 7), np.float64, seed=5)
    di, da, dt = K.rotate_backward(x, x, np.array([20.0, -50.0]), np.array([[0.3, 0.2], [1.4, -2.2]]),
                                   interpolation="nearest", need_angle=True, need_translate=True)
    assert np.abs(di).sum() > 0
    assert np.array_equal(da, np.zeros(2)) and np.array_equal(dt, np.zeros((2, 2)))


# ---- exact geometric facts ----

@pytest.mark.parametrize("interp", INTERPS)
@pytest.mark.parametrize("fill", FILLS)
@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_identity_exact(interp, fill, layout, dtype):
    x = images_of((3, 2, 17, 6), layout, dtype, seed=11)
    kw = dict(interpolation=interp, fill=fill, fill_value=3.0, layout=layout)
    assert np.array_equal(K.rotate(x, 0.0, (0, 0), **kw), x)
    for full_turn in (360.0, -360.0, 720.0):
        assert_close(K.rotate(x, full_turn, **kw), x, rtol=0, atol=1e-6, what=f"angle {full_turn}")
    assert np.array_equal(K.rotate_backward(x, x, 0.0, **kw)[0], x)  # the transpose of identity


@pytest.mark.parametrize("size", [1, 4, 5, 17])
@pytest.mark.parametrize("interp", INTERPS)
def test_quarter_turns_are_rot90_counter_clockwise(size, interp, dtype):
    x = randn((2, 3, size, size), dtype, seed=size)
    for k, angle in ((1, 90.0), (2, 180.0), (3, 270.0), (3, -90.0), (1, 450.0)):
        want = np.rot90(x, k=k, axes=(2, 3))  # np.rot90 turns counter-clockwise as displayed
        assert np.array_equal(K.rotate(x, angle, interpolation=interp), want), (k, angle)


def test_direction_and_translation_by_hand():
    x = np.zeros((1, 1, 5, 5))
    x[0, 0, 2, 4] = 1.0  # right of the centre (2, 2)
    y = K.rotate(x, 90.0, interpolation="nearest")
    assert y[0, 0, 0, 2] == 1.0 and y.sum() == 1.0  # counter-clockwise: right -> top
    z = randn((1, 2, 6, 7), np.float64, seed=8)
    s = K.rotate(z, 0.0, (2.0, 1.0))  # dx = 2 right, dy = 1 down
    assert np.array_equal(s[..., 1:, 2:], z[..., :-1, :-2])
    assert np.array_equal(s[..., :1, :], np.zeros((1, 2, 1, 7)))


def test_nan_propagates_and_non_contiguous():
    x = randn((1, 1, 9, 9), np.float32, seed=9)
    x[0, 0, 4, 4] = np.nan
    y = K.rotate(x, 30.0)
    assert np.isnan(y[0, 0, 4, 4]) and np.isfinite(y[0, 0, 0]).all()
    v = randn((3, 8, 9, 5), np.float64, seed=10).transpose(0, 3, 1, 2)[:, ::2]  # strided view
    assert not v.flags.c_contiguous
    assert_close(K.rotate(v, 12.0, (0.5, 0.25)), ref.rotate(v, 12.0, (0.5, 0.25)), **tol(np.float64))


@pytest.mark.parametrize("fill", FILLS)
def test_far_translations_stay_in_bounds(fill):
    x = randn((2, 2, 5, 7), np.float64, seed=12)
    t = np.array([[1e30, -3e20], [-7.5e15, 2.5e9]])
    y = K.rotate(x, np.array([10.0, -100.0]), t, fill=fill, fill_value=2.0)
    assert np.isfinite(y).all()
    if fill in ("zeros", "constant"):  # every sample lands outside: all fill
        assert np.array_equal(y, np.full_like(x, 2.0 if fill == "constant" else 0.0))
    di, da, dt = K.rotate_backward(x, x, 10.0, t, fill=fill, need_angle=True, need_translate=True)
    assert np.isfinite(di).all() and np.isfinite(da).all() and np.isfinite(dt).all()


# ---- finite-difference gradients (float64, bilinear; generic angles and shifts avoid kinks) ----

@pytest.mark.parametrize("fill", FILLS)
@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("shared", [False, True], ids=["per_sample", "shared"])
def test_gradcheck(fill, layout, shared):
    seed = FILLS.index(fill) + 10 * shared
    x = images_of((2, 2, 5, 6), layout, np.float64, seed)
    w = images_of((2, 2, 5, 6), layout, np.float64, seed + 1)
    a, t = params(2, shared, np.float64, seed + 2, max_shift=2.0)
    a = np.array(a)  # writable for the finite differences
    kw = dict(fill=fill, fill_value=-0.7, layout=layout)
    loss = lambda: float((K.rotate(x, a, t, **kw) * w).sum())
    grads = K.rotate_backward(w, x, a, t, need_angle=True, need_translate=True, **kw)
    check_grads(loss, [x, a, t], grads, rtol=1e-5, atol=1e-7, names=["images", "angle", "translate"])


# ---- scipy.ndimage ----

@pytest.mark.parametrize("fill", FILLS)
@pytest.mark.parametrize("order", [1, 0])
@pytest.mark.parametrize("hw", [(17, 17), (13, 20), (3, 127)])
def test_scipy_rotate(fill, order, hw):
    nd = pytest.importorskip("scipy.ndimage")
    img = randn(hw, np.float64, seed=hw[1] + order)
    angle = 23.7 + 41.0 * order
    interp = "bilinear" if order == 1 else "nearest"
    ours = K.rotate(img[None, None], angle, interpolation=interp, fill=fill, fill_value=FILL_VALUE[fill])[0, 0]
    want = nd.rotate(img, angle, reshape=False, order=order, mode=SCIPY_MODE[fill], cval=FILL_VALUE[fill])
    assert_close(ours, want, rtol=1e-9, atol=1e-9, what="scipy.ndimage.rotate")


@pytest.mark.parametrize("fill", FILLS)
@pytest.mark.parametrize("order", [1, 0])
def test_scipy_affine_transform_with_translation(fill, order):
    nd = pytest.importorskip("scipy.ndimage")
    h, w = 15, 22
    img = randn((h, w), np.float64, seed=21)
    angle, dx, dy = -71.3, 2.37, -1.61
    c, s = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    m = np.array([[c, s], [-s, c]])  # (row, col) output -> input
    centre = np.array([(h - 1) / 2, (w - 1) / 2])
    want = nd.affine_transform(img, m, offset=centre - m @ (centre + [dy, dx]), order=order,
                               mode=SCIPY_MODE[fill], cval=FILL_VALUE[fill])
    interp = "bilinear" if order == 1 else "nearest"
    ours = K.rotate(img[None, None], angle, (dx, dy), interpolation=interp, fill=fill,
                    fill_value=FILL_VALUE[fill])[0, 0]
    assert_close(ours, want, rtol=1e-9, atol=1e-9, what="scipy.ndimage.affine_transform")


# ---- TensorFlow: ImageProjectiveTransformV3 (NHWC, output -> input matrix, float32 coordinates) ----

@requires_tf
@pytest.mark.parametrize("fill", FILLS)
@pytest.mark.parametrize("interp", INTERPS)
def test_tf_image_projective_transform(fill, interp):
    import tensorflow as tf

    n, h, w, ch = 3, 17, 19, 2
    x = randn((n, h, w, ch), np.float32, seed=31)
    a, t = params(n, False, np.float32, seed=32)
    c, s = np.cos(np.deg2rad(a.astype(np.float64))), np.sin(np.deg2rad(a.astype(np.float64)))
    cx, cy = (w - 1) / 2, (h - 1) / 2
    dx, dy = t[:, 0].astype(np.float64), t[:, 1].astype(np.float64)
    tr = np.stack([c, -s, cx - c * (cx + dx) + s * (cy + dy), s, c, cy - s * (cx + dx) - c * (cy + dy),
                   0 * c, 0 * c], 1).astype(np.float32)
    want = tf.raw_ops.ImageProjectiveTransformV3(
        images=tf.constant(x), transforms=tf.constant(tr), output_shape=tf.constant([h, w], tf.int32),
        fill_value=tf.constant(FILL_VALUE[fill], tf.float32), interpolation=interp.upper(),
        fill_mode=TF_MODE[fill]).numpy()
    ours = K.rotate(tf.constant(x), tf.constant(a), tf.constant(t), interpolation=interp, fill=fill,
                    fill_value=FILL_VALUE[fill], layout="NHWC")
    assert isinstance(ours, tf.Tensor)
    assert_close(ours.numpy(), want, rtol=1e-4, atol=2e-4, what="tf ImageProjectiveTransformV3")


@requires_tf
def test_tf_in_tf_out_backward():
    import tensorflow as tf

    x = tf.random.normal((2, 5, 6, 3), dtype=tf.float64, seed=1)
    di, da, dt = K.rotate_backward(x, x, tf.constant([10.0, 20.0], tf.float64), (0.5, 0.25), layout="NHWC",
                                   need_angle=True, need_translate=True)
    assert all(isinstance(v, tf.Tensor) for v in (di, da, dt)) and tuple(dt.shape) == (2,)
    rdi, rda, rdt = ref.rotate_backward(x.numpy(), x.numpy(), [10.0, 20.0], (0.5, 0.25), layout="NHWC")
    assert_close(di.numpy(), rdi, what="dimages")
    assert_close(da.numpy(), rda, what="dangle")


# ---- torch: affine_grid + grid_sample (align_corners=True puts pixel centres on the grid) ----

def torch_rotate(torch, x, angle, translate, mode="bilinear", padding="zeros"):
    """Our rotate through torch's native ops, differentiable in x, angle and translate."""
    F = torch.nn.functional
    n, _, h, w = x.shape
    a, b = (w - 1) / 2, (h - 1) / 2
    th = angle * (math.pi / 180)
    c, s = torch.cos(th), torch.sin(th)
    dx, dy = translate[:, 0], translate[:, 1]
    theta = torch.stack([torch.stack([c, -s * b / a, (-c * dx + s * dy) / a], 1),
                         torch.stack([s * a / b, c, (-s * dx - c * dy) / b], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=True)
    return F.grid_sample(x, grid, mode=mode, padding_mode=padding, align_corners=True)


@requires_torch
@pytest.mark.parametrize("fill,padding", [("zeros", "zeros"), ("nearest", "border")])
def test_torch_grid_sample_forward_backward(fill, padding):
    import torch

    torch.manual_seed(0)
    n, ch, h, w = 3, 2, 13, 16
    x = torch.randn(n, ch, h, w, dtype=torch.float64, requires_grad=True)
    a = torch.tensor([17.3, -128.9, 63.1], dtype=torch.float64, requires_grad=True)
    t = torch.tensor([[0.37, -1.21], [2.73, 0.44], [-0.58, 3.17]], dtype=torch.float64, requires_grad=True)
    g = torch.randn(n, ch, h, w, dtype=torch.float64)
    want = torch_rotate(torch, x, a, t, padding=padding)
    want.backward(g)
    ours = K.rotate(x, a, t, fill=fill)
    assert isinstance(ours, torch.Tensor) and ours.dtype == torch.float64
    torch.testing.assert_close(ours, want.detach(), rtol=1e-9, atol=1e-9)
    di, da, dt = K.rotate_backward(g, x, a, t, fill=fill, need_angle=True, need_translate=True)
    torch.testing.assert_close(di, x.grad, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(da, a.grad, rtol=1e-8, atol=1e-8)
    torch.testing.assert_close(dt, t.grad, rtol=1e-8, atol=1e-8)


@requires_torch
def test_torch_nearest_and_float32():
    import torch

    torch.manual_seed(1)
    x = torch.randn(4, 3, 28, 28)
    a = torch.rand(4) * 60 - 30
    t = torch.zeros(4, 2)
    # nearest in float64 so torch's grid coordinates round like ours (ties aside)
    x64, a64 = x.double(), a.double()
    torch.testing.assert_close(K.rotate(x64, a64, interpolation="nearest"),
                               torch_rotate(torch, x64, a64, t.double(), mode="nearest"), rtol=0, atol=0)
    torch.testing.assert_close(K.rotate(x, a), torch_rotate(torch, x, a, t), rtol=1e-4, atol=1e-4)
    y = K.rotate(x, 30.0)  # a Python scalar becomes a tensor of x's dtype
    assert y.dtype == torch.float32


# ---- bad input ----

def test_bad_input():
    x = "x = np.ones((2, 1, 4, 5), np.float32); "
    run_bad_calls([
        ("K.rotate(np.ones((3, 4, 5), np.float32), 10.0)", "ValueError", "rotate", "images"),
        ("K.rotate(np.ones((1, 1, 1, 3, 4), np.float32), 10.0)", "ValueError", "rotate", "images"),
        ("K.rotate(np.ones((0, 1, 4, 4), np.float32), 10.0)", "ValueError", "rotate", "images"),
        ("K.rotate(np.ones((1, 1, 4, 4), np.int64), 10.0)", "TypeError", "rotate", "images"),
        ("K.rotate(None, 10.0)", "TypeError", "rotate", "images"),
        (x + "K.rotate(x, np.ones(3, np.float32))", "ValueError", "rotate", "angle"),
        (x + "K.rotate(x, np.ones((2, 1), np.float32))", "ValueError", "rotate", "angle"),
        (x + "K.rotate(x, np.ones(0, np.float32))", "ValueError", "rotate", "angle"),
        (x + "K.rotate(x, np.ones(2, np.float64))", "TypeError", "rotate", "angle"),
        (x + "K.rotate(x, float('nan'))", "ValueError", "rotate", "angle"),
        (x + "K.rotate(x, np.array([1.0, np.inf], np.float32))", "ValueError", "rotate", "angle"),
        (x + "K.rotate(x, 10.0, (1, 2, 3))", "ValueError", "rotate", "translate"),
        (x + "K.rotate(x, 10.0, np.ones((3, 2), np.float32))", "ValueError", "rotate", "translate"),
        (x + "K.rotate(x, 10.0, np.ones((2, 3), np.float32))", "ValueError", "rotate", "translate"),
        (x + "K.rotate(x, 10.0, (0.0, float('nan')))", "ValueError", "rotate", "translate"),
        (x + "K.rotate(x, 10.0, interpolation='bicubic')", "ValueError", "rotate", "interpolation"),
        (x + "K.rotate(x, 10.0, interpolation=1)", "TypeError", "rotate", "interpolation"),
        (x + "K.rotate(x, 10.0, fill='wrap')", "ValueError", "rotate", "fill"),
        (x + "K.rotate(x, 10.0, fill_value='abc')", "TypeError", "rotate", "fill_value"),
        (x + "K.rotate(x, 10.0, layout='CHW')", "ValueError", "rotate", "layout"),
        (x + "K.rotate(x, 10.0, layout=1)", "TypeError", "rotate", "layout"),
        (x + "K.rotate_backward(x, x, 10.0, layout=None)", "TypeError", "rotate_backward", "layout"),
        (x + "K.rotate_backward(np.ones((2, 1, 4, 4), np.float32), x, 10.0)", "ValueError", "rotate_backward", "grad"),
        (x + "K.rotate_backward(x.astype(np.float64), x, 10.0)", "TypeError", "rotate_backward", "grad"),
        (x + "K.rotate_backward(x, x, np.ones(5, np.float32))", "ValueError", "rotate_backward", "angle"),
        (x + "K.rotate_backward(x, x, 1.0, fill='mirror')", "ValueError", "rotate_backward", "fill"),
    ])
