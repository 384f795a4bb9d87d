"""Bad input through the torch frontend reaches the user as a ValueError/TypeError whose
message names the op and the argument (checked in a subprocess: a crash fails the test
instead of killing pytest)."""

import pytest

import twincore.kernels as K
from support import requires_torch
from twincore.testing import run_bad_calls

pytestmark = requires_torch
torch = pytest.importorskip("torch")

SETUP = ("import torch; import twincore.frontends.torch as tc; import twincore.frontends.torch.functional as tcf; "
         "f32, f64 = torch.float32, torch.float64; x4 = torch.randn(2, 3, 8, 8)")  # one line: run_bad_calls dedents

# (code, exception, op, argument, kernels the call reaches)
CALLS = [
    # the frontend's own argument checks
    ("tcf.relu(np.ones(3, np.float32))", "TypeError", "relu", "x", ()),
    ("tcf.softmax([1.0, 2.0])", "TypeError", "softmax", "x", ()),
    ("tcf.linear(torch.ones(3), 'w')", "TypeError", "matmul", "b", ()),
    ("tcf.conv2d(x4, torch.ones(4, 3, 3, 3), stride='a')", "TypeError", "conv2d", "stride", ()),
    ("tcf.conv2d(x4, torch.ones(4, 3, 3, 3), padding='full')", "ValueError", "conv2d", "padding", ()),
    ("tcf.conv2d(x4, torch.ones(4, 3, 3, 3), dilation=(1, 2, 3))", "TypeError", "conv2d", "dilation", ()),
    ("tcf.conv2d(x4, torch.ones(4, 3, 3, 3), layout='NCWH')", "ValueError", "conv2d", "layout", ()),
    ("tcf.max_pool2d(x4, 2.5)", "TypeError", "max_pool2d", "kernel_size", ()),
    ("tcf.global_avg_pool2d(x4, layout='CHW')", "ValueError", "global_avg_pool2d", "layout", ()),
    ("tcf.rotate(x4, 'ten')", "TypeError", "rotate", "angle", ()),
    ("tcf.cross_entropy(torch.randn(3, 4), torch.tensor([0, 1, 2]), reduction='avg')", "ValueError",
     "softmax_cross_entropy", "reduction", ()),
    ("tcf.cross_entropy(torch.randn(3, 4), torch.rand(3, 4, requires_grad=True))", "ValueError",
     "softmax_cross_entropy", "labels", ()),
    ("tcf.mse_loss(torch.randn(3), torch.randn(3), reduction='max')", "ValueError", "mse", "reduction", ()),
    # errors raised by the kernels, passed through the custom ops unchanged
    ("tcf.relu(torch.ones(3, dtype=torch.int64))", "TypeError", "relu", "x", ("relu",)),
    ("tcf.tanh(torch.ones(0, 3))", "ValueError", "tanh", "x", ("tanh",)),
    ("tcf.linear(torch.ones(3, 4), torch.ones(5, 3))", "ValueError", "matmul", "b", ("matmul",)),
    ("tcf.linear(torch.ones(3, 4), torch.ones(5, 4, dtype=f64))", "TypeError", "matmul", "b", ("matmul",)),
    ("tcf.conv2d(x4, torch.ones(4, 2, 3, 3))", "ValueError", "conv2d", "w", ("conv2d",)),
    ("tcf.conv2d(x4[0], torch.ones(4, 3, 3, 3))", "ValueError", "conv2d", "x", ("conv2d",)),
    ("tcf.max_pool2d(x4, 0)", "ValueError", "max_pool2d", "kernel_size", ("max_pool2d",)),
    ("tcf.max_pool2d(x4.int(), 2)", "TypeError", "max_pool2d", "x", ("max_pool2d",)),
    ("tcf.cross_entropy(torch.randn(3, 4), torch.tensor([0, 1, 7]))", "ValueError", "softmax_cross_entropy",
     "labels", ("softmax_cross_entropy",)),
    ("tcf.cross_entropy(torch.randn(3, 4), torch.tensor([0, 1]))", "ValueError", "softmax_cross_entropy",
     "labels", ("softmax_cross_entropy",)),
    ("tcf.mse_loss(torch.randn(3), torch.randn(4))", "ValueError", "mse", "target", ("mse",)),
    ("tcf.rotate(x4, 10.0, interpolation='cubic')", "ValueError", "rotate", "interpolation", ("rotate",)),
    ("tcf.rotate(x4, torch.ones(5))", "ValueError", "rotate", "angle", ("rotate",)),
    ("tcf.global_avg_pool2d(torch.ones(2, 3))", "ValueError", "global_avg_pool2d", "x", ("global_avg_pool2d",)),
    ("tc.Linear(4, 2)(torch.ones(3, 5))", "ValueError", "matmul", "b", ("matmul",)),
]


def test_bad_calls_raise_named_errors():
    calls = [c[:4] for c in CALLS if all(hasattr(K, k) for k in c[4])]
    assert len(calls) >= 13
    run_bad_calls(calls, setup=SETUP)


def test_nan_in_nan_out():
    x = torch.tensor([[float("nan"), 1.0, -2.0]])
    import twincore.frontends.torch.functional as tcf

    assert torch.isnan(tcf.relu(x)[0, 0]) and torch.isnan(tcf.tanh(x)[0, 0])
    if hasattr(K, "softmax"):
        assert torch.isnan(tcf.softmax(x)).all()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_tensors_get_a_clear_error_or_work():
    import twincore.frontends.torch.functional as tcf

    x = torch.randn(4, 5, device="cuda")
    try:
        y = tcf.relu(x)
    except (ValueError, TypeError) as e:
        assert str(e).startswith("twincore.relu: argument 'x': ")
    else:
        assert y.device == x.device
        torch.testing.assert_close(y, torch.relu(x))
