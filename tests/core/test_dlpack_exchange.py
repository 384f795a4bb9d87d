"""torch tensors through the DLPack C exchange API (`__dlpack_c_exchange_api__`): inputs read
and outputs allocated by C calls (python/bridge.cc), with the capsule path as the fallback."""
import numpy as np
import pytest

import twincore.kernels as K
from twincore import _core
from support import requires_torch

torch = pytest.importorskip("torch")
needs_api = pytest.mark.skipif(not hasattr(torch.Tensor, "__dlpack_c_exchange_api__"),
                               reason="this torch has no DLPack C exchange API (the to_dlpack path serves it)")


@requires_torch
@needs_api
def test_torch_kind_uses_the_exchange_allocator():
    from twincore.kernels._array import _torch_kind

    assert isinstance(_torch_kind(torch.zeros(1)).alloc, _core.DLPackAlloc)
    assert _core.register_dlpack_exchange(torch.Tensor) and _core.register_dlpack_exchange(torch.nn.Parameter)
    assert _core.register_dlpack_exchange(np.ndarray) is False  # no API: nothing registered
    with pytest.raises(TypeError, match="register_dlpack_exchange"):
        _core.register_dlpack_exchange(3)
    with pytest.raises(TypeError, match="DLPackAlloc"):
        _core.DLPackAlloc(np.ndarray)


@requires_torch
@needs_api
@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16", "int32", "int64", "uint8",
                                   "int8", "bool"])
@pytest.mark.parametrize("shape", [(), (0,), (3,), (2, 5), (2, 3, 4)])
def test_allocator_makes_contiguous_aligned_tensors(dtype, shape):
    alloc = _core.DLPackAlloc(torch.Tensor)
    y = alloc(shape, dtype)
    assert type(y) is torch.Tensor and tuple(y.shape) == shape and y.dtype == getattr(torch, dtype)
    assert y.is_contiguous() and y.device.type == "cpu" and not y.requires_grad
    assert y.data_ptr() % 64 == 0 or y.numel() == 0  # torch's CPU allocator aligns to 64
    y.fill_(1)  # writable, owned memory
    with pytest.raises(ValueError, match="unknown dtype"):
        alloc((2,), "complex64")


@requires_torch
@needs_api
def test_matmul_on_exchange_tensors_matches_numpy_and_torch():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(9, 13, generator=g, requires_grad=True)  # requires_grad: read as is, no detach
    w = torch.nn.Parameter(torch.randn(6, 13, generator=g))
    b = torch.randn(6, generator=g)
    y = K.matmul(x, w, b, trans_b=True)
    assert type(y) is torch.Tensor and not y.requires_grad
    ref = x.detach().numpy().astype(np.float64) @ w.detach().numpy().astype(np.float64).T + b.numpy()
    np.testing.assert_allclose(y.numpy(), ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(y, torch.nn.functional.linear(x, w, b).detach(), rtol=1e-5, atol=1e-5)
    # non-contiguous views: copied by prepare / to_core before the core reads them
    xt = torch.randn(13, 9, generator=g).t()
    np.testing.assert_allclose(K.matmul(xt, w.detach().t()).numpy(),
                               xt.numpy().astype(np.float64) @ w.detach().numpy().T.astype(np.float64),
                               rtol=1e-5, atol=1e-5)
    # ... and the core itself still refuses a strided one, naming the op and argument
    with pytest.raises(ValueError, match=r"twincore\.matmul: argument 'a'.*contiguous"):
        _core.matmul(xt, w, None, False, True, _core.DLPackAlloc(torch.Tensor))


@requires_torch
@needs_api
def test_bad_torch_inputs_name_op_and_argument():
    alloc = _core.DLPackAlloc(torch.Tensor)
    w = torch.randn(3, 4)
    with pytest.raises(TypeError, match=r"twincore\.matmul: argument 'a'.*dtype"):
        _core.matmul(torch.ones(2, 4, dtype=torch.complex64), w, None, False, True, alloc)
    with pytest.raises(ValueError, match=r"twincore\.matmul: argument 'b'"):
        _core.matmul(torch.ones(2, 4), torch.ones(3, 5), None, False, True, alloc)
    with pytest.raises(TypeError, match=r"twincore\.matmul: argument 'a'"):
        _core.matmul(torch.ones(2, 4).to_sparse(), w, None, False, True, alloc)
