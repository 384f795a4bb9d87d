"""float16/bfloat16 through the JAX handlers (cpp/jax/ffi_bridge.h's half::run around each
kernel call): forward and backward equal the float32 path on the up-cast inputs, rounded
once to the half dtype (bit for bit), for every op with a handler. Where the backward reads
a saved half output (tanh and softmax read y, the fused cross-entropy its dlogits), that
output's rounding enters the gradient: those agree within a few ulps instead."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import twincore.jax as tj

DTS = [jnp.bfloat16, jnp.float16]
ULP = {jnp.bfloat16: 2.0 ** -7, jnp.float16: 2.0 ** -10}
# (sigmoid reads y; BCE saves dlogits; lstm its workspace; batch_norm the batch statistics; the
# inference's d gamma / d beta are sums JAX takes in the half dtype)
SAVES_OUTPUT = {"tanh", "softmax", "softmax_cross_entropy", "sigmoid", "binary_cross_entropy_with_logits", "lstm",
                "batch_norm", "batch_norm_inference"}


def _rand(seed, *shape, scale=1.0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32) * scale


CASES = {  # name: (fn, inputs as float32 arrays, which inputs to differentiate)
    "matmul": (lambda a, b, c: tj.matmul(a, b, c), (_rand(0, 5, 13), _rand(1, 13, 4), _rand(2, 4)), (0, 1, 2)),
    "conv2d": (lambda x, w: tj.conv2d(x, w, None, 1, "same", layout="NHWC"),
               (_rand(3, 2, 6, 5, 3), _rand(4, 3, 3, 3, 2)), (0, 1)),
    "relu": (tj.relu, (_rand(5, 4, 9),), (0,)),
    "tanh": (tj.tanh, (_rand(6, 4, 9),), (0,)),
    "softmax": (tj.softmax, (_rand(7, 4, 9, scale=3),), (0,)),
    "max_pool2d": (lambda x: tj.max_pool2d(x, 2, layout="NHWC"), (_rand(8, 2, 6, 6, 3),), (0,)),
    "global_avg_pool2d": (lambda x: tj.global_avg_pool2d(x, layout="NHWC"), (_rand(9, 2, 5, 4, 3),), (0,)),
    "mse": (lambda p, t: tj.mse(p, t), (_rand(10, 4, 6), _rand(11, 4, 6)), (0,)),
    "softmax_cross_entropy": (lambda l: tj.softmax_cross_entropy(l, jnp.array([1, 0, 3, 2], jnp.int32)),
                              (_rand(12, 4, 5, scale=2),), (0,)),
    "rotate": (lambda i: tj.rotate(i, 30.0, (1.0, -2.0), layout="NHWC"), (_rand(13, 2, 6, 5, 3),), (0,)),
    # the sequence and GAN ops (issue 16)
    "sigmoid": (tj.sigmoid, (_rand(14, 4, 9, scale=3),), (0,)),
    "leaky_relu": (lambda x: tj.leaky_relu(x, 0.2), (_rand(15, 4, 9),), (0,)),
    "conv_transpose2d": (lambda x, w, b: tj.conv_transpose2d(x, w, b, 2, "same", layout="NHWC"),
                         (_rand(16, 2, 4, 3, 3), _rand(17, 3, 3, 2, 3), _rand(18, 2)), (0, 1, 2)),
    "binary_cross_entropy_with_logits": (
        lambda l: tj.binary_cross_entropy_with_logits(l, jnp.asarray(_rand(19, 4, 5) > 0, l.dtype), reduction="none"),
        (_rand(20, 4, 5, scale=2),), (0,)),
    "embedding": (lambda w: tj.embedding(jnp.array([[1, 0, 3], [3, 3, 2]], jnp.int32), w), (_rand(21, 5, 4),), (0,)),
    "lstm": (lambda x, wi, wh, b: tj.lstm(x, wi, wh, b, batch_first=True)[0],
             (_rand(22, 2, 5, 3), _rand(23, 12, 3, scale=0.5), _rand(24, 12, 3, scale=0.5), _rand(25, 12)),
             (0, 1, 2, 3)),
    "batch_norm": (lambda x, g, b: tj.batch_norm(x, g, b, 1e-3, "NHWC")[0],
                   (_rand(26, 3, 4, 4, 2), _rand(27, 2), _rand(28, 2)), (0, 1, 2)),
    # (running statistics exact in every dtype, so both paths see the same numbers)
    "batch_norm_inference": (lambda x, g, b: tj.batch_norm_inference(x, g, b, jnp.asarray([0.5, -0.25], x.dtype),
                                                                     jnp.asarray([1.5, 0.75], x.dtype), 1e-3, "NHWC"),
                             (_rand(29, 3, 4, 4, 2), _rand(30, 2), _rand(31, 2)), (0, 1, 2)),
}


def _run(fn, args, argnums, dt_out):
    y, vjp = jax.vjp(lambda *d: fn(*[d[argnums.index(i)] if i in argnums else a for i, a in enumerate(args)]),
                     *[args[i] for i in argnums])
    ct = jnp.asarray(_rand(99, *y.shape), dt_out).astype(y.dtype)
    return y, vjp(ct)


@pytest.mark.parametrize("dt", DTS, ids=["bf16", "f16"])
@pytest.mark.parametrize("name", list(CASES))
def test_half_equals_the_float32_path_rounded(name, dt):
    fn, inputs, argnums = CASES[name]
    half = [jnp.asarray(a, dt) for a in inputs]
    up = [h.astype(jnp.float32) for h in half]
    y, grads = _run(fn, half, argnums, dt)
    y32, grads32 = _run(fn, up, argnums, dt)  # the same half-valued cotangent, as float32
    assert y.dtype == dt
    assert np.array_equal(np.asarray(y).view(np.uint16), np.asarray(y32.astype(dt)).view(np.uint16)), name
    for i, (g, g32) in enumerate(zip(grads, grads32)):
        assert g.dtype == dt
        if name in SAVES_OUTPUT:
            a, b = np.asarray(g, np.float64), np.asarray(g32, np.float64)
            assert (np.abs(a - b) <= 4 * ULP[dt] * (np.abs(b) + np.abs(b).max())).all(), (name, i)
        else:
            assert np.array_equal(np.asarray(g).view(np.uint16), np.asarray(g32.astype(dt)).view(np.uint16)), (name, i)
