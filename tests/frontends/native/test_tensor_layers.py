"""Tensors (DLPack in and out, alignment), layers, Sequential, save/load, optimizers."""

import numpy as np
import pytest

import twincore.frontends.native as tn
from twincore.testing import assert_close
from support import requires_tf, requires_torch


def test_tensor_from_numpy_and_back_without_copy():
    a = np.random.default_rng(0).standard_normal((3, 5)).astype(np.float32)
    t = tn.Tensor(a)
    assert t.shape == (3, 5) and t.dtype == np.float32
    v = np.from_dlpack(t)
    assert_close(v, a, rtol=0, atol=0)
    assert v.ctypes.data == t.numpy().ctypes.data == t._v.address   # the same memory, no copy
    assert t._v.address % 64 == 0                                     # 64-byte aligned core memory
    s = tn.Tensor(a[:, ::2])                                          # strided input: copied contiguous
    assert_close(s.numpy(), a[:, ::2], rtol=0, atol=0)
    assert tn.Tensor([1, 2]).dtype == np.float32 and tn.Tensor(np.arange(3.0)).dtype == np.float64


@requires_torch
def test_tensor_dlpack_with_torch():
    import torch

    a = torch.randn(4, 3, dtype=torch.float64)
    t = tn.Tensor(a)
    assert_close(t.numpy(), a.numpy(), rtol=0, atol=0)
    back = torch.from_dlpack(t)
    assert back.data_ptr() == t._v.address
    assert_close(back.numpy(), a.numpy(), rtol=0, atol=0)


@requires_tf
def test_tensor_dlpack_with_tf():
    import tensorflow as tf

    t = tn.Tensor(np.arange(12, dtype=np.float32).reshape(3, 4))
    back = tf.experimental.dlpack.from_dlpack(t.__dlpack__())
    assert_close(back.numpy(), t.numpy(), rtol=0, atol=0)


@requires_torch
@pytest.mark.parametrize("n", [1, 3, 17, 127])
def test_dense_matches_torch_linear(n):
    import torch

    x = np.random.default_rng(n).standard_normal((n, 13))
    layer = tn.Dense(5, activation="relu", dtype="float64", seed=n)
    y = layer(x).numpy()
    k, b = layer.kernel.numpy(), layer.bias.numpy()
    want = torch.relu(torch.nn.functional.linear(torch.tensor(x), torch.tensor(k.T.copy()), torch.tensor(b)))
    assert_close(y, want.numpy(), rtol=1e-12, atol=1e-12)
    assert_close(y, np.maximum(x @ k + b, 0), rtol=1e-12, atol=1e-12)


def test_sequential_save_load_round_trip(tmp_path):
    x = np.random.default_rng(0).standard_normal((4, 2, 3)).astype(np.float32)
    m1 = tn.Sequential([tn.Flatten(), tn.Dense(7, "tanh", seed=1), tn.Dense(3, seed=2)])
    y1 = m1(x).numpy().copy()
    m1.save_weights(tmp_path / "w.npz")
    with np.load(tmp_path / "w.npz") as f:
        assert sorted(f.files) == ["1.bias", "1.kernel", "2.bias", "2.kernel"]
    m2 = tn.Sequential([tn.Flatten(), tn.Dense(7, "tanh", seed=5), tn.Dense(3, seed=6)])
    m2.build(x.shape)
    assert not np.allclose(m2(x).numpy(), y1)
    m2.load_weights(tmp_path / "w.npz")
    assert_close(m2(x).numpy(), y1, rtol=0, atol=0)
    m3 = tn.Sequential([tn.Flatten(), tn.Dense(8), tn.Dense(3)])
    m3.build(x.shape)
    with pytest.raises(ValueError, match="twincore.load_weights: argument 'path'"):
        m3.load_weights(tmp_path / "w.npz")


def _torch_steps(opt_name, kw, p0, grads):
    import torch

    p = torch.tensor(p0.copy(), requires_grad=True)
    opt = getattr(torch.optim, opt_name)([p], **kw)
    for g in grads:
        p.grad = torch.tensor(g)
        opt.step()
    return p.detach().numpy()


@requires_torch
@pytest.mark.parametrize("name,ours,theirs", [
    ("SGD", dict(learning_rate=0.1), dict(lr=0.1)),
    ("SGD", dict(learning_rate=0.05, momentum=0.9), dict(lr=0.05, momentum=0.9)),
    ("SGD", dict(learning_rate=0.05, momentum=0.9, nesterov=True), dict(lr=0.05, momentum=0.9, nesterov=True)),
    ("Adam", dict(learning_rate=1e-2, epsilon=1e-8), dict(lr=1e-2, eps=1e-8)),
    ("Adam", dict(learning_rate=3e-3, beta_1=0.8, beta_2=0.99, epsilon=1e-6), dict(lr=3e-3, betas=(0.8, 0.99), eps=1e-6)),
])
def test_optimizers_match_torch(name, ours, theirs):
    r = np.random.default_rng(0)
    p0 = r.standard_normal((17, 3))
    grads = [r.standard_normal((17, 3)) for _ in range(5)]
    v = tn.Variable(p0.copy())
    opt = getattr(tn, name)(**ours)
    for g in grads:
        opt.apply_gradients([(tn.Tensor(g), v)])
    assert_close(v.numpy(), _torch_steps(name, theirs, p0, grads), rtol=1e-10, atol=1e-12)


def test_training_step_reduces_loss():
    r = np.random.default_rng(1)
    x, y = r.standard_normal((64, 6)).astype(np.float32), r.integers(0, 3, 64)
    model = tn.Sequential([tn.Dense(16, "relu", seed=0), tn.Dense(3, seed=1)])
    opt = tn.Adam(1e-2)
    losses = []
    for _ in range(30):
        with tn.GradientTape() as tape:
            loss = tn.softmax_cross_entropy(model(x), y)
        opt.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]
