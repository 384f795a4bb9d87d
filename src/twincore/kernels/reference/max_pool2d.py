import numpy as np


def window(size, k, s, padding):
    """(out, pad_before) along one axis; padding an int, "valid" or "same" (TF's rule)."""
    if padding == "same":
        out = -(-size // s)
        total = max((out - 1) * s + k - size, 0)
        return out, total // 2
    p = 0 if padding == "valid" else padding
    return (size + 2 * p - k) // s + 1, p


def _pair(v):
    return (v, v) if isinstance(v, (int, str)) else tuple(v)


def max_pool2d(x, kernel_size=2, stride=None, padding=0, layout="NCHW"):
    """(y, indices) in float64; indices = argmax's h*W+w in its plane (first max, first NaN)."""
    x = np.asarray(x, np.float64)
    if layout == "NHWC":
        y, i = max_pool2d(x.transpose(0, 3, 1, 2), kernel_size, stride, padding)
        return y.transpose(0, 2, 3, 1), i.transpose(0, 2, 3, 1)
    kh, kw = _pair(kernel_size)
    sh, sw = _pair(kernel_size if stride is None else stride)
    ph, pw = _pair(padding)
    N, C, H, W = x.shape
    oh, top = window(H, kh, sh, ph)
    ow, left = window(W, kw, sw, pw)
    y = np.empty((N, C, oh, ow))
    idx = np.empty((N, C, oh, ow), np.int64)
    for i in range(oh):
        h0, h1 = max(i * sh - top, 0), min(i * sh - top + kh, H)
        for j in range(ow):
            w0, w1 = max(j * sw - left, 0), min(j * sw - left + kw, W)
            win = x[:, :, h0:h1, w0:w1].reshape(N, C, -1)
            a = np.argmax(win, axis=2)  # numpy: NaN counts as the max
            y[:, :, i, j] = np.take_along_axis(win, a[..., None], 2)[..., 0]
            idx[:, :, i, j] = (h0 + a // (w1 - w0)) * W + w0 + a % (w1 - w0)
    return y, idx


def max_pool2d_backward(grad, indices, x_shape, layout="NCHW"):
    grad = np.asarray(grad, np.float64)
    if layout == "NHWC":
        n, h, w, c = x_shape
        dx = max_pool2d_backward(grad.transpose(0, 3, 1, 2), np.asarray(indices).transpose(0, 3, 1, 2),
                                 (n, c, h, w))
        return dx.transpose(0, 2, 3, 1)
    N, C, H, W = x_shape
    dx = np.zeros((N * C, H * W))
    rows = np.repeat(np.arange(N * C), grad[0, 0].size)
    np.add.at(dx, (rows, np.asarray(indices).reshape(-1)), grad.reshape(-1))
    return dx.reshape(N, C, H, W)
