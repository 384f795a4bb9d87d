"""The native bfloat16 GEMM (cpp/cpu/gemm_half.cc: AVX512-BF16 dot products on packed bf16
operands) behind matmul / matmul_backward for bf16 tensors: against the float64 reference on
the bf16 inputs within bf16 rounding, on shapes that hit every edge of its blocking (rows
past a multiple of 8, columns past 32, odd K, K across slices of 256), every transpose,
batched operands; and the same results within rounding as the converting path."""
import numpy as np
import pytest
from support import requires_torch

import twincore.kernels as K
from twincore import _core
from twincore.kernels.reference import matmul as R

pytestmark = requires_torch
torch = pytest.importorskip("torch")
ULP = 2.0 ** -7

needs_native = pytest.mark.skipif(not _core.half_gemm_native(),
                                  reason="no AVX512-BF16 (or ISA below avx512): the converting path runs")


def bf(*shape, seed):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed)).to(torch.bfloat16)


def close(got, want, K_):
    """bf16 output rounding (half an ulp, relative) plus float32 accumulation noise of K terms."""
    g, w = got.double().numpy(), np.asarray(want, np.float64)
    assert g.shape == w.shape
    floor = 1e-6 * np.sqrt(K_) * max(1.0, np.abs(w).max())
    assert (np.abs(g - w) <= ULP * np.abs(w) + floor).all(), np.abs(g - w).max()


SHAPES = [(1, 1, 1), (7, 3, 31), (8, 2, 32), (9, 5, 33), (17, 257, 65), (97, 64, 130), (40, 513, 7)]


@needs_native
@pytest.mark.parametrize("M,K_,N", SHAPES)
@pytest.mark.parametrize("ta,tb", [(False, False), (True, False), (False, True), (True, True)])
def test_native_matmul_forward_and_backward(M, K_, N, ta, tb):
    a = bf(K_, M, seed=1) if ta else bf(M, K_, seed=1)
    b = bf(N, K_, seed=2) if tb else bf(K_, N, seed=2)
    bias, g = bf(N, seed=3), bf(M, N, seed=4)
    A, B = a.double().numpy(), b.double().numpy()
    c = K.matmul(a, b, bias, ta, tb)
    assert c.dtype == torch.bfloat16
    close(c, R.matmul(A, B, bias.double().numpy(), ta, tb), K_)
    da, db, dbias = K.matmul_backward(g, a, b, ta, tb, need_bias=True)
    rda, rdb, rdbias = R.matmul_backward(g.double().numpy(), A, B, ta, tb)
    close(da, rda, N)
    close(db, rdb, M)
    close(dbias, rdbias, M)


@needs_native
@pytest.mark.parametrize("b_batched", [False, True])
@pytest.mark.parametrize("ta", [False, True])
def test_native_batched(b_batched, ta):
    a = bf(3, 19, 10, seed=5) if ta else bf(3, 10, 19, seed=5)
    b = bf(3, 19, 34, seed=6) if b_batched else bf(19, 34, seed=6)
    c = K.matmul(a, b, None, ta, False)
    close(c, R.matmul(a.double().numpy(), b.double().numpy(), None, ta, False), 19)
    g = bf(*c.shape, seed=7)
    da, db, _ = K.matmul_backward(g, a, b, ta, False)
    rda, rdb, _ = R.matmul_backward(g.double().numpy(), a.double().numpy(), b.double().numpy(), ta, False)
    close(da, rda, 34)
    close(db, rdb, 30)


@needs_native
def test_native_agrees_with_the_converting_path():
    a, b = bf(70, 300, seed=8), bf(300, 45, seed=9)
    native = K.matmul(a, b)
    _core._set_half_gemm_native(False)
    try:
        assert not _core.half_gemm_native()
        converting = K.matmul(a, b)
    finally:
        _core._set_half_gemm_native(True)
    # both are float32 sums of the exact bf16 products, rounded once: at most an ulp apart
    d = (native.double() - converting.double()).abs()
    assert (d <= ULP * converting.double().abs() + 1e-4).all()


def test_every_isa_computes_bf16_matmul(isa):
    """avx2/generic (and CPUs without AVX512-BF16) take the converting path; all agree."""
    a, b = bf(13, 40, seed=10), bf(40, 9, seed=11)
    if isa != "avx512":
        assert not _core.half_gemm_native()
    close(K.matmul(a, b), R.matmul(a.double().numpy(), b.double().numpy()), 40)
