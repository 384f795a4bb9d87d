"""Every op's CPU forward and backward in float16 and bfloat16 (cpp/core/half.h: float32
kernels on converted copies, outputs rounded to nearest even).

Two checks per op call, on random data:
- against the float64 NumPy reference computed on the half-rounded inputs, within the
  dtype's rounding (a few units in the last place of the output, plus float32 noise);
- bit-exact against our own float32 path on the same (up-cast) inputs, rounded once: the
  adapter adds no error of its own, for in-place ops (optimizer steps) too.
Parity with torch's own half ops is in tests/frontends/torch/test_torch_half.py.
"""
import numpy as np
import pytest
from support import requires_torch

import twincore.kernels as K
from twincore.kernels.reference import (activations, batch_norm, binary_cross_entropy_with_logits, conv2d,
                                        conv_transpose2d, embedding, global_avg_pool2d, lstm, matmul, max_pool2d,
                                        mse, optim, rotate, softmax, softmax_cross_entropy)

pytestmark = requires_torch

torch = pytest.importorskip("torch")
class R:  # every reference function by name
    pass


for _m in (activations, batch_norm, binary_cross_entropy_with_logits, conv2d, conv_transpose2d, embedding,
           global_avg_pool2d, lstm, matmul, max_pool2d, mse, optim, rotate, softmax, softmax_cross_entropy):
    for _n in dir(_m):
        if not _n.startswith("_") and callable(getattr(_m, _n)):
            setattr(R, _n, staticmethod(getattr(_m, _n)))

DTS = {"f16": torch.float16, "bf16": torch.bfloat16}
ULP = {torch.float16: 2.0 ** -10, torch.bfloat16: 2.0 ** -7}  # one unit in the last place at 1.0


@pytest.fixture(params=list(DTS))
def dt(request):
    return DTS[request.param]


@pytest.fixture(autouse=True)
def converting_gemm():
    """The bit-exact checks hold for the converting path; bf16 matmuls on AVX512-BF16 CPUs take
    the native GEMM (other summation order: tests/kernels/test_gemm_half.py), off here."""
    from twincore import _core
    _core._set_half_gemm_native(False)
    yield
    _core._set_half_gemm_native(True)


def rnd(rng, *shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def f64(t):
    return t.double().numpy() if isinstance(t, torch.Tensor) else np.asarray(t, np.float64)


def close(got, want, dt, ulps=2, what="", floor_ulps=0.0):
    """|got - want| <= ulps * ulp(dt) * |want| + a float32-noise floor relative to the output's scale
    (plus floor_ulps * ulp(dt) * scale where rounded intermediates add up in a sum)."""
    g, w = f64(got), np.asarray(want, np.float64)
    assert g.shape == w.shape, (what, g.shape, w.shape)
    scale = max(1.0, float(np.abs(w).max()) if w.size else 1.0)
    err = np.abs(g - w) - (ulps * ULP[dt] * np.abs(w) + (2e-5 + floor_ulps * ULP[dt]) * scale)
    assert err.max() <= 0, f"{what}: max excess {err.max():.3g} (dtype {dt})"


def same_as_f32_path(fn, args, dt):
    """fn on half tensors == fn on the float32 up-casts, rounded to dt (bit for bit)."""
    half = [a.clone() if isinstance(a, torch.Tensor) else a for a in args]
    up = [a.float() if isinstance(a, torch.Tensor) and a.dtype == dt else a for a in args]
    got, want = fn(*half), fn(*up)
    got = got if isinstance(got, tuple) else (got,)
    want = want if isinstance(want, tuple) else (want,)
    for i, (g, w) in enumerate(zip(got, want)):
        if g is None:
            continue
        if g.is_floating_point():
            assert g.dtype == dt, (i, g.dtype)
            w = w.to(dt)
        assert torch.equal(g.view(torch.int16) if g.dtype == dt else g, w.view(torch.int16) if w.dtype == dt else w), \
            f"output {i} differs from the float32 path"
    return got


def H(a, dt):
    """A float32 array as a half tensor (the rounded inputs both sides use)."""
    return torch.from_numpy(np.ascontiguousarray(a)).to(dt)


# ---- GEMM ops -------------------------------------------------------------------------------------

def test_matmul(dt):
    rng = np.random.default_rng(0)
    a, b, bias, g = H(rnd(rng, 5, 37), dt), H(rnd(rng, 37, 9), dt), H(rnd(rng, 9), dt), H(rnd(rng, 5, 9), dt)
    c = same_as_f32_path(lambda a, b, bias: K.matmul(a, b, bias), (a, b, bias), dt)[0]
    close(c, R.matmul(f64(a), f64(b), f64(bias)), dt, what="c")
    da, db, dbias = same_as_f32_path(lambda g, a, b: K.matmul_backward(g, a, b, need_bias=True), (g, a, b), dt)
    for got, want, n in zip((da, db, dbias), R.matmul_backward(f64(g), f64(a), f64(b)), "a b bias".split()):
        close(got, want, dt, what="d" + n)


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_conv2d(dt, layout):
    rng = np.random.default_rng(1)
    nhwc = layout == "NHWC"
    x = H(rnd(rng, 2, 7, 6, 3) if nhwc else rnd(rng, 2, 3, 7, 6), dt)
    w = H(rnd(rng, 3, 3, 3, 4) if nhwc else rnd(rng, 4, 3, 3, 3), dt)
    bias = H(rnd(rng, 4), dt)
    y = same_as_f32_path(lambda x, w, b: K.conv2d(x, w, b, 2, 1, layout=layout), (x, w, bias), dt)[0]
    close(y, R.conv2d(f64(x), f64(w), f64(bias), 2, 1, layout=layout), dt, what="y")
    g = H(rnd(rng, *y.shape), dt)
    got = same_as_f32_path(lambda g, x, w: K.conv2d_backward(g, x, w, 2, 1, layout=layout, need_bias=True),
                           (g, x, w), dt)
    for a, b, n in zip(got, R.conv2d_backward(f64(g), f64(x), f64(w), 2, 1, layout=layout), ("dx", "dw", "db")):
        close(a, b, dt, what=n)


def test_conv_transpose2d(dt):
    rng = np.random.default_rng(2)
    x, w, bias = H(rnd(rng, 2, 3, 4, 5), dt), H(rnd(rng, 3, 4, 3, 3), dt), H(rnd(rng, 4), dt)
    y = same_as_f32_path(lambda x, w, b: K.conv_transpose2d(x, w, b, 2, 1), (x, w, bias), dt)[0]
    close(y, R.conv_transpose2d(f64(x), f64(w), f64(bias), 2, 1), dt, what="y")
    g = H(rnd(rng, *y.shape), dt)
    dx, dw, db = same_as_f32_path(lambda g, x, w: K.conv_transpose2d_backward(g, x, w, 2, 1, need_bias=True),
                                  (g, x, w), dt)
    # the adjoint: dx = conv2d(grad, w); dw = conv2d's filter gradient with the roles of x and grad swapped
    close(dx, R.conv2d(f64(g), f64(w), None, 2, 1), dt, what="dx")
    close(dw, R.conv2d_backward(f64(x), f64(g), f64(w), 2, 1)[1], dt, what="dw")
    close(db, f64(g).sum(axis=(0, 2, 3)), dt, what="db")


def test_lstm(dt):
    rng = np.random.default_rng(3)
    T, B, I, Hd = 4, 3, 5, 6
    args = [H(rnd(rng, T, B, I), dt), H(rnd(rng, 4 * Hd, I, scale=0.4), dt), H(rnd(rng, 4 * Hd, Hd, scale=0.4), dt),
            H(rnd(rng, 4 * Hd, scale=0.1), dt), H(rnd(rng, B, Hd), dt), H(rnd(rng, B, Hd), dt)]
    y, hn, cn, ws = same_as_f32_path(lambda *a: K.lstm(*a), args, dt)
    ry, rh, rc, cache = R.lstm(*[f64(a) for a in args])
    for got, want, n in zip((y, hn, cn), (ry, rh, rc), ("y", "h_n", "c_n")):
        close(got, want, dt, what=n)
    gy, gh, gc = H(rnd(rng, T, B, Hd), dt), H(rnd(rng, B, Hd), dt), H(rnd(rng, B, Hd), dt)
    x, w_ih, w_hh, _, h0, c0 = args
    got = same_as_f32_path(lambda *a: K.lstm_backward(*a), (gy, gh, gc, x, w_ih, w_hh, h0, c0, ws), dt)
    want = R.lstm_backward(f64(gy), f64(gh), f64(gc), cache)
    # the workspace (gates saved for the backward) holds x's dtype, as on the GPU: its rounding
    # (one ulp per saved gate) adds up over the T*B rows of the weight gradients
    for a, b, n in zip(got, want, ("dx", "dw_ih", "dw_hh", "db", "dh0", "dc0")):
        close(a, b, dt, ulps=4, floor_ulps=1.0, what=n)


# ---- elementwise, pooling, losses ------------------------------------------------------------------

@pytest.mark.parametrize("name", ["relu", "tanh", "sigmoid", "leaky_relu", "softmax"])
def test_activations(dt, name):
    rng = np.random.default_rng(4)
    x, g = H(rnd(rng, 7, 33, scale=3), dt), H(rnd(rng, 7, 33), dt)
    fwd, bwd = getattr(K, name), getattr(K, name + "_backward")
    y = same_as_f32_path(fwd, (x,), dt)[0]
    close(y, getattr(R, name)(f64(x)), dt, what=name)
    saved = x if name == "leaky_relu" else y  # leaky_relu's backward reads x, the others y
    dx = same_as_f32_path(bwd, (g, saved), dt)[0]
    close(dx, getattr(R, name + "_backward")(f64(g), f64(saved)), dt, what=name + "_backward")


def test_pooling(dt):
    rng = np.random.default_rng(5)
    x = H(rnd(rng, 2, 3, 7, 8), dt)
    y, idx = same_as_f32_path(lambda x: K.max_pool2d(x, 2, return_indices=True), (x,), dt)
    close(y, R.max_pool2d(f64(x), 2)[0], dt, what="max_pool2d")  # values: ties may pick another index
    g = H(rnd(rng, *y.shape), dt)
    dx = same_as_f32_path(lambda g: K.max_pool2d_backward(g, idx, tuple(x.shape)), (g,), dt)[0]
    close(dx, R.max_pool2d_backward(f64(g), idx.numpy(), tuple(x.shape)), dt, what="max_pool2d_backward")
    y = same_as_f32_path(K.global_avg_pool2d, (x,), dt)[0]
    close(y, R.global_avg_pool2d(f64(x)), dt, what="global_avg_pool2d")
    g = H(rnd(rng, 2, 3), dt)
    dx = same_as_f32_path(lambda g: K.global_avg_pool2d_backward(g, tuple(x.shape)), (g,), dt)[0]
    close(dx, R.global_avg_pool2d_backward(f64(g), tuple(x.shape)), dt, what="global_avg_pool2d_backward")


def test_rotate(dt):
    rng = np.random.default_rng(6)
    img = H(rnd(rng, 2, 3, 6, 5), dt)
    ang, tr = H(np.array([30.0, -12.5], np.float32), dt), H(np.array([[1.0, -2.0], [0.5, 0.25]], np.float32), dt)
    out = same_as_f32_path(lambda i, a, t: K.rotate(i, a, t), (img, ang, tr), dt)[0]
    close(out, R.rotate(f64(img), f64(ang), f64(tr)), dt, what="rotate")
    g = H(rnd(rng, *img.shape), dt)
    got = same_as_f32_path(lambda g, i, a, t: K.rotate_backward(g, i, a, t, need_angle=True, need_translate=True),
                           (g, img, ang, tr), dt)
    for a, b, n in zip(got, R.rotate_backward(f64(g), f64(img), f64(ang), f64(tr)), ("dimages", "dangle", "dtr")):
        close(a, b, dt, ulps=4, what=n)


@pytest.mark.parametrize("labels", ["ids", "probs"])
def test_softmax_cross_entropy(dt, labels):
    rng = np.random.default_rng(7)
    logits = H(rnd(rng, 6, 11, scale=4), dt)
    y = (torch.from_numpy(rng.integers(0, 11, 6)) if labels == "ids"
         else H(rng.dirichlet(np.ones(11), 6).astype(np.float32), dt))
    loss, dl = same_as_f32_path(lambda l, y: K.softmax_cross_entropy(l, y, 0.1), (logits, y), dt)
    rl, rg = R.softmax_cross_entropy(f64(logits), y.numpy() if labels == "ids" else f64(y), 0.1)
    close(loss, rl, dt, what="loss")
    close(dl, rg, dt, what="dlogits")


def test_mse_and_bce(dt):
    rng = np.random.default_rng(8)
    p, t, g = H(rnd(rng, 5, 7), dt), H(rnd(rng, 5, 7), dt), H(rnd(rng, 5, 7), dt)
    close(same_as_f32_path(lambda p, t: K.mse(p, t), (p, t), dt)[0], R.mse(f64(p), f64(t)), dt, what="mse")
    close(same_as_f32_path(lambda p, t, g: K.mse_backward(p, t, g, "none"), (p, t, g), dt)[0],
          R.mse_backward(f64(p), f64(t), f64(g), "none"), dt, what="mse_backward")
    tgt, pw = H(rng.random((5, 7)).astype(np.float32), dt), H(rng.random(7).astype(np.float32) + 0.5, dt)
    loss, dl = same_as_f32_path(lambda l, t, w: K.binary_cross_entropy_with_logits(l, t, w, 0.05), (p, tgt, pw), dt)
    rl, rg = R.binary_cross_entropy_with_logits(f64(p), f64(tgt), f64(pw), 0.05)
    close(loss, rl, dt, what="bce")
    close(dl, rg, dt, what="bce grad")


def test_embedding(dt):
    rng = np.random.default_rng(9)
    w = H(rnd(rng, 10, 6), dt)
    ids = torch.from_numpy(rng.integers(0, 10, (4, 5)))
    out = same_as_f32_path(lambda w: K.embedding(ids, w), (w,), dt)[0]
    assert torch.equal(out.view(torch.int16), w[ids].view(torch.int16))  # a gather copies rows exactly
    g = H(rnd(rng, 4, 5, 6), dt)
    dw = same_as_f32_path(lambda g: K.embedding_backward(g, ids, 10, padding_idx=3), (g,), dt)[0]
    close(dw, R.embedding_backward(f64(g), ids.numpy(), 10, 3), dt, what="dweight")


def test_batch_norm(dt):
    rng = np.random.default_rng(10)
    x, gam, bet = H(rnd(rng, 4, 3, 5, 5, scale=2) + 1, dt), H(rnd(rng, 3), dt), H(rnd(rng, 3), dt)
    y, mean, var = same_as_f32_path(lambda x, g, b: K.batch_norm(x, g, b), (x, gam, bet), dt)
    for a, b, n in zip((y, mean, var), R.batch_norm(f64(x), f64(gam), f64(bet)), ("y", "mean", "var")):
        close(a, b, dt, ulps=4, what=n)
    g = H(rnd(rng, *x.shape), dt)
    got = same_as_f32_path(lambda g, x, ga, m, v: K.batch_norm_backward(g, x, ga, m, v), (g, x, gam, mean, var), dt)
    for a, b, n in zip(got, R.batch_norm_backward(f64(g), f64(x), f64(gam), f64(mean), f64(var)), "dx dg db".split()):
        close(a, b, dt, ulps=4, what=n)
    yi = same_as_f32_path(lambda x, ga, b, m, v: K.batch_norm_inference(x, ga, b, m, v), (x, gam, bet, mean, var), dt)
    close(yi[0], R.batch_norm_inference(f64(x), f64(gam), f64(bet), f64(mean), f64(var)), dt, what="inference")
    rm, rv = H(rnd(rng, 3), dt), H(rng.random(3).astype(np.float32) + 0.5, dt)
    nm, nv = same_as_f32_path(lambda rm, rv, m, v: K.batch_norm_update_stats(rm, rv, m, v, 0.1, 100), (rm, rv, mean, var), dt)
    close(nm, 0.9 * f64(rm) + 0.1 * f64(mean), dt, what="running_mean")
    close(nv, 0.9 * f64(rv) + 0.1 * f64(var) * 100 / 99, dt, what="running_var")


# ---- optimizer steps: in place ---------------------------------------------------------------------

def test_optimizer_steps_in_place(dt):
    rng = np.random.default_rng(11)
    p, g, buf = H(rnd(rng, 300), dt), H(rnd(rng, 300), dt), H(rnd(rng, 300), dt)
    want_p, want_buf = R.sgd_step(f64(p), f64(g), f64(buf), lr=0.1, momentum=0.9, weight_decay=0.01)

    def sgd(p, g, b):
        K.sgd_step(p, g, b, lr=0.1, momentum=0.9, weight_decay=0.01)
        return p, b
    p1, b1 = same_as_f32_path(sgd, (p, g, buf), dt)
    close(p1, want_p, dt, what="sgd param")
    close(b1, want_buf, dt, what="sgd momentum_buf")
    m, v = H(rnd(rng, 300, scale=0.1), dt), H(rng.random(300).astype(np.float32) * 0.01, dt)
    want = R.adam_step(f64(p), f64(g), f64(m), f64(v), 3, lr=0.01)

    def adam(p, g, m, v):
        K.adam_step(p, g, m, v, 3, lr=0.01)
        return p, m, v
    for a, b, n in zip(same_as_f32_path(adam, (p, g, m, v), dt), want, ("param", "m", "v")):
        close(a, b, dt, what="adam " + n)


# ---- errors --------------------------------------------------------------------------------------

def test_mixed_and_integer_dtypes_are_named_errors():
    a16 = torch.ones(2, 3, dtype=torch.bfloat16)
    with pytest.raises(TypeError, match=r"twincore\.matmul: argument 'b': dtype float32 does not match the first "
                                        r"input's bfloat16"):
        K.matmul(a16, torch.ones(3, 2))
    with pytest.raises(TypeError, match=r"twincore\.conv2d: argument 'w': dtype float16 does not match"):
        K.conv2d(torch.ones(1, 1, 3, 3, dtype=torch.bfloat16), torch.ones(1, 1, 1, 1, dtype=torch.float16))
    with pytest.raises(TypeError, match=r"twincore\.relu: argument 'x': expected a floating-point tensor"):
        K.relu(torch.ones(3, dtype=torch.int32))
    with pytest.raises(TypeError, match=r"twincore\.adam_step: argument 'm': dtype float32 does not match"):
        K.adam_step(torch.ones(3, dtype=torch.bfloat16), torch.ones(3, dtype=torch.bfloat16), torch.zeros(3),
                    torch.zeros(3), 1)
    with pytest.raises(TypeError, match=r"twincore\._gemm: argument 'a'"):
        from twincore import _core
        _core._gemm(a16, torch.ones(3, 2, dtype=torch.bfloat16), torch.zeros(2, 2, dtype=torch.bfloat16),
                    False, False, 1.0, 0.0)


def test_tape_refuses_halves_by_name():
    from twincore import _core
    with pytest.raises(TypeError, match=r"twincore\.Tensor: argument 'value': the native tape computes in float32"):
        _core.tape_var(torch.ones(3, dtype=torch.bfloat16))


def test_every_isa_gives_the_same_bits(isa):
    """The conversions differ per ISA; the results must not (the float32 kernels may differ
    per ISA, so compare with the float32 path on the same ISA)."""
    rng = np.random.default_rng(12)
    for dt in DTS.values():
        a, b = H(rnd(rng, 33, 17), dt), H(rnd(rng, 17, 19), dt)
        same_as_f32_path(lambda a, b: K.matmul(a, b), (a, b), dt)
        x = H(rnd(rng, 2, 3, 9, 9), dt)
        same_as_f32_path(lambda x: K.tanh(x), (x,), dt)
