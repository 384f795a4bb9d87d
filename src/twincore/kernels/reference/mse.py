import numpy as np


def mse(pred, target, reduction="mean"):
    d = np.asarray(pred, np.float64) - np.asarray(target, np.float64)
    sq = d * d
    return sq if reduction == "none" else (sq.sum() if reduction == "sum" else sq.mean())


def mse_backward(pred, target, grad=None, reduction="mean"):
    d = np.asarray(pred, np.float64) - np.asarray(target, np.float64)
    g = 1.0 if grad is None else np.asarray(grad, np.float64)
    k = 2.0 / d.size if reduction == "mean" else 2.0
    return k * d * g
