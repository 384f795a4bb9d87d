"""matmul (+ bias) and dense (matmul + bias + relu/tanh in one crossing) as TF ops.

matmul(a, b, bias=None, trans_a=False, trans_b=False):
    a [M,K] or [B,M,K] ([K,M] / [B,K,M] with trans_a); b [K,N] or [B,K,N]
    ([N,K] / [B,N,K] with trans_b), a 2-D b shared by every batch; bias [N].
    Returns c [M,N] or [B,M,N].
dense(x, kernel, bias=None, activation=None):
    x [N,in], kernel [in,out] (Keras's layout), bias [out]; activation None, "relu"
    or "tanh" is fused (the backward reads y). Returns y [N,out].
"""

from __future__ import annotations

import tensorflow as tf

import twincore.kernels as K
from twincore.frontends.keras.tf_ops._bridge import call, input_grad_needed, same_dtype, tensor

_ACT = {None: (None, None), "linear": (None, None),
        "relu": (lambda y: K.relu(y), lambda g, y: K.relu_backward(g, y)),
        "tanh": (lambda y: K.tanh(y), lambda g, y: K.tanh_backward(g, y))}


def _out_shape(a, b, trans_a, trans_b) -> tf.TensorShape:
    m = a.shape[-1] if trans_a else a.shape[-2]
    n = b.shape[-2] if trans_b else b.shape[-1]
    return tf.TensorShape(list(a.shape[:-2]) + [m, n])


def _matmul(op, a, b, bias, trans_a, trans_b, activation):
    if activation not in _ACT:
        raise ValueError(f"twincore.{op}: argument 'activation': {activation!r} cannot be fused "
                         f"(expected one of {sorted(k for k in _ACT if k)} or None)")
    act, act_bwd = _ACT[activation]
    a = tensor(a, op, "a" if op == "matmul" else "x", rank=(2, 3))
    b = tensor(b, op, "b" if op == "matmul" else "kernel", rank=(2, 3))
    bias = None if bias is None else tensor(bias, op, "bias", rank=1)
    same_dtype(a, b, op, "b" if op == "matmul" else "kernel")
    same_dtype(a, bias, op, "bias")
    has_bias = bias is not None
    out = [(a.dtype, _out_shape(a, b, trans_a, trans_b))]
    joint = input_grad_needed(a)  # one backward crossing for da, db, dbias (a is not data)

    def fwd(a, b, *bias):
        y = K.matmul(a, b, bias[0] if bias else None, trans_a=trans_a, trans_b=trans_b)
        return act(y) if act else y

    @tf.custom_gradient
    def f(a, b, *bias):
        y = call(fwd, [a, b, *bias], out)

        def grad(dy):
            # As conv2d: one crossing where da is needed; else parameters' gradients (and g)
            # first, then the input's, which the graph prunes when nothing reads it (a first
            # layer, whose input is data).
            if joint:
                def bwd_all(dy, y, a, b):
                    g = act_bwd(dy, y) if act else dy
                    da, db, dbias = K.matmul_backward(g, a, b, trans_a=trans_a, trans_b=trans_b,
                                                      need_bias=has_bias)
                    return (da, db, dbias) if has_bias else (da, db)

                return call(bwd_all, [dy, y, a, b], [(a.dtype, a.shape), (b.dtype, b.shape)]
                            + ([(a.dtype, bias[0].shape)] if has_bias else []))

            def bwd_b(dy, y, a, b):
                g = act_bwd(dy, y) if act else dy
                _, db, dbias = K.matmul_backward(g, a, b, trans_a=trans_a, trans_b=trans_b,
                                                 need_a=False, need_bias=has_bias)
                return ((g,) if act else ()) + ((db, dbias) if has_bias else (db,))

            specs = ([(a.dtype, y.shape)] if act else []) + [(b.dtype, b.shape)] \
                + ([(a.dtype, bias[0].shape)] if has_bias else [])
            res = call(bwd_b, [dy, y, a, b], specs)
            res = res if isinstance(res, list) else [res]
            g = res.pop(0) if act else dy
            da = call(lambda g, a, b: K.matmul_backward(g, a, b, trans_a=trans_a, trans_b=trans_b,
                                                        need_b=False)[0],
                      [g, a, b], [(a.dtype, a.shape)])
            return [da] + res

        return y, grad

    return f(a, b, *([bias] if has_bias else []))


def matmul(a, b, bias=None, trans_a: bool = False, trans_b: bool = False) -> tf.Tensor:
    """c = op(a) @ op(b) (+ bias) on the core; see the module docstring for shapes."""
    return _matmul("matmul", a, b, bias, trans_a, trans_b, None)


def dense(x, kernel, bias=None, activation: str | None = None) -> tf.Tensor:
    """y = activation(x @ kernel + bias), x [N,in], kernel [in,out], in one crossing."""
    return _matmul("dense", x, kernel, bias, False, False, activation)
