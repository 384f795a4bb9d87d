import numpy as np
import pytest


@pytest.fixture(params=[np.float32, np.float64], ids=["f32", "f64"])
def dtype(request):
    return request.param


@pytest.fixture(params=["generic", "avx2", "avx512"])
def isa(request):
    """Run a test on each SIMD path the CPU has (others are skipped)."""
    from twincore import _core

    order = ["generic", "avx2", "avx512"]
    if order.index(request.param) > order.index(_core.cpu_best_isa()):
        pytest.skip(f"CPU lacks {request.param}")
    before = _core.cpu_isa()
    _core.set_cpu_isa(request.param)
    yield request.param
    _core.set_cpu_isa(before)
