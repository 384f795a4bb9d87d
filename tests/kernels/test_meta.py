"""twincore.kernels.Meta: the ops' own C++ rules on shapes only (what the frontends'
shape functions ask). For random geometries, every op given Meta inputs returns Meta
outputs of exactly the real outputs' shapes and dtypes, raises the real call's errors,
and runs no kernel."""

from __future__ import annotations

import numpy as np
import pytest

import twincore.kernels as K


def _meta(a):
    return K.Meta(a.shape, a.dtype.name) if isinstance(a, np.ndarray) else a


def _same(real, meta, what):
    real = real if isinstance(real, tuple) else (real,)
    meta = meta if isinstance(meta, tuple) else (meta,)
    assert len(real) == len(meta), what
    for r, m in zip(real, meta):
        if r is None:
            assert m is None, what
            continue
        assert isinstance(m, K.Meta), (what, m)
        assert m.shape == r.shape and m.dtype == r.dtype.name, (what, m, r.shape, r.dtype)


def _both(fn, *args, **kw):
    """fn on NumPy arrays and on their Meta twins: same output shapes and dtypes."""
    real = fn(*args, **kw)
    meta = fn(*[_meta(a) for a in args], **{k: _meta(v) for k, v in kw.items()})
    _same(real, meta, f"{fn.__name__} {[getattr(a, 'shape', a) for a in args]} {kw}")
    return real


@pytest.mark.parametrize("seed", range(6))
def test_meta_shapes_equal_real_outputs(seed):
    rng = np.random.default_rng(seed)
    dt = ("float32", "float64")[seed % 2]
    r = lambda *s: rng.standard_normal(s).astype(dt)  # noqa: E731
    for _ in range(4):
        layout = str(rng.choice(["NCHW", "NHWC"]))
        n, c, h, w, o = (
            int(rng.integers(1, 3)), int(rng.integers(1, 4)), int(rng.integers(5, 12)), int(rng.integers(5, 12)),
            int(rng.integers(1, 4)))
        k = int(rng.integers(1, 4))
        stride = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
        dil = int(rng.integers(1, 3))
        padding = [int(rng.integers(0, 2)), "same", "valid", (int(rng.integers(0, 2)), 0)][int(rng.integers(0, 4))]
        x = r(n, c, h, w) if layout == "NCHW" else r(n, h, w, c)
        wt = r(o, c, k, k) if layout == "NCHW" else r(k, k, c, o)
        y = _both(K.conv2d, x, wt, r(o), stride, padding, dil, layout)
        wt_t = r(c, o, k, k) if layout == "NCHW" else r(k, k, o, c)  # torch's / Keras's transposed layouts
        tpad = [0, "same", "valid"][int(rng.integers(0, 3))]
        yt = _both(K.conv_transpose2d, x, wt_t, r(o), stride, tpad, None, dil, layout)
        _both(K.conv_transpose2d_backward, r(*yt.shape), x, wt_t, stride, tpad, None, dil, layout)
        _both(K.conv2d_backward, r(*y.shape), x, wt, stride, padding, dil, layout, need_bias=True,
              need_x=bool(rng.integers(0, 2)))
        pk = int(rng.integers(1, 4))
        ppad = [0, "same", "valid", pk // 2][int(rng.integers(0, 4))]
        yp, idx = _both(K.max_pool2d, x, pk, stride, ppad, layout, True)
        _both(K.max_pool2d_backward, r(*yp.shape), idx, x.shape, layout)
        _both(K.global_avg_pool2d, x, layout)
        _both(K.global_avg_pool2d_backward, r(n, c), x.shape, layout)
        ang, tr = r(n), r(n, 2)
        _both(K.rotate, x, ang, tr, layout=layout)
        _both(K.rotate, x, 12.0, (1.0, 2.0), layout=layout)
        _both(K.rotate_backward, r(*x.shape), x, ang, tr, layout=layout, need_angle=True, need_translate=True)
        bm, m_, kk, nn = (int(v) for v in rng.integers(1, 6, 4))
        ta, tb = bool(rng.integers(0, 2)), bool(rng.integers(0, 2))
        a = r(*(((bm,) if seed % 3 else ()) + ((kk, m_) if ta else (m_, kk))))
        b = r(*((kk, nn) if not tb else (nn, kk)))
        c_ = _both(K.matmul, a, b, r(nn), ta, tb)
        _both(K.matmul_backward, r(*c_.shape), a, b, ta, tb, need_bias=True)
        for op in ("relu", "tanh", "softmax"):
            yy = _both(getattr(K, op), x)
            _both(getattr(K, op + "_backward"), r(*yy.shape), yy)
        logits = r(n + 2, c + 1)
        for red in ("mean", "sum", "none"):
            _both(K.softmax_cross_entropy, logits, rng.integers(0, c + 1, n + 2), 0.1, red)
            _both(K.mse, x, r(*x.shape), red)
            _both(K.mse_backward, x, r(*x.shape), None, red)


def test_batch_norm_meta_shapes():
    """batch_norm's bindings run through py::run: Meta inputs get the real outputs' shapes (the
    check used to refuse every non-CPU tensor with a 'not wired' message)."""
    rng = np.random.default_rng(0)
    for dt in ("float32", "float64"):
        r = lambda *s: rng.standard_normal(s).astype(dt)  # noqa: E731
        x, g, b = r(2, 3, 4, 5), r(3), r(3)
        y, m, v = _both(K.batch_norm, x, g, b)
        _both(K.batch_norm_inference, x, g, b, m, np.abs(v) + 1)
        _both(K.batch_norm_backward, r(*x.shape), x, g, m, np.abs(v) + 1)
        _both(K.batch_norm_update_stats, r(3), np.abs(r(3)), m, np.abs(v), 0.1, 40)


@pytest.mark.parametrize("call,err,msg", [
    (lambda f: K.conv2d(f(1, 3, 5, 5), f(2, 4, 3, 3)), ValueError, "argument 'w': has 4 input channels"),
    (lambda f: K.conv2d(f(1, 3, 2, 2), f(2, 3, 3, 3)), ValueError, "argument 'w': the (dilated) kernel 3x3"),
    (lambda f: K.max_pool2d(f(1, 1, 8, 8), 2, padding=2), ValueError, "argument 'padding'"),
    (lambda f: K.matmul(f(3, 4), f(5, 2)), ValueError, "argument 'b': inner dimensions differ"),
    (lambda f: K.rotate(f(2, 1, 4, 4), f(3), f(2)), ValueError, "argument 'angle'"),
    (lambda f: K.relu(f(0)), ValueError, "argument 'x': empty tensor"),
])
def test_meta_raises_the_real_errors(call, err, msg):
    msgs = []
    for f in (lambda *s: np.ones(s, np.float32), lambda *s: K.Meta(s, "float32")):
        with pytest.raises(err) as e:
            call(f)
        assert msg in str(e.value)
        msgs.append(str(e.value))
    assert msgs[0] == msgs[1]


def test_meta_runs_no_kernel_and_takes_halves():
    y = K.conv2d(K.Meta((64, 3, 4096, 4096), "float16"), K.Meta((8, 3, 3, 3), "float16"), None, 1, "same")
    assert (y.shape, y.dtype) == ((64, 8, 4096, 4096), "float16")  # 17 GB if it were allocated
    assert repr(K.Meta((2, 3))) == "Meta((2, 3), 'float32')"
    with pytest.raises(ValueError, match="twincore.Meta: argument 'shape': negative dimension"):
        K.Meta((2, -1))
    with pytest.raises(ValueError, match="unknown dtype 'float8'"):
        K.Meta((2,), "float8")


@pytest.mark.parametrize("v", [True, (1, True), 2.0, (1, 2, 3), "ab"])
def test_int_pair_rule(v):
    """One int-or-pair rule for every op (bools are not sizes), also offered to frontends."""
    from twincore import _core

    with pytest.raises(TypeError, match=r"twincore.conv2d: argument 'stride': expected an int or a pair of ints"):
        K.conv2d(K.Meta((1, 1, 4, 4)), K.Meta((1, 1, 2, 2)), None, v)
    with pytest.raises(TypeError, match=r"twincore.x: argument 'y': expected an int or a pair of ints"):
        _core.int_pair(v, "x", "y")
    assert _core.int_pair((2, np.int64(3)), "x", "y") == (2, 3) and _core.int_pair(4, "x", "y") == (4, 4)


def test_rotate_check_options_is_the_ops_rule():
    x = np.ones((1, 1, 3, 3), np.float32)
    for kw in ({"fill": "wrap"}, {"interpolation": "cubic"}, {"layout": "nchw"}):
        with pytest.raises(ValueError) as real:
            K.rotate(x, 10.0, **kw)
        with pytest.raises(ValueError) as opts:
            K.rotate_check_options(**kw)
        assert str(real.value) == str(opts.value)
    K.rotate_check_options("nearest", "reflect", 0.5, "NHWC")
