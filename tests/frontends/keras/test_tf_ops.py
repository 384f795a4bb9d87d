"""The tf.custom_gradient ops: forward and backward parity with TF's native ops and a
NumPy float64 reference, eager and in tf.function, plus tf.test.compute_gradient."""
import numpy as np
import pytest
import tensorflow as tf

from twincore.frontends.keras import tf_ops as T
from twincore.testing import randn

from keras_testutil import assert_allclose, check_numeric_gradient, has_ops, needs, value_and_grads

GRAPH = pytest.mark.parametrize("graph", [False, True], ids=["eager", "graph"])


def parity(ours, native, inputs, graph, dtype, scale=1.0):
    y, g = value_and_grads(ours, inputs, graph)
    yn, gn = value_and_grads(native, inputs, graph=False)
    assert_allclose(y, yn, dtype, "forward", scale)
    for i, (a, b) in enumerate(zip(g, gn)):
        assert_allclose(a, b, dtype, f"gradient of input {i}", scale)
    return y


# ---- activations -----------------------------------------------------------------

ACTS = [(T.relu, tf.nn.relu, lambda x: np.maximum(x, 0), "relu"),
        (T.tanh, tf.math.tanh, np.tanh, "tanh"),
        (T.softmax, tf.nn.softmax, lambda x: np.exp(x - x.max(-1, keepdims=True))
         / np.exp(x - x.max(-1, keepdims=True)).sum(-1, keepdims=True), "softmax")]


@pytest.mark.parametrize("ours,native,ref,name", ACTS, ids=[a[-1] for a in ACTS])
@pytest.mark.parametrize("shape", [(1,), (3, 17), (127, 5), (2, 3, 513)])
@GRAPH
def test_activations(ours, native, ref, name, shape, graph, dtype):
    if name == "softmax":
        has_ops("softmax", "softmax_backward") or pytest.skip("softmax not landed")
    x = randn(shape, dtype, seed=sum(shape), scale=2.0)
    y = parity(ours, native, [x], graph, dtype)
    assert_allclose(y, ref(x.astype(np.float64)), dtype, "vs numpy reference")


@pytest.mark.parametrize("ours,name", [(T.relu, "relu"), (T.tanh, "tanh"), (T.softmax, "softmax")])
def test_activations_numeric_gradient(ours, name):
    if name == "softmax":
        has_ops("softmax", "softmax_backward") or pytest.skip("softmax not landed")
    x = randn((4, 6), np.float64, seed=2)
    x[np.abs(x) < 1e-2] = 0.5  # away from relu's kink
    check_numeric_gradient(ours, [x])


# ---- matmul / dense ----------------------------------------------------------------

@needs("matmul", "matmul_backward")
@pytest.mark.parametrize("m,k,n", [(1, 1, 1), (3, 17, 5), (17, 127, 3), (127, 3, 513)])
@pytest.mark.parametrize("trans", [(False, False), (True, False), (False, True), (True, True)],
                         ids=["nn", "tn", "nt", "tt"])
@GRAPH
def test_matmul(m, k, n, trans, graph, dtype):
    ta, tb = trans
    a = randn((k, m) if ta else (m, k), dtype, seed=1)
    b = randn((n, k) if tb else (k, n), dtype, seed=2)
    bias = randn((n,), dtype, seed=3)
    y = parity(lambda a, b, c: T.matmul(a, b, c, trans_a=ta, trans_b=tb),
               lambda a, b, c: tf.matmul(a, b, transpose_a=ta, transpose_b=tb) + c, [a, b, bias], graph, dtype)
    ref = (a.T if ta else a).astype(np.float64) @ (b.T if tb else b).astype(np.float64) + bias
    assert_allclose(y, ref, dtype, "vs numpy reference")


@needs("matmul", "matmul_backward")
@GRAPH
def test_matmul_batched_shared_b(graph, dtype):
    a = randn((3, 17, 5), dtype, seed=4)
    b = randn((5, 7), dtype, seed=5)
    parity(T.matmul, lambda a, b: tf.einsum("bmk,kn->bmn", a, b), [a, b], graph, dtype)
    b3 = randn((3, 5, 7), dtype, seed=6)
    parity(T.matmul, tf.matmul, [a, b3], graph, dtype)


@needs("matmul", "matmul_backward")
@pytest.mark.parametrize("act,native", [(None, tf.identity), ("relu", tf.nn.relu), ("tanh", tf.math.tanh)])
@GRAPH
def test_dense_fused_activation(act, native, graph, dtype):
    x = randn((33, 17), dtype, seed=7)
    w = randn((17, 9), dtype, seed=8)
    b = randn((9,), dtype, seed=9)
    parity(lambda x, w, b: T.dense(x, w, b, act), lambda x, w, b: native(tf.matmul(x, w) + b), [x, w, b],
           graph, dtype)


@needs("matmul", "matmul_backward")
def test_matmul_numeric_gradient():
    check_numeric_gradient(lambda a, b, c: T.matmul(a, b, c), [randn((3, 4), seed=1), randn((4, 5), seed=2),
                                                               randn((5,), seed=3)])
    check_numeric_gradient(lambda a, b: T.matmul(a, b, trans_a=True, trans_b=True),
                           [randn((4, 3), seed=4), randn((2, 4), seed=5)])
    check_numeric_gradient(lambda x, w, b: T.dense(x, w, b, "tanh"),
                           [randn((3, 4), seed=6), randn((4, 2), seed=7), randn((2,), seed=8)])


# ---- conv2d ------------------------------------------------------------------------

CONV = [  # n, h, w, c, o, k, stride, padding, dilation
    (1, 5, 5, 1, 1, 3, 1, "valid", 1),
    (2, 9, 7, 3, 4, 3, 1, "same", 1),
    (3, 17, 17, 2, 5, 3, 2, "same", 1),
    (2, 16, 13, 3, 2, (3, 2), (2, 1), "valid", 1),
    (1, 12, 12, 2, 3, 3, 1, "same", 2),
    (2, 11, 10, 4, 3, 5, 3, "same", 1),
]


def _native_conv(x, w, stride, padding, dilation):
    if dilation != 1:  # TF's CPU Conv2D has no dilated backward; atrous_conv2d (stride 1) does
        return tf.nn.atrous_conv2d(x, w, dilation, padding.upper())
    return tf.nn.conv2d(x, w, stride, padding.upper())


@needs("conv2d", "conv2d_backward")
@pytest.mark.parametrize("n,h,w,c,o,k,stride,padding,dilation", CONV)
@GRAPH
def test_conv2d(n, h, w, c, o, k, stride, padding, dilation, graph, dtype):
    kh, kw = (k, k) if isinstance(k, int) else k
    x = randn((n, h, w, c), dtype, seed=h)
    wt = randn((kh, kw, c, o), dtype, seed=w)
    b = randn((o,), dtype, seed=o)
    parity(lambda x, wt, b: T.conv2d(x, wt, b, stride, padding, dilation),
           lambda x, wt, b: _native_conv(x, wt, stride, padding, dilation) + b,
           [x, wt, b], graph, dtype, scale=3.0)


@needs("conv2d", "conv2d_backward")
@GRAPH
def test_conv2d_fused_relu(graph, dtype):
    x = randn((2, 8, 8, 3), dtype, seed=1)
    wt = randn((3, 3, 3, 4), dtype, seed=2)
    b = randn((4,), dtype, seed=3)
    parity(lambda x, wt, b: T.conv2d(x, wt, b, 2, "same", activation="relu"),
           lambda x, wt, b: tf.nn.relu(tf.nn.conv2d(x, wt, 2, "SAME") + b), [x, wt, b], graph, dtype, scale=3.0)


@needs("conv2d", "conv2d_backward")
def test_conv2d_numeric_gradient():
    check_numeric_gradient(lambda x, w, b: T.conv2d(x, w, b, 2, "same"),
                           [randn((2, 5, 4, 2), seed=1), randn((3, 3, 2, 3), seed=2), randn((3,), seed=3)])


# ---- pooling -----------------------------------------------------------------------

@needs("max_pool2d", "max_pool2d_backward")
@pytest.mark.parametrize("shape,pool,stride,padding", [
    ((1, 4, 4, 1), 2, None, "valid"), ((2, 9, 7, 3), 2, None, "valid"), ((2, 9, 7, 3), 3, 2, "same"),
    ((3, 17, 17, 5), (2, 3), (1, 2), "valid"), ((1, 28, 28, 32), 2, 2, "valid")])
@GRAPH
def test_max_pool2d(shape, pool, stride, padding, graph, dtype):
    x = randn(shape, dtype, seed=shape[1])
    parity(lambda x: T.max_pool2d(x, pool, stride, padding),
           lambda x: tf.nn.max_pool2d(x, pool, pool if stride is None else stride, padding.upper()),
           [x], graph, dtype)


@needs("max_pool2d", "max_pool2d_backward")
def test_max_pool2d_nchw_and_numeric_gradient():
    x = randn((2, 3, 6, 5), np.float32, seed=1)
    y = T.max_pool2d(tf.constant(x), 2, layout="NCHW").numpy()
    ref = tf.transpose(tf.nn.max_pool2d(tf.transpose(x, (0, 2, 3, 1)), 2, 2, "VALID"), (0, 3, 1, 2))
    assert_allclose(y, ref, np.float32)
    check_numeric_gradient(lambda x: T.max_pool2d(x, 2, 1, "same"), [randn((2, 4, 5, 2), seed=2)])


@needs("global_avg_pool2d", "global_avg_pool2d_backward")
@pytest.mark.parametrize("shape", [(1, 1, 1, 1), (2, 3, 17, 5), (3, 28, 28, 32)])
@GRAPH
def test_global_avg_pool2d(shape, graph, dtype):
    x = randn(shape, dtype, seed=shape[2])
    y = parity(T.global_avg_pool2d, lambda x: tf.reduce_mean(x, (1, 2)), [x], graph, dtype)
    assert_allclose(y, x.astype(np.float64).mean((1, 2)), dtype)
    check_numeric_gradient(T.global_avg_pool2d, [randn((2, 3, 4, 2), seed=3)])


# ---- losses ------------------------------------------------------------------------

def _ce_native(logits, labels, s, reduction):
    c = logits.shape[-1]
    onehot = tf.one_hot(labels, c, dtype=logits.dtype) if labels.dtype.is_integer else labels
    loss = tf.nn.softmax_cross_entropy_with_logits((1 - s) * onehot + s / c, logits)
    return {"none": loss, "mean": tf.reduce_mean(loss), "sum": tf.reduce_sum(loss)}[reduction]


@needs("softmax_cross_entropy")
@pytest.mark.parametrize("n,c", [(1, 2), (127, 3), (17, 513)])
@pytest.mark.parametrize("sparse", [True, False], ids=["ids", "probs"])
@pytest.mark.parametrize("s,reduction", [(0.0, "none"), (0.1, "mean"), (0.2, "sum")])
@GRAPH
def test_softmax_cross_entropy(n, c, sparse, s, reduction, graph, dtype):
    rng = np.random.default_rng(n + c)
    logits = randn((n, c), dtype, seed=n, scale=3.0)
    if sparse:
        labels = tf.constant(rng.integers(0, c, n), tf.int64)
    else:
        p = rng.random((n, c))
        labels = tf.constant((p / p.sum(1, keepdims=True)).astype(dtype))

    ours = lambda z: T.softmax_cross_entropy(z, labels, s, reduction)  # noqa: E731
    y = parity(ours, lambda z: _ce_native(z, labels, s, reduction), [logits], graph, dtype)
    # NumPy float64 reference
    z = logits.astype(np.float64)
    logp = z - z.max(1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(1, keepdims=True))
    t = np.eye(c)[labels.numpy()] if sparse else labels.numpy().astype(np.float64)
    per = -((1 - s) * t + s / c).__mul__(logp).sum(1)
    assert_allclose(y, {"none": per, "mean": per.mean(), "sum": per.sum()}[reduction], dtype)


@needs("softmax_cross_entropy")
def test_softmax_cross_entropy_large_logits_and_numeric_gradient():
    z = tf.constant([[1e4, -1e4, 0.0], [-1e4, -1e4, 1e4]], tf.float32)
    loss = T.softmax_cross_entropy(z, tf.constant([1, 2]), 0.0, "none").numpy()
    np.testing.assert_allclose(loss, [2e4, 0.0], rtol=1e-6)
    labels = tf.constant([2, 0, 1])
    check_numeric_gradient(lambda z: T.softmax_cross_entropy(z, labels, 0.1, "none"), [randn((3, 4), seed=1)])
    probs = tf.constant(np.full((3, 4), 0.25))
    check_numeric_gradient(lambda z: T.softmax_cross_entropy(z, probs, 0.0, "mean"), [randn((3, 4), seed=2)])


@needs("mse", "mse_backward")
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@GRAPH
def test_mse(reduction, graph, dtype):
    p, t = randn((17, 3), dtype, seed=1), randn((17, 3), dtype, seed=2)
    red = {"mean": tf.reduce_mean, "sum": tf.reduce_sum, "none": tf.identity}[reduction]
    parity(lambda p, t: T.mse(p, t, reduction), lambda p, t: red(tf.square(p - t)), [p, t], graph, dtype)
    check_numeric_gradient(lambda p, t: T.mse(p, t, reduction), [randn((3, 4), seed=3), randn((3, 4), seed=4)])


# ---- rotate ------------------------------------------------------------------------

def _native_rotate(x, angle, translate, interpolation, fill):
    """The same warp through tf.raw_ops.ImageProjectiveTransformV3: output pixel (x, y)
    samples the input at R(angle) (p - centre - t) + centre (pixel centres at integers)."""
    n, h, w, _ = x.shape
    th = np.deg2rad(np.broadcast_to(angle, (n,)).astype(np.float64))
    t = np.broadcast_to(np.asarray(translate, np.float64), (n, 2))
    c, s = np.cos(th), np.sin(th)
    cx, cy = (w - 1) / 2, (h - 1) / 2
    ox, oy = cx + t[:, 0], cy + t[:, 1]
    tr = np.stack([c, -s, cx - c * ox + s * oy, s, c, cy - s * ox - c * oy, 0 * c, 0 * c], 1)
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=x, transforms=tf.constant(tr, tf.float32), output_shape=[h, w], fill_value=0.0,
        interpolation=interpolation.upper(), fill_mode={"zeros": "CONSTANT"}.get(fill, fill.upper()))


@needs("rotate", "rotate_backward")
@pytest.mark.parametrize("shape", [(1, 5, 5, 1), (3, 17, 13, 2)])
@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
@pytest.mark.parametrize("fill", ["zeros", "nearest", "reflect"])
@GRAPH
def test_rotate_matches_image_projective_transform(shape, interpolation, fill, graph, dtype):
    from twincore.kernels.reference import rotate as ref

    rng = np.random.default_rng(shape[1])
    x = randn(shape, dtype, seed=shape[2])
    angle = rng.uniform(-40, 40, shape[0]).astype(dtype)
    shift = rng.uniform(-3, 3, (shape[0], 2)).astype(dtype)
    ours = lambda x: T.rotate(x, tf.constant(angle), tf.constant(shift), interpolation, fill)  # noqa: E731
    y, (dx,) = value_and_grads(ours, [x], graph)
    g = np.random.default_rng(7).standard_normal(y.shape)  # the upstream weights value_and_grads used
    native = _native_rotate(tf.constant(x), angle, shift, interpolation, fill).numpy()
    # TF takes the transform in float32: compare with it at float32 precision, with the reference exactly
    assert_allclose(y, native, np.float32, "forward vs ImageProjectiveTransformV3", scale=2.0)
    assert_allclose(y, ref.rotate(x, angle, shift, interpolation, fill, layout="NHWC"), dtype, "forward vs reference")
    # TF's registered gradient of ImageProjectiveTransformV3 warps the gradient back with the
    # inverse transform, an approximation; the exact adjoint satisfies <T x, g> = <x, T* g>
    # for the native T, and equals the NumPy reference's backward.
    lhs = float(np.sum(native.astype(np.float64) * g))
    rhs = float(np.sum(x.astype(np.float64) * dx))
    np.testing.assert_allclose(rhs, lhs, rtol=1e-4)
    want = ref.rotate_backward(g, x, angle, shift, interpolation, fill, layout="NHWC")[0]
    assert_allclose(dx, want, dtype, "backward vs reference")


@needs("rotate", "rotate_backward")
def test_rotate_numeric_gradient():
    angle, shift = tf.constant([17.0, -25.0], tf.float64), tf.constant([[0.3, -1.2], [1.1, 0.4]], tf.float64)
    check_numeric_gradient(lambda x: T.rotate(x, angle, shift), [randn((2, 6, 5, 2), seed=1)])
    # and w.r.t. angle and translate (param_grads=True); away from pixel-grid kinks
    x = tf.constant(randn((2, 6, 5, 2), seed=2))
    check_numeric_gradient(lambda a, t: T.rotate(x, a, t, param_grads=True),
                           [np.array([17.3, -25.1]), np.array([[0.31, -1.17], [1.13, 0.42]])], delta=1e-5, atol=1e-5)
