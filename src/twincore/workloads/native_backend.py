"""The document models on the core alone (twincore.frontends.native: the C++ tape, no
framework). NHWC and Keras's weight layout, which is the canonical one."""

from __future__ import annotations

import numpy as np

from twincore.workloads.specs import Spec


class _MultiIO:
    """Two inputs (image halves) -> added dense branches -> residual block -> two heads."""

    def __init__(self, tn, dtype):
        kw = {"dtype": dtype}
        self.tn = tn
        self.left, self.right = tn.Dense(64, "relu", **kw), tn.Dense(64, "relu", **kw)
        self.block = tn.Dense(64, "relu", **kw)
        self.cls, self.value = tn.Dense(10, **kw), tn.Dense(1, **kw)
        self.param_layers = [self.left, self.right, self.block, self.cls, self.value]

    def __call__(self, x, training=False):
        tn = self.tn
        h = tn.add(self.left(tn.flatten(tn.Tensor(x[0]))), self.right(tn.flatten(tn.Tensor(x[1]))))
        h = tn.add(h, self.block(h))  # the residual connection
        return self.cls(h), self.value(h)


class _Params:
    """The trainer's view of the tape's parameters (shared by the classifier and GAN backends)."""

    def to_native(self, i, a):
        return np.ascontiguousarray(a, self.dtype)

    def to_canonical(self, i, p):
        return np.array(p.numpy() if hasattr(p, "numpy") else p)

    def set_param(self, i, value):
        self.params[i].assign(value)

    def zeros_like(self, p):
        return np.zeros(p.shape, self.dtype)

    def commit(self):
        pass


class NativeBackend(_Params):
    def __init__(self, spec: Spec, seed: int = 0, dtype: str = "float32"):
        import twincore.frontends.native as tn

        self.tn, self.spec, self.name, self.dtype = tn, spec, "native", np.dtype(dtype)
        self._images = spec.task == "classify" and spec.layers[0].kind in ("conv", "rotconv")
        kw = {"dtype": self.dtype}
        if spec.task == "multi-io":
            self.model = _MultiIO(tn, self.dtype)
            layers = self.model.param_layers
            dummy = tuple(np.zeros((1, *spec.input_shape), self.dtype) for _ in range(2))
        else:
            mods, layers = [], []
            for i, layer in enumerate(spec.layers):
                if layer.kind == "conv":
                    mods.append(tn.Conv2D(layer.units, layer.kernel, strides=layer.stride, padding="same",
                                          activation=layer.activation, **kw))
                elif layer.kind == "rotconv":
                    mods.append(tn.RotationConv2D(layer.units, layer.kernel, layer.rotation_angle,
                                                  layer.translation_range, padding="same",
                                                  activation=layer.activation, seed=seed, **kw))
                elif layer.kind == "maxpool":
                    mods.append(tn.MaxPool2D(layer.kernel, **kw))
                elif layer.kind == "gap":
                    mods.append(tn.GlobalAveragePooling2D(**kw))
                elif layer.kind == "flatten":
                    mods.append(tn.Flatten(**kw))
                elif layer.kind == "dense":
                    mods.append(tn.Dense(layer.units, layer.activation, seed=seed + i, **kw))
                elif layer.kind == "lstm":
                    mods.append(tn.LSTM(layer.units, seed=seed + i, **kw))
                elif layer.kind == "embedding":
                    mods.append(tn.Embedding(layer.vocab, layer.units, seed=seed + i, **kw))
                if layer.kind in ("conv", "rotconv", "dense", "lstm", "embedding"):
                    layers.append(mods[-1])
            self.model = tn.Sequential(mods, **kw)
            shape = (28, 28, 1) if self._images else ((28, 28) if spec.task == "classify" else spec.input_shape)
            dummy = np.zeros((1, *shape), np.int32 if spec.task == "text" else self.dtype)
        self.model(dummy)  # builds the layers' variables
        self.params = [v for layer in layers for v in layer.trainable_variables]

    def _x(self, x):
        if isinstance(x, tuple):
            return tuple(np.asarray(a, self.dtype) for a in x)
        if self.spec.task == "text":  # word ids stay integers
            return np.ascontiguousarray(x, np.int32)
        x = np.asarray(x, self.dtype)
        return x[..., None] if self._images else x

    def _forward(self, x, training):
        xs = self._x(x)
        return self.model(xs, training=training) if isinstance(xs, tuple) else self.model(self.tn.Tensor(xs), training=training)

    def grad_step(self, x, y):
        tn = self.tn
        with tn.GradientTape() as tape:
            out = self._forward(x, True)
            if self.spec.task == "multi-io":
                w = self.spec.loss_weights
                loss = tn.add(tn.mul(tn.softmax_cross_entropy(out[0], y[0]), w[0]),
                              tn.mul(tn.mse(out[1], np.asarray(y[1], self.dtype)), w[1]))
                logits = out[0]
            elif self.spec.task == "regress":
                loss, logits = tn.mse(out, np.asarray(y, self.dtype)), None
            else:
                loss, logits = tn.softmax_cross_entropy(out, y), out
        grads = tape.gradient(loss, self.params)
        labels = y[0] if isinstance(y, tuple) else y
        correct = 0 if logits is None else int((logits.numpy().argmax(1) == labels).sum())
        return float(loss.item()), correct, grads

    def predict(self, x):
        out = self._forward(x, False)
        return tuple(np.array(o.numpy()) for o in out) if isinstance(out, tuple) else np.array(out.numpy())


class NativeGanBackend(_Params):
    """The GAN of workloads/gan.py on the core alone (the C++ tape): NHWC, Keras's layouts."""

    def __init__(self, spec: Spec, dtype: str = "float32"):
        import twincore.frontends.native as tn
        from twincore.workloads import gan

        self.tn, self.spec, self.name, self.dtype = tn, spec, "native", np.dtype(dtype)
        z, c1, c2, d1, d2 = gan.dims(spec)
        kw = {"dtype": self.dtype}
        mom, eps = 1.0 - spec.extra["bn_momentum"], spec.extra["bn_eps"]  # Keras's convention
        self.G = tn.Sequential([tn.Dense(49 * c1, **kw), tn.Reshape((7, 7, c1), **kw),
                                tn.BatchNormalization(mom, eps, **kw), tn.Activation("relu", **kw),
                                tn.Conv2DTranspose(c2, 4, strides=2, padding="same", **kw),
                                tn.BatchNormalization(mom, eps, **kw), tn.Activation("relu", **kw),
                                tn.Conv2DTranspose(1, 4, strides=2, padding="same", activation="tanh", **kw)], **kw)
        self.D = tn.Sequential([tn.Conv2D(d1, 4, strides=2, padding="same", **kw), tn.LeakyReLU(gan.SLOPE, **kw),
                                tn.Conv2D(d2, 4, strides=2, padding="same", **kw), tn.LeakyReLU(gan.SLOPE, **kw),
                                tn.Flatten(**kw), tn.Dense(1, **kw)], **kw)
        self.G(np.zeros((2, z), self.dtype))  # builds the layers (inference mode: no running-stat update)
        self.D(np.zeros((1, 28, 28, 1), self.dtype))
        self.params = self.G.trainable_variables + self.D.trainable_variables
        self.n_g = len(self.G.trainable_variables)

    def d_step(self, real, z):
        tn = self.tn
        fake = self.G(tn.Tensor(z), training=True).numpy()  # no tape: nothing recorded; batch statistics
        x = np.concatenate([np.asarray(real, self.dtype), fake])
        n = len(real)
        labels = np.concatenate([np.ones((n, 1), self.dtype), np.zeros((n, 1), self.dtype)])
        with tn.GradientTape() as tape:
            loss = tn.binary_cross_entropy_with_logits(self.D(tn.Tensor(x)), labels)
        return float(loss.item()), tape.gradient(loss, self.params[self.n_g:])

    def g_step(self, z):
        tn = self.tn
        with tn.GradientTape() as tape:
            logits = self.D(self.G(tn.Tensor(z), training=True))
            loss = tn.binary_cross_entropy_with_logits(logits, np.ones((len(z), 1), self.dtype))
        return float(loss.item()), tape.gradient(loss, self.params[:self.n_g])

    def generate(self, z):
        return np.array(self.G(self.tn.Tensor(np.ascontiguousarray(z, self.dtype))).numpy())

