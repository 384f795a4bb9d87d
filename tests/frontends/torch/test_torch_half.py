"""Half precision through the torch frontend: our functions on float16/bfloat16 tensors
against torch's own ops in the same dtype (forward and backward), torch.autocast("cpu")
routing (matmul/linear/conv in the autocast dtype, losses in float32, as torch's policy),
and the nn modules under autocast and after .to(torch.bfloat16)."""
import pytest
from support import requires_torch

pytestmark = requires_torch
torch = pytest.importorskip("torch")
F = torch.nn.functional

import twincore.frontends.torch as tct  # noqa: E402
import twincore.frontends.torch.functional as tcf  # noqa: E402

HALVES = [torch.bfloat16, torch.float16]
ULP = {torch.float16: 2.0 ** -10, torch.bfloat16: 2.0 ** -7}


def rnd(*shape, dtype, seed=0, scale=1.0, grad=True):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(shape, generator=g) * scale).to(dtype).requires_grad_(grad)


def near(ours, theirs, dtype, ulps=4, what=""):
    """Two half results of the same float32-accumulated math: a few ulps apart, relative to
    each value and to the output's scale (torch's half CPU kernels sum in another order and
    may round partial sums in the dtype, which costs ulps of the scale in long sums)."""
    assert ours.dtype == theirs.dtype == dtype, (what, ours.dtype, theirs.dtype)
    o, t = ours.detach().double(), theirs.detach().double()
    scale = max(1.0, t.abs().max().item())
    tol = ulps * ULP[dtype] * (t.abs() + scale)
    assert ((o - t).abs() <= tol).all(), f"{what}: max diff {(o - t).abs().max().item():.3g}"


def as_accurate(ours, theirs, exact, dtype, what=""):
    """ours is at least as close to the float64 result as torch's own half op (up to half an
    ulp of the scale: both may round the same value to neighbours)."""
    e = exact.detach().double()
    scale = max(1.0, e.abs().max().item())
    err_o = (ours.detach().double() - e).abs().max().item()
    err_t = (theirs.detach().double() - e).abs().max().item()
    assert err_o <= max(err_t, 0.5 * ULP[dtype] * scale) * 1.001, f"{what}: ours {err_o:.3g} vs torch {err_t:.3g}"


def grads_of(fn, inputs, seed=1):
    out = fn(*inputs)
    out = out if isinstance(out, torch.Tensor) else out[0]
    g = rnd(*out.shape, dtype=out.dtype, seed=seed, grad=False)
    return out, torch.autograd.grad(out, [i for i in inputs if i.requires_grad], g)


CASES = {
    "linear": (lambda d: (rnd(6, 20, dtype=d), rnd(7, 20, dtype=d, seed=2), rnd(7, dtype=d, seed=3)),
               tcf.linear, F.linear),
    "conv2d": (lambda d: (rnd(2, 3, 8, 7, dtype=d), rnd(4, 3, 3, 3, dtype=d, seed=2), rnd(4, dtype=d, seed=3)),
               lambda x, w, b: tcf.conv2d(x, w, b, 1, 1), lambda x, w, b: F.conv2d(x, w, b, 1, 1)),
    "conv_transpose2d": (lambda d: (rnd(2, 3, 4, 5, dtype=d), rnd(3, 4, 3, 3, dtype=d, seed=2)),
                         lambda x, w: tcf.conv_transpose2d(x, w, None, 2, 1),
                         lambda x, w: F.conv_transpose2d(x, w, None, 2, 1)),
    "relu": (lambda d: (rnd(5, 9, dtype=d),), tcf.relu, F.relu),
    "tanh": (lambda d: (rnd(5, 9, dtype=d),), tcf.tanh, torch.tanh),
    "sigmoid": (lambda d: (rnd(5, 9, dtype=d),), tcf.sigmoid, torch.sigmoid),
    "leaky_relu": (lambda d: (rnd(5, 9, dtype=d),), tcf.leaky_relu, F.leaky_relu),
    "softmax": (lambda d: (rnd(5, 9, dtype=d, scale=3),), tcf.softmax, lambda x: F.softmax(x, -1)),
    "max_pool2d": (lambda d: (rnd(2, 3, 6, 6, dtype=d),), lambda x: tcf.max_pool2d(x, 2), lambda x: F.max_pool2d(x, 2)),
    "global_avg_pool2d": (lambda d: (rnd(2, 3, 6, 6, dtype=d),), tcf.global_avg_pool2d, lambda x: x.mean((2, 3))),
    "mse_loss": (lambda d: (rnd(4, 6, dtype=d), rnd(4, 6, dtype=d, seed=2, grad=False)), tcf.mse_loss, F.mse_loss),
    "bce_with_logits": (lambda d: (rnd(4, 6, dtype=d), torch.rand(4, 6).to(d)),
                        tcf.binary_cross_entropy_with_logits, F.binary_cross_entropy_with_logits),
    "cross_entropy": (lambda d: (rnd(6, 5, dtype=d, scale=2), torch.tensor([0, 4, 2, 1, 3, 3])),
                      tcf.cross_entropy, F.cross_entropy),
    "embedding": (lambda d: (torch.tensor([[1, 3], [0, 3]]), rnd(5, 4, dtype=d)), tcf.embedding, F.embedding),
}


@pytest.mark.parametrize("dtype", HALVES, ids=["bf16", "f16"])
@pytest.mark.parametrize("name", list(CASES))
def test_parity_with_torch_in_the_same_dtype(name, dtype):
    make, ours, theirs = CASES[name]
    inputs = make(dtype)
    o, og = grads_of(ours, inputs)
    t, tg = grads_of(theirs, inputs)
    near(o, t, dtype, what=name)
    for i, (a, b) in enumerate(zip(og, tg)):
        near(a, b, dtype, what=f"{name} grad {i}")
    # torch's op in float64 on the same (half-rounded) inputs and upstream gradient
    wide = [i.detach().double().requires_grad_(i.requires_grad) if i.is_floating_point() else i for i in inputs]
    e = theirs(*wide)
    eg = torch.autograd.grad(e, [i for i in wide if i.requires_grad],
                             rnd(*e.shape, dtype=dtype, seed=1, grad=False).double())
    as_accurate(o, t, e, dtype, what=name)
    for i, (a, b, c) in enumerate(zip(og, tg, eg)):
        as_accurate(a, b, c, dtype, what=f"{name} grad {i}")


@pytest.mark.parametrize("dtype", HALVES, ids=["bf16", "f16"])
def test_batch_norm_and_lstm_modules_in_half(dtype):
    torch.manual_seed(0)
    ours, ref = tct.BatchNorm2d(3).to(dtype), torch.nn.BatchNorm2d(3).to(dtype)
    x = rnd(4, 3, 5, 5, dtype=dtype, scale=2)
    o, og = grads_of(ours, (x,))
    t, tg = grads_of(ref, (x,))
    near(o, t, dtype, ulps=8, what="batch_norm")
    near(og[0], tg[0], dtype, ulps=16, what="batch_norm dx")
    near(ours.running_var, ref.running_var, dtype, what="running_var")
    lstm = tct.LSTM(5, 6).to(dtype)
    tl = torch.nn.LSTM(5, 6).float()
    tl.load_state_dict({k: v.float() for k, v in lstm.state_dict().items()})
    xs = rnd(4, 3, 5, dtype=dtype)
    y, (h, c) = lstm(xs)
    assert y.dtype == h.dtype == dtype
    ty, _ = tl(xs.detach().float())  # float32 torch on the same (rounded) inputs and weights
    assert (y.double() - ty.double()).abs().max() < 16 * ULP[dtype]
    y.sum().backward()
    assert lstm.weight_ih_l0.grad.dtype == dtype and torch.isfinite(lstm.weight_ih_l0.grad.float()).all()


# ---- torch.autocast ----------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", HALVES, ids=["bf16", "f16"])
def test_autocast_runs_gemm_ops_in_the_autocast_dtype(dtype):
    x, w, b = rnd(6, 20, dtype=torch.float32), rnd(7, 20, dtype=torch.float32, seed=2), rnd(7, dtype=torch.float32)
    with torch.autocast("cpu", dtype=dtype):
        y = tcf.linear(x, w, b)
        ty = F.linear(x, w, b)
    assert y.dtype == ty.dtype == dtype
    # the same values as calling the op on inputs cast to the autocast dtype
    direct = tcf.linear(x.detach().to(dtype), w.detach().to(dtype), b.detach().to(dtype))
    assert torch.equal(y.detach(), direct)
    y.float().sum().backward()  # gradients flow back through the casts, in float32 for float32 leaves
    assert x.grad.dtype == w.grad.dtype == torch.float32
    xi, wc = rnd(2, 3, 8, 8, dtype=torch.float32), rnd(4, 3, 3, 3, dtype=torch.float32, seed=2)
    with torch.autocast("cpu", dtype=dtype):
        yc = tcf.conv2d(xi, wc, None, 1, 1)
        m = tcf.matmul(xi.reshape(6, 64), xi.reshape(64, 6))
    assert yc.dtype == m.dtype == dtype
    assert torch.equal(yc.detach(), tcf.conv2d(xi.detach().to(dtype), wc.detach().to(dtype), None, 1, 1))


def test_autocast_losses_run_in_float32_like_torch():
    logits = rnd(6, 5, dtype=torch.bfloat16, scale=2)
    labels = torch.tensor([0, 4, 2, 1, 3, 3])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = tcf.cross_entropy(logits, labels)
        tloss = F.cross_entropy(logits, labels)
        mse = tcf.mse_loss(logits, logits.detach() * 0.5)
    assert loss.dtype == tloss.dtype == mse.dtype == torch.float32
    assert torch.allclose(loss, tcf.cross_entropy(logits.float(), labels), rtol=1e-6)
    loss.backward()
    assert logits.grad.dtype == torch.bfloat16


def test_autocast_modules_train():
    """A small CNN of our modules under autocast: bf16 activations, float32 parameters and
    loss, and a finite float32 gradient on every parameter (BatchNorm promotes to its float32
    statistics, as torch's does)."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(tct.Conv2d(1, 4, 3, padding=1), tct.BatchNorm2d(4), tct.ReLU(), tct.MaxPool2d(2),
                                tct.GlobalAvgPool2d(), tct.Linear(4, 3))
    x, y = torch.randn(8, 1, 8, 8), torch.randint(0, 3, (8,))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        h = model[0](x)
        assert h.dtype == torch.bfloat16
        out = model(x)
        assert out.dtype == torch.bfloat16
        loss = tct.CrossEntropyLoss()(out, y)
    assert loss.dtype == torch.float32
    loss.backward()
    for n, p in model.named_parameters():
        assert p.grad is not None and p.grad.dtype == torch.float32 and torch.isfinite(p.grad).all(), n


def test_modules_after_to_bfloat16():
    torch.manual_seed(0)
    ours = tct.Linear(12, 5).to(torch.bfloat16)
    ref = torch.nn.Linear(12, 5).to(torch.bfloat16)
    ref.load_state_dict(ours.state_dict())
    x = rnd(3, 12, dtype=torch.bfloat16)
    near(ours(x), ref(x), torch.bfloat16, what="Linear.to(bfloat16)")
    conv = tct.Conv2d(2, 3, 3).to(torch.bfloat16)
    assert conv(rnd(1, 2, 5, 5, dtype=torch.bfloat16)).dtype == torch.bfloat16


def test_mixed_dtypes_outside_autocast_are_named_errors():
    with pytest.raises(TypeError, match=r"twincore\.matmul: argument 'b': dtype float32 does not match"):
        tcf.linear(rnd(2, 3, dtype=torch.bfloat16), rnd(4, 3, dtype=torch.float32))


@pytest.mark.parametrize("name", ["SGD", "Adam"])
def test_optimizers_step_half_parameters_like_torch(name):
    """Half parameters and gradients; the state has the parameter's dtype, as torch's."""
    torch.manual_seed(0)
    ours_m = tct.Linear(5, 3).to(torch.bfloat16)
    ref_m = torch.nn.Linear(5, 3).to(torch.bfloat16)
    ref_m.load_state_dict(ours_m.state_dict())
    kw = {"lr": 0.1, "momentum": 0.9} if name == "SGD" else {"lr": 0.01}
    ours_o, ref_o = getattr(tct, name)(ours_m.parameters(), **kw), getattr(torch.optim, name)(ref_m.parameters(), **kw)
    x = rnd(4, 5, dtype=torch.bfloat16, grad=False)
    for _ in range(3):
        for m, o in ((ours_m, ours_o), (ref_m, ref_o)):
            o.zero_grad()
            m(x).float().pow(2).sum().backward()
            o.step()
    near(ours_m.weight, ref_m.weight, torch.bfloat16, ulps=2, what=name)
    state = ours_o.state[ours_m.weight]
    assert all(v.dtype == torch.bfloat16 for v in state.values() if isinstance(v, torch.Tensor) and v.dim() > 0)
