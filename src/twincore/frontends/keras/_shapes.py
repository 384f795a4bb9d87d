"""Static output shapes, shared by the TF ops (set_shape in graph mode) and the
layers' compute_output_shape (Keras on torch builds models symbolically).
None stands for an unknown size and stays None.
"""

from __future__ import annotations

import math


def pair(v, what: str = "value") -> tuple[int, int]:
    """An int or a pair of ints as (h, w)."""
    if isinstance(v, int) and not isinstance(v, bool):
        return (v, v)
    if isinstance(v, (tuple, list)) and len(v) == 2 and all(isinstance(i, int) and not isinstance(i, bool) for i in v):
        return (int(v[0]), int(v[1]))
    raise ValueError(f"{what} must be an int or a pair of ints, got {v!r}")


def window_out(size, k: int, s: int, d: int, padding) -> int | None:
    """Output length of a sliding window (conv / pool) along one axis.

    padding: "same" (TF's rule: ceil(size / s)), "valid", or an int of zeros per side.
    """
    if size is None or min(k, s, d) <= 0:
        return None  # unknown, or bad geometry that the core rejects by name
    if padding == "same":
        return math.ceil(size / s)
    p = 0 if padding == "valid" else padding
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


def window2d(h, w, kernel, strides, dilation, padding) -> tuple:
    kh, kw = pair(kernel)
    sh, sw = pair(strides)
    dh, dw = pair(dilation)
    if isinstance(padding, str):
        ph = pw = padding
    else:
        ph, pw = pair(padding)
    return window_out(h, kh, sh, dh, ph), window_out(w, kw, sw, dw, pw)


def transpose_out(size, k: int, s: int, d: int, padding, output_padding) -> int | None:
    """Output length of a transposed convolution along one axis (kernels/conv_transpose2d's rule):
    padding "same" / "valid" (Keras's sizes) or an int; output_padding None or an int."""
    if size is None or min(k, s, d) <= 0:
        return None
    keff = d * (k - 1) + 1
    if padding == "valid":
        return size * s + max(keff - s, 0) if output_padding is None else (size - 1) * s + keff + output_padding
    if padding == "same":
        return size * s if output_padding is None else (size - 1) * s + keff - 2 * (keff // 2) + output_padding
    return (size - 1) * s - 2 * padding + keff + (output_padding or 0)


def transpose2d(h, w, kernel, strides, dilation, padding, output_padding) -> tuple:
    kh, kw = pair(kernel)
    sh, sw = pair(strides)
    dh, dw = pair(dilation)
    ph, pw = (padding, padding) if isinstance(padding, str) else pair(padding)
    oh, ow = (None, None) if output_padding is None else pair(output_padding)
    return transpose_out(h, kh, sh, dh, ph, oh), transpose_out(w, kw, sw, dw, pw, ow)
