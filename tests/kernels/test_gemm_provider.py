"""The GPU plans' vendor GEMM (cpp/gpu/blas.h): which provider is active, the test-only
reference provider switch, and the nvcc build's cuBLASLt loader degrading cleanly where
libcublasLt cannot be found (this CI machine): the module imports, reports "none" and says why.
On a GPU machine with the nvidia-cublas wheel or the toolkit's library, the same build
reports "cublaslt" (checked by the gpu tests and `make gpu-check`)."""

import glob
import os
import subprocess
import sys

import numpy as np
import pytest

from twincore import _core

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")


def test_reference_switch_restores_the_provider():
    before = _core.gemm_provider()
    assert before in ("none", "cublaslt")
    _core._use_reference_gemm(True)
    try:
        assert _core.gemm_provider() == "reference"
        _core._use_reference_gemm(True)  # idempotent
        assert _core.gemm_provider() == "reference"
    finally:
        _core._use_reference_gemm(False)
    assert _core.gemm_provider() == before
    _core._use_reference_gemm(False)  # off twice: still the original
    assert _core.gemm_provider() == before


def test_cpu_build_has_no_vendor_gemm():
    if getattr(_core, "with_cuda", False):
        pytest.skip("this is the nvcc build")
    assert _core.gemm_provider() == "none"
    assert not hasattr(_core, "cublaslt_info")


NVCC_MODULES = sorted(glob.glob(os.path.join(ROOT, "build", "cuda", "pkg", "_core*.so")))


@pytest.mark.skipif(not NVCC_MODULES, reason="needs the nvcc build (make cuda-check)")
@pytest.mark.parametrize("override", [None, "/nonexistent/libcublasLt.so.13"])
def test_nvcc_build_without_cublaslt_reports_why(override):
    code = ("import importlib.util, sys\n"
            f"spec = importlib.util.spec_from_file_location('_core', {NVCC_MODULES[-1]!r})\n"
            "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
            "info = m.cublaslt_info()\n"
            "print(m.gemm_provider(), info['loaded'], info['path'], '|', info['error'])\n")
    env = dict(os.environ)
    env.pop("TWINCORE_CUBLASLT", None)
    if override:
        env["TWINCORE_CUBLASLT"] = override
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    out = r.stdout.strip()
    if out.startswith("cublaslt True"):  # a machine where the library exists
        assert "libcublasLt" in out
        return
    assert out.startswith("none False"), out
    assert "libcublasLt not found" in out and "TWINCORE_CUBLASLT" in out, out


# ---- the GemmDesc semantics (blas.h), on the reference here and on cuBLASLt on a GPU ----

EPILOGUES = ["none", "bias", "relu", "bias_relu", "bgrad"]


def _case(rng, xp_from_np, batch, shared_b, ta, tb, m, n, k, epi, beta, dtype):
    """Arrays as stored for one GemmDesc and the float64 NumPy answer (C, bias_grad)."""
    a_sh = (k, m) if ta else (m, k)
    b_sh = (n, k) if tb else (k, n)
    a = rng.standard_normal(((batch,) if batch else ()) + a_sh)
    b = rng.standard_normal(b_sh if shared_b or not batch else (batch,) + b_sh)
    c0 = rng.standard_normal(((batch,) if batch else ()) + (m, n))
    bias = rng.standard_normal(n)
    rnd = lambda x: x.astype(dtype).astype(np.float64)  # noqa: E731
    a, b, c0, bias = rnd(a), rnd(b), rnd(c0), rnd(bias)
    opa = np.swapaxes(a, -1, -2) if ta else a
    opb = np.swapaxes(b, -1, -2) if tb else b
    want = 0.75 * (opa @ opb) + beta * c0
    if "bias" in epi:
        want = want + bias
    if "relu" in epi:
        want = np.maximum(want, 0)
    bgrad = opb.sum(-2) if epi == "bgrad" else None
    arrays = [xp_from_np(x.astype(dtype)) for x in (a, b, c0, bias, np.zeros(n))]
    return arrays, want, bgrad


def _cases():
    rng = np.random.default_rng(3)
    for i in range(14):
        epi = EPILOGUES[i % len(EPILOGUES)]
        batch = 0 if epi == "bgrad" else int(rng.integers(0, 3))
        yield (epi, batch, bool(rng.integers(2)), bool(rng.integers(2)), bool(rng.integers(2)),
               int(rng.integers(1, 9)), int(rng.integers(1, 9)), int(rng.integers(1, 9)), float(rng.integers(0, 2)))


def test_reference_gemm_matches_numpy():
    _core._use_reference_gemm(True)
    try:
        rng = np.random.default_rng(0)
        for (epi, batch, shared, ta, tb, m, n, k, beta) in _cases():
            (a, b, c, bias, bg), want, wbg = _case(rng, np.ascontiguousarray, batch, shared, ta, tb, m, n, k, epi,
                                                  beta, np.float64)
            assert _core._gemm_test(a, b, c, bias if "bias" in epi else None, bg if epi == "bgrad" else None,
                                    ta, tb, 0.75, beta, epi)
            np.testing.assert_allclose(c, want, rtol=1e-12, atol=1e-12, err_msg=str((epi, batch, ta, tb)))
            if wbg is not None:
                np.testing.assert_allclose(bg, wbg, rtol=1e-12, atol=1e-12)
        a, b, c = np.ones((2, 3)), np.ones((3, 4)), np.zeros((2, 4))
        assert not _core._gemm_test(a, b, c, np.ones(4), None, epilogue="bias_tanh")  # as cuBLASLt: no tanh
        assert not _core._gemm_test(a, b, c, epilogue="bias")  # bias epilogue without a bias
        # f16 with f32 accumulation, TF32 rounding of f32 inputs when allowed
        a16, b16 = rng.standard_normal((5, 40)).astype(np.float16), rng.standard_normal((40, 3)).astype(np.float16)
        c16 = np.zeros((5, 3), np.float16)
        assert _core._gemm_test(a16, b16, c16)
        np.testing.assert_allclose(c16, (a16.astype(np.float64) @ b16.astype(np.float64)), rtol=2e-3, atol=2e-2)
        a32, b32 = rng.standard_normal((5, 40)).astype(np.float32), rng.standard_normal((40, 3)).astype(np.float32)
        exact, tf32 = np.zeros((5, 3), np.float32), np.zeros((5, 3), np.float32)
        assert _core._gemm_test(a32, b32, exact) and _core._gemm_test(a32, b32, tf32, allow_tf32=True)
        ref = a32.astype(np.float64) @ b32.astype(np.float64)
        np.testing.assert_allclose(exact, ref, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(tf32, ref, rtol=1e-2, atol=2e-2)
        assert np.abs(tf32 - ref).max() > 1e-5  # the inputs were rounded to 10 mantissa bits
    finally:
        _core._use_reference_gemm(False)


def _cuda_ok() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


@pytest.mark.gpu
@pytest.mark.skipif(not _cuda_ok() or not getattr(_core, "with_cuda", False), reason="needs a GPU and the nvcc build")
@pytest.mark.parametrize("dt", ["float64", "float32", "float16", "bfloat16"])
def test_cublaslt_provider_on_gpu(dt):
    """cuBLASLt behind blas.h: found, and every GemmDesc form (row-major on column-major,
    transposes, shared/strided batches, alpha/beta, bias/relu epilogues, the bias gradient
    as BGRADA) equal to float64 NumPy."""
    import torch

    info = _core.cublaslt_info()
    assert _core.gemm_provider() == "cublaslt", info
    tdt = getattr(torch, dt)
    npdt = np.float64 if dt == "float64" else np.float32
    tol = {"float64": 1e-10, "float32": 1e-4, "float16": 2e-2, "bfloat16": 5e-2}[dt]
    rng = np.random.default_rng(1)
    declined = []
    for (epi, batch, shared, ta, tb, m, n, k, beta) in _cases():
        to = lambda x: torch.from_numpy(x).to("cuda").to(tdt)  # noqa: E731
        (a, b, c, bias, bg), want, wbg = _case(rng, to, batch, shared, ta, tb, m, n, k, epi, beta, npdt)
        ok = _core._gemm_test(a, b, c, bias if "bias" in epi else None, bg if epi == "bgrad" else None, ta, tb, 0.75,
                              beta, epi, False, torch.cuda.current_stream().cuda_stream)
        if not ok:
            declined.append((epi, dt, batch, ta, tb))
            continue
        got = c.double().cpu().numpy()
        scale = max(1.0, np.abs(want).max())
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol * scale, err_msg=str((epi, batch, ta, tb, m, n, k)))
        if wbg is not None:
            np.testing.assert_allclose(bg.double().cpu().numpy(), wbg, rtol=tol, atol=tol * max(1.0, np.abs(wbg).max()))
    # plain GEMMs must never be declined; epilogues may be (the plans then run a kernel)
    assert not [d for d in declined if d[0] == "none"], declined
    print("declined by cuBLASLt:", declined)
