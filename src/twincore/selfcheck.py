"""`twincore check`: a one-minute self-test of the installed build on this machine.

For each op: forward and backward against the NumPy float64 reference on random data
(float32 and float64), and one finite-difference gradient check in float64. Prints
which backend ran each op (CPU and its SIMD path; CUDA/CuPy once built) and exits
non-zero on any failure.
"""

from __future__ import annotations

import time
import traceback

import numpy as np

import twincore.kernels as K
from twincore import _core
from twincore.kernels import reference as R
from twincore.testing import assert_close, numeric_grad


def _r(shape, seed, dtype=np.float64, scale=1.0):
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(dtype)


def _tol(dtype):
    return dict(rtol=2e-4, atol=2e-5) if dtype == np.float32 else dict(rtol=1e-9, atol=1e-10)


def _fd(loss, x, grad, what):
    """One finite-difference check (float64) of `grad` = d loss() / d x."""
    assert_close(grad, numeric_grad(loss, x), rtol=1e-5, atol=1e-7, what=what + " (finite differences)")


def check_activations(dt):
    from twincore.kernels.reference import activations as ra

    x, g = _r((37, 29), 1, dt, 3), _r((37, 29), 2, dt)
    for f, fb, rf, rb in ((K.relu, K.relu_backward, ra.relu, ra.relu_backward),
                          (K.tanh, K.tanh_backward, ra.tanh, ra.tanh_backward)):
        y = f(x)
        assert_close(y, rf(x), **_tol(dt), what=f.__name__)
        assert_close(fb(g, y), rb(g, y), **_tol(dt), what=f.__name__ + " backward")
    if dt == np.float64:
        x, w = _r((3, 4), 3), _r((3, 4), 4)
        _fd(lambda: (K.tanh(x) * w).sum(), x, K.tanh_backward(w, K.tanh(x)), "tanh")


def check_matmul(dt):
    from twincore.kernels.reference import matmul as rm

    a, b, bias, g = _r((3, 17, 33), 1, dt), _r((19, 33), 2, dt), _r((19,), 3, dt), _r((3, 17, 19), 4, dt)
    assert_close(K.matmul(a, b, bias, trans_b=True), rm.matmul(a, b, bias, trans_b=True), **_tol(dt), what="matmul")
    got = K.matmul_backward(g, a, b, trans_b=True, need_bias=True)
    for gg, rr, n in zip(got, rm.matmul_backward(g, a, b, trans_b=True), ("da", "db", "dbias")):
        assert_close(gg, rr, **_tol(dt), what="matmul_backward " + n)
    if dt == np.float64:
        a, b, w = _r((4, 5), 5), _r((5, 3), 6), _r((4, 3), 7)
        _fd(lambda: (K.matmul(a, b) * w).sum(), b, K.matmul_backward(w, a, b)[1], "matmul db")


def check_softmax_cross_entropy(dt):
    from twincore.kernels.reference import softmax_cross_entropy as rs

    x, y = _r((64, 10), 1, dt, 5), np.random.default_rng(2).integers(0, 10, 64)
    loss, d = K.softmax_cross_entropy(x, y, label_smoothing=0.1)
    rl, rd = rs.softmax_cross_entropy(x, y, label_smoothing=0.1)
    assert_close(loss, rl, **_tol(dt), what="softmax_cross_entropy loss")
    assert_close(d, rd, **_tol(dt), what="softmax_cross_entropy dlogits")
    big = np.array([[1e4, -1e4, 0.0]], dt)
    l2, d2 = K.softmax_cross_entropy(big, np.array([1]))
    assert np.isfinite(l2).all() and np.isfinite(d2).all(), "softmax_cross_entropy: not finite at +-1e4"
    if dt == np.float64:
        x, y4 = _r((4, 10), 3), y[:4]
        _fd(lambda: K.softmax_cross_entropy(x, y4)[0], x, K.softmax_cross_entropy(x, y4)[1], "dlogits")


def check_softmax_mse(dt):
    from twincore.kernels.reference import mse as rmse, softmax as rsm

    x, g = _r((9, 31), 1, dt), _r((9, 31), 2, dt)
    y = K.softmax(x)
    assert_close(y, rsm.softmax(x), **_tol(dt), what="softmax")
    assert_close(K.softmax_backward(g, y), rsm.softmax_backward(g, y), **_tol(dt), what="softmax_backward")
    t = _r((9, 31), 3, dt)
    assert_close(K.mse(x, t), rmse.mse(x, t), **_tol(dt), what="mse")
    assert_close(K.mse_backward(x, t), rmse.mse_backward(x, t), **_tol(dt), what="mse_backward")


def check_pooling(dt):
    from twincore.kernels.reference import global_avg_pool2d as rg, max_pool2d as rp

    for layout, shape in (("NCHW", (2, 3, 9, 11)), ("NHWC", (2, 9, 11, 3))):
        x = _r(shape, 1, dt)
        y, idx = K.max_pool2d(x, 2, padding="same", layout=layout, return_indices=True)
        ry = rp.max_pool2d(x, 2, padding="same", layout=layout)
        assert_close(y, ry[0] if isinstance(ry, tuple) else ry, **_tol(dt), what="max_pool2d " + layout)
        g = _r(y.shape, 2, dt)
        assert_close(K.max_pool2d_backward(g, idx, x.shape, layout=layout),
                     rp.max_pool2d_backward(g, idx, x.shape, layout=layout), **_tol(dt), what="max_pool2d_backward")
        assert_close(K.global_avg_pool2d(x, layout=layout), rg.global_avg_pool2d(x, layout=layout), **_tol(dt),
                     what="global_avg_pool2d " + layout)


def check_optim(dt):
    from twincore.kernels.reference import optim as ro

    for flavor in ("torch", "keras"):
        p, g = _r((1000,), 1, dt), _r((1000,), 2, dt)
        m, v = np.zeros_like(p), np.zeros_like(p)
        ref = ro.adam_step(p.copy(), g, m.copy(), v.copy(), 1, flavor=flavor)
        K.adam_step(p, g, m, v, 1, flavor=flavor)
        assert_close(p, ref[0] if isinstance(ref, tuple) else ref, **_tol(dt), what="adam_step " + flavor)


def check_conv2d(dt):
    from twincore.kernels.reference import conv2d as rc

    for layout, xs, ws in (("NCHW", (2, 3, 11, 9), (5, 3, 3, 3)), ("NHWC", (2, 11, 9, 3), (3, 3, 3, 5))):
        x, w, b = _r(xs, 1, dt), _r(ws, 2, dt), _r((5,), 3, dt)
        y = K.conv2d(x, w, b, stride=2, padding="same", layout=layout)
        assert_close(y, rc.conv2d(x, w, b, stride=2, padding="same", layout=layout), **_tol(dt), what="conv2d " + layout)
        g = _r(y.shape, 4, dt)
        got = K.conv2d_backward(g, x, w, stride=2, padding="same", layout=layout, need_bias=True)
        want = rc.conv2d_backward(g, x, w, stride=2, padding="same", layout=layout)
        for gg, rr, n in zip(got, want, ("dx", "dw", "dbias")):
            assert_close(gg, rr, **_tol(dt), what=f"conv2d_backward {layout} {n}")


def check_rotate(dt):
    from twincore.kernels.reference import rotate as rr

    x = _r((3, 2, 13, 11), 1, dt)
    ang, tr = np.array([10.0, -33.0, 71.0], dt), np.array([[1.5, -2.25], [0.0, 0.5], [-3.0, 1.0]], dt)
    assert_close(K.rotate(x, ang, tr), rr.rotate(x, ang, tr), **_tol(dt), what="rotate")
    if dt == np.float64:
        a = np.array([17.0, -40.0, 5.5])
        w = _r((3, 2, 13, 11), 2)
        da = K.rotate_backward(w, x, a, tr, need_images=False, need_angle=True)[1]
        _fd(lambda: (K.rotate(x, a, tr) * w).sum(), a, da, "rotate dangle")


CHECKS = [("relu/tanh", check_activations), ("matmul", check_matmul),
          ("softmax_cross_entropy", check_softmax_cross_entropy), ("softmax/mse", check_softmax_mse),
          ("max_pool2d/global_avg_pool2d", check_pooling), ("adam_step", check_optim),
          ("conv2d", check_conv2d), ("rotate", check_rotate)]



def check_gan_ops(dt):
    """leaky_relu, bce_with_logits, conv_transpose2d, batch_norm (issue 16) vs their references."""
    from twincore.kernels.reference import activations as ra
    from twincore.kernels.reference import batch_norm as rbn
    from twincore.kernels.reference import binary_cross_entropy_with_logits as rb
    from twincore.kernels.reference import conv_transpose2d as rc

    x, g = _r((37, 29), 1, dt, 3), _r((37, 29), 2, dt)
    assert_close(K.leaky_relu(x, 0.2), ra.leaky_relu(x, 0.2), **_tol(dt), what="leaky_relu")
    assert_close(K.leaky_relu_backward(g, x, 0.2), ra.leaky_relu_backward(g, x, 0.2), **_tol(dt),
                 what="leaky_relu backward")
    t = (np.random.default_rng(3).uniform(0, 1, x.shape)).astype(dt)
    for got, want, n in zip(K.binary_cross_entropy_with_logits(x, t, None, 0.1, "mean"),
                            rb.binary_cross_entropy_with_logits(x, t, None, 0.1, "mean"), ("loss", "dlogits")):
        assert_close(got, want, **_tol(dt), what="bce_with_logits " + n)
    for layout, w_shape, pad in (("NCHW", (4, 3, 4, 4), 1), ("NHWC", (4, 4, 3, 4), "same")):
        xi = _r((2, 4, 5, 6) if layout == "NCHW" else (2, 5, 6, 4), 4, dt)
        w, b = _r(w_shape, 5, dt, 0.3), _r((3,), 6, dt)
        assert_close(K.conv_transpose2d(xi, w, b, 2, pad, None, 1, layout),
                     rc.conv_transpose2d(xi, w, b, 2, pad, None, 1, layout), **_tol(dt),
                     what=f"conv_transpose2d {layout}")
        y, m, v = K.batch_norm(xi, None, None, 1e-5, layout)
        assert_close(y, rbn.batch_norm(xi, None, None, 1e-5, layout)[0], **_tol(dt), what=f"batch_norm {layout}")


CHECKS += [("leaky_relu/bce/conv_transpose2d/batch_norm", check_gan_ops)]

def backend_name(ops=()) -> str:
    """Which backend ran the op's last call (cuda / cupy / cpu), with the CPU's SIMD path."""
    used = {K.backends_used().get(op, "cpu") for op in ops} or {"cpu"}
    return ",".join(sorted(used)).replace("cpu", f"cpu ({_core.cpu_isa()}, {_core.num_threads()} thr)")


def run_checks(verbose: bool = True) -> bool:
    """Every check on every SIMD path this CPU has; True when all pass."""
    ok = True
    t0 = time.perf_counter()
    if verbose:
        print(f"twincore self-check: core built {'with' if _core.with_cuda else 'without'} CUDA; "
              f"best CPU path here: {_core.cpu_best_isa()}")
        print(f"GPU: {K.gpu_info()}")
        if hasattr(_core, "gemm_provider"):  # the vendor GEMM of the GPU plans (cuBLASLt, loaded at run time)
            lt = _core.cublaslt_info() if hasattr(_core, "cublaslt_info") else None
            where = "" if lt is None else f" ({lt['path']})" if lt["loaded"] else f" ({lt['error']})"
            print(f"GPU GEMM: {_core.gemm_provider()}{where}")
        print(f"{'op':<30} {'backend':<26} {'float32':<8} {'float64':<8}")
    before = _core.cpu_isa()
    paths = ["generic", "avx2", "avx512"]
    try:
        for isa in paths[:paths.index(_core.cpu_best_isa()) + 1]:
            _core.set_cpu_isa(isa)
            ok &= _run_all(verbose)
    finally:
        _core.set_cpu_isa(before)
    if verbose:
        print(f"{'all checks passed' if ok else 'SOME CHECKS FAILED'} in {time.perf_counter() - t0:.1f} s")
    return ok


def _run_all(verbose: bool) -> bool:
    ok = True
    for name, fn in CHECKS:
        res = []
        for dt in (np.float32, np.float64):
            try:
                fn(dt)
                res.append("ok")
            except Exception as e:  # report every op, then fail
                ok = False
                res.append("FAIL")
                if verbose:
                    print(f"  {name} {np.dtype(dt).name}: {type(e).__name__}: {e}")
                    traceback.print_exc(limit=2)
        if verbose:
            print(f"{name:<30} {backend_name(name.split('/')):<26} {res[0]:<8} {res[1]:<8}")
    return ok
