"""2-D transposed convolution (torch's nn.ConvTranspose2d, Keras's Conv2DTranspose): the
adjoint of conv2d, computed by conv2d's own kernels.

Layouts, both native:
  "NCHW": x [N, Cin, H, W], w [Cin, Cout, KH, KW] (torch's)  -> y [N, Cout, OH, OW]
  "NHWC": x [N, H, W, Cin], w [KH, KW, Cout, Cin] (Keras's)  -> y [N, OH, OW, Cout]
bias: [Cout] or None. stride, dilation: int or pair. Output size per axis (k_eff =
dilation * (k - 1) + 1):
  padding int / pair p (torch): OH = (H - 1) * stride - 2p + k_eff + output_padding
  "valid" (Keras): OH = H * stride + max(k_eff - stride, 0), or (H-1)*stride + k_eff + output_padding
  "same" (Keras): OH = H * stride, or (H-1)*stride + k_eff - 2*(k_eff//2) + output_padding
output_padding: None (Keras's default; 0 with explicit padding) or an int / pair smaller than
the stride or the dilation. float32 or float64; outputs have x's kind. CUDA arrays run
the GPU plans of cpp/gpu/conv_transpose2d.cc (conv2d's plans with the roles swapped).
"""

from __future__ import annotations

from twincore import _core
from twincore.kernels._array import prepare, to_core


def conv_transpose2d(x, w, bias=None, stride=1, padding=0, output_padding=None, dilation=1,
                     layout: str = "NCHW"):
    """y = conv_transpose(x, w) + bias; shapes as in the module docstring."""
    x, kind = prepare(x)
    return kind.wrap(_core.conv_transpose2d(x, to_core(w), to_core(bias), stride, padding, output_padding,
                                            dilation, layout, kind.alloc))


def conv_transpose2d_backward(grad, x, w, stride=1, padding=0, output_padding=None, dilation=1,
                              layout: str = "NCHW", need_x: bool = True, need_w: bool = True,
                              need_bias: bool = False):
    """Gradients from grad = dL/dy (y's shape): (dx like x, dw like w, dbias [Cout]); entries
    not asked for (need_* False) are None."""
    grad, kind = prepare(grad)
    return kind.wrap(_core.conv_transpose2d_backward(grad, to_core(x), to_core(w), stride, padding,
                                                     output_padding, dilation, layout, bool(need_x),
                                                     bool(need_w), bool(need_bias), kind.alloc))
