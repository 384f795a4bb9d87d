"""The bridge's per-type DLPack exporters (torch tensors cross by to_dlpack: ~0.3 us, not ~2)."""
import numpy as np
import pytest

import twincore.kernels as K
from twincore import _core
from support import requires_torch


class _Counted(np.ndarray):
    pass


def test_exporter_is_used_for_its_exact_type_only():
    calls = []

    def export(a):
        calls.append(a.shape)
        return np.asarray(a).__dlpack__()

    _core.register_dlpack_exporter(_Counted, export)
    a = np.arange(6, dtype=np.float32).reshape(2, 3).view(_Counted)
    b = np.arange(12, dtype=np.float32).reshape(3, 4)
    c = _core.matmul(a, b, None, False, False, lambda s, d: np.empty(s, d))
    np.testing.assert_allclose(c, np.asarray(a) @ b, rtol=1e-6)
    assert calls == [(2, 3)]  # a by the exporter; b (a plain ndarray) by its __dlpack__


def test_a_failing_exporter_names_the_op_and_argument():
    class Bad(np.ndarray):
        pass

    def export(a):
        raise RuntimeError("nope")

    _core.register_dlpack_exporter(Bad, export)
    a = np.ones((2, 2), np.float32).view(Bad)
    with pytest.raises(TypeError, match=r"twincore\.matmul: argument 'a'.*nope"):
        _core.matmul(a, np.ones((2, 2), np.float32), None, False, False, lambda s, d: np.empty(s, d))
    with pytest.raises(TypeError, match="register_exporter"):
        _core.register_dlpack_exporter(3, export)


@requires_torch
def test_torch_tensors_parameters_and_subclasses():
    import torch

    g = torch.Generator().manual_seed(0)
    x = torch.randn(5, 7, generator=g, requires_grad=True)
    w = torch.nn.Parameter(torch.randn(3, 7, generator=g))

    class Sub(torch.Tensor):  # not registered: crosses by its own __dlpack__
        pass

    b = torch.randn(3, generator=g).as_subclass(Sub)
    y = K.matmul(x, w, b, trans_b=True)
    ref = x.detach().double() @ w.detach().double().T + torch.Tensor(b).double()
    np.testing.assert_allclose(y.numpy(), ref.numpy(), rtol=1e-5, atol=1e-5)
    assert not y.requires_grad and x.grad is None
