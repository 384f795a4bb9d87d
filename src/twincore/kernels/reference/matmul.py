"""NumPy float64 reference for matmul / dense (see twincore.kernels.matmul for shapes)."""
import numpy as np


def _op(x, t):
    x = np.asarray(x, np.float64)
    return np.swapaxes(x, -1, -2) if t else x


def matmul(a, b, bias=None, trans_a=False, trans_b=False):
    c = _op(a, trans_a) @ _op(b, trans_b)
    return c if bias is None else c + np.asarray(bias, np.float64)


def matmul_backward(grad, a, b, trans_a=False, trans_b=False):
    """(da, db, dbias) of sum(grad * matmul(a, b, bias))."""
    g = np.asarray(grad, np.float64)
    A, B = _op(a, trans_a), _op(b, trans_b)
    dA = g @ np.swapaxes(B, -1, -2)
    dB = np.swapaxes(A, -1, -2) @ g
    if np.ndim(b) == 2 and dB.ndim == 3:
        dB = dB.sum(0)
    da = np.swapaxes(dA, -1, -2) if trans_a else dA
    db = np.swapaxes(dB, -1, -2) if trans_b else dB
    dbias = g.reshape(-1, g.shape[-1]).sum(0)
    return da, db, dbias
