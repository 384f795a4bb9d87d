"""Global average pooling over H and W.

Shapes: x [N, C, H, W] (layout "NCHW") or [N, H, W, C] (layout "NHWC") -> y [N, C]
in both layouts (torch's adaptive_avg_pool2d(x, 1) flattened; Keras's
GlobalAveragePooling2D). Sums accumulate in float64.
"""

from __future__ import annotations

from twincore import _core
from twincore.kernels._array import prepare


def global_avg_pool2d(x, layout: str = "NCHW"):
    """y[n, c] = mean of x[n, c, :, :] (NCHW) / x[n, :, :, c] (NHWC)."""
    x, kind = prepare(x)
    return kind.wrap(_core.global_avg_pool2d(x, layout, kind.alloc))


def global_avg_pool2d_backward(grad, x_shape, layout: str = "NCHW"):
    """dx [x_shape] = grad[n, c] / (H * W) at every cell of plane (n, c); grad [N, C]."""
    grad, kind = prepare(grad)
    return kind.wrap(_core.global_avg_pool2d_backward(grad, x_shape, layout, kind.alloc))
