import os
import statistics
import time

import numpy as np

import twincore.kernels as K
from harness import Case


class _Timed:
    """Wraps a callable and records how long each call took (for GFLOP/s in the table)."""

    def __init__(self, fn):
        self.fn, self.times = fn, []

    def __call__(self):
        t0 = time.perf_counter()
        out = self.fn()
        self.times.append(time.perf_counter() - t0)
        return out


class _GflopsShape:
    """The shape column of a GEMM case; formatted after the timing, so it can show GFLOP/s."""

    def __init__(self, text, flops, ours, ref):
        self.text, self.flops, self.ours, self.ref = text, flops, ours, ref

    def __str__(self):
        if not self.ours.times or not self.ref.times:
            return self.text
        g = lambda t: self.flops / statistics.median(t.times) / 1e9  # noqa: E731
        return f"{self.text} (ours {g(self.ours):.0f} / numpy {g(self.ref):.0f} GFLOP/s)"

    __format__ = lambda self, spec: format(str(self), spec)  # noqa: E731


def _openblas_core():
    """The core type OpenBLAS's DYNAMIC_ARCH picked at run time (e.g. SkylakeX, Haswell), if it says."""
    import ctypes

    try:
        with open("/proc/self/maps") as f:
            libs = sorted({line.split()[-1] for line in f if "openblas" in line.lower() and ".so" in line})
        for path in libs:
            lib = ctypes.CDLL(path)
            for name in ("scipy_openblas_get_corename64_", "scipy_openblas_get_corename", "openblas_get_corename64_",
                         "openblas_get_corename"):
                fn = getattr(lib, name, None)
                if fn is not None:
                    fn.restype = ctypes.c_char_p
                    return fn().decode()
    except OSError:
        pass
    return "unknown"


def _blas_line():
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        desc = f"{blas.get('name')} {blas.get('version')} ({blas.get('openblas configuration', '')})"
    except Exception as e:  # show_config's layout differs between numpy versions
        desc = f"unknown ({e})"
    desc += f"; kernel in use: {_openblas_core()}"
    env = ", ".join(f"{k}={os.environ[k]}" for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE",
                                                     "OPENBLAS_NUM_THREADS") if k in os.environ)
    return f"numpy BLAS: {desc}; env: {env or 'none set'}"


def cases(torch):
    import torch.nn.functional as F

    print(_blas_line(), flush=True)
    rng = np.random.default_rng(0)
    out = []

    n = 1024
    a = rng.standard_normal((n, n)).astype(np.float32)
    b = rng.standard_normal((n, n)).astype(np.float32)
    ours, ref = _Timed(lambda: K.matmul(a, b)), _Timed(lambda: a @ b)
    out.append(Case("matmul fwd", _GflopsShape(f"{n}x{n}x{n} f32", 2.0 * n ** 3, ours, ref), ours, ref,
                    "numpy (OpenBLAS)", 0.8))

    # The document models' dense layers, in torch's layout: x [B, in], w [out, in].
    for batch in (32, 100):
        for fan_in, fan_out in ((784, 512), (512, 10)):
            x = torch.from_numpy(rng.standard_normal((batch, fan_in)).astype(np.float32))
            w = torch.from_numpy((rng.standard_normal((fan_out, fan_in)) * 0.05).astype(np.float32))
            bias = torch.from_numpy(rng.standard_normal(fan_out).astype(np.float32))
            g = torch.from_numpy(rng.standard_normal((batch, fan_out)).astype(np.float32))
            shape = f"{batch}x{fan_in} -> {fan_out} f32"

            def fwd(x=x, w=w, bias=bias):
                return K.matmul(x, w, bias, trans_b=True)

            def fwd_ref(x=x, w=w, bias=bias):
                with torch.no_grad():
                    return F.linear(x, w, bias)

            def fwd_bwd(x=x, w=w, bias=bias, g=g):
                K.matmul(x, w, bias, trans_b=True)
                return K.matmul_backward(g, x, w, trans_b=True, need_bias=True)

            def fwd_bwd_ref(x=x, w=w, bias=bias, g=g):
                xr, wr, br = (t.detach().requires_grad_() for t in (x, w, bias))
                F.linear(xr, wr, br).backward(g)
                return xr.grad, wr.grad, br.grad

            out.append(Case("dense fwd", shape, fwd, fwd_ref, "torch CPU F.linear", 1.0))
            out.append(Case("dense fwd+bwd", shape, fwd_bwd, fwd_bwd_ref, "torch CPU F.linear+autograd", 1.0))
    return out
