import numpy as np


def _axes(x, layout):
    return (0,) if x.ndim == 2 else ((0, 1, 2) if layout == "NHWC" else (0, 2, 3))


def _bc(v, x, layout):
    v = np.asarray(v, np.float64)
    return v if x.ndim == 2 or layout == "NHWC" else v[:, None, None]


def batch_norm(x, gamma=None, beta=None, eps=1e-5, layout="NCHW"):
    x = np.asarray(x, np.float64)
    ax = _axes(x, layout)
    mean, var = x.mean(axis=ax), x.var(axis=ax)
    y = batch_norm_inference(x, gamma, beta, mean, var, eps, layout)
    return y, mean, var


def batch_norm_inference(x, gamma, beta, mean, var, eps=1e-5, layout="NCHW"):
    x = np.asarray(x, np.float64)
    y = (x - _bc(mean, x, layout)) / np.sqrt(_bc(var, x, layout) + eps)
    if gamma is not None:
        y = y * _bc(gamma, x, layout)
    if beta is not None:
        y = y + _bc(beta, x, layout)
    return y


def batch_norm_backward(grad, x, gamma, mean, var, eps=1e-5, layout="NCHW"):
    """By the textbook formula on the normalised values."""
    x, g = np.asarray(x, np.float64), np.asarray(grad, np.float64)
    ax = _axes(x, layout)
    m = x.size / np.asarray(mean).size
    xh = (x - _bc(mean, x, layout)) / np.sqrt(_bc(var, x, layout) + eps)
    gam = _bc(1.0 if gamma is None else gamma, x, layout)
    dxh = g * gam
    dx = (dxh - dxh.sum(axis=ax, keepdims=True) / m - xh * (dxh * xh).sum(axis=ax, keepdims=True) / m) \
        / np.sqrt(_bc(var, x, layout) + eps)
    return dx, (g * xh).sum(axis=ax), g.sum(axis=ax)
