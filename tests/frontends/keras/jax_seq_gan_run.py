"""Run by test_jax_backend.py in a subprocess with KERAS_BACKEND=jax:

    python jax_seq_gan_run.py OUT_DIR

The sequence and GAN layers (issue 16) on Keras's JAX backend through twincore.jax's ops:
LSTM, Embedding, LeakyReLU, Conv2DTranspose, BatchNormalization (training: outputs and the
moving statistics; inference) and the BinaryCrossentropy loss, each against Keras's own
layer / loss with the same weights: outputs and gradients (inputs and weights) under
jax.jit(jax.grad) over stateless_call. Then Keras's run_layer_test (float32) for the five
layers, and a small generator + discriminator stack fitted with model.fit (Keras jits the
step), and an Embedding -> LSTM -> Dense model; both are saved to OUT_DIR (gan_stack.keras,
seq_model.keras) with their predictions (*_pred.npy on *_x.npy) for the TF side to load.
Prints "jax seq gan ok" when every check passed; raises otherwise.
"""
import inspect
import os
import sys

assert os.environ.get("KERAS_BACKEND") == "jax"

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras.src import testing  # noqa: E402

import twincore.keras as tk  # noqa: E402

assert keras.backend.backend() == "jax" and tk.BACKEND == "jax"
RNG = np.random.default_rng(0)


def out_and_grads(layer, x, training=False):
    """(y, d sum(y * r) / d (x if float, trainable weights), new non-trainable values), jitted."""
    tv = [v.value for v in layer.trainable_variables]
    ntv = [v.value for v in layer.non_trainable_variables]
    y0 = layer(x, training=training)
    y0 = y0[0] if isinstance(y0, (list, tuple)) else y0
    r = jnp.asarray(np.random.default_rng(7).standard_normal(y0.shape), y0.dtype)  # the same for both layers
    float_x = np.issubdtype(x.dtype, np.floating)

    kw = {"training": training} if "training" in inspect.signature(layer.call).parameters else {}

    def loss(tv, x):
        y, new_ntv = layer.stateless_call(tv, ntv, x, **kw)
        y = y[0] if isinstance(y, (list, tuple)) else y
        return jnp.sum(y * r), (y, new_ntv)

    argnums = (0, 1) if float_x else 0
    grads, (y, new_ntv) = jax.jit(jax.grad(loss, argnums=argnums, has_aux=True))(tv, x)
    gw, gx = (grads[0], [grads[1]]) if float_x else (grads, [])
    return np.asarray(y), [np.asarray(g) for g in gx + list(gw)], [np.asarray(v) for v in new_ntv]


def same_weights(ours, native, x):
    native.build(x.shape)
    ours.build(x.shape)
    assert [tuple(w.shape) for w in ours.weights] == [tuple(w.shape) for w in native.weights], (ours, native)
    ws = [w + 0.1 * RNG.standard_normal(w.shape).astype(w.dtype) for w in native.get_weights()]
    ours.set_weights(ws)
    native.set_weights(ws)


def compare(name, ours, native, x, training=False, rtol=2e-5, atol=2e-5):
    same_weights(ours, native, x)
    y, g, s = out_and_grads(ours, x, training)
    yn, gn, sn = out_and_grads(native, x, training)
    np.testing.assert_allclose(y, yn, rtol=rtol, atol=atol, err_msg=f"{name}: forward")
    assert len(g) == len(gn), name
    for i, (a, b) in enumerate(zip(g, gn)):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=f"{name}: gradient {i}")
    for i, (a, b) in enumerate(zip(s, sn)):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=f"{name}: state {i}")
    print(f"{name}: matches Keras's own on JAX")


f32 = np.float32
seq = RNG.standard_normal((3, 6, 4)).astype(f32)
img = RNG.standard_normal((3, 5, 6, 4)).astype(f32)
for rs in (True, False):
    compare(f"LSTM(return_sequences={rs})", tk.LSTM(5, return_sequences=rs), keras.layers.LSTM(5, return_sequences=rs),
            seq)
compare("Embedding", tk.Embedding(11, 4), keras.layers.Embedding(11, 4), RNG.integers(0, 11, (3, 7)).astype(np.int32))
compare("LeakyReLU", tk.LeakyReLU(negative_slope=0.2), keras.layers.LeakyReLU(negative_slope=0.2), img * 3)
for kw in (dict(strides=2, padding="same"), dict(strides=2, padding="valid", output_padding=1, activation="tanh")):
    compare(f"Conv2DTranspose({kw})", tk.Conv2DTranspose(3, 3, **kw), keras.layers.Conv2DTranspose(3, 3, **kw), img)
for training in (True, False):
    for x in (img, seq[:, 0]):
        compare(f"BatchNormalization(training={training}, rank {x.ndim})", tk.BatchNormalization(momentum=0.9),
                keras.layers.BatchNormalization(momentum=0.9), x * 2 + 1, training=training, rtol=1e-4, atol=1e-4)

# the loss: value and gradient against keras.losses.BinaryCrossentropy
y_true = (RNG.random((6, 3)) > 0.5).astype(f32)
for kw in (dict(from_logits=True), dict(from_logits=True, label_smoothing=0.2), dict(from_logits=False)):
    logits = RNG.standard_normal((6, 3)).astype(f32) * 2
    pred = logits if kw["from_logits"] else np.asarray(jax.nn.sigmoid(logits))
    ours, native = tk.BinaryCrossentropy(**kw), keras.losses.BinaryCrossentropy(**kw)
    a = jax.jit(jax.value_and_grad(lambda p: ours(y_true, p)))(pred)
    b = jax.jit(jax.value_and_grad(lambda p: native(y_true, p)))(pred)
    np.testing.assert_allclose(a[0], b[0], rtol=2e-5, err_msg=f"BinaryCrossentropy({kw}) value")
    np.testing.assert_allclose(a[1], b[1], rtol=2e-4, atol=1e-6, err_msg=f"BinaryCrossentropy({kw}) gradient")
    print(f"BinaryCrossentropy({kw}): matches Keras's own on JAX")


class _Case(testing.TestCase):
    def runTest(self):  # noqa: N802 (unittest's name)
        pass


LAYERS = {  # name: (class, kwargs, input shape, input dtype, output shape, trainable, non-trainable weights)
    "LSTM": (tk.LSTM, {"units": 3}, (2, 4, 2), "float32", (2, 3), 3, 0),
    "Embedding": (tk.Embedding, {"input_dim": 5, "output_dim": 3}, (2, 4), "int32", (2, 4, 3), 1, 0),
    "LeakyReLU": (tk.LeakyReLU, {"negative_slope": 0.2}, (2, 3, 4), "float32", (2, 3, 4), 0, 0),
    "Conv2DTranspose": (tk.Conv2DTranspose, {"filters": 3, "kernel_size": 3, "strides": 2, "padding": "same"},
                        (2, 4, 4, 2), "float32", (2, 8, 8, 3), 2, 0),
    "BatchNormalization": (tk.BatchNormalization, {}, (2, 4, 4, 3), "float32", (2, 4, 4, 3), 2, 2),
}
for name, (cls, kwargs, shape, dt, out_shape, n_tr, n_ntr) in LAYERS.items():
    case = _Case()
    case.setUp()
    case.run_layer_test(cls, kwargs, input_shape=shape, input_dtype=dt, expected_output_shape=out_shape,
                        expected_num_trainable_weights=n_tr, expected_num_non_trainable_weights=n_ntr,
                        expected_num_seed_generators=0, supports_masking=None,
                        run_mixed_precision_check=False)
    print(f"{name}: Keras's run_layer_test passed on JAX")

# a small GAN-like stack (generator layers, then a discriminator) trained by model.fit, jitted
keras.utils.set_random_seed(1)
z = RNG.standard_normal((64, 8)).astype(f32)
labels = (RNG.random((64, 1)) > 0.5).astype(f32)
model = keras.Sequential([keras.Input((8,)), tk.Dense(4 * 4 * 6), keras.layers.Reshape((4, 4, 6)),
                          tk.BatchNormalization(momentum=0.9), keras.layers.Activation("relu"),
                          tk.Conv2DTranspose(3, 3, strides=2, padding="same"), tk.LeakyReLU(negative_slope=0.2),
                          tk.Conv2D(4, 3, strides=2, padding="same"), tk.LeakyReLU(negative_slope=0.2),
                          keras.layers.Flatten(), tk.Dense(1)])
model.compile(optimizer=keras.optimizers.Adam(1e-2), loss=tk.BinaryCrossentropy(from_logits=True),
              jit_compile="auto")
hist = model.fit(z, labels, batch_size=16, epochs=4, verbose=0, shuffle=False).history["loss"]
assert model.jit_compile is True
assert np.isfinite(hist).all() and hist[-1] < hist[0], hist
moving = np.asarray(model.layers[2].moving_variance.value)
assert not np.allclose(moving, 1.0), "BatchNormalization's moving statistics were not updated"
print(f"GAN-like stack: model.fit (jitted) loss {hist[0]:.4f} -> {hist[-1]:.4f}")

seq_model = keras.Sequential([keras.Input((7,), dtype="int32"), tk.Embedding(11, 4), tk.LSTM(5), tk.Dense(3)])
seq_x = RNG.integers(0, 11, (16, 7)).astype(np.int32)
seq_model.compile(optimizer="adam", loss=tk.SparseCategoricalCrossentropy(from_logits=True))
seq_model.fit(seq_x, RNG.integers(0, 3, 16), batch_size=8, epochs=1, verbose=0)
out = sys.argv[1]
for name, m, x in (("gan_stack", model, z), ("seq_model", seq_model, seq_x)):
    m.save(os.path.join(out, f"{name}.keras"))
    np.save(os.path.join(out, f"{name}_x.npy"), x)
    np.save(os.path.join(out, f"{name}_pred.npy"), m.predict(x, verbose=0))
    again = keras.models.load_model(os.path.join(out, f"{name}.keras"))
    np.testing.assert_allclose(again.predict(x, verbose=0), np.load(os.path.join(out, f"{name}_pred.npy")),
                               rtol=1e-6, atol=1e-6, err_msg=f"{name}: .keras round trip on JAX")
print("jax seq gan ok")
sys.exit(0)
