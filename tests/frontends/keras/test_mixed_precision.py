"""Keras mixed precision (mixed_float16 / mixed_bfloat16) on Keras's TensorFlow backend: every
layer's parity with the float64 NumPy reference on half-rounded inputs and weights and with Keras's
own layer under the same policy (same weights, forward and gradients), Keras's run_layer_test with
its mixed check, the losses in float32, pure float16/bfloat16 policies, and training smoke tests of
the document CNN under both mixed policies.
The torch and JAX backends run the same run_layer_test / mixed checks in their child processes
(test_torch_backend.py, test_jax_backend.py)."""
import keras
import numpy as np
import pytest
import tensorflow as tf

import twincore.keras as tk
from twincore.frontends.keras.backend import impl
from twincore.kernels.reference import (activations, batch_norm, conv2d, conv_transpose2d, embedding,
                                        global_avg_pool2d, lstm, matmul, max_pool2d)
from twincore.testing import randn

import keras_layer_cases as cases
import keras_test_models as models
from keras_testutil import has_ops, needs

POLICIES = ("mixed_float16", "mixed_bfloat16")
HALF = {"mixed_float16": tf.float16, "mixed_bfloat16": tf.bfloat16}
EPS = {"mixed_float16": 2.0 ** -11, "mixed_bfloat16": 2.0 ** -8}  # unit roundoff of the compute dtype


def half_round(a, policy) -> np.ndarray:
    """a rounded to the policy's compute dtype, as float64."""
    return tf.cast(tf.cast(tf.constant(a), HALF[policy]), tf.float64).numpy()


def outputs_and_grads(layer, x, cot, training):
    """layer(x) and d sum(y * cot) / d (x if float, weights...) (float32 variables' reads)."""
    x = tf.constant(x)
    watch = [x] if x.dtype.is_floating else []
    with tf.GradientTape() as tape:
        tape.watch(watch)
        y = layer(x, training=training)
        loss = tf.reduce_sum(tf.cast(y, tf.float64) * cot)
    grads = tape.gradient(loss, watch + [v.value for v in layer.trainable_weights])
    return y, [np.asarray(tf.cast(tf.convert_to_tensor(g), tf.float64)) for g in grads]


def _relu(v):
    return np.maximum(v, 0.0)


# name, make(lib), input shape, ids (int input), training, NumPy float64 reference forward(x, weights)
PARITY = [
    ("Dense", lambda lib, **kw: lib.Dense(7, activation="relu", **kw), (9, 33), False, False,
     lambda x, w: _relu(matmul.matmul(x, w[0], w[1]))),
    ("Conv2D", lambda lib, **kw: lib.Conv2D(5, 3, strides=2, padding="same", activation="tanh", **kw),
     (2, 9, 8, 3), False, False, lambda x, w: np.tanh(conv2d.conv2d(x, w[0], w[1], 2, "same", layout="NHWC"))),
    ("MaxPooling2D", lambda lib, **kw: lib.MaxPooling2D(2, **kw), (2, 8, 6, 3), False, False,
     lambda x, w: max_pool2d.max_pool2d(x, 2, layout="NHWC")[0]),
    ("GlobalAveragePooling2D", lambda lib, **kw: lib.GlobalAveragePooling2D(**kw), (3, 5, 7, 4), False, False,
     lambda x, w: global_avg_pool2d.global_avg_pool2d(x, "NHWC")),
    ("Conv2DTranspose", lambda lib, **kw: lib.Conv2DTranspose(4, 3, strides=2, padding="same", **kw),
     (2, 4, 5, 3), False, False,
     lambda x, w: conv_transpose2d.conv_transpose2d(x, w[0], w[1], 2, "same", layout="NHWC")),
    ("LeakyReLU", lambda lib, **kw: lib.LeakyReLU(negative_slope=0.2, **kw), (4, 7, 3), False, False,
     lambda x, w: activations.leaky_relu(x, 0.2)),
    ("BatchNormalization", lambda lib, **kw: lib.BatchNormalization(**kw), (6, 3, 3, 4), False, True,
     lambda x, w: batch_norm.batch_norm(x, w[0], w[1], 1e-3, "NHWC")[0]),
    ("Embedding", lambda lib, **kw: lib.Embedding(11, 6, **kw), (4, 5), True, False,
     lambda x, w: embedding.embedding(x, w[0])),
    ("LSTM", lambda lib, **kw: lib.LSTM(5, return_sequences=True, **kw), (3, 6, 4), False, False,
     lambda x, w: lstm.lstm(x, w[0].T, w[1].T, w[2], batch_first=True)[0]),
]
OPS = {"Dense": ("matmul",), "Conv2D": ("conv2d",), "MaxPooling2D": ("max_pool2d",),
       "GlobalAveragePooling2D": ("global_avg_pool2d",), "Conv2DTranspose": ("conv_transpose2d",),
       "LeakyReLU": ("leaky_relu",), "BatchNormalization": ("batch_norm",), "Embedding": ("embedding",),
       "LSTM": ("lstm",)}


def _assert_near(actual, expected, bound, what):
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    assert actual.shape == expected.shape, (what, actual.shape, expected.shape)
    scale = max(1.0, float(np.max(np.abs(expected))))
    err = float(np.max(np.abs(actual - expected))) / scale
    assert err <= bound, f"{what}: max error / max(1, |ref|) = {err:.3g} > {bound:.3g}"


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("name,make,shape,ids,training,ref", PARITY, ids=[p[0] for p in PARITY])
def test_layer_parity_under_mixed_policy(name, make, shape, ids, training, ref, policy):
    if not has_ops(*OPS[name]):
        pytest.skip(f"kernel(s) not landed yet: {OPS[name]}")
    rng = np.random.default_rng(len(name))
    x = rng.integers(0, 11, shape).astype("int32") if ids else randn(shape, np.float32, seed=len(name))
    ours, native = make(tk, dtype=policy), make(keras.layers, dtype=policy)
    ours.build(x.shape)
    native.build(x.shape)
    assert [w.shape for w in ours.weights] == [w.shape for w in native.weights]
    weights = [(rng.random(w.shape) + 0.5 if "variance" in w.name else 0.5 * rng.standard_normal(w.shape))
               .astype("float32") for w in ours.weights]
    ours.set_weights(weights)
    native.set_weights(weights)
    assert all(keras.backend.standardize_dtype(w.dtype) == "float32" for w in ours.weights)

    cot = _cot(ours, x, policy)
    y, grads = outputs_and_grads(ours, x, cot, training)
    assert keras.backend.standardize_dtype(y.dtype) == ours.compute_dtype == policy.split("_")[1]
    # float64: the NumPy reference forward, Keras's own float64 layer for the gradients, both on the
    # values our op received (input and weights rounded to the compute dtype)
    xr = x if ids else half_round(x, policy)
    wr = [w if name == "BatchNormalization" else half_round(w, policy) for w in weights]  # BN: float32 weights
    _assert_near(y, ref(xr, wr), 4 * EPS[policy], "forward vs the NumPy float64 reference")
    exact = make(keras.layers, dtype="float64")
    exact.build(x.shape)
    exact.set_weights(wr)
    y64, grads64 = outputs_and_grads(exact, xr, cot, training)
    _assert_near(y64, ref(xr, wr), 1e-7, "the float64 Keras layer vs the NumPy reference")
    for i, (g, g64) in enumerate(zip(grads, grads64)):
        _assert_near(g, g64, 8 * EPS[policy], f"gradient {i} vs float64")
    # Keras's own layer under the same policy: a looser bar (its CPU kernels may accumulate in the
    # half dtype). TF without oneDNN may lack a half kernel: then the float64 references decide.
    try:
        yn, gradsn = outputs_and_grads(native, x, cot, training)
    except (tf.errors.NotFoundError, tf.errors.InvalidArgumentError, tf.errors.UnimplementedError) as e:
        print(f"Keras's own {name} under {policy} did not run on this TF build: {str(e).splitlines()[0]}")
        return
    assert keras.backend.standardize_dtype(yn.dtype) == keras.backend.standardize_dtype(y.dtype)
    _assert_near(y, yn, 16 * EPS[policy], "forward vs Keras's own")
    for i, (g, gn) in enumerate(zip(grads, gradsn)):
        _assert_near(g, gn, 32 * EPS[policy], f"gradient {i} vs Keras's own")


def _cot(layer, x, policy):
    """A random cotangent for sum(y * cot), rounded to the compute dtype (float64)."""
    shape = layer.compute_output_shape(x.shape)
    return tf.constant(half_round(randn(shape, np.float64, seed=5), policy))


@pytest.mark.parametrize("name", [c[0] for c in cases.CASES] + [c[0] for c in cases.LOSSES])
def test_keras_run_layer_test_and_mixed_checks(name):
    """Keras's own run_layer_test (its mixed_float16 check on) and the mixed_float16 /
    mixed_bfloat16 checks of keras_layer_cases, on the TensorFlow backend."""
    results = cases.run_all(tk, impl, names=[name])
    assert not [v for v in results.values() if v.startswith("skipped")], results  # TF has every op
    assert not cases.failures(results), results


@needs("softmax_cross_entropy", "mse", "mse_backward")
@pytest.mark.parametrize("policy", POLICIES)
def test_losses_compute_in_float32(policy):
    """Half logits in, float32 loss out, equal to Keras's loss (which casts to float32 too)."""
    logits = tf.cast(tf.constant(randn((13, 6), np.float32, seed=1, scale=2.0)), HALF[policy])
    labels = np.random.default_rng(2).integers(0, 6, 13)
    onehot = np.eye(6, dtype=np.float32)[labels]
    pairs = [(tk.SparseCategoricalCrossentropy(from_logits=True), keras.losses.SparseCategoricalCrossentropy(
              from_logits=True), labels),
             (tk.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1),
              keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1), onehot),
             (tk.MeanSquaredError(), keras.losses.MeanSquaredError(), onehot)]
    for ours, native, target in pairs:
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(logits)
            a, b = ours(target, logits), native(target, logits)
        assert a.dtype == tf.float32 == b.dtype
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, err_msg=type(ours).__name__)
        ga, gb = tape.gradient(a, logits), tape.gradient(b, logits)
        assert ga.dtype == HALF[policy] == gb.dtype
        np.testing.assert_allclose(tf.cast(ga, tf.float32).numpy(), tf.cast(gb, tf.float32).numpy(),
                                   atol=2 * EPS[policy] * float(tf.reduce_max(tf.abs(tf.cast(gb, tf.float32)))))


@needs("matmul", "matmul_backward", "conv2d", "conv2d_backward")
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_pure_half_policies(dtype):
    """dtype="float16"/"bfloat16" (no mixed): half variables and outputs, as Keras's own layers
    have, the float64 NumPy reference's values on the half inputs and weights, and one training
    step that keeps half weights."""
    policy = "mixed_" + dtype  # (for HALF / EPS)
    x = randn((4, 8, 8, 3), np.float32, seed=3)
    xr = half_round(x, policy)
    layers = [(lambda lib: lib.Conv2D(4, 3, padding="same", activation="relu", dtype=dtype),
              lambda w: _relu(conv2d.conv2d(xr, w[0], w[1], 1, "same", layout="NHWC"))),
             (lambda lib: lib.Dense(5, activation="tanh", dtype=dtype),
              lambda w: np.tanh(matmul.matmul(xr.reshape(-1, 3), w[0], w[1]).reshape(4, 8, 8, 5)))]
    for make, ref in layers:
        ours, native = make(tk), make(keras.layers)
        ours.build(x.shape)
        assert ours.compute_dtype == native.compute_dtype == dtype == ours.variable_dtype
        assert [keras.backend.standardize_dtype(w.dtype) for w in ours.weights] == [dtype] * 2
        ours.set_weights([randn(w.shape, np.float32, seed=i) for i, w in enumerate(ours.weights)])
        y = ours(x)
        assert keras.backend.standardize_dtype(y.dtype) == dtype
        expected = ref([tf.cast(w.value, tf.float64).numpy() for w in ours.weights])
        _assert_near(tf.cast(y, tf.float64).numpy(), expected, 4 * EPS[policy], f"{dtype} forward")
    model = keras.Sequential([keras.Input((8, 8, 3)), make(tk)])  # (the Dense)
    model.compile(keras.optimizers.SGD(0.1), "mse")
    loss = model.train_on_batch(x, randn((4, 8, 8, 5), np.float32, seed=4))
    assert np.isfinite(loss) and all(keras.backend.standardize_dtype(w.dtype) == dtype for w in model.weights)


def _loss_curve(lib, policy, x, y, init, steps=6):
    """Losses of `steps` Adam steps of the document CNN (keras_test_models.sequential) from `init`."""
    before = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        model = models.sequential(lib)
        model.set_weights(init)
        model.compile(keras.optimizers.Adam(3e-3), tk.SparseCategoricalCrossentropy(from_logits=True))
        losses = [float(model.train_on_batch(x, y)) for _ in range(steps)]
        inner = keras.Model(model.inputs, [layer.output for layer in model.layers])
        dtypes = [keras.backend.standardize_dtype(o.dtype) for o in inner(x[:2])]
        return np.array(losses), dtypes, model
    finally:
        keras.config.set_dtype_policy(before)


@needs(*models.OPS)
@pytest.mark.parametrize("policy", POLICIES)
def test_document_cnn_trains_under_mixed_policy(policy):
    """The document CNN through our layers under the mixed policy (mixed_bfloat16: the smoke test
    of issue 15; mixed_float16: Keras adds its dynamic loss scaling), a few graph-mode train steps
    from the same weights as a float32 run: losses within two roundings of the compute dtype of
    float32's, outputs in the compute dtype wherever Keras's own layers' are, float32 weights."""
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((32, 12, 12, 1)).astype("float32"), rng.integers(0, 5, 32)
    init = models.sequential(keras.layers).get_weights()
    f32, dt32, _ = _loss_curve(tk, "float32", x, y, init)
    half, dtypes, model = _loss_curve(tk, policy, x, y, init)
    compute = policy.split("_")[1]
    assert dt32 == ["float32"] * len(dt32)
    assert dtypes == [compute] * len(dtypes), dtypes  # every layer's output, as Keras's own layers'
    assert all(keras.backend.standardize_dtype(w.dtype) == "float32" for w in model.weights)
    assert f32[-1] < f32[0] and half[-1] < half[0], (f32, half)  # both learn
    # the batch-mean loss within two roundings (2 eps) of float32's at every step (measured for
    # bfloat16: 5e-4 apart, ours and Keras's own alike)
    np.testing.assert_allclose(half, f32, rtol=2 * EPS[policy])
    try:  # Keras's own layers from the same weights, where this TF build has their half kernels
        native, native_dtypes, _ = _loss_curve(keras.layers, policy, x, y, init)
    except (tf.errors.NotFoundError, tf.errors.InvalidArgumentError, tf.errors.UnimplementedError) as e:
        print(f"Keras's own CNN under {policy} did not run on this TF build: {str(e).splitlines()[0]}")
        return
    assert native_dtypes == dtypes, native_dtypes
    np.testing.assert_allclose(native, f32, rtol=2 * EPS[policy])  # (Keras's own layers land as close)
