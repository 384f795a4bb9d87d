import numpy as np
import pytest

import twincore.kernels as K
from twincore.kernels.reference import optim as ref
from twincore.testing import AWKWARD_SIZES, assert_close, randn, run_bad_calls

from support import requires_tf, requires_torch

STEPS = 5
# "matching to 1e-6 (f32) / 1e-12 (f64)"
MATCH = {np.float32: {"rtol": 1e-6, "atol": 1e-6}, np.float64: {"rtol": 1e-12, "atol": 1e-12}}

SGD_CONFIGS = [dict(lr=0.1), dict(lr=0.05, momentum=0.9), dict(lr=0.05, momentum=0.9, nesterov=True),
               dict(lr=0.1, weight_decay=0.01), dict(lr=0.03, momentum=0.8, dampening=0.3, weight_decay=0.05),
               dict(lr=0.02, momentum=0.5, nesterov=True, weight_decay=0.1)]
ADAM_CONFIGS = [dict(), dict(lr=0.01, beta1=0.8, beta2=0.99, eps=1e-6), dict(lr=0.01, weight_decay=0.1),
                dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True), dict(lr=0.02, beta1=0.3),
                dict(flavor="keras", eps=1e-7), dict(flavor="keras", lr=0.01, weight_decay=0.05,
                                                     decoupled_weight_decay=True),
                dict(flavor="keras", lr=0.01, weight_decay=0.05)]


def data(shape, dtype, seed):
    """param and STEPS random grads."""
    return randn(shape, dtype, seed), [randn(shape, dtype, seed + 1 + i) for i in range(STEPS)]


@pytest.mark.parametrize("n", AWKWARD_SIZES + (100_003,))
def test_sgd_parity_with_reference(n, dtype, isa):
    for k, cfg in enumerate(SGD_CONFIGS):
        p, grads = data((n,), dtype, n + k)
        buf = np.zeros_like(p)
        rp, rbuf = p.astype(np.float64), np.zeros(n)
        for g in grads:
            K.sgd_step(p, g, buf, **cfg)
            rp, rbuf = ref.sgd_step(rp, g, rbuf, **cfg)
        assert p.dtype == dtype
        t = {"rtol": 1e-5, "atol": 1e-6} if dtype == np.float32 else MATCH[np.float64]
        assert_close(p, rp, **t, what=f"param {cfg}")
        if cfg.get("momentum"):
            assert_close(buf, rbuf, **t, what=f"momentum_buf {cfg}")


@pytest.mark.parametrize("n", AWKWARD_SIZES + (100_003,))
def test_adam_parity_with_reference(n, dtype, isa):
    for k, cfg in enumerate(ADAM_CONFIGS):
        p, grads = data((n,), dtype, n + k)
        m, v = np.zeros_like(p), np.zeros_like(p)
        rp, rm, rv = p.astype(np.float64), np.zeros(n), np.zeros(n)
        for t, g in enumerate(grads, 1):
            K.adam_step(p, g, m, v, t, **cfg)
            rp, rm, rv = ref.adam_step(rp, g, rm, rv, t, **cfg)
        t = {"rtol": 1e-5, "atol": 1e-6} if dtype == np.float32 else {"rtol": 1e-11, "atol": 1e-12}
        assert_close(p, rp, **t, what=f"param {cfg}")
        assert_close(m, rm, **t, what=f"m {cfg}")
        assert_close(v, rv, **t, what=f"v {cfg}")


def test_nan_propagates():
    p, g = randn((40,), np.float32, 1), randn((40,), np.float32, 2)
    g[7] = np.nan
    m, v, buf = np.zeros_like(p), np.zeros_like(p), np.zeros_like(p)
    q = p.copy()
    K.adam_step(p, g, m, v, 1)
    K.sgd_step(q, g, buf, lr=0.1, momentum=0.9)
    for a in (p, m, v, q, buf):
        assert np.isnan(a[7]) and np.isfinite(np.delete(a, 7)).all()


def test_updates_in_place_and_returns_none():
    p, g = randn((3, 5), np.float32, 1), randn((3, 5), np.float32, 2)
    before = p.copy()
    assert K.sgd_step(p, g, lr=0.5) is None
    assert_close(p, before - 0.5 * g.astype(np.float64), rtol=1e-6, atol=1e-6)


@requires_torch
@pytest.mark.parametrize("cfg", SGD_CONFIGS)
@pytest.mark.parametrize("tdtype", ["float32", "float64"])
def test_torch_sgd_parity(cfg, tdtype):
    import torch

    dt = getattr(torch, tdtype)
    torch.manual_seed(0)
    w = torch.nn.Parameter(torch.randn(17, 33, dtype=dt))
    ours = w.detach().clone()
    buf = torch.zeros_like(ours)
    opt = torch.optim.SGD([w], **cfg)
    for step in range(STEPS):
        g = torch.randn_like(ours)
        w.grad = g.clone()
        opt.step()
        # torch's first step sets buf = d: a zero buffer with dampening 0 does the same
        ours_cfg = dict(cfg, dampening=0.0) if step == 0 else cfg
        K.sgd_step(ours, g, buf, **ours_cfg)
    torch.testing.assert_close(ours, w.detach(), **MATCH[getattr(np, tdtype)])
    if cfg.get("momentum"):
        torch.testing.assert_close(buf, opt.state[w]["momentum_buffer"], **MATCH[getattr(np, tdtype)])


@requires_torch
@pytest.mark.parametrize("cls,cfg", [("Adam", dict()), ("Adam", dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6)),
                                     ("Adam", dict(lr=0.01, weight_decay=0.1)), ("AdamW", dict(lr=0.01)),
                                     ("AdamW", dict(lr=0.01, weight_decay=0.2)), ("Adam", dict(betas=(0.3, 0.9)))])
@pytest.mark.parametrize("tdtype", ["float32", "float64"])
def test_torch_adam_parity(cls, cfg, tdtype):
    import torch

    dt = getattr(torch, tdtype)
    torch.manual_seed(1)
    w = torch.nn.Parameter(torch.randn(129, 5, dtype=dt))
    ours = torch.nn.Parameter(w.detach().clone())  # a Parameter: updated through .data
    m, v = torch.zeros_like(w), torch.zeros_like(w)
    opt = getattr(torch.optim, cls)([w], **cfg)
    b1, b2 = cfg.get("betas", (0.9, 0.999))
    kw = dict(lr=cfg.get("lr", 1e-3), beta1=b1, beta2=b2, eps=cfg.get("eps", 1e-8),
              weight_decay=cfg.get("weight_decay", 0.01 if cls == "AdamW" else 0.0),
              decoupled_weight_decay=cls == "AdamW", flavor="torch")
    for t in range(1, STEPS + 1):
        g = torch.randn_like(w)
        w.grad = g.clone()
        opt.step()
        K.adam_step(ours, g, m, v, t, **kw)
    tolerance = MATCH[getattr(np, tdtype)]
    torch.testing.assert_close(ours.detach(), w.detach(), **tolerance)
    torch.testing.assert_close(m, opt.state[w]["exp_avg"], **tolerance)
    torch.testing.assert_close(v, opt.state[w]["exp_avg_sq"], **tolerance)


def _keras():
    import keras

    if keras.backend.backend() != "tensorflow":
        pytest.skip("keras parity runs on the TensorFlow backend")
    return keras


@requires_tf
@pytest.mark.parametrize("cfg", [dict(), dict(learning_rate=0.01, beta_1=0.8, beta_2=0.99, epsilon=1e-6),
                                 dict(learning_rate=0.01, weight_decay=0.1)])
@pytest.mark.parametrize("dt", ["float32", "float64"])
def test_keras_adam_parity(cfg, dt):
    keras = _keras()
    cfg = dict(cfg, learning_rate=cfg.get("learning_rate", 1e-3))
    p, grads = data((31, 7), getattr(np, dt), 3)
    var = keras.Variable(p.copy(), dtype=dt)
    opt = keras.optimizers.Adam(**cfg)
    m, v = np.zeros_like(p), np.zeros_like(p)
    for t, g in enumerate(grads, 1):
        opt.apply_gradients([(g, var)])
        K.adam_step(p, g, m, v, t, lr=cfg["learning_rate"], beta1=cfg.get("beta_1", 0.9),
                    beta2=cfg.get("beta_2", 0.999), eps=cfg.get("epsilon", 1e-7),
                    weight_decay=cfg.get("weight_decay", 0.0), decoupled_weight_decay=True, flavor="keras")
    assert_close(p, np.asarray(var.numpy()), **MATCH[getattr(np, dt)], what="param")


@requires_tf
@pytest.mark.parametrize("cfg", [dict(learning_rate=0.1), dict(learning_rate=0.05, momentum=0.9),
                                 dict(learning_rate=0.03, momentum=0.8, nesterov=True)])
@pytest.mark.parametrize("dt", ["float32", "float64"])
def test_keras_sgd_parity(cfg, dt):
    keras = _keras()
    p, grads = data((31, 7), getattr(np, dt), 4)
    var = keras.Variable(p.copy(), dtype=dt)
    opt = keras.optimizers.SGD(**cfg)
    buf = np.zeros_like(p)
    for g in grads:
        opt.apply_gradients([(g, var)])
        # Keras holds lr and momentum in float32 (the docstring's recipe for float64)
        K.sgd_step(p, g, buf, lr=float(np.float32(cfg["learning_rate"])),
                   momentum=float(np.float32(cfg.get("momentum", 0.0))), nesterov=cfg.get("nesterov", False))
    assert_close(p, np.asarray(var.numpy()), **MATCH[getattr(np, dt)], what="param")


def test_bad_input():
    setup = "p = np.ones(4, np.float32); g = np.ones(4, np.float32); m = np.zeros(4, np.float32); v = m.copy()"
    run_bad_calls([
        ("K.sgd_step(p, np.ones(5, np.float32))", "ValueError", "sgd_step", "grad"),
        ("K.sgd_step(p, np.ones(4))", "TypeError", "sgd_step", "grad"),
        ("K.sgd_step(np.ones(4, np.int32), g)", "TypeError", "sgd_step", "param"),
        ("K.sgd_step(np.ones(0, np.float32), np.ones(0, np.float32))", "ValueError", "sgd_step", "param"),
        ("K.sgd_step(None, g)", "TypeError", "sgd_step", "param"),
        ("K.sgd_step(p, g, lr=-1)", "ValueError", "sgd_step", "lr"),
        ("K.sgd_step(p, g, lr=float('nan'))", "ValueError", "sgd_step", "lr"),
        ("K.sgd_step(p, g, lr='a')", "TypeError", "sgd_step", "lr"),
        ("K.sgd_step(p, g, momentum=0.9)", "ValueError", "sgd_step", "momentum_buf"),
        ("K.sgd_step(p, g, np.zeros(3, np.float32), momentum=0.9)", "ValueError", "sgd_step", "momentum_buf"),
        ("K.sgd_step(p, g, m, momentum=-0.5)", "ValueError", "sgd_step", "momentum"),
        ("K.sgd_step(p, g, m, weight_decay=-1)", "ValueError", "sgd_step", "weight_decay"),
        ("K.sgd_step(p, g, nesterov=True)", "ValueError", "sgd_step", "nesterov"),
        ("K.sgd_step(p, g, m, momentum=0.9, dampening=0.1, nesterov=True)", "ValueError", "sgd_step", "nesterov"),
        ("K.sgd_step(p, g, nesterov='yes')", "TypeError", "sgd_step", "nesterov"),
        ("K.sgd_step(np.ones((4, 4), np.float32)[:, 0], g)", "ValueError", "sgd_step", "param"),
        ("q = p.copy(); q.setflags(write=False); K.sgd_step(q, g)", "ValueError", "sgd_step", "param"),
        ("K.adam_step(p, g, m, v, 0)", "ValueError", "adam_step", "step"),
        ("K.adam_step(p, g, m, v, 1.5)", "TypeError", "adam_step", "step"),
        ("K.adam_step(p, g, m, v, 1, lr=-0.1)", "ValueError", "adam_step", "lr"),
        ("K.adam_step(p, g, m, v, 1, beta1=1.0)", "ValueError", "adam_step", "beta1"),
        ("K.adam_step(p, g, m, v, 1, beta2=-0.1)", "ValueError", "adam_step", "beta2"),
        ("K.adam_step(p, g, m, v, 1, eps=-1e-8)", "ValueError", "adam_step", "eps"),
        ("K.adam_step(p, g, m, v, 1, weight_decay=-1)", "ValueError", "adam_step", "weight_decay"),
        ("K.adam_step(p, g, m, v, 1, flavor='jax')", "ValueError", "adam_step", "flavor"),
        ("K.adam_step(p, g, m, v, 1, flavor=None)", "TypeError", "adam_step", "flavor"),
        ("K.adam_step(p, g, m, np.zeros(4), 1)", "TypeError", "adam_step", "v"),
        ("K.adam_step(p, g, np.zeros((2, 2), np.float32), v, 1)", "ValueError", "adam_step", "m"),
        ("K.adam_step(p, g[::2], m, v, 1)", "ValueError", "adam_step", "grad"),
        ("K.adam_step(p, g, m[::-1], v, 1)", "ValueError", "adam_step", "m"),
        ("r = v.copy(); r.setflags(write=False); K.adam_step(p, g, m, r, 1)", "ValueError", "adam_step", "v"),
    ], setup=setup)
