"""2-D convolution (cross-correlation, as torch and TensorFlow define it).

Layouts, both computed natively (no transposes of activations):
  "NCHW": x [N, C, H, W], w [O, C, KH, KW] (OIHW, torch's)  -> y [N, O, OH, OW]
  "NHWC": x [N, H, W, C], w [KH, KW, C, O] (HWIO, TF's)     -> y [N, OH, OW, O]
bias: [O] or None. stride, dilation: int or (h, w) pair. padding: int, (h, w) pair
(symmetric), "valid" (none) or "same" (TensorFlow's rule: OH = ceil(H / stride), the odd
pixel of padding at the bottom/right). float32 or float64; outputs have x's kind.
"""

from __future__ import annotations

from twincore import _core
from twincore.kernels._array import prepare, to_core


def conv2d(x, w, bias=None, stride=1, padding=0, dilation=1, layout: str = "NCHW",
           activation: str | None = None):
    """y = activation(conv(x, w) + bias); shapes as in the module docstring.

    activation: None, "relu" or "tanh", applied to each block of y as it is computed (no
    second pass over memory).
    """
    x, kind = prepare(x)
    return kind.wrap(_core.conv2d(x, to_core(w), to_core(bias), stride, padding, dilation, layout,
                                  activation, kind.alloc))


def conv2d_backward(grad, x, w, stride=1, padding=0, dilation=1, layout: str = "NCHW",
                    need_x: bool = True, need_w: bool = True, need_bias: bool = False,
                    y=None, activation: str | None = None):
    """Gradients of conv2d from grad = dL/dy (y's shape): (dx like x, dw like w, dbias [O]).

    With the forward's activation, pass its output y: grad is taken through the activation
    (grad * activation'(y)) block by block inside the kernel. Entries not asked for
    (need_* False) are None.
    """
    grad, kind = prepare(grad)
    return kind.wrap(_core.conv2d_backward(grad, to_core(x), to_core(w), stride, padding, dilation,
                                           layout, bool(need_x), bool(need_w), bool(need_bias),
                                           to_core(y), activation, kind.alloc))
