"""tc.LSTM, tc.Embedding, tc.Sigmoid against torch.nn's: initialisation, state_dict, values
and gradients; torch.autograd.gradcheck in float64; options and bad arguments."""

import pytest

from support import requires_torch

pytestmark = requires_torch
torch = pytest.importorskip("torch")

import twincore.frontends.torch as tc  # noqa: E402
import twincore.frontends.torch.functional as tcf  # noqa: E402


def _grads(m, x, out):
    loss = sum((o * torch.linspace(-1, 1, o.numel(), dtype=o.dtype).reshape(o.shape)).sum() for o in out)
    params = [p for p in m.parameters()]
    return torch.autograd.grad(loss, [x] + params)


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("with_hx", [False, True])
def test_lstm_matches_torch_nn_lstm(batch_first, with_hx):
    torch.manual_seed(3)
    ours = tc.LSTM(7, 9, batch_first=batch_first)
    torch.manual_seed(3)
    ref = torch.nn.LSTM(7, 9, batch_first=batch_first)
    assert ours.state_dict().keys() == ref.state_dict().keys()
    for k, v in ref.state_dict().items():
        torch.testing.assert_close(ours.state_dict()[k], v, rtol=0, atol=0)  # same init draws
    x = torch.randn((4, 6, 7) if batch_first else (6, 4, 7), requires_grad=True)
    hx = (torch.randn(1, 4, 9), torch.randn(1, 4, 9)) if with_hx else None
    y, (h, c) = ours(x, hx)
    ry, (rh, rc) = ref(x, hx)
    for a, b in ((y, ry), (h, rh), (c, rc)):
        assert a.shape == b.shape
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    for a, b in zip(_grads(ours, x, (y, h, c)), _grads(ref, x, (ry, rh, rc))):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    ref.load_state_dict(ours.state_dict())
    ours.load_state_dict(torch.nn.LSTM(7, 9).state_dict())


def test_lstm_unbatched_no_bias_and_merged_bias():
    torch.manual_seed(0)
    ours, ref = tc.LSTM(3, 4, bias=False), torch.nn.LSTM(3, 4, bias=False)
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(5, 3)
    y, (h, c) = ours(x)
    ry, (rh, rc) = ref(x)
    torch.testing.assert_close(y, ry)
    torch.testing.assert_close(h, rh)
    m = tc.LSTM(3, 4, merged_bias=True)
    assert list(m.state_dict()) == ["weight_ih_l0", "weight_hh_l0", "bias_l0"]
    ref = torch.nn.LSTM(3, 4)
    with torch.no_grad():
        ref.weight_ih_l0.copy_(m.weight_ih_l0), ref.weight_hh_l0.copy_(m.weight_hh_l0)
        ref.bias_ih_l0.copy_(m.bias_l0), ref.bias_hh_l0.zero_()
    torch.testing.assert_close(m(x.unsqueeze(1))[0], ref(x.unsqueeze(1))[0])


def test_lstm_gradcheck_float64():
    x = torch.randn(4, 2, 3, dtype=torch.float64, requires_grad=True)
    shapes = ((12, 3), (12, 3), (12,), (2, 3), (2, 3))
    w = [(torch.randn(s, dtype=torch.float64) * 0.5).requires_grad_() for s in shapes]
    for bf, seq in ((False, True), (True, False)):
        xx = x.detach().transpose(0, 1).contiguous().requires_grad_() if bf else x

        def f(xx, *w):
            y, h, c = tcf.lstm(xx, *w, batch_first=bf, return_sequences=seq)
            return (y, h, c) if seq else (h, c)

        assert torch.autograd.gradcheck(f, (xx, *w))


def test_embedding_matches_torch_and_padding_idx():
    torch.manual_seed(1)
    ours = tc.Embedding(20, 6, padding_idx=-2)
    torch.manual_seed(1)
    ref = torch.nn.Embedding(20, 6, padding_idx=-2)
    torch.testing.assert_close(ours.weight, ref.weight, rtol=0, atol=0)
    ids = torch.randint(0, 20, (5, 7))
    ids[0, 0] = 18
    out, rout = ours(ids), ref(ids)
    torch.testing.assert_close(out, rout, rtol=0, atol=0)
    g = torch.randn_like(out)
    out.backward(g)
    rout.backward(g)
    torch.testing.assert_close(ours.weight.grad, ref.weight.grad)
    assert not ours.weight.grad[18].any()
    w = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda w: tcf.embedding(torch.tensor([[1, 4, 1]]), w), (w,))


def test_sigmoid_module_and_grad():
    x = torch.randn(4, 5, dtype=torch.float64, requires_grad=True)
    torch.testing.assert_close(tc.Sigmoid()(x), torch.sigmoid(x))
    assert torch.autograd.gradcheck(tcf.sigmoid, (x,))


@pytest.mark.parametrize("make,arg", [
    (lambda: tc.LSTM(3, 4, num_layers=2), "num_layers"),
    (lambda: tc.LSTM(3, 4, bidirectional=True), "bidirectional"),
    (lambda: tc.LSTM(3, 4, proj_size=2), "proj_size"),
    (lambda: tc.LSTM(0, 4), "input_size"),
    (lambda: tc.LSTM(3, 4)(torch.randn(2, 3, 5)), "x"),
    (lambda: tc.LSTM(3, 4)(torch.randn(2, 3, 3), (torch.randn(1, 3, 4), torch.randn(1, 2, 4))), "c0"),
    (lambda: tc.LSTM(3, 4)(torch.randn(5)), "x"),
    (lambda: tc.Embedding(5, 2, padding_idx=5), "padding_idx"),
    (lambda: tc.Embedding(5, 2, sparse=True), "sparse"),
    (lambda: tc.Embedding(5, 2)(torch.tensor([5])), "ids"),
    (lambda: tc.Embedding(5, 2)(torch.tensor([0.5])), "ids"),
])
def test_bad_arguments_name_op_and_arg(make, arg):
    with pytest.raises((ValueError, TypeError)) as e:
        make()
    assert "twincore." in str(e.value) and f"'{arg}'" in str(e.value)
