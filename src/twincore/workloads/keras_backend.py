"""The document models through Keras: our layers (frontend "keras") or Keras's own
(frontend "keras-native", the side-by-side reference). NHWC, Keras's weight layout
(which is the canonical one). Gradients come from tf.GradientTape inside a tf.function
(on Keras's JAX backend: jax.value_and_grad over stateless_call, jitted; keras_jax.py);
the update is the trainer's (twincore's fused kernel), applied to NumPy copies that are
assigned back to the Keras variables after each step."""

from __future__ import annotations

import dataclasses
import os

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from twincore.workloads.specs import Spec  # noqa: E402


def _build(spec: Spec, ours: bool, dtype: str):
    import keras

    from twincore.frontends import keras as tk

    L = tk if ours else keras.layers
    kw = {"dtype": dtype}
    param_layers = []

    def add(layer):
        param_layers.append(layer)
        return layer

    if spec.task == "multi-io":
        a = keras.Input(spec.input_shape, name="left", dtype=dtype)
        b = keras.Input(spec.input_shape, name="right", dtype=dtype)
        ha = add(L.Dense(64, activation="relu", **kw))(keras.layers.Flatten(dtype=dtype)(a))
        hb = add(L.Dense(64, activation="relu", **kw))(keras.layers.Flatten(dtype=dtype)(b))
        h = keras.layers.Add(dtype=dtype)([ha, hb])
        r = add(L.Dense(64, activation="relu", **kw))(h)
        h = keras.layers.Add(dtype=dtype)([h, r])  # the residual connection
        out = [add(L.Dense(10, name="cls", **kw))(h), add(L.Dense(1, name="value", **kw))(h)]
        return keras.Model([a, b], out), param_layers
    x = inp = keras.Input(spec.input_shape, dtype=dtype)
    for layer in spec.layers:
        if layer.kind == "conv":
            x = add(L.Conv2D(layer.units, layer.kernel, strides=layer.stride, padding="same",
                             activation=layer.activation, **kw))(x)
        elif layer.kind == "rotconv":
            if not ours:
                raise ValueError("rotation-cnn has no Keras-layers equivalent (use --frontend keras)")
            x = add(tk.CustomConv2D(layer.units, layer.kernel, rotation_angle=layer.rotation_angle,
                                    translation_range=layer.translation_range, padding="same",
                                    activation=layer.activation, seed=0, **kw))(x)
        elif layer.kind == "maxpool":
            x = L.MaxPooling2D(layer.kernel, **kw)(x)
        elif layer.kind == "gap":
            x = L.GlobalAveragePooling2D(**kw)(x)
        elif layer.kind == "flatten":
            x = keras.layers.Flatten(dtype=dtype)(x)
        elif layer.kind == "dense":
            x = add(L.Dense(layer.units, activation=layer.activation, **kw))(x)
    return keras.Model(inp, x), param_layers


class KerasBackend:
    def __init__(self, spec: Spec, ours: bool = True, seed: int = 0, dtype: str = "float32"):
        import keras

        from twincore.frontends import keras as tk

        keras.utils.set_random_seed(seed)
        keras.config.set_floatx(np.dtype(dtype).name)  # losses and merge layers compute in floatx
        on_jax = keras.backend.backend() == "jax"  # then no TensorFlow at all (workloads/keras_jax.py)
        self.spec, self.dtype = spec, np.dtype(dtype)
        self.name = ("keras-jax" if on_jax else "keras") + ("" if ours else "-native")
        if on_jax and self.dtype == np.float64:
            import jax

            jax.config.update("jax_enable_x64", True)  # JAX truncates float64 to float32 otherwise
        # Images arrive as [N, 28, 28]: conv models see NHWC [N, 28, 28, 1], MLPs flatten them.
        self._images = spec.task == "classify" and spec.layers[0].kind in ("conv", "rotconv")
        if spec.task == "classify":
            spec = dataclasses.replace(spec, input_shape=(28, 28, 1) if self._images else (28, 28))
        self.model, layers = _build(spec, ours, self.dtype.name)
        self.vars = [v for layer in layers for v in (layer.kernel, layer.bias)]
        self.params = [np.array(v.numpy()) for v in self.vars]
        losses = tk if ours else keras.losses
        self.xent = losses.SparseCategoricalCrossentropy(from_logits=True)
        self.mse = losses.MeanSquaredError()
        if on_jax:
            from twincore.workloads.keras_jax import JaxSteps

            steps = JaxSteps(self.model, self.vars, self._loss)
            self._step = lambda x, y: steps.step(list(x) if isinstance(x, tuple) else x, y)
            self._predict = steps.predict
            return
        import tensorflow as tf

        self._step = tf.function(self._grad_step_graph)
        self._predict = tf.function(lambda x: self.model(x, training=False))
        self.tf = tf

    def _x(self, x):
        if isinstance(x, tuple):
            return tuple(np.asarray(a, self.dtype) for a in x)
        x = np.asarray(x, self.dtype)
        return x[..., None] if self._images else x

    def _loss(self, out, y):
        """(loss, logits) of the model's output (one definition for the TF and JAX steps)."""
        if self.spec.task == "multi-io":
            w = self.spec.loss_weights
            return w[0] * self.xent(y[0], out[0]) + w[1] * self.mse(y[1], out[1]), out[0]
        if self.spec.task == "regress":
            return self.mse(y, out), out
        return self.xent(y, out), out

    def _grad_step_graph(self, x, y):
        tf = self.tf
        with tf.GradientTape() as tape:
            out = self.model(list(x) if isinstance(x, tuple) else x, training=True)
            loss, logits = self._loss(out, y)
        return loss, logits, tape.gradient(loss, self.vars)

    def grad_step(self, x, y):
        y = tuple(np.asarray(a, self.dtype) if a.dtype.kind == "f" else a for a in y) if isinstance(y, tuple) \
            else (np.asarray(y, self.dtype) if y.dtype.kind == "f" else y)
        loss, logits, grads = self._step(self._x(x), y)
        labels = y[0] if isinstance(y, tuple) else y
        correct = 0 if self.spec.task == "regress" else int((np.argmax(np.asarray(logits), 1) == labels).sum())
        return float(loss), correct, [np.asarray(g) for g in grads]

    def predict(self, x):
        xs = self._x(x)
        out = self._predict(list(xs) if isinstance(xs, tuple) else xs)
        return tuple(np.asarray(o) for o in out) if isinstance(out, (list, tuple)) else np.asarray(out)

    def to_native(self, i, a):
        return np.array(a, self.dtype)

    def to_canonical(self, i, p):
        return np.array(p)

    def set_param(self, i, value):
        self.params[i][...] = value

    def zeros_like(self, p):
        return np.zeros_like(p)

    def commit(self):
        for v, p in zip(self.vars, self.params):
            v.assign(p)
