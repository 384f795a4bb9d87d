"""GradientTape semantics: accumulation, persistence, release, non-scalar targets,
unconnected sources, nested tapes, and a table of bad calls (run in a subprocess)."""

import numpy as np
import pytest

import twincore.frontends.native as tn
from twincore.testing import assert_close, run_bad_calls


def _x(shape=(3, 4), seed=0, dtype=np.float64):
    return tn.Tensor(np.random.default_rng(seed).standard_normal(shape).astype(dtype))


def test_tensor_used_twice_gets_the_sum():
    x = _x()
    with tn.GradientTape() as tape:
        tape.watch(x)
        y = tn.reduce_sum(x * x) + tn.reduce_sum(x)   # x used three times
    assert_close(tape.gradient(y, x).numpy(), 2 * x.numpy() + 1, rtol=1e-12)


def test_shared_parameter_accumulates():
    x = _x((5, 4), seed=2)
    shared = tn.Dense(4, use_bias=False, dtype="float64")
    shared(x)                                                        # builds the kernel
    w = shared.kernel
    model = tn.Sequential([shared, tn.Activation("tanh"), shared])   # the same layer twice
    with tn.GradientTape() as tape:
        loss = tn.reduce_sum(model(x))
    assert len(model.trainable_variables) == 1
    (g,) = tape.gradient(loss, model.trainable_variables)
    # by hand: y = tanh(x w) w ; dL/dw = x^T (1 w^T * (1 - h^2)) + h^T 1
    xa, wa = x.numpy(), w.numpy()
    h = np.tanh(xa @ wa)
    ones = np.ones((5, 4))
    want = xa.T @ ((ones @ wa.T) * (1 - h * h)) + h.T @ ones
    assert_close(g.numpy(), want, rtol=1e-10)


def test_variables_are_watched_and_constants_are_not():
    w, x = tn.Variable(np.ones((4, 2))), _x()
    with tn.GradientTape() as tape:
        y = tn.reduce_sum(tn.matmul(x, w))
    gw, gx = tape.gradient(y, [w, x])
    assert gx is None and gw is not None
    assert_close(gw.numpy(), np.repeat(x.numpy().sum(0)[:, None], 2, 1), rtol=1e-12)


def test_unconnected_sources():
    x, z = _x(), _x(seed=3)
    with tn.GradientTape(persistent=True) as tape:
        tape.watch([x, z])
        y = tn.reduce_sum(tn.tanh(x))
    assert tape.gradient(y, z) is None
    gz = tape.gradient(y, z, unconnected_gradients="zero")
    assert gz.shape == z.shape and not gz.numpy().any()


def test_non_scalar_target_needs_output_gradients():
    x = _x()
    with tn.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = tn.tanh(x)
    with pytest.raises(ValueError, match=r"twincore.gradient: argument 'target': is not a scalar"):
        tape.gradient(y, x)
    og = np.random.default_rng(4).standard_normal(x.shape)
    g = tape.gradient(y, x, output_gradients=og)
    assert_close(g.numpy(), og * (1 - np.tanh(x.numpy()) ** 2), rtol=1e-12)
    with pytest.raises(ValueError, match="'output_gradients'"):
        tape.gradient(y, x, output_gradients=np.ones((2, 2)))


def test_released_tape_and_persistent_tape():
    x = _x()
    with tn.GradientTape() as tape:
        tape.watch(x)
        y = tn.reduce_sum(x * x)
    g1 = tape.gradient(y, x)
    with pytest.raises(ValueError, match=r"twincore.gradient: argument 'self': .*released.*persistent=True"):
        tape.gradient(y, x)
    with tn.GradientTape(persistent=True) as ptape:
        ptape.watch(x)
        y = tn.reduce_sum(x * x)
    assert_close(ptape.gradient(y, x).numpy(), g1.numpy(), rtol=0, atol=0)
    assert_close(ptape.gradient(y, x).numpy(), g1.numpy(), rtol=0, atol=0)   # same again, not doubled
    ptape.reset()
    assert len(ptape) == 0


def test_nested_tapes_higher_order_is_a_clear_error():
    x = _x()
    with tn.GradientTape() as outer:
        outer.watch(x)
        with tn.GradientTape() as inner:
            inner.watch(x)
            y = tn.reduce_sum(x * x * x)
        with pytest.raises(ValueError, match=r"higher-order gradients are not supported"):
            inner.gradient(y, x)


def test_nested_tapes_first_order_both_work():
    x = _x()
    with tn.GradientTape() as outer:
        outer.watch(x)
        with tn.GradientTape() as inner:
            inner.watch(x)
            y = tn.reduce_sum(tn.tanh(x))
    # outside both contexts, each tape differentiates its own recording
    gi = inner.gradient(y, x)
    go = outer.gradient(y, x)
    assert_close(gi.numpy(), go.numpy(), rtol=0, atol=0)


def test_nothing_is_recorded_without_a_tape_or_outside_it():
    w = tn.Variable(np.ones((3, 3)))
    with tn.GradientTape() as tape:
        pass
    y = tn.reduce_sum(tn.matmul(_x((2, 3)), w))   # after the context: not recorded
    assert len(tape) == 0
    assert tape.gradient(y, w) is None


def test_gradient_structure_follows_sources():
    a, b = tn.Variable(np.ones(3)), tn.Variable(np.full(3, 2.0))
    with tn.GradientTape(persistent=True) as tape:
        y = tn.reduce_sum(a * b)
    d = tape.gradient(y, {"a": a, "b": b})
    assert set(d) == {"a", "b"}
    assert_close(d["a"].numpy(), b.numpy(), rtol=0)
    t = tape.gradient(y, (a, b))
    assert isinstance(t, tuple) and len(t) == 2
    both = tape.gradient(y, [a, a])      # the same source twice: two equal, separate buffers
    assert_close(both[0].numpy(), both[1].numpy(), rtol=0)
    assert both[0].numpy().ctypes.data != both[1].numpy().ctypes.data


def test_nan_in_nan_out():
    x = tn.Tensor(np.array([[1.0, np.nan], [0.5, -2.0]]))
    with tn.GradientTape() as tape:
        tape.watch(x)
        y = tn.reduce_sum(tn.tanh(x) * x)
    g = tape.gradient(y, x).numpy()
    assert np.isnan(y.item()) and np.isnan(g[0, 1]) and np.isfinite(g[1]).all()


# one line: run_bad_calls pastes it into an indented script
SETUP = ("import twincore.frontends.native as tn; x = tn.Tensor(np.ones((3, 4))); "
         "w = tn.Variable(np.ones((5, 2))); x32 = tn.Tensor(np.ones((3, 4), np.float32)); "
         "empty = tn.Tensor(np.ones((0, 4)))")

BAD = [
    ("tn.matmul(x, w)", "ValueError", "matmul", "b"),
    ("tn.matmul(x, x32)", "TypeError", "matmul", "b"),
    ("tn.matmul(tn.Tensor(np.ones(4)), w)", "ValueError", "matmul", "a"),
    ("tn.matmul(x, tn.Tensor(np.ones((4, 2))), tn.Tensor(np.ones(3)))", "ValueError", "matmul", "bias"),
    ("tn.matmul(x, tn.Tensor(np.ones((2, 2, 2))))", "ValueError", "matmul", "b"),
    ("tn.add(x, tn.Tensor(np.ones((2, 4))))", "ValueError", "add", "b"),
    ("tn.mul(x, x32)", "TypeError", "mul", "b"),
    ("tn.relu(empty)", "ValueError", "relu", "x"),
    ("tn.tanh(tn.Tensor(np.ones(3, np.int32)))", "TypeError", "tanh", "x"),
    ("tn.reshape(x, (5, -1))", "ValueError", "reshape", "shape"),
    ("tn.reshape(x, (-1, -1))", "ValueError", "reshape", "shape"),
    ("tn.reduce_sum(empty)", "ValueError", "sum", "x"),
    ("tn.mse(x, np.ones((4, 3)))", "ValueError", "mse", "target"),
    ("tn.mse(x, np.ones((3, 4)), reduction='avg')", "ValueError", "mse", "reduction"),
    ("tn.softmax_cross_entropy(x, np.array([0, 1, 4]))", "ValueError", "softmax_cross_entropy", "labels"),
    ("tn.softmax_cross_entropy(x, np.array([0, -1, 2]))", "ValueError", "softmax_cross_entropy", "labels"),
    ("tn.softmax_cross_entropy(x, np.array([0, 1]))", "ValueError", "softmax_cross_entropy", "labels"),
    ("tn.softmax_cross_entropy(x, np.array([0, 1, 2]), label_smoothing=2.0)", "ValueError", "softmax_cross_entropy", "label_smoothing"),
    ("tn.softmax_cross_entropy(tn.Tensor(np.ones(3)), np.array([0]))", "ValueError", "softmax_cross_entropy", "logits"),
    ("tn.softmax(empty)", "ValueError", "softmax", "x"),
    ("tn.GradientTape().gradient(x, 3)", "TypeError", "gradient", "sources"),
    ("tn.GradientTape().gradient(np.ones(2), x)", "TypeError", "gradient", "target"),
    ("tn.GradientTape().watch(np.ones(2))", "TypeError", "watch", "x"),
    ("tn.GradientTape().gradient(tn.reduce_sum(x), x, unconnected_gradients='nan')", "ValueError", "gradient", "unconnected_gradients"),
    ("tn.Dense(0)", "ValueError", "Dense", "units"),
    ("tn.Dense(3, activation='gelu')", "ValueError", "Dense", "activation"),
    ("tn.Variable(np.ones(3)).assign(np.ones(4))", "ValueError", "assign", "value"),
    ("tn.Adam(learning_rate=-1)", "ValueError", "optimizer", "learning_rate"),
]


def test_bad_calls_raise_clear_errors():
    run_bad_calls(BAD, setup=SETUP)
