"""The GAN layers and loss of the Keras frontend (issue 16) against Keras's own:
Conv2DTranspose, LeakyReLU, BinaryCrossentropy; a .keras round trip; and the same layers on
Keras's torch backend (in a subprocess, since the backend is fixed at import)."""
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

import twincore.keras as tk
from twincore.testing import randn

from keras_testutil import assert_allclose
from support import run_keras_backend


def outputs_and_grads(layer, x):
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x)
        w = tf.constant(np.random.default_rng(3).standard_normal(y.shape), y.dtype)
        loss = tf.reduce_sum(y * w)
    grads = tape.gradient(loss, [x] + [v.value for v in layer.trainable_weights])
    return y.numpy(), [g.numpy() for g in grads]


@pytest.mark.parametrize("kw", [dict(strides=2, padding="same"), dict(strides=2, padding="valid"),
                                dict(strides=1, padding="same", activation="tanh"),
                                dict(strides=2, padding="same", output_padding=1, use_bias=False),
                                dict(strides=3, padding="valid", output_padding=2, activation="relu")])
def test_conv2d_transpose_matches_keras(kw):
    x = randn((3, 5, 6, 4), np.float32, seed=1)
    ours, native = tk.Conv2DTranspose(7, 3, **kw), keras.layers.Conv2DTranspose(7, 3, **kw)
    native.build(x.shape)
    ours.build(x.shape)
    assert [w.shape for w in ours.weights] == [w.shape for w in native.weights]
    assert [w.name for w in ours.weights] == [w.name for w in native.weights]
    ours.set_weights([w + 0.1 * np.random.default_rng(0).standard_normal(w.shape).astype(w.dtype)
                      for w in native.get_weights()])
    native.set_weights(ours.get_weights())
    y, g = outputs_and_grads(ours, x)
    yn, gn = outputs_and_grads(native, x)
    assert y.shape == yn.shape == ours.compute_output_shape(x.shape)
    assert_allclose(y, yn, "float32", "forward")
    for i, (a, b) in enumerate(zip(g, gn)):
        assert_allclose(a, b, "float32", f"gradient {i}")


def test_leaky_relu_matches_keras():
    x = randn((4, 7, 3), np.float32, seed=2, scale=3.0)
    for slope in (0.3, 0.2):
        y, (g,) = outputs_and_grads(tk.LeakyReLU(negative_slope=slope), x)
        yn, (gn,) = outputs_and_grads(keras.layers.LeakyReLU(negative_slope=slope), x)
        np.testing.assert_allclose(y, yn, rtol=1e-6)
        np.testing.assert_allclose(g, gn, rtol=1e-6)
    with pytest.raises(ValueError, match="twincore.LeakyReLU: argument 'negative_slope'"):
        tk.LeakyReLU(negative_slope=-1.0)


@pytest.mark.parametrize("from_logits", [True, False])
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_binary_crossentropy_matches_keras(from_logits, smoothing):
    logits = randn((16, 3), np.float32, seed=4, scale=3.0)
    y_pred = tf.constant(logits if from_logits else tf.sigmoid(logits).numpy())
    y_true = tf.constant(np.random.default_rng(5).integers(0, 2, (16, 3)).astype(np.float32))
    ours = tk.BinaryCrossentropy(from_logits=from_logits, label_smoothing=smoothing)
    native = keras.losses.BinaryCrossentropy(from_logits=from_logits, label_smoothing=smoothing)
    out = []
    for fn in (ours, native):
        with tf.GradientTape() as tape:
            tape.watch(y_pred)
            loss = fn(y_true, y_pred)
        out.append((loss.numpy(), tape.gradient(loss, y_pred).numpy()))
    tol = 1e-6 if from_logits else 1e-4  # probabilities: Keras adds epsilon inside its logs
    np.testing.assert_allclose(out[0][0], out[1][0], rtol=tol)
    np.testing.assert_allclose(out[0][1], out[1][1], rtol=tol, atol=1e-7)
    assert tk.BinaryCrossentropy.from_config(ours.get_config()).label_smoothing == smoothing


def test_generator_saves_and_loads_as_keras_file(tmp_path):
    inp = keras.Input((8,))
    h = keras.layers.Dense(7 * 7 * 4)(inp)
    h = keras.layers.Reshape((7, 7, 4))(h)
    h = tk.LeakyReLU(0.2)(tk.BatchNormalization(momentum=0.8)(h))
    out = tk.Conv2DTranspose(1, 4, strides=2, padding="same", activation="tanh")(h)
    model = keras.Model(inp, out)
    model.compile("adam", tk.BinaryCrossentropy(from_logits=True))
    z = randn((5, 8), np.float32, seed=1)
    model.fit(z, np.ones((5, 14, 14, 1), np.float32), epochs=1, verbose=0)
    model.save(tmp_path / "g.keras")
    loaded = keras.models.load_model(tmp_path / "g.keras")
    assert isinstance(loaded.layers[-1], tk.Conv2DTranspose) and isinstance(loaded.layers[-2], tk.LeakyReLU)
    assert isinstance(loaded.layers[-3], tk.BatchNormalization) and loaded.layers[-3].momentum == 0.8
    np.testing.assert_array_equal(loaded.layers[-3].moving_variance.numpy(), model.layers[-3].moving_variance.numpy())
    np.testing.assert_array_equal(loaded.predict(z, verbose=0), model.predict(z, verbose=0))


def test_same_layers_on_keras_torch_backend():
    script = textwrap.dedent("""
        import keras, numpy as np
        import twincore.keras as tk
        assert keras.backend.backend() == "torch"
        x = np.random.default_rng(0).standard_normal((4, 5, 5, 3)).astype("float32")
        ours, native = tk.Conv2DTranspose(2, 4, strides=2, padding="same"), keras.layers.Conv2DTranspose(
            2, 4, strides=2, padding="same")
        ours.build(x.shape); native.build(x.shape); ours.set_weights(native.get_weights())
        np.testing.assert_allclose(np.asarray(ours(x).detach()), np.asarray(native(x).detach()), rtol=1e-5, atol=1e-5)
        inp = keras.Input((5, 5, 3))
        h = tk.LeakyReLU(0.2)(tk.Conv2DTranspose(2, 4, strides=2, padding="same")(inp))
        model = keras.Model(inp, keras.layers.Dense(1)(keras.layers.Flatten()(h)))
        model.compile("adam", tk.BinaryCrossentropy(from_logits=True))
        hist = model.fit(x, np.ones((4, 1), "float32"), epochs=2, verbose=0)
        assert np.isfinite(hist.history["loss"]).all()
        print("ok")
    """)
    run_keras_backend("torch", ["-c", script], ok="ok", timeout=300)


def test_batch_normalization_matches_keras_in_training_and_inference():
    x = tf.constant(randn((8, 4, 4, 3), np.float32, seed=6, scale=2.0) + np.float32(1.0))
    ours, native = tk.BatchNormalization(momentum=0.9), keras.layers.BatchNormalization(momentum=0.9)
    ours.build(x.shape)
    native.build(x.shape)
    assert [w.name for w in ours.weights] == [w.name for w in native.weights]
    out = []
    for layer in (ours, native):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=True)
            loss = tf.reduce_sum(y * y * x)
        out.append([y.numpy()] + [g.numpy() for g in tape.gradient(loss, [x] + layer.trainable_weights)])
        out[-1] += [layer.moving_mean.numpy(), layer.moving_variance.numpy(), layer(x, training=False).numpy()]
    for a, b in zip(*out):
        np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-4)
    graph = tf.function(lambda x: ours(x, training=True))
    graph(x)  # the moving averages update inside a tf.function too
    np.testing.assert_allclose(ours.moving_mean.numpy(), native.moving_mean.numpy() * 0.9 + 0.1 * tf.reduce_mean(
        x, axis=(0, 1, 2)).numpy(), rtol=1e-5, atol=1e-6)
