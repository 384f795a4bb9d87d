"""nn.Modules: torch's initialisation, parameter names and state_dicts; module options;
RotationConv2d's per-sample random warp (reproducible with torch.manual_seed) in
training mode and plain convolution in eval mode."""

import pytest

import twincore.kernels as K
from support import requires_torch

pytestmark = requires_torch
torch = pytest.importorskip("torch")
F = torch.nn.functional

import twincore.frontends.torch as tc  # noqa: E402
import twincore.frontends.torch.functional as tcf  # noqa: E402


def requires_kernels(*names):
    """Skip until these kernels have landed in twincore.kernels (written in parallel)."""
    missing = [n for n in names if not hasattr(K, n)]
    return pytest.mark.skipif(bool(missing), reason=f"twincore.kernels lacks {missing} (not landed yet)")


@pytest.mark.parametrize("bias", [True, False])
def test_linear_init_and_state_dict_match_torch(bias):
    torch.manual_seed(0)
    ours = tc.Linear(17, 5, bias=bias)
    torch.manual_seed(0)
    ref = torch.nn.Linear(17, 5, bias=bias)
    assert ours.state_dict().keys() == ref.state_dict().keys()
    for k, v in ref.state_dict().items():
        torch.testing.assert_close(ours.state_dict()[k], v, rtol=0, atol=0)
    other = torch.nn.Linear(17, 5, bias=bias)
    ours.load_state_dict(other.state_dict())        # torch -> ours
    ref.load_state_dict(ours.state_dict())          # ours -> torch
    torch.testing.assert_close(ref.weight, other.weight, rtol=0, atol=0)


@pytest.mark.parametrize("bias", [True, False])
def test_conv2d_init_and_state_dict_match_torch(bias):
    torch.manual_seed(1)
    ours = tc.Conv2d(3, 8, (3, 2), stride=2, padding=1, bias=bias)
    torch.manual_seed(1)
    ref = torch.nn.Conv2d(3, 8, (3, 2), stride=2, padding=1, bias=bias)
    assert ours.state_dict().keys() == ref.state_dict().keys()
    for k, v in ref.state_dict().items():
        torch.testing.assert_close(ours.state_dict()[k], v, rtol=0, atol=0)
    rot = tc.RotationConv2d(3, 8, (3, 2), rotation_angle=30, translation_range=2, bias=bias)
    rot.load_state_dict(ref.state_dict())
    ref.load_state_dict(rot.state_dict())


def test_dtype_and_device_arguments():
    m = tc.Linear(4, 3, dtype=torch.float64, device="cpu")
    assert m.weight.dtype == torch.float64 and m.bias.dtype == torch.float64
    c = tc.Conv2d(2, 3, 3, dtype=torch.float64)
    assert c.weight.shape == (3, 2, 3, 3) and c.weight.dtype == torch.float64


@requires_kernels("matmul", "conv2d", "max_pool2d", "global_avg_pool2d", "softmax_cross_entropy", "mse")
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_modules_match_torch_nn(dtype):
    torch.manual_seed(2)
    x = torch.randn(3, 2, 9, 8, dtype=dtype)
    tol = {"rtol": 1e-4, "atol": 1e-5} if dtype == torch.float32 else {}
    pairs = [(tc.Conv2d(2, 4, 3, stride=1, padding=1, dilation=1).to(dtype),
              torch.nn.Conv2d(2, 4, 3, stride=1, padding=1).to(dtype)),
             (tc.Conv2d(2, 4, 3, padding="same").to(dtype), torch.nn.Conv2d(2, 4, 3, padding="same").to(dtype)),
             (tc.MaxPool2d(2), torch.nn.MaxPool2d(2)), (tc.MaxPool2d(3, 2, 1), torch.nn.MaxPool2d(3, 2, 1)),
             (tc.ReLU(), torch.nn.ReLU()), (tc.Tanh(), torch.nn.Tanh())]
    for ours, ref in pairs:
        ref.load_state_dict(ours.state_dict())
        torch.testing.assert_close(ours(x), ref(x), **tol)
    torch.testing.assert_close(tc.GlobalAvgPool2d()(x), x.mean((2, 3)), **tol)
    lin, lin_ref = tc.Linear(8, 5).to(dtype), torch.nn.Linear(8, 5).to(dtype)
    lin_ref.load_state_dict(lin.state_dict())
    torch.testing.assert_close(lin(x), lin_ref(x), **tol)  # [3,2,9,8] -> [3,2,9,5]
    logits, target = torch.randn(6, 4, dtype=dtype), torch.randint(0, 4, (6,))
    for red in ("mean", "sum", "none"):
        torch.testing.assert_close(tc.CrossEntropyLoss(reduction=red, label_smoothing=0.05)(logits, target),
                                   torch.nn.CrossEntropyLoss(reduction=red, label_smoothing=0.05)(logits, target),
                                   **tol)
        torch.testing.assert_close(tc.MSELoss(reduction=red)(logits, logits.flip(0)),
                                   torch.nn.MSELoss(reduction=red)(logits, logits.flip(0)), **tol)
    torch.testing.assert_close(tc.Softmax(dim=-1)(logits), torch.softmax(logits, -1), **tol)


@requires_kernels("rotate", "rotate_backward", "conv2d", "conv2d_backward")
def test_rotation_conv2d_train_is_random_and_reproducible_eval_is_conv():
    torch.manual_seed(3)
    m = tc.RotationConv2d(1, 4, 3, rotation_angle=30, translation_range=3)
    x = torch.randn(5, 1, 12, 12)
    torch.manual_seed(10)
    a = m(x)
    torch.manual_seed(10)
    b = m(x)
    c = m(x)  # RNG moved on: other angles
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert not torch.allclose(a, c)
    # the same draws as the module makes, spelled out
    torch.manual_seed(10)
    angle = torch.empty(5).uniform_(-30, 30)
    shift = torch.empty(5, 2).uniform_(-3, 3)
    assert angle.abs().max() <= 30 and shift.abs().max() <= 3 and angle.std() > 0
    want = tcf.conv2d(tcf.rotate(x, angle, shift), m.weight, m.bias, 1, "same")
    torch.testing.assert_close(a, want, rtol=0, atol=0)
    m.eval()
    torch.testing.assert_close(m(x), F.conv2d(x, m.weight, m.bias, padding=1), rtol=1e-5, atol=1e-5)
    m.train()
    a.sum().backward()  # gradients reach the weights through the warp
    assert m.weight.grad is not None and m.weight.grad.abs().sum() > 0


def test_rotation_conv2d_zero_ranges_is_plain_conv():
    m = tc.RotationConv2d(2, 3, 3, rotation_angle=0, translation_range=0, padding=1)
    if not hasattr(K, "conv2d"):
        pytest.skip("conv2d not landed")
    x = torch.randn(2, 2, 6, 6)
    torch.testing.assert_close(m(x), F.conv2d(x, m.weight, m.bias, padding=1), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("make,arg", [
    (lambda: tc.CrossEntropyLoss(weight=torch.ones(3)), "weight"),
    (lambda: tc.CrossEntropyLoss(ignore_index=0), "ignore_index"),
    (lambda: tc.CrossEntropyLoss(reduction="avg"), "reduction"),
    (lambda: tc.CrossEntropyLoss(label_smoothing=1.5), "label_smoothing"),
    (lambda: tc.MSELoss(reduction="bad"), "reduction"),
    (lambda: tc.Conv2d(2, 3, 3, groups=2), "groups"),
    (lambda: tc.Conv2d(2, 3, 3, padding_mode="reflect"), "padding_mode"),
    (lambda: tc.Conv2d(2, 3, 3, padding="full"), "padding"),
    (lambda: tc.Conv2d(2, 3, (3, 3, 3)), "kernel_size"),
    (lambda: tc.Conv2d(0, 3, 3), "in_channels"),
    (lambda: tc.Linear(0, 3), "in_features"),
    (lambda: tc.MaxPool2d(2, ceil_mode=True), "ceil_mode"),
    (lambda: tc.MaxPool2d(2, dilation=2), "dilation"),
    (lambda: tc.MaxPool2d(2, return_indices=True), "return_indices"),
    (lambda: tc.RotationConv2d(1, 2, 3, rotation_angle=-1, translation_range=0), "rotation_angle"),
    (lambda: tc.RotationConv2d(1, 2, 3, 10, 2, interpolation="cubic"), "interpolation"),
    (lambda: tc.RotationConv2d(1, 2, 3, 10, 2, fill="wrap"), "fill"),
])
def test_bad_module_arguments(make, arg):
    with pytest.raises((ValueError, TypeError), match=rf"^twincore\.\w+: argument '{arg}': "):
        make()


def test_short_alias_module():
    import twincore.torch as tct

    assert tct.Linear is tc.Linear and tct.functional is tcf and tct.Adam is tc.optim.Adam


@requires_kernels("conv2d", "max_pool2d", "global_avg_pool2d", "rotate")
def test_channels_last_modules_match_nchw_ones():
    # layout="NHWC": Keras's layout inside torch (weight [KH,KW,in,out]), initialised with the
    # same draws as the NCHW module, computing the same function on permuted tensors.
    torch.manual_seed(3)
    nchw = tc.Conv2d(3, 5, 3, stride=2, padding="same")
    torch.manual_seed(3)
    nhwc = tc.Conv2d(3, 5, 3, stride=2, padding="same", layout="NHWC")
    assert tuple(nhwc.weight.shape) == (3, 3, 3, 5) and "layout='NHWC'" in repr(nhwc)
    assert torch.equal(nhwc.weight, nchw.weight.permute(2, 3, 1, 0)) and torch.equal(nhwc.bias, nchw.bias)
    x = torch.randn(4, 3, 9, 8, dtype=torch.float64, requires_grad=True)
    xl = x.detach().permute(0, 2, 3, 1).contiguous().requires_grad_(True)
    nchw, nhwc = nchw.double(), nhwc.double()
    y, yl = nchw(x), nhwc(xl)
    torch.testing.assert_close(yl, y.permute(0, 2, 3, 1), rtol=1e-12, atol=1e-12)
    g = torch.randn_like(y)
    y.backward(g)
    yl.backward(g.permute(0, 2, 3, 1))
    torch.testing.assert_close(xl.grad, x.grad.permute(0, 2, 3, 1), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(nhwc.weight.grad, nchw.weight.grad.permute(2, 3, 1, 0), rtol=1e-12, atol=1e-12)
    p, pl = tc.MaxPool2d(2)(y), tc.MaxPool2d(2, layout="NHWC")(yl)
    torch.testing.assert_close(pl, p.permute(0, 2, 3, 1))
    torch.testing.assert_close(tc.GlobalAvgPool2d(layout="NHWC")(yl), tc.GlobalAvgPool2d()(y))
    rot = tc.RotationConv2d(3, 5, 3, rotation_angle=20.0, translation_range=2.0, layout="NHWC").double()
    assert rot(xl).shape == (4, 9, 8, 5)
    with pytest.raises(ValueError, match="layout"):
        tc.Conv2d(3, 5, 3, layout="CHWN")
