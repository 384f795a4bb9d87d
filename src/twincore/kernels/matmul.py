"""matmul / dense: c = op(a) @ op(b) (+ bias), forward and backward.

Shapes (row-major; op(x) is x or its transpose of the last two axes by flag):
  a: [M,K] or [B,M,K]   ([K,M] / [B,K,M] with trans_a)
  b: [K,N] or [B,K,N]   ([N,K] / [B,N,K] with trans_b); a 2-D b is shared by every
     batch of a 3-D a, and its gradient sums over the batch
  bias: [N];  c: [M,N] or [B,M,N]
torch's F.linear(x, w, bias) with w [out, in] is matmul(x, w, bias, trans_b=True);
Keras's Dense kernel [in, out] is matmul(x, kernel, bias).
"""

from __future__ import annotations

from twincore import _core
from twincore.kernels._array import prepare, to_core


def matmul(a, b, bias=None, trans_a: bool = False, trans_b: bool = False):
    """c = op(a) @ op(b) + bias, of a's kind and dtype."""
    a, kind = prepare(a)
    return kind.wrap(_core.matmul(a, to_core(b), to_core(bias), bool(trans_a), bool(trans_b), kind.alloc))


def matmul_backward(grad, a, b, trans_a: bool = False, trans_b: bool = False, need_a: bool = True,
                    need_b: bool = True, need_bias: bool = False):
    """(da, db, dbias) for c = matmul(a, b, bias, trans_a, trans_b) and upstream grad (c's shape).

    da has a's shape, db b's (summed over the batch when b is 2-D and a 3-D), dbias [N];
    None for each one not needed.
    """
    grad, kind = prepare(grad)
    return kind.wrap(_core.matmul_backward(grad, to_core(a), to_core(b), bool(trans_a), bool(trans_b),
                                           bool(need_a), bool(need_b), bool(need_bias), kind.alloc))
