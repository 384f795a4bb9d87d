"""conv_transpose2d in plain NumPy float64, by its definition (not through conv2d): every
input pixel scatters its kernel-weighted copy onto a canvas at stride spacing, and the
output is the canvas cropped by the padding. NHWC/[KH,KW,out,in] is transposed to
NCHW/[in,out,KH,KW] (fine for a reference)."""

from __future__ import annotations

import numpy as np


def _pair(v):
    return (int(v), int(v)) if np.isscalar(v) else (int(v[0]), int(v[1]))


def out_size_and_pad(n, k, s, d, padding, output_padding):
    """(output length, rows cropped at the top) along one axis; see kernels/conv_transpose2d."""
    keff = d * (k - 1) + 1
    if isinstance(padding, str) and padding == "valid":
        out = n * s + max(keff - s, 0) if output_padding is None else (n - 1) * s + keff + output_padding
        return out, 0
    if isinstance(padding, str):  # "same": TensorFlow's padding of the conv out -> n
        out = n * s if output_padding is None else (n - 1) * s + keff - 2 * (keff // 2) + output_padding
        return out, max((n - 1) * s + keff - out, 0) // 2
    return (n - 1) * s - 2 * padding + keff + (output_padding or 0), padding


def conv_transpose2d(x, w, bias=None, stride=1, padding=0, output_padding=None, dilation=1, layout="NCHW"):
    x, w = np.asarray(x, np.float64), np.asarray(w, np.float64)
    if layout == "NHWC":
        x, w = x.transpose(0, 3, 1, 2), w.transpose(3, 2, 0, 1)
    (sh, sw), (dh, dw) = _pair(stride), _pair(dilation)
    ph, pw = (padding, padding) if isinstance(padding, str) else _pair(padding)
    oph, opw = (None, None) if output_padding is None else _pair(output_padding)
    n, _, h, wd = x.shape
    kh_, kw_ = w.shape[2:]
    oh, top = out_size_and_pad(h, kh_, sh, dh, ph, oph)
    ow, left = out_size_and_pad(wd, kw_, sw, dw, pw, opw)
    ch = max((h - 1) * sh + dh * (kh_ - 1) + 1, top + oh)
    cw = max((wd - 1) * sw + dw * (kw_ - 1) + 1, left + ow)
    canvas = np.zeros((n, w.shape[1], ch, cw))
    for kh in range(kh_):
        for kw in range(kw_):
            contrib = np.einsum("nchw,co->nohw", x, w[:, :, kh, kw])
            canvas[:, :, kh * dh: kh * dh + sh * (h - 1) + 1: sh, kw * dw: kw * dw + sw * (wd - 1) + 1: sw] += contrib
    y = canvas[:, :, top: top + oh, left: left + ow]
    if bias is not None:
        y = y + np.asarray(bias, np.float64)[None, :, None, None]
    return y.transpose(0, 2, 3, 1) if layout == "NHWC" else y
