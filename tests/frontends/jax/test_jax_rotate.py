"""twincore.jax.rotate: parity with the NumPy reference (jax has no rotate of its own),
float64 gradients for images, angle and translate, jit == eager, bad input named."""
import jax
import numpy as np
import pytest

import twincore.jax as tj
from twincore.kernels.reference import rotate as R

from jax_testutil import TOL, grads, jit_equal, raises, rand


@pytest.mark.parametrize("layout", ["NHWC", "NCHW"])
@pytest.mark.parametrize("interp,fill", [("bilinear", "zeros"), ("bilinear", "reflect"), ("nearest", "nearest"),
                                         ("bilinear", "constant")])
def test_parity(layout, interp, fill, dtype):
    rng = np.random.default_rng(20)
    x = rand(rng, (3, 7, 6, 2) if layout == "NHWC" else (3, 2, 7, 6), dtype)
    angle = rng.uniform(-40, 40, 3).astype(dtype)
    shift = rng.uniform(-2, 2, (3, 2)).astype(dtype)
    f = lambda x, a, t: tj.rotate(x, a, t, interp, fill, 0.5, layout)  # noqa: E731
    y = jit_equal(f, x, angle, shift)
    kw = dict(interpolation=interp, fill=fill, fill_value=0.5, layout=layout)
    np.testing.assert_allclose(y, R.rotate(x, angle, shift, **kw), **TOL[dtype])
    g = rand(rng, y.shape, dtype)
    ours = jax.vjp(f, x, angle, shift)[1](g)
    for o, r in zip(ours, R.rotate_backward(g, x, angle, shift, **kw)):
        np.testing.assert_allclose(o, r, rtol=TOL[dtype]["rtol"] * 10, atol=TOL[dtype]["atol"] * 10)


def test_shared_angle_and_shift():
    rng = np.random.default_rng(21)
    x = rand(rng, (2, 6, 6, 1), np.float32)
    y = tj.rotate(x, 30.0, (1.0, -2.0), layout="NHWC")
    np.testing.assert_allclose(y, R.rotate(x, 30.0, (1.0, -2.0), layout="NHWC"), **TOL[np.float32])


def test_gradients_float64():
    rng = np.random.default_rng(22)
    x = rand(rng, (2, 5, 6, 2))
    a, t = np.array([17.0, -23.0]), rng.uniform(-1.5, 1.5, (2, 2))
    grads(lambda x, a, t: tj.rotate(x, a, t, layout="NHWC"), (x, a, t), eps=1e-5)


def test_bad_input_names_op_and_argument():
    x = np.ones((2, 4, 4, 1), np.float32)
    with raises(ValueError, "rotate", "angle"):
        tj.rotate(x, np.zeros(3, np.float32), layout="NHWC")
    with raises(ValueError, "rotate", "translate"):
        tj.rotate(x, 0.0, np.zeros(3, np.float32), layout="NHWC")
    with raises(ValueError, "rotate", "interpolation"):
        tj.rotate(x, 0.0, interpolation="cubic", layout="NHWC")
    with raises(ValueError, "rotate", "fill"):
        tj.rotate(x, 0.0, fill="wrap", layout="NHWC")
    with raises(ValueError, "rotate", "images"):
        tj.rotate(x[0], 0.0, layout="NHWC")
    with raises(Exception, "rotate", "angle"):  # a value: found by the kernel when it runs
        np.asarray(tj.rotate(x, np.float32(np.nan), layout="NHWC"))
