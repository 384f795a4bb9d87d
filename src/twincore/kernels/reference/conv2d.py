"""conv2d in plain NumPy float64: a loop over kernel offsets, each a strided slice of
the padded input and one einsum. NHWC/HWIO is handled by transposing to NCHW/OIHW
(fine for a reference; the kernels never transpose)."""

from __future__ import annotations

import numpy as np


def _pair(v):
    return (int(v), int(v)) if np.isscalar(v) else (int(v[0]), int(v[1]))


def _same(size, k, s, d):
    out = -(-size // s)
    total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
    return total // 2, total - total // 2


def window(h, w, kh, kw, stride=1, padding=0, dilation=1):
    """Returns (pad_top, pad_bottom, pad_left, pad_right, oh, ow) as torch/TF define them."""
    sh, sw = _pair(stride)
    dh, dw = _pair(dilation)
    if isinstance(padding, str):
        if padding.lower() == "same":
            pt, pb = _same(h, kh, sh, dh)
            pl, pr = _same(w, kw, sw, dw)
        else:
            pt = pb = pl = pr = 0
    else:
        ph, pw = _pair(padding)
        pt = pb = ph
        pl = pr = pw
    oh = (h + pt + pb - (kh - 1) * dh - 1) // sh + 1
    ow = (w + pl + pr - (kw - 1) * dw - 1) // sw + 1
    return pt, pb, pl, pr, oh, ow


def _to_nchw(x, w, layout):
    x, w = np.asarray(x, np.float64), np.asarray(w, np.float64)
    if layout == "NHWC":
        return x.transpose(0, 3, 1, 2), w.transpose(3, 2, 0, 1)
    return x, w


def _slices(g, kh, kw, oh, ow, stride, dilation):
    sh, sw = _pair(stride)
    dh, dw = _pair(dilation)
    h0, w0 = kh * dh, kw * dw
    return (slice(None), slice(None), slice(h0, h0 + sh * (oh - 1) + 1, sh),
            slice(w0, w0 + sw * (ow - 1) + 1, sw))


def conv2d(x, w, bias=None, stride=1, padding=0, dilation=1, layout="NCHW"):
    x, w = _to_nchw(x, w, layout)
    KH, KW = w.shape[2:]
    pt, pb, pl, pr, oh, ow = window(*x.shape[2:], KH, KW, stride, padding, dilation)
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    y = np.zeros((x.shape[0], w.shape[0], oh, ow))
    for kh in range(KH):
        for kw in range(KW):
            xs = xp[_slices(None, kh, kw, oh, ow, stride, dilation)]
            y += np.einsum("nchw,oc->nohw", xs, w[:, :, kh, kw])
    if bias is not None:
        y += np.asarray(bias, np.float64)[None, :, None, None]
    return y.transpose(0, 2, 3, 1) if layout == "NHWC" else y


def conv2d_backward(grad, x, w, stride=1, padding=0, dilation=1, layout="NCHW"):
    """Returns (dx, dw, dbias), all float64, in the given layout."""
    x, w = _to_nchw(x, w, layout)
    g = np.asarray(grad, np.float64)
    if layout == "NHWC":
        g = g.transpose(0, 3, 1, 2)
    KH, KW = w.shape[2:]
    pt, pb, pl, pr, oh, ow = window(*x.shape[2:], KH, KW, stride, padding, dilation)
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    dxp = np.zeros_like(xp)
    dw = np.zeros_like(w)
    for kh in range(KH):
        for kw in range(KW):
            s = _slices(None, kh, kw, oh, ow, stride, dilation)
            dw[:, :, kh, kw] = np.einsum("nohw,nchw->oc", g, xp[s])
            dxp[s] += np.einsum("nohw,oc->nchw", g, w[:, :, kh, kw])
    H, W = x.shape[2:]
    dx = dxp[:, :, pt:pt + H, pl:pl + W]
    db = g.sum(axis=(0, 2, 3))
    if layout == "NHWC":
        return dx.transpose(0, 2, 3, 1), dw.transpose(2, 3, 1, 0), db
    return dx, dw, db
