"""The half <-> float32 conversions of the CPU core (cpp/core/half.h), on every SIMD path.

Exactness: every float16/bfloat16 bit pattern converts to float32 and back to itself (NaNs
stay NaN, quieted); float32 -> half rounds to nearest even exactly as torch (bfloat16) and
NumPy (float16) do, denormals and overflow included; all paths give the same bits.
"""
import numpy as np
import pytest
from support import requires_torch

from twincore import _core

pytestmark = requires_torch

DTYPES = ["float16", "bfloat16"]


def _torch():
    import torch
    return torch


def _all_patterns(name):
    torch = _torch()
    bits = torch.arange(-32768, 32768, dtype=torch.int32).to(torch.int16)
    return bits, bits.view(getattr(torch, name))


def _up(h):
    torch = _torch()
    out = torch.empty(h.shape, dtype=torch.float32)
    _core._half_convert(h, out)
    return out


def _down(f, name):
    torch = _torch()
    out = torch.empty(f.shape, dtype=getattr(torch, name))
    _core._half_convert(f, out)
    return out


@pytest.mark.parametrize("name", DTYPES)
def test_every_pattern_round_trips(isa, name):
    torch = _torch()
    bits, h = _all_patterns(name)
    f = _up(h)
    nan = torch.isnan(h.float())
    # half -> float32 is exact: torch's own conversion gives the same values (NaN aside)
    assert torch.equal(f[~nan], h[~nan].float())
    assert torch.isnan(f[nan]).all()
    back = _down(f, name).view(torch.int16)
    assert torch.equal(back[~nan], bits[~nan]), "non-NaN patterns must come back bit for bit"
    assert torch.isnan(back.view(getattr(torch, name))[nan].float()).all()


@pytest.mark.parametrize("name", DTYPES)
def test_rounding_matches_torch_and_numpy(isa, name):
    """float32 -> half on random bit patterns over the whole range (denormals, ties,
    overflow): round to nearest even, as torch's .to() and NumPy's astype."""
    torch = _torch()
    rng = np.random.default_rng(1)
    u = rng.integers(0, 2**32, size=200_003, dtype=np.uint64).astype(np.uint32)
    # plus values near the half/bfloat16 boundaries: ties, denormals, the largest finite
    special = np.array([0x477FF000, 0x477FEFFF, 0x477FE000, 0x33000000, 0x33000001, 0x387FC000, 0x38800000,
                        0x7F7FFFFF, 0x7F7F8000, 0x7F7F7FFF, 0x00008000, 0x00018000, 0x3F808000, 0x3F818000,
                        0x7F800000, 0xFF800000, 0x80000000, 0x00000001], np.uint32)
    u = np.concatenate([u, special, special | np.uint32(0x80000000)])
    f32 = u.view(np.float32)
    ok = ~np.isnan(f32)
    f = torch.from_numpy(f32[ok].copy())
    got = _down(f, name)
    want = f.to(getattr(torch, name))
    assert torch.equal(got.view(torch.int16), want.view(torch.int16))
    if name == "float16":
        with np.errstate(over="ignore"):  # overflow to +-Inf is the expected rounding
            want16 = f32[ok].astype(np.float16)
        assert np.array_equal(got.view(torch.int16).numpy(), want16.view(np.int16))
    nan = _down(torch.from_numpy(f32[~ok].copy()), name)
    assert torch.isnan(nan.float()).all()


@pytest.mark.parametrize("name", DTYPES)
@pytest.mark.parametrize("n", [1, 7, 15, 16, 17, 33, 100_000])  # tails of every vector width; parallel split
def test_paths_agree_on_every_length(name, n):
    torch = _torch()
    g = torch.Generator().manual_seed(n)
    f = torch.randn(n, generator=g) * 1e3
    h_ref = f.to(getattr(torch, name))
    for isa in ("generic", "avx2", "avx512"):
        before = _core.cpu_isa()
        _core.set_cpu_isa(isa)
        try:
            h = _down(f, name)
            assert torch.equal(h.view(torch.int16), h_ref.view(torch.int16)), isa
            assert torch.equal(_up(h), h_ref.float()), isa
        finally:
            _core.set_cpu_isa(before)


def test_bad_convert_is_a_named_error():
    torch = _torch()
    with pytest.raises(TypeError, match=r"twincore\._half_convert: argument 'dst'"):
        _core._half_convert(torch.zeros(3), torch.zeros(3, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"twincore\._half_convert: argument 'dst'"):
        _core._half_convert(torch.zeros(3), torch.zeros(4, dtype=torch.bfloat16))
