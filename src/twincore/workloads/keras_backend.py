"""The document models through Keras: our layers (frontend "keras") or Keras's own
(frontend "keras-native", the side-by-side reference). NHWC, Keras's weight layout
(which is the canonical one). Gradients come from tf.GradientTape inside a tf.function
(on Keras's JAX backend: jax.value_and_grad over stateless_call, jitted; keras_jax.py);
the update is the trainer's (twincore's fused kernel), applied to NumPy copies that are
assigned back to the Keras variables after each step.

On Keras's torch backend (KERAS_BACKEND=torch; the GPU machine has no TensorFlow) nothing
imports TensorFlow: gradients come from torch.autograd, the parameters ARE the Keras
variables' torch tensors (updated in place by the trainer's kernel, no copies), and with
device="cuda" the whole step stays on the GPU, returning device scalars as TorchBackend."""

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
    x = inp = keras.Input(spec.input_shape, dtype="int32" if spec.task == "text" else dtype)
    for layer in spec.layers:
        if layer.kind == "conv":
            x = add(L.Conv2D(layer.units, layer.kernel, strides=layer.stride, padding="same",
                             activation=layer.activation, **kw))(x)
        elif layer.kind == "rotconv":
            if not ours:
                raise ValueError("rotation-cnn has no Keras-layers equivalent (use --frontend keras)")
            x = add(tk.RotationConv2D(layer.units, layer.kernel, rotation_angle=layer.rotation_angle,
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
        elif layer.kind == "lstm":  # returns the last h; weights kernel, recurrent_kernel, bias
            x = add(L.LSTM(layer.units, **kw))(x)
        elif layer.kind == "embedding":
            x = add(L.Embedding(layer.vocab, layer.units, **kw))(x)
    return keras.Model(inp, x), param_layers


class KerasBackend:
    def __init__(self, spec: Spec, ours: bool = True, seed: int = 0, dtype: str = "float32", device: str = "cpu"):
        import keras

        from twincore.frontends import keras as tk

        self.torch = keras.backend.backend() == "torch"
        if device != "cpu" and not self.torch:
            raise ValueError(f"keras on device {device!r} needs KERAS_BACKEND=torch")
        self.device = device
        if self.torch:  # keras.utils.set_random_seed would import TensorFlow where it is installed
            import random

            import torch

            random.seed(seed)
            np.random.seed(seed)
            torch.manual_seed(seed)
        else:
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
        if self.torch:
            import torch

            self._dev = torch.device("cuda" if device == "cuda" else "cpu")
            # Keras's torch backend moves tensors to its current device: pin it for every call.
            self._scope = lambda: keras.device("cuda:0" if device == "cuda" else "cpu")
            with self._scope():
                self.model, layers = _build(spec, ours, self.dtype.name)
        else:
            self.model, layers = _build(spec, ours, self.dtype.name)
        self.vars = [v for layer in layers  # (an LSTM's or Embedding's weights, in their own order)
                     for v in (layer.trainable_weights if isinstance(layer, (tk.LSTM, tk.Embedding, keras.layers.LSTM,
                                                                             keras.layers.Embedding))
                               else (layer.kernel, layer.bias))]
        losses = tk if ours else keras.losses
        self.xent = losses.SparseCategoricalCrossentropy(from_logits=True)
        self.mse = losses.MeanSquaredError()
        if self.torch:
            self.params = [v.value for v in self.vars]  # torch Parameters: the trainer updates them in place
            return
        self.params = [np.array(v.numpy()) for v in self.vars]
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
            return tuple(self._dev_array(np.asarray(a, self.dtype)) for a in x)
        if self.spec.task == "text":  # word ids stay integers
            return self._dev_array(np.asarray(x, np.int32))
        x = np.asarray(x, self.dtype)
        return self._dev_array(x[..., None] if self._images else x)

    def _dev_array(self, a):
        if not self.torch:
            return a
        import torch

        return torch.from_numpy(np.ascontiguousarray(a)).to(self._dev, non_blocking=True)

    def _grad_step_torch(self, x, y):
        import torch

        xs = self._x(x)
        ys = tuple(self._dev_array(a) for a in y) if isinstance(y, tuple) else self._dev_array(y)
        with self._scope():
            out = self.model(list(xs) if isinstance(xs, tuple) else xs, training=True)
            loss, logits = self._loss(out, ys)
        if self.spec.task == "regress":
            logits = None
        grads = torch.autograd.grad(loss, self.params)
        labels = ys[0] if isinstance(ys, tuple) else ys
        if self.device != "cpu":  # device scalars: no synchronisation per step
            correct = (logits.argmax(1) == labels).sum() if logits is not None else 0
            return loss.detach(), correct, list(grads)
        correct = int((logits.argmax(1) == labels).sum()) if logits is not None else 0
        return float(loss.detach()), correct, list(grads)

    def _loss(self, out, y):
        """(loss, logits) of the model's output (one definition for the TF, JAX and torch steps)."""
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
        if self.torch:
            return self._grad_step_torch(x, y)
        loss, logits, grads = self._step(self._x(x), y)
        labels = y[0] if isinstance(y, tuple) else y
        correct = 0 if self.spec.task == "regress" else int((np.argmax(np.asarray(logits), 1) == labels).sum())
        return float(loss), correct, [np.asarray(g) for g in grads]

    def predict(self, x):
        xs = self._x(x)
        if self.torch:
            import torch

            with torch.no_grad(), self._scope():
                out = self.model(list(xs) if isinstance(xs, tuple) else xs, training=False)
            return tuple(o.cpu().numpy() for o in out) if isinstance(out, (list, tuple)) else out.cpu().numpy()
        out = self._predict(list(xs) if isinstance(xs, tuple) else xs)
        return tuple(np.asarray(o) for o in out) if isinstance(out, (list, tuple)) else np.asarray(out)

    def to_native(self, i, a):
        return self._dev_array(np.array(a, self.dtype))

    def to_canonical(self, i, p):
        return p.detach().cpu().numpy() if self.torch else np.array(p)

    def set_param(self, i, value):
        if self.torch:
            import torch

            with torch.no_grad():
                self.params[i].copy_(value)
            return
        self.params[i][...] = value

    def zeros_like(self, p):
        if self.torch:
            import torch

            return torch.zeros_like(p.detach())
        return np.zeros_like(p)

    def commit(self):
        if self.torch:
            return  # the parameters are the variables' own tensors
        for v, p in zip(self.vars, self.params):
            v.assign(p)


class KerasGanBackend:
    """The GAN of workloads/gan.py through Keras: our layers (ours=True) or Keras's own. NHWC and
    Keras's layouts (the canonical ones). Each step is a tf.function, or on Keras's JAX backend
    (frontends "keras-jax" / "keras-jax-native", no TensorFlow) a jitted stateless step
    (keras_jax.JaxGanSteps); the updates are the trainer's (twincore's fused Adam) on NumPy copies
    assigned back after each update."""

    def __init__(self, spec: Spec, ours: bool = True, seed: int = 0, dtype: str = "float32"):
        import keras

        from twincore.frontends import keras as tk
        from twincore.workloads import gan

        on_jax = keras.backend.backend() == "jax"
        if on_jax:  # keras.utils.set_random_seed would import TensorFlow where it is installed
            import random

            random.seed(seed)
            np.random.seed(seed)
            if np.dtype(dtype) == np.float64:
                import jax

                jax.config.update("jax_enable_x64", True)  # JAX truncates float64 to float32 otherwise
        else:
            keras.utils.set_random_seed(seed)
        keras.config.set_floatx(np.dtype(dtype).name)
        self.spec, self.dtype = spec, np.dtype(dtype)
        self.name = ("keras-jax" if on_jax else "keras") + ("" if ours else "-native")
        z, c1, c2, d1, d2 = gan.dims(spec)
        L, kw = (tk if ours else keras.layers), {"dtype": self.dtype.name}
        mom, eps = 1.0 - spec.extra["bn_momentum"], spec.extra["bn_eps"]
        # relu after batch norm: Keras's Activation (relu is exact, and its gradient, g * (y > 0), is the core's)
        self.G = keras.Sequential([keras.Input((z,), dtype=self.dtype.name), L.Dense(49 * c1, **kw),
                                   keras.layers.Reshape((7, 7, c1), **kw), L.BatchNormalization(momentum=mom, epsilon=eps, **kw),
                                   keras.layers.Activation("relu", **kw),
                                   L.Conv2DTranspose(c2, 4, strides=2, padding="same", **kw),
                                   L.BatchNormalization(momentum=mom, epsilon=eps, **kw), keras.layers.Activation("relu", **kw),
                                   L.Conv2DTranspose(1, 4, strides=2, padding="same", activation="tanh", **kw)])
        self.D = keras.Sequential([keras.Input((28, 28, 1), dtype=self.dtype.name),
                                   L.Conv2D(d1, 4, strides=2, padding="same", **kw),
                                   L.LeakyReLU(negative_slope=gan.SLOPE, **kw),
                                   L.Conv2D(d2, 4, strides=2, padding="same", **kw),
                                   L.LeakyReLU(negative_slope=gan.SLOPE, **kw), keras.layers.Flatten(**kw),
                                   L.Dense(1, **kw)])
        self.vars = [v for m in (self.G, self.D) for layer in m.layers for v in
                     ((layer.kernel, layer.bias) if getattr(layer, "kernel", None) is not None else
                      (layer.gamma, layer.beta) if getattr(layer, "gamma", None) is not None else ())]
        self.params = [np.array(v.numpy()) for v in self.vars]
        self.bce = (tk if ours else keras.losses).BinaryCrossentropy(from_logits=True)
        if on_jax:
            from twincore.workloads.keras_jax import JaxGanSteps

            steps = JaxGanSteps(self.G, self.D, self.vars, gan.N_G, self.bce)
            self._d, self._g, self._gen = steps.d_step, steps.g_step, steps.generate
            return
        import tensorflow as tf

        self.tf = tf
        self._d = tf.function(self._d_graph)
        self._g = tf.function(self._g_graph)
        self._gen = tf.function(lambda z: self.G(z, training=False))

    def _d_graph(self, real, z, labels):
        tf = self.tf
        x = tf.concat([real, self.G(z, training=True)], 0)  # batch statistics, as the generator step sees
        with tf.GradientTape() as tape:
            loss = self.bce(labels, self.D(x, training=True))
        return loss, tape.gradient(loss, self.vars[10:])

    def _g_graph(self, z, labels):
        tf = self.tf
        with tf.GradientTape() as tape:
            loss = self.bce(labels, self.D(self.G(z, training=True), training=True))
        return loss, tape.gradient(loss, self.vars[:10])

    def d_step(self, real, z):
        n = len(real)
        labels = np.concatenate([np.ones((n, 1), self.dtype), np.zeros((n, 1), self.dtype)])
        loss, grads = self._d(np.asarray(real, self.dtype), np.asarray(z, self.dtype), labels)
        return float(loss), [np.asarray(g) for g in grads]

    def g_step(self, z):
        loss, grads = self._g(np.asarray(z, self.dtype), np.ones((len(z), 1), self.dtype))
        return float(loss), [np.asarray(g) for g in grads]

    def generate(self, z):
        return np.asarray(self._gen(np.ascontiguousarray(z, self.dtype)))

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
