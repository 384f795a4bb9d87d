"""2-D max pooling, NCHW and NHWC natively (no transposes).

Shapes: x [N, C, H, W] (layout "NCHW", torch) or [N, H, W, C] (layout "NHWC", TF);
y [N, C, OH, OW] / [N, OH, OW, C]. indices: int64 of y's shape, the argmax's flat
index h * W + w within its (n, c) plane in either layout (torch's convention).
"""

from __future__ import annotations

from twincore import _core
from twincore.kernels._array import prepare, to_core


def max_pool2d(x, kernel_size=2, stride=None, padding=0, layout: str = "NCHW", return_indices: bool = False):
    """y = the max over each kernel_size window, or (y, indices) with return_indices.

    kernel_size, stride: int or (h, w); stride None means kernel_size.
    padding: int or (h, w) (at most half the kernel, as torch), "valid" or "same"
    (TF's rule: OH = ceil(H / stride), the odd padded row/column at the bottom/right).
    Padded cells never win (torch pads with -inf; TF ignores them). A NaN in a window
    is that window's max (as torch); ties go to the first cell in row-major order.
    """
    x, kind = prepare(x)
    return kind.wrap(_core.max_pool2d(x, kernel_size, stride, padding, layout, return_indices, kind.alloc))


def max_pool2d_backward(grad, indices, x_shape, layout: str = "NCHW", kernel_size=None, stride=None,
                        padding=None):
    """dx [x_shape]: zeros, then grad scattered to the argmax cells given by `indices`
    (max_pool2d's, same shape as grad); overlapping windows add up.

    kernel_size / stride / padding: optional, max_pool2d's window (checked against grad's
    shape). On the GPU they select a deterministic gather kernel instead of atomicAdd."""
    grad, kind = prepare(grad)
    return kind.wrap(_core.max_pool2d_backward(grad, to_core(indices), x_shape, layout, kernel_size, stride,
                                               padding, kind.alloc))
