"""Plain NumPy float64 reference of twincore.kernels.rotate (obvious, not fast)."""

import numpy as np


def _params(n, angle, translate):
    a = np.broadcast_to(np.asarray(angle, np.float64), (n,))
    t = np.broadcast_to(np.asarray(translate, np.float64), (n, 2))
    return a, t


def _coords(h, w, deg, dx, dy):
    """Source coordinates (sx, sy, u, v) of every output pixel, each [H, W]."""
    th = np.deg2rad(deg)
    c, s = np.cos(th), np.sin(th)
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    y, x = np.meshgrid(np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64), indexing="ij")
    u, v = x - cx - dx, y - cy - dy
    return c * u - s * v + cx, s * u + c * v + cy, u, v, c, s


def _map(i, n, fill):
    """Tap indices mapped by the fill mode; -1 marks outside (zeros / constant)."""
    if fill == "nearest":
        return np.clip(i, 0, n - 1)
    if fill == "reflect":
        m = np.mod(i, 2 * n)
        return np.where(m < n, m, 2 * n - 1 - m)
    return np.where((i >= 0) & (i < n), i, -1)


def _taps(img, sx, sy, interpolation, fill, fill_value):
    """List of (weight [H,W], values [C,H,W]) whose weighted sum is the sample."""
    c, h, w = img.shape
    const = fill_value if fill == "constant" else 0.0
    if interpolation == "nearest":
        pairs = [(np.floor(sy + 0.5).astype(np.int64), np.floor(sx + 0.5).astype(np.int64), np.ones_like(sx))]
    else:
        x0, y0 = np.floor(sx), np.floor(sy)
        fx, fy = sx - x0, sy - y0
        x0, y0 = x0.astype(np.int64), y0.astype(np.int64)
        pairs = [(y0, x0, (1 - fy) * (1 - fx)), (y0, x0 + 1, (1 - fy) * fx),
                 (y0 + 1, x0, fy * (1 - fx)), (y0 + 1, x0 + 1, fy * fx)]
    out = []
    for yi, xi, wt in pairs:
        ym, xm = _map(yi, h, fill), _map(xi, w, fill)
        inside = (ym >= 0) & (xm >= 0)
        vals = np.where(inside, img[:, np.maximum(ym, 0), np.maximum(xm, 0)], const)
        out.append((wt, vals, ym, xm, inside))
    return out


def _nchw(x, layout):
    x = np.asarray(x, np.float64)
    return x if layout == "NCHW" else x.transpose(0, 3, 1, 2)


def _back(x, layout):
    return x if layout == "NCHW" else x.transpose(0, 2, 3, 1)


def rotate(images, angle, translate=(0, 0), interpolation="bilinear", fill="zeros", fill_value=0.0,
           layout="NCHW"):
    x = _nchw(images, layout)
    a, t = _params(x.shape[0], angle, translate)
    out = np.empty_like(x)
    for n in range(x.shape[0]):
        sx, sy, *_ = _coords(x.shape[2], x.shape[3], a[n], t[n, 0], t[n, 1])
        out[n] = sum(wt * vals for wt, vals, *_ in _taps(x[n], sx, sy, interpolation, fill, fill_value))
    return _back(out, layout)


def rotate_backward(grad, images, angle, translate=(0, 0), interpolation="bilinear", fill="zeros",
                    fill_value=0.0, layout="NCHW"):
    """(dimages, dangle, dtranslate); dangle per degree, shapes like angle / translate."""
    x, g = _nchw(images, layout), _nchw(grad, layout)
    n_, c_, h, w = x.shape
    a, t = _params(n_, angle, translate)
    dx = np.zeros_like(x)
    da, dt = np.zeros(n_), np.zeros((n_, 2))
    for n in range(n_):
        sx, sy, u, v, c, s = _coords(h, w, a[n], t[n, 0], t[n, 1])
        taps = _taps(x[n], sx, sy, interpolation, fill, fill_value)
        for wt, vals, ym, xm, inside in taps:  # d images: scatter the weights
            for ch in range(c_):
                np.add.at(dx[n, ch], (ym[inside], xm[inside]), (wt * g[n, ch])[inside])
        if interpolation == "nearest":
            continue
        fx, fy = sx - np.floor(sx), sy - np.floor(sy)
        v00, v01, v10, v11 = (vals for _, vals, *_ in taps)
        gx = ((1 - fy) * (v01 - v00) + fy * (v11 - v10)) * g[n]  # d out / d sx, times grad
        gy = ((1 - fx) * (v10 - v00) + fx * (v11 - v01)) * g[n]
        da[n] = np.sum(gx * (-s * u - c * v) + gy * (c * u - s * v)) * np.pi / 180.0
        dt[n] = [np.sum(gx * -c + gy * -s), np.sum(gx * s + gy * -c)]
    da = da.sum() if np.ndim(angle) == 0 else da
    dt = dt.sum(0) if np.ndim(translate) == 1 else dt
    return _back(dx, layout), np.asarray(da), dt
