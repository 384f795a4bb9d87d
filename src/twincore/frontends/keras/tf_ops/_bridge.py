"""The one crossing between TensorFlow and the core, eager or inside a graph.

Eagerly, a tf op calls twincore.kernels directly: TF tensors go in and come back
by DLPack, no copies (the core hands TF 64-byte aligned buffers, which TF requires).
Inside a tf.function (model.fit's default) there are no values yet, so the call is
wrapped in tf.numpy_function, which runs the same Python on NumPy views of the tensors
when the graph executes; the static output shapes are set on the result so Keras sees them.
That wrapper is the "graph-mode bridge": it costs some tens of microseconds per
crossing (benchmarks/bench_keras.py measures it), so ops fuse what they can
(matmul + bias + activation) into one crossing.

bfloat16 in a graph: NumPy has no bfloat16 of its own (ml_dtypes' cannot cross by DLPack), so
bfloat16 tensors cross the same numpy_function as their uint16 bits (tf.bitcast, no copy) and
reach the core relabelled as bfloat16 (kernels._array.BF16Bits); outputs come back the same way.
(tf.py_function did this before: eager tensors per call, and stateful, so never pruned.)
float16 crosses as NumPy's float16.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import tensorflow as tf

from twincore.kernels._array import BF16Bits

FLOATS = (tf.float32, tf.float64, tf.float16, tf.bfloat16)


def call(fn: Callable, inputs: Sequence[tf.Tensor], outs: Sequence[tuple]):
    """Run fn(*inputs); outs lists (dtype, static shape) of each output.

    fn takes and returns only tensors (other arguments live in its closure).
    Returns one tensor when len(outs) == 1, else a list of tensors.
    """
    if tf.executing_eagerly():
        res = fn(*inputs)
        return res if len(outs) == 1 else list(res)
    # numpy_function, not py_function: it hands fn NumPy views of the tensors (no eager
    # tensors built, no eager context entered) and adopts fn's 64-byte aligned results
    # without a copy. Stateless (every core op is a pure function), so a crossing whose
    # outputs nobody reads is pruned from the graph: e.g. the input gradient of a first
    # layer, whose input is data.
    dtypes = [dtype for dtype, _ in outs]
    if any(t.dtype == tf.bfloat16 for t in inputs) or tf.bfloat16 in dtypes:
        res = _bf16_call(fn, inputs, dtypes)
    else:
        res = tf.numpy_function(lambda *a: fn(*map(_array, a)), list(inputs), dtypes, stateful=False)
    for r, (_, shape) in zip(res, outs):
        r.set_shape(shape)
    return res[0] if len(outs) == 1 else list(res)


def input_grad_needed(x: tf.Tensor) -> bool:
    """Whether a gradient tape will take the gradient through x: x was computed from a
    watched variable (a later layer's input), not data (a first layer's). Then an op's
    backward runs its parameters' and input's gradients in one crossing; otherwise in two,
    so that the graph prunes the input's. False where TF's tape cannot tell (no tape:
    tf.gradients, or a TF without this private helper): two crossings, as before."""
    try:
        from tensorflow.python.eager import record
        return bool(record.should_record_backprop([x]))
    except Exception:  # private API: any change in it just keeps the split
        return False


def _bf16_call(fn, inputs, dtypes):
    """The numpy_function crossing for bfloat16: the tensors cross as their uint16 bits (tf.bitcast
    both ways, no copy), which fn sees as BF16Bits (read by the core as bfloat16)."""
    bf = [t.dtype == tf.bfloat16 for t in inputs]
    ins = [tf.bitcast(t, tf.uint16) if b else t for t, b in zip(inputs, bf)]
    touts = [tf.uint16 if d == tf.bfloat16 else d for d in dtypes]

    def run(*a):
        res = fn(*(BF16Bits.of(np.asarray(v)) if b else _array(v) for v, b in zip(a, bf)))
        res = list(res) if isinstance(res, (tuple, list)) else [res]
        return [r.view(np.ndarray) if isinstance(r, BF16Bits) else r for r in res]

    res = tf.numpy_function(run, ins, touts, stateful=False)
    return [tf.bitcast(r, tf.bfloat16) if d == tf.bfloat16 else r for r, d in zip(res, dtypes)]


def _array(a):
    # numpy_function hands a 0-d tensor over as a NumPy scalar, which has no DLPack
    return np.asarray(a) if isinstance(a, np.generic) else a


def tensor(x, op: str, arg: str, dtypes=FLOATS, rank=None) -> tf.Tensor:
    """x as a tf.Tensor, checked statically (so graph mode fails at trace time, clearly).

    A tf/Keras Variable is read here once, so the gradient tape sees the read.
    rank: an int or a tuple of allowed ranks (None: any rank >= 1).
    """
    where = f"twincore.{op}: argument '{arg}': "
    if x is None:
        raise TypeError(where + "expected a tensor, got None")
    try:
        x = tf.convert_to_tensor(x)
    except (TypeError, ValueError) as e:
        raise TypeError(where + f"cannot be converted to a tensor ({type(x).__name__}): {e}") from None
    if dtypes is not None and x.dtype not in dtypes:
        raise TypeError(where + f"dtype {x.dtype.name} not supported (expected one of "
                        + ", ".join(d.name for d in dtypes) + ")")
    if x.shape.rank is not None:
        ranks = (rank,) if isinstance(rank, int) else rank
        if ranks is not None and x.shape.rank not in ranks:
            raise ValueError(where + f"expected rank {' or '.join(map(str, ranks))}, got shape {tuple(x.shape)}")
        if 0 in x.shape:
            raise ValueError(where + f"empty tensor of shape {tuple(x.shape)}")
    return x


def conv_inputs(x, kernel, bias, op: str) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor | None]:
    """(x, w, bias or None) of a convolution: x and w rank 4, bias rank 1, all of x's dtype."""
    x = tensor(x, op, "x", rank=4)
    w = tensor(kernel, op, "w", rank=4)
    b = None if bias is None else tensor(bias, op, "bias", rank=1)
    same_dtype(x, w, op, "w")
    same_dtype(x, b, op, "bias")
    return x, w, b


def check_reduction(reduction, op: str) -> None:
    """A loss's reduction: 'none', 'mean' or 'sum' (the core's rule), else ValueError naming it."""
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"twincore.{op}: argument 'reduction': expected 'none', 'mean' or 'sum', got {reduction!r}")


def same_dtype(x: tf.Tensor, y: tf.Tensor | None, op: str, arg: str) -> None:
    if y is not None and y.dtype != x.dtype:
        raise TypeError(f"twincore.{op}: argument '{arg}': dtype {y.dtype.name} differs from "
                        f"the input's {x.dtype.name}")
