"""tk.LSTM and tk.Embedding against Keras's own layers (TF backend here; the torch backend
in a subprocess): values and gradients with the same weights, return_sequences /
return_state / initial_state, fit in graph mode, .keras round trip, refused options."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import twincore.keras as tk
from support import has, run_keras_backend


def _x(shape=(4, 6, 5), seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _maxdiff(a, b):
    return max(float(np.abs(np.asarray(p) - np.asarray(q)).max()) for p, q in zip(a, b))


@pytest.mark.parametrize("return_sequences", [True, False])
@pytest.mark.parametrize("with_state", [False, True])
def test_lstm_matches_keras_lstm(return_sequences, with_state):
    x = tf.constant(_x())
    init = [tf.constant(_x((4, 7), 1)), tf.constant(_x((4, 7), 2))] if with_state else None
    ours = tk.LSTM(7, return_sequences=return_sequences, return_state=True)
    ref = keras.layers.LSTM(7, return_sequences=return_sequences, return_state=True)
    ref(x)
    ours(x)
    assert [w.name for w in ours.weights] == ["kernel", "recurrent_kernel", "bias"]
    assert [tuple(w.shape) for w in ours.weights] == [tuple(w.shape) for w in ref.weights]
    b = np.asarray(ours.bias)
    assert (b[7:14] == 1).all() and (b[:7] == 0).all()  # unit_forget_bias, as Keras
    ref.set_weights([w + 0.1 * _x(w.shape, 9) for w in ref.get_weights()])  # away from the init
    ours.set_weights(ref.get_weights())
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        if init:
            tape.watch(init)
        outs = [ours(x, initial_state=init), ref(x, initial_state=init)]
        losses = [tf.reduce_sum(o[0] * 1.5) + tf.reduce_sum(o[1] * o[1]) + tf.reduce_sum(o[2]) for o in outs]
    assert _maxdiff(outs[0], outs[1]) < 1e-5
    srcs = lambda layer: [x] + (init or []) + layer.trainable_weights  # noqa: E731
    g0, g1 = tape.gradient(losses[0], srcs(ours)), tape.gradient(losses[1], srcs(ref))
    assert _maxdiff(g0, g1) < 2e-5


def test_fit_save_and_load_keras_file(tmp_path):
    x, y = _x((16, 6, 5)), np.arange(16) % 3
    m = keras.Sequential([keras.Input((6, 5)), tk.LSTM(8), tk.Dense(3)])
    m.compile("adam", tk.SparseCategoricalCrossentropy(from_logits=True))
    before = m.evaluate(x, y, verbose=0)
    m.fit(x, y, epochs=5, batch_size=8, verbose=0)
    assert m.evaluate(x, y, verbose=0) < before
    m.save(tmp_path / "m.keras")
    m2 = keras.models.load_model(tmp_path / "m.keras")
    assert isinstance(m2.layers[0], tk.LSTM)
    np.testing.assert_array_equal(m.predict(x, verbose=0), m2.predict(x, verbose=0))


def test_embedding_matches_keras_and_trains():
    ids = np.random.default_rng(3).integers(0, 30, size=(5, 9)).astype(np.int32)
    ours, ref = tk.Embedding(30, 4), keras.layers.Embedding(30, 4)
    ref(ids)
    ours(ids)
    assert [w.name for w in ours.weights] == ["embeddings"]
    ours.set_weights(ref.get_weights())
    w_ours, w_ref = ours.embeddings, ref.embeddings
    c = tf.constant(_x((5, 9, 4), 4))
    with tf.GradientTape(persistent=True) as tape:
        a, b = ours(ids), ref(ids)
        la, lb = tf.reduce_sum(a * c), tf.reduce_sum(b * c)
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    g_ours, g_ref = tape.gradient(la, w_ours), tf.convert_to_tensor(tape.gradient(lb, w_ref))
    np.testing.assert_allclose(np.asarray(g_ours), np.asarray(g_ref), rtol=1e-6, atol=1e-6)
    m = keras.Sequential([keras.Input((9,), dtype="int32"), tk.Embedding(30, 4), tk.LSTM(5), tk.Dense(2)])
    m.compile("adam", tk.SparseCategoricalCrossentropy(from_logits=True))
    m.fit(ids, np.arange(5) % 2, epochs=1, verbose=0)
    assert m.predict(ids, verbose=0).shape == (5, 2)


@pytest.mark.parametrize("make,arg", [
    (lambda: tk.LSTM(0), "units"),
    (lambda: tk.LSTM(4, activation="relu"), "activation"),
    (lambda: tk.LSTM(4, dropout=0.2), "dropout"),
    (lambda: tk.LSTM(4, go_backwards=True), "go_backwards"),
    (lambda: tk.LSTM(4)(np.zeros((2, 3, 4), np.int32)), "x"),
    (lambda: tk.Embedding(10, 2, mask_zero=True), "mask_zero"),
    (lambda: tk.Embedding(10, 2)(np.array([[10]])), "ids"),
])
def test_bad_arguments(make, arg):
    with pytest.raises((ValueError, TypeError)) as e:
        make()
    assert "twincore." in str(e.value) and f"'{arg}'" in str(e.value)


@pytest.mark.slow  # a fresh interpreter with Keras on torch: ~1 min on 2 busy cores
@pytest.mark.skipif(not has("torch"), reason="needs torch")
def test_torch_backend_lstm_matches_keras(tmp_path):
    code = """
import numpy as np, keras, twincore.keras as tk
x = np.random.default_rng(0).standard_normal((4, 6, 5)).astype("float32")
kw = dict(return_sequences=True, return_state=True)
ours, ref = tk.LSTM(7, **kw), keras.layers.LSTM(7, **kw)
ref(x); ours(x); ours.set_weights(ref.get_weights())
npy = keras.ops.convert_to_numpy
d = max(float(np.abs(npy(a) - npy(b)).max()) for a, b in zip(ours(x), ref(x)))
m = keras.Sequential([keras.Input((6,), dtype="int32"), tk.Embedding(20, 5), tk.LSTM(8), tk.Dense(3)])
m.compile("adam", tk.SparseCategoricalCrossentropy(from_logits=True))
ids = np.random.default_rng(1).integers(0, 20, (8, 6)).astype("int32")
m.fit(ids, np.arange(8) % 3, epochs=2, verbose=0)
m.save(r"PATH")
print("DIFF", d)
""".replace("PATH", str(tmp_path / "t.keras"))
    p = run_keras_backend("torch", ["-c", code], ok="DIFF")
    assert float(p.stdout.split("DIFF")[-1]) < 1e-5
    m = keras.models.load_model(tmp_path / "t.keras")  # saved under torch, loaded under TF
    assert m.predict(np.zeros((1, 6), np.int32), verbose=0).shape == (1, 3)
