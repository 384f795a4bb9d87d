"""Optimizers: twincore's SGD and Adam (fused kernels) against torch.optim step by step,
and their state_dicts in torch's format, loadable both ways."""

import copy

import pytest

import twincore.kernels as K
from support import requires_torch

pytestmark = requires_torch
torch = pytest.importorskip("torch")

import twincore.frontends.torch as tc  # noqa: E402


def requires_kernels(*names):
    """Skip until these kernels have landed in twincore.kernels (written in parallel)."""
    missing = [n for n in names if not hasattr(K, n)]
    return pytest.mark.skipif(bool(missing), reason=f"twincore.kernels lacks {missing} (not landed yet)")


SHAPES = [(1,), (3, 17), (127,), (5, 4, 3)]


def make_params(dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(s, generator=g, dtype=dtype).requires_grad_() for s in SHAPES]


def run_steps(opt_cls, kwargs, dtype, steps=6, params=None, opt=None, seed=0):
    """`steps` steps on random gradients (the same sequence for every optimizer)."""
    params = params if params is not None else make_params(dtype)
    opt = opt if opt is not None else opt_cls(params, **kwargs)
    g = torch.Generator().manual_seed(seed + 1)
    for _ in range(steps):
        for p in params:
            p.grad = torch.randn(p.shape, generator=g, dtype=dtype)
        opt.step()
    return params, opt


def tol(dtype):
    return {"rtol": 1e-5, "atol": 1e-6} if dtype == torch.float32 else {"rtol": 1e-12, "atol": 1e-13}


SGD_CONFIGS = [dict(lr=0.1), dict(lr=0.05, momentum=0.9), dict(lr=0.05, momentum=0.9, dampening=0.3),
               dict(lr=0.02, momentum=0.8, nesterov=True, weight_decay=0.01), dict(lr=0.1, weight_decay=0.1)]
ADAM_CONFIGS = [dict(), dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6), dict(lr=0.003, weight_decay=0.05),
                dict(lr=0.003, weight_decay=0.05, decoupled_weight_decay=True)]


@requires_kernels("sgd_step")
@pytest.mark.parametrize("kwargs", SGD_CONFIGS, ids=str)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_sgd_matches_torch(kwargs, dtype):
    ours, opt = run_steps(tc.SGD, kwargs, dtype)
    ref, ref_opt = run_steps(torch.optim.SGD, kwargs, dtype)
    for a, b in zip(ours, ref):
        torch.testing.assert_close(a, b, **tol(dtype))
    if kwargs.get("momentum"):
        for p, q in zip(ours, ref):
            torch.testing.assert_close(opt.state[p]["momentum_buffer"], ref_opt.state[q]["momentum_buffer"],
                                       **tol(dtype))


@requires_kernels("adam_step")
@pytest.mark.parametrize("kwargs", ADAM_CONFIGS, ids=str)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_adam_matches_torch(kwargs, dtype):
    ours, opt = run_steps(tc.Adam, kwargs, dtype)
    ref, ref_opt = run_steps(torch.optim.Adam, kwargs, dtype)
    for a, b in zip(ours, ref):
        torch.testing.assert_close(a, b, **tol(dtype))
    for p, q in zip(ours, ref):
        for key in ("step", "exp_avg", "exp_avg_sq"):
            torch.testing.assert_close(opt.state[p][key], ref_opt.state[q][key], **tol(dtype))


@requires_kernels("sgd_step", "adam_step")
@pytest.mark.parametrize("ours_cls,torch_cls,kwargs", [(tc.SGD, torch.optim.SGD, dict(lr=0.05, momentum=0.9)),
                                                        (tc.Adam, torch.optim.Adam, dict(lr=0.01))])
def test_state_dict_loads_both_ways(ours_cls, torch_cls, kwargs):
    dtype = torch.float64
    # ours for 3 steps, then torch continues from our state_dict (and the reverse)
    p1, o1 = run_steps(ours_cls, kwargs, dtype, steps=3)
    p2 = [p.detach().clone().requires_grad_() for p in p1]
    o2 = torch_cls(p2, **kwargs)
    o2.load_state_dict(copy.deepcopy(o1.state_dict()))  # as after torch.save/load
    p3 = [p.detach().clone().requires_grad_() for p in p1]
    o3 = ours_cls(p3, **kwargs)
    o3.load_state_dict(copy.deepcopy(o2.state_dict()))
    run_steps(None, None, dtype, steps=3, params=p1, opt=o1, seed=7)
    run_steps(None, None, dtype, steps=3, params=p2, opt=o2, seed=7)
    run_steps(None, None, dtype, steps=3, params=p3, opt=o3, seed=7)
    for a, b, c in zip(p1, p2, p3):
        torch.testing.assert_close(a, b, **tol(dtype))
        torch.testing.assert_close(a, c, **tol(dtype))
    assert o1.state_dict()["param_groups"] == o2.state_dict()["param_groups"]


@requires_kernels("sgd_step")
def test_params_without_grad_are_skipped_and_lr_scheduler_works():
    params = make_params(torch.float64)
    opt = tc.SGD(params, lr=1.0)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    before = [p.detach().clone() for p in params]
    params[0].grad = torch.ones_like(params[0])
    opt.step()
    sched.step()
    torch.testing.assert_close(params[0].detach(), before[0] - 1.0)
    for p, b in zip(params[1:], before[1:]):
        assert torch.equal(p.detach(), b)
    assert opt.param_groups[0]["lr"] == 0.5
    opt.step()  # grad still there, lr halved
    torch.testing.assert_close(params[0].detach(), before[0] - 1.5)


@pytest.mark.parametrize("make,arg", [
    (lambda p: tc.Adam(p, amsgrad=True), "amsgrad"),
    (lambda p: tc.Adam(p, maximize=True), "maximize"),
    (lambda p: tc.Adam(p, fused=True), "fused"),
    (lambda p: tc.SGD(p, lr=0.1, maximize=True), "maximize"),
    (lambda p: tc.SGD(p, lr=0.1, differentiable=True), "differentiable"),
])
def test_unsupported_options_are_refused(make, arg):
    with pytest.raises(ValueError, match=rf"^twincore\.\w+: argument '{arg}': "):
        make(make_params(torch.float32))


def test_torch_own_validation_still_applies():
    with pytest.raises(ValueError, match="Invalid learning rate"):
        tc.Adam(make_params(torch.float32), lr=-1.0)
