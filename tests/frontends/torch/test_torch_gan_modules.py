"""The GAN modules (issue 16): tc.ConvTranspose2d, tc.LeakyReLU, tc.BCEWithLogitsLoss against
torch.nn's own (initialisation, state_dict, values and gradients), and their bad arguments."""

import pytest

from support import requires_torch

pytestmark = requires_torch
torch = pytest.importorskip("torch")

import twincore.frontends.torch as tc  # noqa: E402


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("geo", [dict(stride=2, padding=1), dict(stride=2, padding=1, output_padding=1),
                                 dict(stride=3, padding=(0, 2), dilation=2, output_padding=(2, 1)),
                                 dict(stride=1, padding=0)])
def test_conv_transpose2d_matches_torch(geo, bias):
    torch.manual_seed(3)
    ours = tc.ConvTranspose2d(5, 4, (4, 3), bias=bias, dtype=torch.float64, **geo)
    torch.manual_seed(3)
    ref = torch.nn.ConvTranspose2d(5, 4, (4, 3), bias=bias, dtype=torch.float64, **geo)
    assert ours.state_dict().keys() == ref.state_dict().keys()
    for k, v in ref.state_dict().items():
        torch.testing.assert_close(ours.state_dict()[k], v, rtol=0, atol=0)
    x = torch.randn(3, 5, 6, 7, dtype=torch.float64, requires_grad=True)
    y, yr = ours(x), ref(x)
    torch.testing.assert_close(y, yr)
    g = torch.randn_like(yr)
    got = torch.autograd.grad(y, [x, *ours.parameters()], g)
    exp = torch.autograd.grad(yr, [x, *ref.parameters()], g)
    for a, b in zip(got, exp):
        torch.testing.assert_close(a, b)


def test_conv_transpose2d_nhwc_is_the_same_map_in_keras_layout():
    torch.manual_seed(0)
    nchw = tc.ConvTranspose2d(6, 3, 4, stride=2, padding=1, dtype=torch.float64)
    torch.manual_seed(0)
    nhwc = tc.ConvTranspose2d(6, 3, 4, stride=2, padding=1, dtype=torch.float64, layout="NHWC")
    assert nhwc.weight.shape == (4, 4, 3, 6)
    torch.testing.assert_close(nhwc.weight, nchw.weight.permute(2, 3, 1, 0), rtol=0, atol=0)
    x = torch.randn(2, 6, 7, 7, dtype=torch.float64)
    torch.testing.assert_close(nhwc(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2), nchw(x))
    same = tc.ConvTranspose2d(6, 3, 4, stride=2, padding="same", dtype=torch.float64, layout="NHWC")
    assert same(x.permute(0, 2, 3, 1)).shape == (2, 14, 14, 3)


def test_leaky_relu_module_and_functional():
    x = torch.randn(4, 9, dtype=torch.float64, requires_grad=True)
    for slope in (0.01, 0.2):
        m, r = tc.LeakyReLU(slope), torch.nn.LeakyReLU(slope)
        torch.testing.assert_close(m(x), r(x), rtol=0, atol=0)
        (a,) = torch.autograd.grad(m(x).sum(), x)
        (b,) = torch.autograd.grad(r(x).sum(), x)
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert "negative_slope=0.2" in repr(tc.LeakyReLU(0.2))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_bce_with_logits_loss_matches_torch(reduction):
    x = (torch.randn(8, 3, dtype=torch.float64) * 6).requires_grad_()
    t = torch.rand(8, 3, dtype=torch.float64)
    pw = torch.tensor([0.5, 1.0, 4.0], dtype=torch.float64)
    ours = tc.BCEWithLogitsLoss(reduction=reduction, pos_weight=pw)
    ref = torch.nn.BCEWithLogitsLoss(reduction=reduction, pos_weight=pw)
    assert ours.state_dict().keys() == ref.state_dict().keys()
    a, b = ours(x, t), ref(x, t)
    torch.testing.assert_close(a, b)
    up = torch.randn_like(b)
    torch.testing.assert_close(torch.autograd.grad(a, x, up)[0], torch.autograd.grad(b, x, up)[0])


def test_bad_arguments_name_the_op():
    with pytest.raises(ValueError, match="twincore.conv_transpose2d: argument 'groups'"):
        tc.ConvTranspose2d(4, 4, 3, groups=2)
    with pytest.raises(ValueError, match="twincore.conv_transpose2d: argument 'output_padding'"):
        tc.ConvTranspose2d(4, 4, 3, stride=2, output_padding=2)(torch.randn(1, 4, 5, 5))
    with pytest.raises(ValueError, match="argument 'weight'"):
        tc.BCEWithLogitsLoss(weight=torch.ones(3))
    with pytest.raises(ValueError, match="argument 'targets'"):
        tc.BCEWithLogitsLoss()(torch.randn(3, 2), torch.rand(3, 3))
    with pytest.raises(TypeError, match="twincore.leaky_relu: argument 'x'"):
        tc.functional.leaky_relu([1.0, 2.0])


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_batch_norm2d_matches_torch(layout):
    ours = tc.BatchNorm2d(3, momentum=0.2, dtype=torch.float64, layout=layout)
    ref = torch.nn.BatchNorm2d(3, momentum=0.2, dtype=torch.float64)
    assert ours.state_dict().keys() == ref.state_dict().keys()
    with torch.no_grad():
        ref.weight.uniform_(0.5, 1.5)
        ref.bias.normal_()
    ours.load_state_dict(ref.state_dict())
    to = (lambda t: t.permute(0, 2, 3, 1)) if layout == "NHWC" else (lambda t: t)
    back = (lambda t: t.permute(0, 3, 1, 2)) if layout == "NHWC" else (lambda t: t)
    for step in range(2):
        x = (torch.randn(6, 3, 4, 5, dtype=torch.float64) * 2 + 1).requires_grad_()
        y, yr = back(ours(to(x).contiguous())), ref(x)
        torch.testing.assert_close(y, yr)
        up = torch.randn_like(yr)
        got = torch.autograd.grad(y, [x, ours.weight, ours.bias], up)
        exp = torch.autograd.grad(yr, [x, ref.weight, ref.bias], up)
        for a, b in zip(got, exp):
            torch.testing.assert_close(a, b)
    for k in ("running_mean", "running_var", "num_batches_tracked"):
        torch.testing.assert_close(ours.state_dict()[k], ref.state_dict()[k])
    ours.eval()
    ref.eval()
    with torch.no_grad():
        torch.testing.assert_close(back(ours(to(x).contiguous())), ref(x))
    with pytest.raises(ValueError, match="twincore.batch_norm: argument 'training'"):
        ours(to(x).contiguous())
