"""lstm as a TF op, in Keras's layout, converted at this edge to the kernel's.

x [B, T, I] (batch first, as Keras); kernel [I, 4H] and recurrent_kernel [H, 4H] with the
gates in Keras's order i, f, c, o (the kernel's i, f, g, o: the same order, so the
conversion is a transpose); bias [4H] or None; h0, c0 [B, H] or None.
Returns (y [B, T, H] or None without return_sequences, h_n [B, H], c_n [B, H]).
Differentiable w.r.t. all of them (the transposes are TF's, so the kernel gradients come
back in Keras's layout).
"""

from __future__ import annotations

import tensorflow as tf

import twincore.kernels as K
from twincore.frontends.keras.tf_ops._bridge import call, same_dtype, tensor


def lstm(x, kernel, recurrent_kernel, bias=None, h0=None, c0=None, return_sequences: bool = True):
    op = "lstm"
    x = tensor(x, op, "x", rank=3)
    k = tensor(kernel, op, "kernel", rank=2)
    rk = tensor(recurrent_kernel, op, "recurrent_kernel", rank=2)
    opt = {name: None if v is None else tensor(v, op, name, rank=r)
           for name, v, r in (("bias", bias, 1), ("h0", h0, 2), ("c0", c0, 2))}
    for name, v in (("kernel", k), ("recurrent_kernel", rk), *opt.items()):
        same_dtype(x, v, op, name)
    # The kernel's layout: w_ih [4H, I], w_hh [4H, H]; the core checks every shape.
    w_ih, w_hh = tf.transpose(k), tf.transpose(rk)
    present = [name for name in ("bias", "h0", "c0") if opt[name] is not None]
    B, T, H = x.shape[0], x.shape[1], rk.shape[0]
    dt = x.dtype
    specs = ([(dt, tf.TensorShape([B, T, H]))] if return_sequences else []) + \
        [(dt, tf.TensorShape([B, H]))] * 2 + [(dt, tf.TensorShape([B, T, None if H is None else 6 * H]))]

    def unpack(extra):
        d = dict(zip(present, extra))
        return d.get("bias"), d.get("h0"), d.get("c0")

    def fwd(x, w_ih, w_hh, *extra):
        b, h0, c0 = unpack(extra)
        y, hn, cn, ws = K.lstm(x, w_ih, w_hh, b, h0, c0, batch_first=True, return_sequences=return_sequences)
        return ((y,) if return_sequences else ()) + (hn, cn, ws)

    @tf.custom_gradient
    def f(x, w_ih, w_hh, *extra):
        outs = call(fwd, [x, w_ih, w_hh, *extra], specs)
        ws = outs[-1]

        def grad(*dys):
            dys = list(dys[:-1])  # the workspace has no gradient
            dy = dys.pop(0) if return_sequences else None
            given = [(n, g) for n, g in zip(("y", "h", "c"), (dy, *dys)) if g is not None]
            names = [n for n, _ in given]
            _, h0, c0 = unpack(extra)

            def bwd(*a):
                gs = dict(zip(names, a[:len(names)]))
                x_, w_ih_, w_hh_, ws_, *st = a[len(names):]
                h0_, c0_ = (st.pop(0) if h0 is not None else None), (st.pop(0) if c0 is not None else None)
                dx, dwih, dwhh, db, dh0, dc0 = K.lstm_backward(
                    gs.get("y"), gs.get("h"), gs.get("c"), x_, w_ih_, w_hh_, h0_, c0_, ws_, batch_first=True,
                    need_bias="bias" in present)
                by_name = {"bias": db, "h0": dh0, "c0": dc0}
                return (dx, dwih, dwhh) + tuple(by_name[n] for n in present)

            state = [s for s in (h0, c0) if s is not None]
            out_specs = [(dt, x.shape), (dt, w_ih.shape), (dt, w_hh.shape)] + [(dt, v.shape) for v in extra]
            res = call(bwd, [g for _, g in given] + [x, w_ih, w_hh, ws, *state], out_specs)
            return res if isinstance(res, list) else [res]

        return outs, grad

    outs = f(x, w_ih, w_hh, *[opt[n] for n in present])
    if return_sequences:
        return outs[0], outs[1], outs[2]
    return None, outs[0], outs[1]
