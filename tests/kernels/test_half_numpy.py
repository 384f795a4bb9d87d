"""NumPy float16 arrays through the CPU ops (cpp/core/half.h), without torch: the run the
sanitizer build makes (make sanitize runs only NumPy paths). Each result equals the float32
path on the up-cast inputs rounded once to float16, in-place updates included."""
import numpy as np

import twincore.kernels as K


def _r(seed, *shape):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float16)


def _same(got, want32):
    if want32 is None:  # a gradient not asked for
        assert got is None
        return
    assert got.dtype == np.float16
    assert np.array_equal(got.view(np.uint16), want32.astype(np.float16).view(np.uint16))


def test_numpy_float16_ops_equal_the_float32_path(isa):
    a, b, bias, g = _r(0, 7, 19), _r(1, 19, 5), _r(2, 5), _r(3, 7, 5)
    up = lambda *xs: [x.astype(np.float32) for x in xs]  # noqa: E731
    _same(K.matmul(a, b, bias), K.matmul(*up(a, b, bias)))
    for h, f in zip(K.matmul_backward(g, a, b, need_bias=True), K.matmul_backward(*up(g, a, b), need_bias=True)):
        _same(h, f)
    x, w = _r(4, 2, 3, 7, 6), _r(5, 4, 3, 3, 3)
    y = K.conv2d(x, w, None, 1, 1)
    _same(y, K.conv2d(*up(x, w), None, 1, 1))
    gy = _r(6, *y.shape)
    for h, f in zip(K.conv2d_backward(gy, x, w, 1, 1), K.conv2d_backward(*up(gy, x, w), 1, 1)):
        _same(h, f)
    logits, labels = _r(7, 6, 9), np.arange(6) % 9
    for h, f in zip(K.softmax_cross_entropy(logits, labels, 0.1), K.softmax_cross_entropy(*up(logits), labels, 0.1)):
        _same(h, f)
    p, gr, m, v = _r(8, 50), _r(9, 50), _r(10, 50) * np.float16(0.1), np.abs(_r(11, 50)) * np.float16(0.01)
    p32, g32, m32, v32 = up(p, gr, m, v)
    K.adam_step(p, gr, m, v, 2, lr=0.01)
    K.adam_step(p32, g32, m32, v32, 2, lr=0.01)
    for h, f in ((p, p32), (m, m32), (v, v32)):
        _same(h, f)
