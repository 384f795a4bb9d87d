"""Image ops and layers on the tape (NHWC): conv2d, max-pool, global average pool, rotate.
Gradients against finite differences (float64) and the forward/backward against torch."""

import numpy as np
import pytest

import twincore.frontends.native as tn
from twincore.testing import assert_close, check_grads
from support import requires_torch


def _fd(graph, arrays, rtol=1e-6, atol=1e-8):
    arrays = [np.array(a, np.float64) for a in arrays]
    ts = [tn.Tensor(a) for a in arrays]
    with tn.GradientTape() as tape:
        tape.watch(ts)
        loss = graph(*ts)
    grads = [g.numpy() for g in tape.gradient(loss, ts)]
    check_grads(lambda: graph(*[tn.Tensor(a) for a in arrays]).item(), arrays, grads, rtol=rtol, atol=atol)
    return grads


def _r(shape, seed):
    return np.random.default_rng(seed).standard_normal(shape)


@pytest.mark.parametrize("stride,padding,dilation", [(1, "same", 1), (2, "same", 1), (1, "valid", 2), (2, 1, 1)])
def test_conv2d_grads(stride, padding, dilation):
    x, w, b = _r((2, 5, 6, 3), 0), _r((3, 3, 3, 4), 1), _r(4, 2)
    g = lambda x, w, b: tn.reduce_sum(tn.tanh(tn.conv2d(x, w, b, stride, padding, dilation)))  # noqa: E731
    _fd(g, [x, w, b])


def test_pooling_grads():
    # distinct values so the max is unique and finite differences are well defined
    x = np.random.default_rng(3).permutation(2 * 6 * 6 * 3).reshape(2, 6, 6, 3) / 10.0
    w = _r((3, 2), 4)
    g = lambda x, w: tn.reduce_sum(tn.tanh(tn.matmul(tn.global_avg_pool2d(tn.max_pool2d(x, 2)), w)))  # noqa: E731
    _fd(g, [x, w], atol=1e-7)
    g2 = lambda x: tn.reduce_sum(tn.max_pool2d(x, 3, 2, "same") * tn.max_pool2d(x, 3, 2, "same"))  # noqa: E731
    _fd(g2, [x], atol=1e-7)


def test_rotate_grads_images_angle_translate():
    imgs = _r((2, 7, 8, 2), 5)
    angle, shift = np.array([12.0, -30.0]), np.array([[0.3, -1.2], [2.1, 0.4]])
    g = lambda im, a, t: tn.reduce_sum(tn.tanh(tn.rotate(im, a, t)) * im)  # noqa: E731
    _fd(g, [imgs, angle, shift], rtol=1e-5, atol=1e-6)


@requires_torch
def test_conv_pool_match_torch():
    import torch
    import torch.nn.functional as F

    x, w, b = _r((2, 9, 7, 3), 6), _r((3, 3, 3, 5), 7), _r(5, 8)
    tx = torch.tensor(x.transpose(0, 3, 1, 2), requires_grad=True)
    tw = torch.tensor(w.transpose(3, 2, 0, 1), requires_grad=True)
    tb = torch.tensor(b, requires_grad=True)
    ty = F.max_pool2d(torch.relu(F.conv2d(tx, tw, tb, stride=1, padding=1)), 2)
    tloss = (ty * ty).sum()
    tloss.backward()
    xs, ws, bs = tn.Tensor(x), tn.Variable(w), tn.Variable(b)
    with tn.GradientTape() as tape:
        tape.watch(xs)
        y = tn.max_pool2d(tn.relu(tn.conv2d(xs, ws, bs, 1, "same")), 2)
        loss = tn.reduce_sum(y * y)
    gx, gw, gb = tape.gradient(loss, [xs, ws, bs])
    assert_close(y.numpy(), ty.detach().numpy().transpose(0, 2, 3, 1), rtol=1e-10, atol=1e-10)
    assert_close(gx.numpy(), tx.grad.numpy().transpose(0, 2, 3, 1), rtol=1e-9, atol=1e-10)
    assert_close(gw.numpy(), tw.grad.numpy().transpose(2, 3, 1, 0), rtol=1e-9, atol=1e-10)
    assert_close(gb.numpy(), tb.grad.numpy(), rtol=1e-9, atol=1e-10)


def test_cnn_layers_train_and_save(tmp_path):
    r = np.random.default_rng(0)
    x = r.standard_normal((16, 8, 8, 1)).astype(np.float32)
    y = (x[:, :4].mean((1, 2, 3)) > x[:, 4:].mean((1, 2, 3))).astype(np.int64)   # top half brighter?
    model = tn.Sequential([tn.Conv2D(4, 3, padding="same", activation="relu", seed=1),
                           tn.Conv2D(6, 3, strides=2, padding="same", activation="relu", seed=2),
                           tn.MaxPool2D(2), tn.Flatten(), tn.Dense(2, seed=3)])
    opt = tn.Adam(1e-2)
    first = None
    for _ in range(25):
        with tn.GradientTape() as tape:
            loss = tn.softmax_cross_entropy(model(x, training=True), y)
        opt.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
        first = loss.item() if first is None else first
    assert loss.item() < 0.5 * first
    assert model.layers[0].kernel.shape == (3, 3, 1, 4)     # HWIO
    model.save_weights(tmp_path / "cnn.npz")
    again = tn.Sequential([tn.Conv2D(4, 3, padding="same", activation="relu"),
                           tn.Conv2D(6, 3, strides=2, padding="same", activation="relu"),
                           tn.MaxPool2D(2), tn.Flatten(), tn.Dense(2)])
    again.build(x.shape)
    again.load_weights(tmp_path / "cnn.npz")
    assert np.array_equal(again(x).numpy(), model(x).numpy())


def test_rotation_conv_model():
    x = np.random.default_rng(1).standard_normal((4, 12, 12, 1)).astype(np.float32)
    layer = tn.RotationConv2D(8, 3, rotation_angle=30, translation_range=2, padding="same", seed=3)
    model = tn.Sequential([layer, tn.GlobalAveragePooling2D(), tn.Dense(10, "softmax", seed=4)])
    p_eval = model(x).numpy().copy()
    assert p_eval.shape == (4, 10) and np.allclose(p_eval.sum(1), 1, atol=1e-5)
    assert np.array_equal(model(x).numpy(), p_eval)                 # inference: no warp, deterministic
    with tn.GradientTape() as tape:
        p_train = model(x, training=True)                            # training: random warps
        loss = tn.reduce_sum(p_train * p_train)
    assert not np.allclose(p_train.numpy(), p_eval)
    grads = tape.gradient(loss, model.trainable_variables)
    assert all(g is not None and np.isfinite(g.numpy()).all() for g in grads)
    with pytest.raises(ValueError, match="twincore.RotationConv2D: argument 'rotation_angle'"):
        tn.RotationConv2D(4, 3, rotation_angle=-1)


@requires_torch
def test_nchw_layout_on_request_matches_torch():
    import torch
    import torch.nn.functional as F

    x, w = _r((2, 3, 8, 7), 11), _r((4, 3, 3, 3), 12)      # NCHW, OIHW: torch's own layouts
    tx, tw = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    ty = F.adaptive_avg_pool2d(F.max_pool2d(F.conv2d(tx, tw, stride=2, padding=1), 2), 1).flatten(1)
    (ty * ty).sum().backward()
    xs, ws = tn.Tensor(x), tn.Variable(w)
    with tn.GradientTape() as tape:
        tape.watch(xs)
        y = tn.global_avg_pool2d(tn.max_pool2d(tn.conv2d(xs, ws, None, 2, 1, layout="NCHW"), 2, layout="NCHW"),
                                 layout="NCHW")
        loss = tn.reduce_sum(y * y)
    gx, gw = tape.gradient(loss, [xs, ws])
    assert_close(y.numpy(), ty.detach().numpy(), rtol=1e-10, atol=1e-12)
    assert_close(gx.numpy(), tx.grad.numpy(), rtol=1e-9, atol=1e-12)
    assert_close(gw.numpy(), tw.grad.numpy(), rtol=1e-9, atol=1e-12)
