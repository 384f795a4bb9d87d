"""The GPU plans' vendor GEMM (cpp/gpu/blas.h): which provider is active, the test-only
reference provider switch, and the nvcc build's cuBLASLt loader degrading cleanly where
libcublasLt cannot be found (this CI machine): the module imports, reports "none" and says why.
On a GPU machine with the nvidia-cublas wheel or the toolkit's library, the same build
reports "cublaslt" (checked by the gpu tests and `make gpu-check`)."""

import glob
import os
import subprocess
import sys

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
