import itertools

import numpy as np
import pytest

import twincore.kernels as K
from twincore import _core
from twincore.kernels.reference import matmul as ref
from twincore.testing import assert_close, check_grads, randn, run_bad_calls

from support import requires_tf, requires_torch

TRANS = list(itertools.product([False, True], [False, True]))
TRANS_IDS = ["nn", "nt", "tn", "tt"]
# (M, N, K): every awkward size (1, 3, 17, 127, 513) appears in every position.
SHAPES = [(1, 1, 1), (1, 513, 3), (3, 17, 127), (17, 1, 513), (127, 3, 17), (513, 127, 1),
          (513, 3, 513), (3, 513, 17), (17, 127, 3), (127, 17, 513)]


def mm_tol(dtype, k):
    """Error of a k-term dot product of O(1) values: grows like sqrt(k) * eps."""
    s = max(1.0, np.sqrt(k))
    return {"rtol": 1e-4, "atol": 2e-5 * s} if np.dtype(dtype) == np.float32 else {"rtol": 1e-10, "atol": 1e-12 * s}


def operands(M, N, Kd, ta, tb, dtype, batch=None, shared_b=False, seed=0):
    pre = () if batch is None else (batch,)
    a = randn(pre + ((Kd, M) if ta else (M, Kd)), dtype, seed=seed)
    bpre = () if (batch is None or shared_b) else (batch,)
    b = randn(bpre + ((N, Kd) if tb else (Kd, N)), dtype, seed=seed + 1)
    bias = randn((N,), dtype, seed=seed + 2)
    return a, b, bias


@pytest.mark.parametrize("ta,tb", TRANS, ids=TRANS_IDS)
@pytest.mark.parametrize("M,N,Kd", SHAPES)
def test_parity_with_reference(M, N, Kd, ta, tb, dtype, isa):
    a, b, bias = operands(M, N, Kd, ta, tb, dtype, seed=M + N + Kd)
    use_bias = (M + N) % 2 == 0
    c = K.matmul(a, b, bias if use_bias else None, trans_a=ta, trans_b=tb)
    assert c.dtype == dtype and c.shape == (M, N)
    assert_close(c, ref.matmul(a, b, bias if use_bias else None, ta, tb), **mm_tol(dtype, Kd), what="c")


@pytest.mark.parametrize("ta,tb", TRANS, ids=TRANS_IDS)
@pytest.mark.parametrize("shared_b", [False, True], ids=["batched_b", "shared_b"])
@pytest.mark.parametrize("batch,M,N,Kd", [(1, 3, 5, 7), (4, 17, 33, 19), (9, 31, 1, 65), (2, 130, 70, 300)])
def test_batched_forward_and_backward(batch, M, N, Kd, shared_b, ta, tb, dtype, isa):
    a, b, bias = operands(M, N, Kd, ta, tb, dtype, batch=batch, shared_b=shared_b, seed=batch * M)
    c = K.matmul(a, b, bias, trans_a=ta, trans_b=tb)
    assert c.shape == (batch, M, N)
    assert_close(c, ref.matmul(a, b, bias, ta, tb), **mm_tol(dtype, Kd), what="c")
    g = randn(c.shape, dtype, seed=7)
    da, db, dbias = K.matmul_backward(g, a, b, ta, tb, need_bias=True)
    rda, rdb, rdbias = ref.matmul_backward(g, a, b, ta, tb)
    assert da.shape == a.shape and db.shape == b.shape and dbias.shape == (N,)
    assert_close(da, rda, **mm_tol(dtype, N), what="da")
    assert_close(db, rdb, **mm_tol(dtype, batch * M), what="db")
    assert_close(dbias, rdbias, **mm_tol(dtype, batch * M), what="dbias")


@pytest.mark.parametrize("ta,tb", TRANS, ids=TRANS_IDS)
def test_backward_2d_awkward(ta, tb, dtype, isa):
    M, N, Kd = 127, 513, 17
    a, b, _ = operands(M, N, Kd, ta, tb, dtype, seed=11)
    g = randn((M, N), dtype, seed=12)
    da, db, dbias = K.matmul_backward(g, a, b, ta, tb, need_bias=True)
    rda, rdb, rdbias = ref.matmul_backward(g, a, b, ta, tb)
    assert_close(da, rda, **mm_tol(dtype, N), what="da")
    assert_close(db, rdb, **mm_tol(dtype, M), what="db")
    assert_close(dbias, rdbias, **mm_tol(dtype, M), what="dbias")
    # Only what is asked for is computed.
    assert K.matmul_backward(g, a, b, ta, tb, need_a=False, need_b=False) == (None, None, None)
    da2, db2, dbias2 = K.matmul_backward(g, a, b, ta, tb, need_a=False, need_bias=True)
    assert da2 is None and db2 is not None and dbias2 is not None


@pytest.mark.parametrize("M,N,Kd", [(6, 16, 8), (12, 40, 16), (18, 33, 24), (30, 17, 7), (6, 5, 9)])
def test_narrow_panel_packing(M, N, Kd, isa):
    # AVX2's 6-row A panels are packed by 8x8 transposes whose stores spill into the next
    # k's slot; K a multiple of 8 ends the panel on a full block (its spill must stay inside).
    a, b, bias = operands(M, N, Kd, False, False, np.float32, seed=M * Kd)
    guard = np.full((M + 7, Kd), 7.0, np.float32)  # rows past M: must not leak into C
    guard[:M] = a
    c = K.matmul(guard[:M], b, bias)
    assert_close(c, ref.matmul(a, b, bias, False, False), **mm_tol(np.float32, Kd), what="c")


@pytest.mark.parametrize("ta,tb", TRANS, ids=TRANS_IDS)
@pytest.mark.parametrize("M,N,Kd", [(19, 1100, 900), (150, 600, 800)], ids=["few_rows", "many_rows"])
def test_gemm_alpha_beta_and_blocking(M, N, Kd, ta, tb, dtype, isa):
    # K and N above the cache blocks (KC <= 384, NC = 512), so several K slices
    # (beta applies on the first only) and several column blocks run; M on both
    # sides of MC (the column-split and the row-split schedules).
    a, b, _ = operands(M, N, Kd, ta, tb, dtype, seed=21)
    c0 = randn((M, N), dtype, seed=22)
    want = -1.5 * ref.matmul(a, b, None, ta, tb) + 0.25 * c0
    c = c0.copy()
    _core._gemm(a, b, c, ta, tb, -1.5, 0.25)
    assert_close(c, want, **mm_tol(dtype, Kd), what="alpha/beta")
    # beta == 0 must not read C: NaN already in C does not leak into the result.
    c = np.full((M, N), np.nan, dtype)
    _core._gemm(a, b, c, ta, tb, 2.0, 0.0)
    assert_close(c, 2.0 * ref.matmul(a, b, None, ta, tb), **mm_tol(dtype, Kd), what="beta=0")


# torch's F.linear layout (w [out, in], trans_b) and Keras's Dense layout (kernel [in, out]) must
# give the same bits: the frontends train bit-identical float32 runs (tests/workloads). A GEMM
# path that sums in another order for one layout only (e.g. dot products for few rows) breaks it.
@pytest.mark.parametrize("M,N,Kd", [(1, 512, 784), (5, 10, 300), (32, 512, 784), (32, 10, 512), (100, 64, 257)])
def test_linear_and_dense_layouts_give_same_bits(M, N, Kd, isa):
    x, w_t, bias = operands(M, N, Kd, False, True, np.float32, seed=M)  # w_t: [N, K]
    kernel = np.ascontiguousarray(w_t.T)  # [K, N]
    np.testing.assert_array_equal(K.matmul(x, w_t, bias, trans_b=True), K.matmul(x, kernel, bias))
    g = randn((M, N), np.float32, seed=M + 1)
    da_t, dw_t, db_t = K.matmul_backward(g, x, w_t, trans_b=True, need_bias=True)
    da, dk, db = K.matmul_backward(g, x, kernel, need_bias=True)
    np.testing.assert_array_equal(da_t, da)
    np.testing.assert_array_equal(dw_t, dk.T)
    np.testing.assert_array_equal(db_t, db)


# Few rows times a transposed B (F.linear's weight) run a kernel that reads W's rows in place
# (cpp/cpu/gemm.cc, gemm_wt); it must give the packed path's bits (the other layout's path):
# every panel width (8/16/32 rows and rounded-up tails), a short last W block moved back over
# the previous one (N % 12), a W smaller than one block, several K slices, beta 0 and 1 (the
# bias), op(A) transposed, 1 and 2 threads; and above the row threshold (100 x wide N) too.
@pytest.mark.parametrize("M", [1, 7, 12, 24, 33, 64, 100])
@pytest.mark.parametrize("N,Kd", [(50, 785), (5, 300), (16, 1100)])
def test_few_rows_trans_b_gives_packed_bits(M, N, Kd, isa):
    n = _core.num_threads()
    try:
        for ta in (False, True):
            a = randn((Kd, M) if ta else (M, Kd), np.float32, seed=M + N)
            w = randn((N, Kd), np.float32, seed=M + N + 1)  # [N, K]: trans_b
            c0 = randn((M, N), np.float32, seed=M + N + 2)
            w_kn = np.ascontiguousarray(w.T)  # [K, N]: the packed path
            for beta in (0.0, 1.0):
                want = ref.matmul(a, w, None, ta, True) + beta * c0
                for threads in (1, 2):
                    _core.set_num_threads(threads)
                    c_t, c_n = c0.copy(), c0.copy()
                    _core._gemm(a, w, c_t, ta, True, 1.0, beta)
                    _core._gemm(a, w_kn, c_n, ta, False, 1.0, beta)
                    np.testing.assert_array_equal(c_t, c_n, err_msg=f"ta={ta} beta={beta} threads={threads}")
                    assert_close(c_t, want, **mm_tol(np.float32, Kd), what="c")
    finally:
        _core.set_num_threads(n)


def test_threads_give_same_result():
    a, b, bias = operands(300, 200, 250, False, False, np.float64, seed=5)
    n = _core.num_threads()
    try:
        _core.set_num_threads(1)
        one = K.matmul(a, b, bias)
        _core.set_num_threads(3)
        three = K.matmul(a, b, bias)
    finally:
        _core.set_num_threads(n)
    assert_close(one, three, rtol=1e-13, atol=1e-13)
    assert_close(one, ref.matmul(a, b, bias), rtol=1e-10, atol=1e-11)


def test_many_batches_nest_parallel_gemms():
    # Batches run in parallel and each GEMM is big enough to want threads of its own:
    # the nested parallel_for must run serially instead of waiting on the busy pool.
    a, b, bias = operands(100, 90, 110, False, False, np.float32, batch=8, seed=41)
    assert_close(K.matmul(a, b, bias), ref.matmul(a, b, bias), **mm_tol(np.float32, 110))
    g = randn((8, 100, 90), np.float32, seed=42)
    da, db, _ = K.matmul_backward(g, a, b)
    rda, rdb, _ = ref.matmul_backward(g, a, b)
    assert_close(da, rda, **mm_tol(np.float32, 90))
    assert_close(db, rdb, **mm_tol(np.float32, 100))


def test_non_contiguous_inputs():
    a = randn((40, 30), np.float32, seed=1)[::2, 1::2]  # (20, 15), strided
    b = randn((15, 26), np.float32, seed=2)[:, ::2]      # (15, 13)
    bias = randn((26,), np.float32, seed=3)[::2]
    assert not (a.flags.c_contiguous or b.flags.c_contiguous or bias.flags.c_contiguous)
    assert_close(K.matmul(a, b, bias), ref.matmul(a, b, bias), **mm_tol(np.float32, 15))
    at = randn((15, 20), np.float64, seed=4).T  # a transposed view: same values as trans_a
    assert_close(K.matmul(at, b.astype(np.float64)), ref.matmul(at, b), **mm_tol(np.float64, 15))
    g = randn((20, 13), np.float64, seed=5)[:, :]
    da, db, _ = K.matmul_backward(g, at, b.astype(np.float64))
    rda, rdb, _ = ref.matmul_backward(g, at, b)
    assert_close(da, rda, rtol=1e-6, atol=1e-6)
    assert_close(db, rdb, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("ta,tb", TRANS, ids=TRANS_IDS)
@pytest.mark.parametrize("layout", ["2d", "batched", "shared_b"])
def test_gradcheck(layout, ta, tb):
    batch = None if layout == "2d" else 2
    a, b, bias = operands(3, 4, 5, ta, tb, np.float64, batch=batch, shared_b=layout == "shared_b", seed=31)
    w = randn((3, 4) if batch is None else (batch, 3, 4), np.float64, seed=32)
    loss = lambda: float((K.matmul(a, b, bias, ta, tb) * w).sum())
    da, db, dbias = K.matmul_backward(w, a, b, ta, tb, need_bias=True)
    check_grads(loss, [a, b, bias], [da, db, dbias], names=["a", "b", "bias"])


def test_nan_propagates(isa):
    a = randn((9, 20), np.float32, seed=1)
    b = randn((20, 40), np.float32, seed=2)
    a[3, 7] = np.nan
    b[5, 33] = np.inf
    c = K.matmul(a, b)
    want = ref.matmul(a, b)
    assert np.isnan(c[3]).all() and np.array_equal(np.isnan(c), np.isnan(want))
    assert np.array_equal(np.isinf(c), np.isinf(want))
    bias = np.zeros(40, np.float32)
    bias[2] = np.nan
    assert np.isnan(K.matmul(a, b, bias)[:, 2]).all()


@requires_torch
@pytest.mark.parametrize("dt", ["float32", "float64"])
def test_torch_parity(dt):
    import torch
    import torch.nn.functional as F

    dtype = getattr(torch, dt)
    x = torch.randn(6, 17, 33, dtype=dtype, requires_grad=True)
    y = torch.randn(6, 33, 5, dtype=dtype, requires_grad=True)
    c = K.matmul(x, y)
    assert isinstance(c, torch.Tensor) and c.dtype == dtype
    torch.testing.assert_close(c, torch.matmul(x, y).detach(), **({} if dt == "float64" else {"rtol": 1e-4, "atol": 1e-4}))
    # F.linear: weight [out, in] = trans_b; gradients against autograd.
    w = torch.randn(10, 33, dtype=dtype, requires_grad=True)
    bias = torch.randn(10, dtype=dtype, requires_grad=True)
    ref_out = F.linear(x, w, bias)
    out = K.matmul(x, w, bias, trans_b=True)
    torch.testing.assert_close(out, ref_out.detach(), rtol=1e-4, atol=1e-4)
    g = torch.randn_like(ref_out)
    ref_out.backward(g)
    dx, dw, db = K.matmul_backward(g, x, w, trans_b=True, need_bias=True)
    torch.testing.assert_close(dx, x.grad, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(dw, w.grad, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(db, bias.grad, rtol=1e-4, atol=1e-4)
    # A non-contiguous torch input (a transposed view).
    xt = torch.randn(33, 17, dtype=dtype).t()
    torch.testing.assert_close(K.matmul(xt, y[0].detach()), xt @ y[0].detach(), rtol=1e-4, atol=1e-4)


@requires_tf
def test_tf_parity():
    import tensorflow as tf

    a = tf.random.normal((4, 13, 7), dtype=tf.float32, seed=1)
    b = tf.random.normal((4, 9, 13), dtype=tf.float32, seed=2)
    c = K.matmul(a, b, trans_a=True, trans_b=True)
    assert isinstance(c, tf.Tensor) and c.shape == (4, 7, 9)
    want = tf.matmul(a, b, transpose_a=True, transpose_b=True)
    np.testing.assert_allclose(c.numpy(), want.numpy(), rtol=1e-4, atol=1e-4)
    x = tf.random.normal((32, 20), dtype=tf.float64, seed=3)
    kern = tf.random.normal((20, 10), dtype=tf.float64, seed=4)
    bias = tf.random.normal((10,), dtype=tf.float64, seed=5)
    with tf.GradientTape() as tape:
        tape.watch([x, kern, bias])
        y = tf.matmul(x, kern) + bias
        loss = tf.reduce_sum(y * y)
    gx, gk, gb = tape.gradient(loss, [x, kern, bias])
    np.testing.assert_allclose(K.matmul(x, kern, bias).numpy(), y.numpy(), rtol=1e-10)
    dx, dk, db = K.matmul_backward(2 * y, x, kern, need_bias=True)
    for ours, theirs in ((dx, gx), (dk, gk), (db, gb)):
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-10, atol=1e-10)


def test_bad_input():
    f = "np.ones({}, np.float32)"
    run_bad_calls([
        ("K.matmul(None, np.ones((2, 2)))", "TypeError", "matmul", "a"),
        ("K.matmul(np.ones((2, 2)), None)", "TypeError", "matmul", "b"),
        (f"K.matmul({f.format('(3,)')}, {f.format('(3, 2)')})", "ValueError", "matmul", "a"),
        (f"K.matmul({f.format('(2, 2, 2, 2)')}, {f.format('(2, 2)')})", "ValueError", "matmul", "a"),
        (f"K.matmul({f.format('(2, 3)')}, {f.format('(3,)')})", "ValueError", "matmul", "b"),
        (f"K.matmul({f.format('(2, 3)')}, {f.format('(4, 5)')})", "ValueError", "matmul", "b"),
        (f"K.matmul({f.format('(2, 3)')}, {f.format('(4, 3)')})", "ValueError", "matmul", "b"),
        (f"K.matmul({f.format('(2, 3)')}, {f.format('(2, 5)')}, trans_a=False)", "ValueError", "matmul", "b"),
        (f"K.matmul({f.format('(2, 4, 3)')}, {f.format('(3, 3, 5)')})", "ValueError", "matmul", "b"),
        (f"K.matmul({f.format('(4, 3)')}, {f.format('(2, 3, 5)')})", "ValueError", "matmul", "b"),
        (f"K.matmul({f.format('(2, 3)')}, {f.format('(3, 5)')}, {f.format('(4,)')})", "ValueError", "matmul", "bias"),
        (f"K.matmul({f.format('(2, 3)')}, {f.format('(3, 5)')}, {f.format('(1, 5)')})", "ValueError", "matmul", "bias"),
        (f"K.matmul({f.format('(2, 3)')}, {f.format('(3, 5)')}, np.ones(5))", "TypeError", "matmul", "bias"),
        ("K.matmul(np.ones((2, 3), np.int32), np.ones((3, 5), np.int32))", "TypeError", "matmul", "a"),
        ("K.matmul(np.ones((2, 3), bool), np.ones((3, 5)))", "TypeError", "matmul", "a"),
        ("K.matmul(np.ones((2, 3)), np.ones((3, 5), np.int64))", "TypeError", "matmul", "b"),
        (f"K.matmul({f.format('(2, 3)')}, np.ones((3, 5)))", "TypeError", "matmul", "b"),
        ("K.matmul(np.ones((0, 3)), np.ones((3, 5)))", "ValueError", "matmul", "a"),
        ("K.matmul(np.ones((2, 0)), np.ones((0, 5)))", "ValueError", "matmul", "a"),
        ("K.matmul(np.ones((2, 3)), np.ones((3, 0)))", "ValueError", "matmul", "b"),
        ("K.matmul('abc', np.ones((3, 5)))", "TypeError", "matmul", "a"),
        ("K.matmul_backward(np.ones((2, 4)), np.ones((2, 3)), np.ones((3, 5)))", "ValueError", "matmul_backward", "grad"),
        ("K.matmul_backward(np.ones((2, 5), np.float32), np.ones((2, 3)), np.ones((3, 5)))", "TypeError", "matmul_backward", "grad"),
        ("K.matmul_backward(np.ones((2, 5)), np.ones((2, 3)), np.ones((4, 5)))", "ValueError", "matmul_backward", "b"),
        ("K.matmul_backward(None, np.ones((2, 3)), np.ones((3, 5)))", "TypeError", "matmul_backward", "grad"),
        ("K.matmul_backward(np.ones((2, 5)), np.ones((2, 3), np.int64), np.ones((3, 5)))", "TypeError", "matmul_backward", "a"),
        ("K.matmul_backward(np.ones((0, 5)), np.ones((0, 3)), np.ones((3, 5)))", "ValueError", "matmul_backward", "grad"),
    ])
