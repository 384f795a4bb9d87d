"""The Keras layers and losses against Keras's own (same weights, same results),
their initialisation, weight names, configs, XLA and dtype-policy handling."""
import keras
import numpy as np
import pytest
import tensorflow as tf

import twincore.keras as tk
from twincore.testing import randn

from twincore.frontends.keras import tf_ops as T

from keras_testutil import assert_allclose, has_ops, needs


def outputs_and_grads(layer, x, training=False):
    """layer(x) and d sum(y * w) / d (x, weights...), w random."""
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x, training=training) if training else layer(x)
        w = tf.constant(np.random.default_rng(3).standard_normal(y.shape), y.dtype)
        loss = tf.reduce_sum(y * w)
    grads = tape.gradient(loss, [x] + [v.value for v in layer.trainable_weights])
    return y.numpy(), [g.numpy() for g in grads]


def same_as_keras(ours, native, x, dtype="float32", scale=1.0):
    native.build(x.shape)
    ours.build(x.shape)
    assert [w.shape for w in ours.weights] == [w.shape for w in native.weights]
    ours.set_weights(native.get_weights())
    y, g = outputs_and_grads(ours, x)
    yn, gn = outputs_and_grads(native, x)
    assert_allclose(y, yn, dtype, "forward", scale)
    for i, (a, b) in enumerate(zip(g, gn)):
        assert_allclose(a, b, dtype, f"gradient {i}", scale)


@needs("matmul", "matmul_backward")
@pytest.mark.parametrize("activation", [None, "relu", "tanh", "softmax", "sigmoid"])
@pytest.mark.parametrize("shape", [(1, 3), (17, 127), (5, 3, 17)])
def test_dense_matches_keras(activation, shape):
    if activation == "softmax" and not has_ops("softmax", "softmax_backward"):
        pytest.skip("softmax kernel not landed yet")
    x = randn(shape, np.float32, seed=shape[-1])
    same_as_keras(tk.Dense(7, activation=activation), keras.layers.Dense(7, activation=activation), x)


@needs("matmul", "matmul_backward")
def test_dense_with_a_user_activation():
    def scaled_square(v):
        return 0.5 * v * v

    x = randn((5, 3), np.float32, seed=4)
    same_as_keras(tk.Dense(4, activation=scaled_square), keras.layers.Dense(4, activation=scaled_square), x)


@needs("matmul", "matmul_backward")
def test_dense_float64_and_no_bias():
    x = randn((4, 5), np.float64, seed=1)
    same_as_keras(tk.Dense(3, use_bias=False, dtype="float64"), keras.layers.Dense(3, use_bias=False, dtype="float64"),
                  x, "float64")


@needs("conv2d", "conv2d_backward")
@pytest.mark.parametrize("filters,k,strides,padding,activation", [
    (1, 1, 1, "valid", None), (4, 3, 1, "same", "relu"), (5, 3, 2, "same", "tanh"), (3, (3, 2), (2, 1), "valid", None),
    (2, 5, 3, "same", "sigmoid")])
def test_conv2d_matches_keras(filters, k, strides, padding, activation):
    x = randn((2, 13, 11, 3), np.float32, seed=filters)
    kw = dict(strides=strides, padding=padding, activation=activation)
    same_as_keras(tk.Conv2D(filters, k, **kw), keras.layers.Conv2D(filters, k, **kw), x, scale=3.0)


@needs("conv2d", "conv2d_backward")
def test_conv2d_dilation_forward_matches_keras():
    # TF's CPU Conv2D cannot differentiate dilated convolutions: forward parity here,
    # the dilated backward is checked against atrous_conv2d in test_tf_ops.
    x = tf.constant(randn((2, 12, 12, 3), np.float32, seed=1))
    ours, native = tk.Conv2D(4, 3, dilation_rate=2, padding="same"), keras.layers.Conv2D(4, 3, dilation_rate=2, padding="same")
    native.build(x.shape), ours.build(x.shape)
    ours.set_weights(native.get_weights())
    assert_allclose(ours(x), native(x), "float32", scale=3.0)


@needs("max_pool2d", "max_pool2d_backward")
@pytest.mark.parametrize("pool,strides,padding", [(2, None, "valid"), (3, 2, "same"), ((2, 3), (1, 2), "valid")])
def test_max_pooling_matches_keras(pool, strides, padding):
    x = randn((2, 9, 10, 3), np.float32, seed=2)
    kw = dict(pool_size=pool, strides=strides, padding=padding)
    same_as_keras(tk.MaxPooling2D(**kw), keras.layers.MaxPooling2D(**kw), x)


@needs("global_avg_pool2d", "global_avg_pool2d_backward")
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_global_average_pooling_matches_keras(keepdims, data_format):
    x = randn((3, 5, 7, 4), np.float32, seed=3)
    kw = dict(keepdims=keepdims, data_format=data_format)
    same_as_keras(tk.GlobalAveragePooling2D(**kw), keras.layers.GlobalAveragePooling2D(**kw), x)


def test_initialisation_and_weight_names_as_keras():
    # Keras draws an initializer's seed when the layer is made: seed, make, build, twice.
    for ours, native, shape in ((lambda: tk.Dense(7), lambda: keras.layers.Dense(7), (None, 5)),
                                (lambda: tk.Conv2D(4, 3), lambda: keras.layers.Conv2D(4, 3), (None, 8, 8, 3)),
                                (lambda: tk.RotationConv2D(4, 3, rotation_angle=30, translation_range=2),
                                 lambda: keras.layers.Conv2D(4, 3), (None, 8, 8, 3))):
        keras.utils.set_random_seed(11)
        ours = ours()
        ours.build(shape)
        keras.utils.set_random_seed(11)
        native = native()
        native.build(shape)
        assert [w.name for w in ours.trainable_weights] == ["kernel", "bias"]
        for a, b in zip(ours.trainable_weights, native.trainable_weights):
            assert a.shape == b.shape
            np.testing.assert_array_equal(a.numpy(), b.numpy())  # glorot_uniform kernel, zero bias
        assert not np.any(ours.bias.numpy()) and np.std(ours.kernel.numpy()) > 0


def test_configs_round_trip():
    layers = [tk.Dense(7, activation="relu", use_bias=False, kernel_initializer="he_normal", name="d"),
              tk.Conv2D(4, (3, 2), strides=2, padding="same", dilation_rate=1, activation="tanh"),
              tk.MaxPooling2D(3, 2, "same"), tk.GlobalAveragePooling2D(keepdims=True),
              tk.RotationConv2D(8, 3, rotation_angle=30, translation_range=10, seed=5, fill_mode="reflect")]
    for layer in layers:
        cfg = layer.get_config()
        again = type(layer).from_config(cfg)
        assert again.get_config() == cfg
        ser = keras.saving.serialize_keras_object(layer)
        assert ser["registered_name"] == "twincore>" + type(layer).__name__
        assert keras.saving.deserialize_keras_object(ser).get_config() == cfg
    for loss in (tk.SparseCategoricalCrossentropy(from_logits=True, ignore_class=3),
                 tk.CategoricalCrossentropy(label_smoothing=0.1), tk.MeanSquaredError()):
        again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
        assert type(again) is type(loss) and again.get_config() == loss.get_config()


def test_no_xla_and_dtype_policies():
    assert not tk.Dense(3).supports_jit
    model = keras.Sequential([keras.Input((4,)), tk.Dense(3)])
    model.compile("adam", "mse", jit_compile="auto")
    assert model.jit_compile is False
    with pytest.warns(UserWarning, match="jit_compile"):
        model.compile("adam", "mse", jit_compile=True)
    assert model.jit_compile is False
    # mixed policies (the global one or the layer's): float32 variables, half compute
    # (test_mixed_precision.py checks what they compute)
    before = keras.config.dtype_policy()
    try:
        keras.config.set_dtype_policy("mixed_float16")
        layer = tk.Dense(3)
        assert (layer.compute_dtype, layer.variable_dtype) == ("float16", "float32")
    finally:
        keras.config.set_dtype_policy(before)
    assert tk.Conv2D(3, 3, dtype="mixed_bfloat16").compute_dtype == "bfloat16"
    # a compute dtype the core has no kernels for is refused by name
    with pytest.raises(ValueError, match=r"twincore.Conv2D: argument 'dtype': .*int32"):
        tk.Conv2D(3, 3, dtype="int32")


# ---- RotationConv2D (alias CustomConv2D) ------------------------------------------------------------------

@needs("conv2d", "conv2d_backward", "rotate", "rotate_backward")
def test_custom_conv2d_inference_convolves_only_training_rotates():
    x = tf.constant(randn((4, 12, 12, 2), np.float32, seed=4))
    ours = tk.RotationConv2D(3, 3, rotation_angle=30, translation_range=3, padding="same", seed=9)
    plain = tk.Conv2D(3, 3, padding="same")
    ours.build(x.shape), plain.build(x.shape)
    plain.set_weights(ours.get_weights())
    assert_allclose(ours(x), plain(x), "float32")
    assert_allclose(ours(x, training=False), plain(x), "float32")
    # training: the same draws (a fresh SeedGenerator with the same seed) rotate, then convolve
    gen = keras.random.SeedGenerator(9)
    angle = keras.random.uniform((4,), -30.0, 30.0, seed=gen)
    shift = keras.random.uniform((4, 2), -3.0, 3.0, seed=gen)
    y = ours(x, training=True)
    assert (np.abs(angle.numpy()) <= 30).all() and (np.abs(shift.numpy()) <= 3).all()
    assert_allclose(y, plain(T.rotate(x, angle, shift)), "float32")
    assert np.abs(y.numpy() - plain(x).numpy()).max() > 1e-3  # it did rotate
    # zero range: training is plain convolution too
    still = tk.RotationConv2D(3, 3, padding="same")
    still.build(x.shape)
    still.set_weights(ours.get_weights())
    assert_allclose(still(x, training=True), plain(x), "float32")


# ---- losses ------------------------------------------------------------------------

def loss_and_grad(loss, y_true, y_pred, sample_weight=None):
    y_pred = tf.constant(y_pred)
    with tf.GradientTape() as tape:
        tape.watch(y_pred)
        value = loss(y_true, y_pred, sample_weight=sample_weight)
        total = tf.reduce_sum(value)
    return value.numpy(), tape.gradient(total, y_pred).numpy()


@needs("softmax_cross_entropy")
@pytest.mark.parametrize("from_logits", [True, False])
@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum", None])
@pytest.mark.parametrize("label_shape", ["flat", "column"])
def test_sparse_categorical_crossentropy_matches_keras(from_logits, reduction, label_shape):
    rng = np.random.default_rng(5)
    logits = randn((17, 10), np.float32, seed=6, scale=2.0)
    y_pred = logits if from_logits else tf.nn.softmax(logits).numpy()
    y_true = rng.integers(0, 10, (17,) if label_shape == "flat" else (17, 1)).astype(np.float32)
    weights = rng.random(17).astype(np.float32)
    kw = dict(from_logits=from_logits, reduction=reduction)
    for sw in (None, weights):
        a = loss_and_grad(tk.SparseCategoricalCrossentropy(**kw), y_true, y_pred, sw)
        b = loss_and_grad(keras.losses.SparseCategoricalCrossentropy(**kw), y_true, y_pred, sw)
        for u, v in zip(a, b):
            np.testing.assert_allclose(u, v, rtol=2e-5, atol=2e-6)


@needs("softmax_cross_entropy")
def test_sparse_categorical_crossentropy_ignore_class_and_smoothing():
    logits = randn((9, 4), np.float32, seed=7)
    y_true = np.array([0, 1, 2, 3, 3, 2, 1, 0, 3], np.float32)
    a = loss_and_grad(tk.SparseCategoricalCrossentropy(from_logits=True, ignore_class=3), y_true, logits)
    b = loss_and_grad(keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=3), y_true, logits)
    for u, v in zip(a, b):
        np.testing.assert_allclose(u, v, rtol=2e-5, atol=2e-6)
    onehot = np.eye(4, dtype=np.float32)[y_true.astype(int)]
    a = loss_and_grad(tk.SparseCategoricalCrossentropy(from_logits=True, label_smoothing=0.2), y_true, logits)
    b = loss_and_grad(keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.2), onehot, logits)
    for u, v in zip(a, b):
        np.testing.assert_allclose(u, v, rtol=2e-5, atol=2e-6)


@needs("softmax_cross_entropy")
@pytest.mark.parametrize("from_logits", [True, False])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
def test_categorical_crossentropy_matches_keras(from_logits, label_smoothing):
    logits = randn((3, 17, 5), np.float32, seed=8, scale=2.0)  # a leading axis to fold
    y_pred = logits if from_logits else tf.nn.softmax(logits).numpy()
    p = np.random.default_rng(9).random((3, 17, 5)).astype(np.float32)
    y_true = p / p.sum(-1, keepdims=True)
    kw = dict(from_logits=from_logits, label_smoothing=label_smoothing)
    a = loss_and_grad(tk.CategoricalCrossentropy(**kw), y_true, y_pred)
    b = loss_and_grad(keras.losses.CategoricalCrossentropy(**kw), y_true, y_pred)
    for u, v in zip(a, b):
        np.testing.assert_allclose(u, v, rtol=2e-5, atol=2e-6)


@needs("mse", "mse_backward")
def test_mean_squared_error_matches_keras():
    y_pred, y_true = randn((17, 3), np.float32, seed=1), randn((17, 3), np.float32, seed=2)
    a = loss_and_grad(tk.MeanSquaredError(), y_true, y_pred)
    b = loss_and_grad(keras.losses.MeanSquaredError(), y_true, y_pred)
    for u, v in zip(a, b):
        np.testing.assert_allclose(u, v, rtol=2e-5, atol=2e-6)


def test_custom_conv2d_is_the_rotation_layer_under_the_source_notes_name(tmp_path):
    """CustomConv2D (the source notes' name) is RotationConv2D; .keras files saved under
    either name load back as that class with the same weights."""
    import keras

    assert issubclass(tk.CustomConv2D, tk.RotationConv2D)
    with pytest.raises(ValueError, match="RotationConv2D.*rotation_angle"):
        tk.CustomConv2D(4, 3, rotation_angle=-1)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 9, 9, 1)).astype("float32")
    for cls in (tk.CustomConv2D, tk.RotationConv2D):
        model = keras.Sequential([keras.Input((9, 9, 1)), cls(4, 3, rotation_angle=30, translation_range=2, seed=1)])
        path = tmp_path / f"{cls.__name__}.keras"
        model.save(path)
        back = keras.models.load_model(path)
        assert type(back.layers[0]) is cls
        np.testing.assert_array_equal(np.asarray(back(x)), np.asarray(model(x)))
