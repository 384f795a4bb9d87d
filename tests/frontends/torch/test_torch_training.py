"""Training through the torch frontend: a model mixing twincore and torch.nn modules
learns a small random problem (DataLoader, StepLR, train/eval); torch.compile runs the
same step without graph breaks and matches eager; saving model + optimizer and resuming
gives the same parameters as training straight through."""

import pytest

import twincore.kernels as K
from support import requires_torch

pytestmark = requires_torch
torch = pytest.importorskip("torch")
nn = torch.nn

import twincore.frontends.torch as tc  # noqa: E402

NEEDED = ("matmul", "matmul_backward", "conv2d", "conv2d_backward", "max_pool2d", "max_pool2d_backward",
          "softmax_cross_entropy", "adam_step", "sgd_step", "global_avg_pool2d", "global_avg_pool2d_backward")
missing = [n for n in NEEDED if not hasattr(K, n)]
pytestmark = [requires_torch, pytest.mark.skipif(bool(missing), reason=f"twincore.kernels lacks {missing}")]


def mixed_model(dtype=torch.float32, padding2="same"):
    """Ours and torch.nn's side by side (the document CNN, shrunk)."""
    return nn.Sequential(
        tc.Conv2d(1, 4, 3, padding="same"), nn.ReLU(),
        tc.Conv2d(4, 6, 3, stride=2, padding=padding2), tc.ReLU(),
        tc.MaxPool2d(2), nn.Flatten(),
        tc.Linear(6 * 3 * 3, 16), tc.Tanh(),
        nn.Linear(16, 3)).to(dtype)


def data(n=64, dtype=torch.float32, seed=0):
    """Random 12x12 images: noise plus one of three fixed random patterns (the class)."""
    g = torch.Generator().manual_seed(seed)
    patterns = torch.randn(3, 1, 12, 12, generator=torch.Generator().manual_seed(99), dtype=dtype)
    y = torch.randint(0, 3, (n,), generator=g)
    x = patterns[y] + torch.randn(n, 1, 12, 12, generator=g, dtype=dtype)
    return x, y


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_mixed_model_trains_with_dataloader_and_steplr(dtype):
    torch.manual_seed(0)
    model = mixed_model(dtype)
    x, y = data(96, dtype)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=16, shuffle=True)
    opt = tc.Adam(model.parameters(), lr=0.02)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=4, gamma=0.7)
    loss_fn = tc.CrossEntropyLoss()

    def full_loss():
        model.eval()
        with torch.no_grad():
            return float(loss_fn(model(x), y))

    first = full_loss()
    for _ in range(5):
        model.train()
        for xb, yb in loader:
            opt.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
        sched.step()
    last = full_loss()
    assert last < 0.5 * first, (first, last)
    assert all(p.dtype == dtype for p in model.parameters())


def test_same_steps_as_pure_torch():
    """Our modules + optimizer and torch's, from the same weights, take the same steps."""
    torch.manual_seed(1)
    ours = mixed_model(torch.float64, padding2=1)  # TF's "same" at stride 2 pads bottom/right only
    ref = nn.Sequential(nn.Conv2d(1, 4, 3, padding="same"), nn.ReLU(), nn.Conv2d(4, 6, 3, stride=2, padding=1),
                        nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(54, 16), nn.Tanh(),
                        nn.Linear(16, 3)).double()
    ref.load_state_dict(ours.state_dict())  # same parameter names, same shapes
    x, y = data(32, torch.float64)
    o1, o2 = tc.SGD(ours.parameters(), lr=0.1, momentum=0.9), torch.optim.SGD(ref.parameters(), lr=0.1, momentum=0.9)
    for _ in range(3):
        for m, o, lf in ((ours, o1, tc.CrossEntropyLoss(label_smoothing=0.1)),
                         (ref, o2, nn.CrossEntropyLoss(label_smoothing=0.1))):
            o.zero_grad()
            lf(m(x), y).backward()
            o.step()
    for (k, a), b in zip(ours.state_dict().items(), ref.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-10, msg=k)


def train_steps(model, opt, batches):
    losses = []
    for xb, yb in batches:
        opt.zero_grad()
        loss = tc.functional.cross_entropy(model(xb), yb)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    return losses


def rotation_model():
    """The document's rotation CNN, shrunk: RotationConv2d -> GlobalAvgPool2d -> Linear."""
    return nn.Sequential(tc.RotationConv2d(1, 4, 3, rotation_angle=30, translation_range=2), tc.ReLU(),
                         tc.GlobalAvgPool2d(), tc.Linear(4, 3))


@pytest.mark.parametrize("make", [mixed_model, rotation_model], ids=["cnn", "rotation"])
def test_compile_matches_eager_without_graph_breaks(make):
    if make is rotation_model and not hasattr(K, "rotate"):
        pytest.skip("rotate not landed")
    torch._dynamo.reset()
    torch.manual_seed(2)
    eager = make()
    compiled_model = make()
    compiled_model.load_state_dict(eager.state_dict())
    # aot_eager traces forward and backward through our fake kernels (what inductor needs),
    # fullgraph=True fails on any graph break; inductor itself is in the slow test below.
    compiled = torch.compile(compiled_model, backend="aot_eager", fullgraph=True)
    x, y = data(8)
    oe, oc = tc.Adam(eager.parameters(), lr=0.01), tc.Adam(compiled_model.parameters(), lr=0.01)
    torch.manual_seed(5)
    le = train_steps(eager, oe, [(x, y)] * 2)
    torch.manual_seed(5)
    lc = train_steps(compiled, oc, [(x, y)] * 2)
    assert le == pytest.approx(lc, rel=1e-5)
    for a, b in zip(eager.parameters(), compiled_model.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_compile_inductor_matches_eager():
    torch._dynamo.reset()
    torch.manual_seed(3)
    eager = mixed_model()
    compiled_model = mixed_model()
    compiled_model.load_state_dict(eager.state_dict())
    compiled = torch.compile(compiled_model, fullgraph=True)  # inductor (g++)
    x, y = data(8)
    le = train_steps(eager, tc.Adam(eager.parameters()), [(x, y)] * 2)
    lc = train_steps(compiled, tc.Adam(compiled_model.parameters()), [(x, y)] * 2)
    assert le == pytest.approx(lc, rel=1e-4)


@pytest.mark.parametrize("opt_cls,kwargs", [(tc.Adam, dict(lr=0.01)), (tc.SGD, dict(lr=0.05, momentum=0.9))],
                         ids=["adam", "sgd"])
def test_save_load_resume_equals_uninterrupted(tmp_path, opt_cls, kwargs):
    x, y = data(48)
    batches = [(x[i:i + 16], y[i:i + 16]) for i in range(0, 48, 16)] * 2
    torch.manual_seed(4)
    straight = mixed_model()
    start = {k: v.clone() for k, v in straight.state_dict().items()}
    train_steps(straight, opt_cls(straight.parameters(), **kwargs), batches)

    first = mixed_model()
    first.load_state_dict(start)
    opt = opt_cls(first.parameters(), **kwargs)
    train_steps(first, opt, batches[:3])
    torch.save({"model": first.state_dict(), "opt": opt.state_dict()}, tmp_path / "ckpt.pt")
    del first, opt

    ckpt = torch.load(tmp_path / "ckpt.pt")
    resumed = mixed_model()
    resumed.load_state_dict(ckpt["model"])
    opt = opt_cls(resumed.parameters(), **kwargs)
    opt.load_state_dict(ckpt["opt"])
    train_steps(resumed, opt, batches[3:])
    for (k, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), k


def test_whole_model_pickles(tmp_path):
    model = mixed_model()
    torch.save(model, tmp_path / "m.pt")
    back = torch.load(tmp_path / "m.pt", weights_only=False)
    x, _ = data(4)
    torch.testing.assert_close(back(x), model(x))
