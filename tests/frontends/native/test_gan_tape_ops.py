"""The native tape's GAN ops (issue 16): leaky_relu, binary_cross_entropy_with_logits and
conv_transpose2d, by finite differences in float64 through the tape, against the kernels,
and a tiny generator/discriminator pair (layers) whose gradients match torch's."""

import numpy as np
import pytest

import twincore.frontends.native as tn
import twincore.kernels as K
from twincore.testing import check_grads, randn
from support import requires_torch


def tape_grads(graph, arrays):
    ts = [tn.Tensor(np.asarray(a, np.float64)) for a in arrays]
    with tn.GradientTape() as tape:
        tape.watch(ts)
        loss = graph(*ts)
    return loss.item(), [g.numpy() for g in tape.gradient(loss, ts)]


def fd(graph, arrays):
    arrays = [np.array(a, np.float64) for a in arrays]
    _, grads = tape_grads(graph, arrays)
    check_grads(lambda: graph(*[tn.Tensor(a) for a in arrays]).item(), arrays, grads, rtol=1e-6, atol=1e-8)


def test_leaky_relu_and_bce_gradients():
    x = randn((6, 3), np.float64, seed=1, scale=2.0)
    x[np.abs(x) < 1e-2] = 0.3
    t = np.random.default_rng(2).uniform(0, 1, (6, 3))
    pw = np.array([0.5, 1.0, 3.0])
    fd(lambda x: tn.binary_cross_entropy_with_logits(tn.leaky_relu(x, 0.2), t, pw, 0.1, "mean"), [x])
    fd(lambda x: tn.reduce_sum(tn.mul(tn.binary_cross_entropy_with_logits(x, t, reduction="none"), x)), [x])


@pytest.mark.parametrize("layout,padding,opad", [("NHWC", "same", None), ("NHWC", "valid", 1), ("NCHW", 1, 1)])
def test_conv_transpose2d_gradients(layout, padding, opad):
    x = randn((2, 3, 4, 3), np.float64, seed=3)
    w = randn((3, 3, 2, 3) if layout == "NHWC" else (3, 2, 3, 3), np.float64, seed=4)
    b = randn((2,), np.float64, seed=5)
    if layout == "NCHW":
        x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    y = K.conv_transpose2d(x, w, b, 2, padding, opad, 1, layout)
    v = randn(y.shape, np.float64, seed=6)
    graph = lambda x, w, b: tn.reduce_sum(tn.mul(tn.conv_transpose2d(x, w, b, 2, padding, opad, 1, layout), v))
    fd(graph, [x, w, b])
    np.testing.assert_array_equal(tn.conv_transpose2d(x, w, b, 2, padding, opad, 1, layout).numpy(), y)


@requires_torch
def test_tiny_gan_step_matches_torch_autograd():
    import torch
    import torch.nn.functional as F

    g = tn.Sequential([tn.Dense(2 * 2 * 4, dtype="float64", seed=1), tn.Reshape((2, 2, 4)),
                       tn.LeakyReLU(0.2, dtype="float64"),
                       tn.Conv2DTranspose(1, 4, strides=2, padding="same", activation="tanh", dtype="float64", seed=2)],
                      dtype="float64")
    z = randn((3, 5), np.float64, seed=7)
    target = np.ones((3, 4, 4, 1))
    with tn.GradientTape() as tape:
        loss = tn.binary_cross_entropy_with_logits(g(z), target)
    grads = [a.numpy() for a in tape.gradient(loss, g.trainable_variables)]
    k1, b1, k2, b2 = (torch.tensor(v.numpy(), requires_grad=True) for v in g.trainable_variables)
    h = F.leaky_relu((torch.tensor(z) @ k1 + b1).reshape(3, 2, 2, 4), 0.2).permute(0, 3, 1, 2)
    y = torch.tanh(F.conv_transpose2d(h, k2.permute(3, 2, 0, 1), b2, stride=2, padding=1)).permute(0, 2, 3, 1)
    ref = F.binary_cross_entropy_with_logits(y, torch.tensor(target))
    ref.backward()
    assert abs(loss.item() - ref.item()) < 1e-12
    for ours, p in zip(grads, (k1, b1, k2, b2)):
        np.testing.assert_allclose(ours, p.grad.numpy(), rtol=1e-9, atol=1e-12)
