"""The TF <-> core crossing: 64-byte alignment (TF aborts the process otherwise),
a clean exit after many ops eager and in graphs, static shapes inside tf.function, and
float16/bfloat16 tensors eager and in graphs (bfloat16 through tf.py_function)."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from twincore import _core
from twincore.frontends.keras import tf_ops as T
from twincore.testing import AWKWARD_SIZES

from keras_testutil import has_ops, needs


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
def test_core_buffers_are_64_byte_aligned(dtype):
    for n in AWKWARD_SIZES + (2, 5, 4097):
        for shape in ((n,), (n, 3), (3, n, 1)):
            assert _core.empty(shape, dtype).address % 64 == 0


class _Capsule:
    """np.from_dlpack wants an object with __dlpack__, not a bare capsule."""

    def __init__(self, capsule):
        self.capsule = capsule

    def __dlpack__(self, **_):
        return self.capsule

    def __dlpack_device__(self):
        return (1, 0)  # kDLCPU


def test_outputs_handed_to_tf_are_aligned():
    for n in AWKWARD_SIZES:
        x = tf.random.normal((n, 3))
        for y in (T.relu(x), T.tanh(x)):
            assert isinstance(y, tf.Tensor) and y.shape == x.shape
            data = np.from_dlpack(_Capsule(tf.experimental.dlpack.to_dlpack(y)))  # TF's own buffer pointer
            assert data.ctypes.data % 64 == 0


def test_many_ops_in_a_subprocess_exit_cleanly():
    ops = [op for op in ("matmul", "conv2d", "max_pool2d", "global_avg_pool2d", "softmax_cross_entropy", "rotate")
           if has_ops(op)]
    script = textwrap.dedent(f"""
        import numpy as np, tensorflow as tf
        from twincore.frontends.keras import tf_ops as T
        have = {ops!r}
        def step(x, w, lab, k):
            with tf.GradientTape() as tape:
                tape.watch([x, w])
                y = T.tanh(T.relu(x))
                if "matmul" in have: y = T.dense(y, w, None, "relu")
                img = tf.reshape(x, (-1, 1, tf.shape(x)[1], 1))
                if "conv2d" in have: img = T.conv2d(img, k, None, 1, "same")
                if "max_pool2d" in have: img = T.max_pool2d(img, (1, 2), None, "same")
                if "global_avg_pool2d" in have: img = T.global_avg_pool2d(img)
                if "rotate" in have: T.rotate(tf.reshape(x, (1, -1, tf.shape(x)[1], 1)), 10.0, (1.0, 2.0))
                loss = tf.reduce_sum(y) + tf.reduce_sum(img)
                if "softmax_cross_entropy" in have and "matmul" in have:
                    loss += T.softmax_cross_entropy(y, lab, 0.1, "mean")
            return tape.gradient(loss, [x, w])
        graph_step = tf.function(step, reduce_retracing=True)
        rng = np.random.default_rng(0)
        for i in range(100):
            n = (1, 3, 17, 127, 5)[i % 5]
            x = tf.constant(rng.standard_normal((n, 7 + i % 3)).astype("float32"))
            w = tf.constant(rng.standard_normal((x.shape[1], 5)).astype("float32"))
            lab = tf.constant(rng.integers(0, 5, n))
            k = tf.constant(rng.standard_normal((3, 3, 1, 2)).astype("float32"))
            for g in (step(x, w, lab, k), graph_step(x, w, lab, k)):
                assert all(np.isfinite(t.numpy()).all() for t in g if t is not None)
        print("clean")
    """)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=240, env=env)
    assert proc.returncode == 0 and "clean" in proc.stdout, proc.stderr[-3000:]


@needs("conv2d", "max_pool2d", "matmul", "global_avg_pool2d")
def test_static_shapes_inside_tf_function():
    seen = {}

    @tf.function(input_signature=[tf.TensorSpec([None, 28, 28, 1], tf.float32)])
    def f(x):
        a = T.conv2d(x, tf.ones((3, 3, 1, 4)), tf.zeros(4), 1, "same", activation="relu")
        b = T.conv2d(a, tf.ones((3, 3, 4, 8)), None, 2, "same")
        c = T.max_pool2d(b, 2)
        d = T.dense(tf.reshape(c, (-1, 7 * 7 * 8)), tf.ones((392, 10)), None, "tanh")
        e = T.global_avg_pool2d(c)
        seen.update(a=a.shape, b=b.shape, c=c.shape, d=d.shape, e=e.shape)
        return d

    f.get_concrete_function()
    assert seen == {"a": [None, 28, 28, 4], "b": [None, 14, 14, 8], "c": [None, 7, 7, 8], "d": [None, 10],
                    "e": [None, 8]}


def test_large_outputs_adopted_by_tf_without_copy():
    # numpy_function adopts a 64-byte aligned array it is handed; the core's NumPy outputs of
    # 16 KB and more are aligned, so a graph-mode crossing returns the kernel's own buffer.
    import twincore.kernels as K

    seen = []

    def relu(x):
        y = K.relu(x)
        seen.append(y.ctypes.data)
        return y

    f = tf.function(lambda x: tf.numpy_function(relu, [x], tf.float32, stateful=False))
    for n in (4096, 4099, 100 * 28 * 28 * 32):
        y = f(tf.random.normal((n,)))
        data = np.from_dlpack(_Capsule(tf.experimental.dlpack.to_dlpack(y)))
        assert seen[-1] % 64 == 0 and data.ctypes.data == seen[-1], n


@needs("conv2d", "matmul")
@pytest.mark.parametrize("dtype", [tf.float32, tf.bfloat16], ids=["float32", "bfloat16"])
def test_input_gradient_of_a_data_input_is_pruned(monkeypatch, dtype):
    # In graph mode the input gradient of a layer whose input is data is its own crossing,
    # which TF prunes because nothing reads it: one whole convolution (matmul) per step saved.
    # A layer whose input comes from a watched variable takes all its gradients in one call
    # (one crossing).
    # bfloat16 too (mixed_bfloat16): its crossings are stateless numpy_functions as well.
    import twincore.kernels as K

    calls = []
    for name in ("conv2d_backward", "matmul_backward"):
        real = getattr(K, name)

        def spy(*a, _real=real, _name=name, **kw):
            calls.append((_name, kw.get("need_x", kw.get("need_a", True)), kw.get("need_w", kw.get("need_b", True))))
            return _real(*a, **kw)

        monkeypatch.setattr(K, name, spy)
    rng = np.random.default_rng(0)
    x = tf.cast(rng.standard_normal((4, 8, 8, 2)).astype("float32"), dtype)
    k1 = tf.Variable(rng.standard_normal((3, 3, 2, 4)).astype("float32"))
    k2 = tf.Variable(rng.standard_normal((3, 3, 4, 4)).astype("float32"))
    w = tf.Variable(rng.standard_normal((256, 3)).astype("float32"))

    def step(x):
        with tf.GradientTape() as tape:
            c = lambda v: tf.cast(v, dtype)  # noqa: E731 (Keras's mixed policies cast variables so)
            h = T.conv2d(T.conv2d(x, c(k1), None, 1, "same", activation="relu"), c(k2), None, 1, "same")
            loss = tf.reduce_sum(tf.cast(T.dense(tf.reshape(h, (4, 256)), c(w)), tf.float32) ** 2)
        return tape.gradient(loss, [k1, k2, w])

    eager = step(x)
    calls.clear()
    graph = tf.function(step)(x)
    for a, b in zip(eager, graph):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-5)
    # conv1's dx (its input is data) never runs; conv2's and the dense layer's run with
    # their parameters' gradients, in one call each
    assert sorted(calls) == sorted([("conv2d_backward", False, True), ("conv2d_backward", True, True),
                                    ("matmul_backward", True, True)]), calls


# name, fn(*inputs), input shapes (ids: "i<n>" for int32 ids below n)
HALF_OPS = [
    ("dense", lambda x, w, b: T.dense(x, w, b, "relu"), [(5, 9), (9, 4), (4,)]),
    ("conv2d", lambda x, w, b: T.conv2d(x, w, b, 2, "same", activation="tanh"), [(2, 7, 6, 3), (3, 3, 3, 4), (4,)]),
    ("max_pool2d", lambda x: T.max_pool2d(x, 2), [(2, 6, 6, 3)]),
    ("global_avg_pool2d", lambda x: T.global_avg_pool2d(x), [(2, 5, 4, 3)]),
    ("rotate", lambda x, a: T.rotate(x, a, (1.0, -0.5)), [(2, 6, 5, 2), (2,)]),  # angles ~N(0, 1) degrees
    ("conv_transpose2d", lambda x, w, b: T.conv_transpose2d(x, w, b, 2, "same"), [(2, 3, 4, 3), (3, 3, 4, 3), (4,)]),
    ("leaky_relu", lambda x: T.leaky_relu(x, 0.2), [(4, 7)]),
    ("embedding", lambda ids, e: T.embedding(ids, e), ["i6", (6, 3)]),
    ("lstm", lambda x, k, r, b: T.lstm(x, k, r, b)[0], [(2, 3, 4), (4, 8), (2, 8), (8,)]),
    ("mse", lambda p, t: T.mse(p, t, "none"), [(3, 5), (3, 5)]),
]


@pytest.mark.parametrize("dtype", [tf.float16, tf.bfloat16], ids=["float16", "bfloat16"])
@pytest.mark.parametrize("name,fn,shapes", HALF_OPS, ids=[o[0] for o in HALF_OPS])
def test_half_tensors_cross_eagerly_and_in_graphs(name, fn, shapes, dtype):
    """float16 crosses a graph as NumPy float16, bfloat16 as its uint16 bits: both give the
    eager values and gradients bit for bit, in the input's dtype; the forward is the float32 path
    on the same (half) values, rounded once to the half dtype (the core computes in float32)."""
    if not has_ops("matmul" if name == "dense" else name):
        pytest.skip(f"kernel not landed yet: {name}")
    rng = np.random.default_rng(len(name))
    inputs = [rng.integers(0, int(s[1:]), (3, 4)).astype("int32") if isinstance(s, str)
              else tf.cast(rng.standard_normal(s).astype("float32"), dtype) for s in shapes]
    floats = [i for i, s in enumerate(shapes) if not isinstance(s, str)]

    def run(*xs):
        with tf.GradientTape() as tape:
            tape.watch([xs[i] for i in floats])
            y = fn(*xs)
            loss = tf.reduce_sum(tf.cast(y, tf.float32) ** 2)
        return y, tape.gradient(loss, [xs[i] for i in floats])

    y, g = run(*inputs)
    graph_run = tf.function(run)
    yg, gg = graph_run(*inputs)
    kinds = {op.type for op in graph_run.get_concrete_function(*inputs).graph.get_operations()}
    # one kind of crossing (stateless numpy_function, prunable); bfloat16 crosses as uint16 bits
    assert "EagerPyFunc" not in kinds and "PyFuncStateless" in kinds and ("Bitcast" in kinds) == (dtype == tf.bfloat16)
    g, gg = [a for a in g if a is not None], [a for a in gg if a is not None]  # (rotate: no d angle)
    assert y.dtype == dtype == yg.dtype and len(g) == len(gg) >= 1 and all(a.dtype == dtype for a in g + gg)
    np.testing.assert_array_equal(tf.cast(y, tf.float32).numpy(), tf.cast(yg, tf.float32).numpy())
    for a, b in zip(g, gg):
        np.testing.assert_array_equal(tf.cast(a, tf.float32).numpy(), tf.cast(b, tf.float32).numpy())
    y32 = fn(*[x if i not in floats else tf.cast(x, tf.float32) for i, x in enumerate(inputs)])
    np.testing.assert_array_equal(tf.cast(y, tf.float32).numpy(), tf.cast(tf.cast(y32, dtype), tf.float32).numpy())
