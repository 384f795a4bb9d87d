"""Layers of the native frontend: thin shells holding Variables and calling ops.py.

Image layout: NHWC (channels last) for every image layer here, because
- it is Keras/TensorFlow's default, and the document models come from Keras (a native
  model's weights, Conv2D kernels HWIO [KH, KW, C, O] and Dense kernels [in, out],
  match a Keras model's one for one, Flatten order included);
- the core's conv2d reads NHWC natively (im2col rows are contiguous runs of channels),
  so no transposes sit on the hot path.

Parameters save to / load from a .npz file (`save_weights`, `load_weights`), keyed by
"<layer index>.<name>" in a Sequential ("kernel", "bias" in a single layer).
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import numpy as np

from twincore.frontends.native import ops
from twincore.frontends.native.tensor import Tensor, Variable


def _initializer(name: str | Callable, rng: np.random.Generator) -> Callable:
    """Keras's initializers by name: fn(shape, fan_in, fan_out) -> np.ndarray (float64)."""
    if callable(name):
        return name
    if name == "zeros":
        return lambda shape, fi, fo: np.zeros(shape)
    if name == "glorot_uniform":
        return lambda shape, fi, fo: rng.uniform(-1, 1, shape) * math.sqrt(6.0 / (fi + fo))
    if name == "he_normal":  # Keras: truncated normal; a plain clipped normal is close enough
        return lambda shape, fi, fo: np.clip(rng.standard_normal(shape), -2, 2) * math.sqrt(2.0 / fi) / 0.88
    if name == "he_uniform":
        return lambda shape, fi, fo: rng.uniform(-1, 1, shape) * math.sqrt(6.0 / fi)
    raise ValueError(f"twincore.layer: argument 'initializer': unknown initializer {name!r}")


class Layer:
    """Base: lazily built on first call from the input's shape; holds Variables by name."""

    def __init__(self, name: str | None = None, dtype: Any = "float32", seed: int | None = None):
        self.name = name or type(self).__name__.lower()
        self.dtype = np.dtype(dtype)
        self.built = False
        self._weights: dict[str, Tensor] = {}
        self._rng = np.random.default_rng(seed)

    def add_weight(self, name: str, shape: Sequence[int], initializer: str | Callable = "zeros",
                   fan_in: int = 1, fan_out: int = 1) -> Tensor:
        init = _initializer(initializer, self._rng)
        w = Variable(np.asarray(init(tuple(shape), fan_in, fan_out), dtype=self.dtype))
        self._weights[name] = w
        return w

    def build(self, input_shape: tuple[int, ...]) -> None:
        pass

    def call(self, x: Tensor, training: bool = False) -> Tensor:
        raise NotImplementedError

    def __call__(self, x: Any, training: bool = False) -> Tensor:
        """training=True turns on what only training does (RotationConv2D's random warps)."""
        x = x if isinstance(x, Tensor) else Tensor(np.asarray(x, dtype=self.dtype))
        if not self.built:
            self.build(x.shape)
            self.built = True
        return self.call(x, training)

    @property
    def trainable_variables(self) -> list[Tensor]:
        return list(self._weights.values())

    def named_variables(self) -> dict[str, Tensor]:
        return dict(self._weights)

    def save_weights(self, path: str) -> None:
        """All variables to a .npz file (float arrays keyed by name)."""
        np.savez(path, **{k: v.numpy() for k, v in self.named_variables().items()})

    def load_weights(self, path: str) -> None:
        """Variables from a .npz file written by save_weights (build the layer/model first)."""
        named = self.named_variables()
        if not named:
            raise ValueError("twincore.load_weights: argument 'self': the model has no variables yet; "
                             "build it first (call it once, or model.build(input_shape))")
        with np.load(path) as f:
            missing = sorted(set(named) - set(f.files))
            if missing:
                raise ValueError(f"twincore.load_weights: argument 'path': {path} lacks {missing}")
            for k, v in named.items():
                if f[k].shape != v.shape:
                    raise ValueError(f"twincore.load_weights: argument 'path': {k} has shape "
                                     f"{f[k].shape} in the file but {v.shape} in the model")
                v.assign(np.ascontiguousarray(f[k], dtype=v.dtype))


class Dense(Layer):
    """y = activation(x @ kernel + bias); x [N, in] (or [B, N, in]) -> y [N, units]. kernel [in, units]
    (Keras's layout)."""

    def __init__(self, units: int, activation: str | None = None, use_bias: bool = True,
                 kernel_initializer: str | Callable = "glorot_uniform", **kw):
        super().__init__(**kw)
        if int(units) < 1:
            raise ValueError(f"twincore.Dense: argument 'units': must be >= 1, got {units}")
        if activation not in ops._ACTIVATIONS:
            raise ValueError(f"twincore.Dense: argument 'activation': unknown activation {activation!r}")
        self.units, self.activation, self.use_bias = int(units), activation, use_bias
        self.kernel_initializer = kernel_initializer

    def build(self, input_shape):
        fan_in = input_shape[-1]
        self.kernel = self.add_weight("kernel", (fan_in, self.units), self.kernel_initializer,
                                      fan_in, self.units)
        self.bias = self.add_weight("bias", (self.units,), "zeros") if self.use_bias else None

    def call(self, x, training=False):
        return ops.dense(x, self.kernel, self.bias, self.activation)


class Flatten(Layer):
    """[N, ...] -> [N, prod(...)] (NHWC order, as Keras)."""

    def call(self, x, training=False):
        return ops.flatten(x)


class Activation(Layer):
    def __init__(self, activation: str, **kw):
        super().__init__(**kw)
        self.activation = activation

    def call(self, x, training=False):
        return ops.activate(x, self.activation)


def _pair(v: Any, layer: str, arg: str) -> tuple[int, int]:
    p = (v, v) if isinstance(v, (int, np.integer)) else tuple(v)
    if len(p) != 2 or not all(isinstance(i, (int, np.integer)) and i >= 1 for i in p):
        raise ValueError(f"twincore.{layer}: argument '{arg}': expected an int >= 1 or a pair of them, got {v!r}")
    return int(p[0]), int(p[1])


class Conv2D(Layer):
    """2-D convolution, NHWC: x [N,H,W,C] -> y [N,OH,OW,filters]; kernel [KH,KW,C,filters] (HWIO,
    Keras's layout), bias [filters]. padding "valid" | "same" (TF's rule) or ints."""

    def __init__(self, filters: int, kernel_size: Any, strides: Any = 1, padding: Any = "valid",
                 dilation_rate: Any = 1, activation: str | None = None, use_bias: bool = True,
                 kernel_initializer: str | Callable = "glorot_uniform", **kw):
        super().__init__(**kw)
        if int(filters) < 1:
            raise ValueError(f"twincore.{type(self).__name__}: argument 'filters': must be >= 1, got {filters}")
        if activation not in ops._ACTIVATIONS:
            raise ValueError(f"twincore.{type(self).__name__}: argument 'activation': unknown activation "
                             f"{activation!r}")
        self.filters, self.activation, self.use_bias = int(filters), activation, use_bias
        self.kernel_size = _pair(kernel_size, type(self).__name__, "kernel_size")
        self.strides, self.dilation_rate = strides, dilation_rate
        self.padding = padding.lower() if isinstance(padding, str) else padding
        self.kernel_initializer = kernel_initializer

    def build(self, input_shape):
        if len(input_shape) != 4:
            raise ValueError(f"twincore.{type(self).__name__}: argument 'x': expected [N,H,W,C], got shape "
                             f"{input_shape}")
        kh, kw = self.kernel_size
        c = input_shape[-1]
        self.kernel = self.add_weight("kernel", (kh, kw, c, self.filters), self.kernel_initializer,
                                      kh * kw * c, kh * kw * self.filters)
        self.bias = self.add_weight("bias", (self.filters,), "zeros") if self.use_bias else None

    def convolve(self, x):
        y = ops.conv2d(x, self.kernel, self.bias, self.strides, self.padding, self.dilation_rate, "NHWC")
        return ops.activate(y, self.activation)

    def call(self, x, training=False):
        return self.convolve(x)


class RotationConv2D(Conv2D):
    """The seed's CustomConv2D(filters, kernel_size, rotation_angle=30, translation_range=10):
    while training, each image of x [N,H,W,C] is first rotated by an angle drawn uniformly in
    [-rotation_angle, rotation_angle] degrees about its centre and shifted by (dx, dy) drawn
    uniformly in [-translation_range, translation_range] pixels (the core's rotate kernel),
    then convolved; at inference it only convolves (as the Keras and torch frontends do).
    The draws come from the layer's seeded NumPy generator."""

    def __init__(self, filters: int, kernel_size: Any, rotation_angle: float = 30.0,
                 translation_range: float = 10.0, interpolation: str = "bilinear", fill: str = "zeros",
                 fill_value: float = 0.0, **kw):
        super().__init__(filters, kernel_size, **kw)
        for arg, v in (("rotation_angle", rotation_angle), ("translation_range", translation_range)):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not v >= 0:
                raise ValueError(f"twincore.RotationConv2D: argument '{arg}': expected a number >= 0, got {v!r}")
        if interpolation not in ("bilinear", "nearest"):
            raise ValueError(f"twincore.RotationConv2D: argument 'interpolation': expected 'bilinear' or "
                             f"'nearest', got {interpolation!r}")
        if fill not in ("zeros", "constant", "nearest", "reflect"):
            raise ValueError(f"twincore.RotationConv2D: argument 'fill': expected 'zeros', 'constant', "
                             f"'nearest' or 'reflect', got {fill!r}")
        self.rotation_angle, self.translation_range = float(rotation_angle), float(translation_range)
        self.interpolation, self.fill, self.fill_value = interpolation, fill, float(fill_value)

    def call(self, x, training=False):
        if training and (self.rotation_angle > 0 or self.translation_range > 0):
            n, a, t = x.shape[0], self.rotation_angle, self.translation_range
            angle = self._rng.uniform(-a, a, n).astype(x.dtype)
            shift = self._rng.uniform(-t, t, (n, 2)).astype(x.dtype)
            x = ops.rotate(x, angle, shift, self.interpolation, self.fill, self.fill_value, "NHWC")
        return self.convolve(x)


class MaxPool2D(Layer):
    """Max pooling, NHWC: [N,H,W,C] -> [N,OH,OW,C]; strides None = pool_size."""

    def __init__(self, pool_size: Any = 2, strides: Any = None, padding: Any = "valid", **kw):
        super().__init__(**kw)
        self.pool_size, self.strides = pool_size, strides
        self.padding = padding.lower() if isinstance(padding, str) else padding

    def call(self, x, training=False):
        return ops.max_pool2d(x, self.pool_size, self.strides, self.padding, "NHWC")


class GlobalAveragePooling2D(Layer):
    """[N,H,W,C] -> [N,C], the mean over H and W."""

    def call(self, x, training=False):
        return ops.global_avg_pool2d(x, "NHWC")


class Sequential(Layer):
    """Layers applied in order. Variables are named "<index>.<name>" (e.g. "0.kernel")."""

    def __init__(self, layers: Sequence[Layer] = (), **kw):
        super().__init__(**kw)
        self.layers = list(layers)

    def add(self, layer: Layer) -> None:
        self.layers.append(layer)

    def build(self, input_shape):
        """Build every layer by running zeros of `input_shape` through the model once."""
        if not self.built:
            self(np.zeros(input_shape, dtype=self.dtype))

    def __call__(self, x, training=False):
        self.built = True
        for layer in self.layers:
            x = layer(x, training)
        return x

    def named_variables(self):
        out = {}
        for i, layer in enumerate(self.layers):
            for k, v in layer.named_variables().items():
                out[f"{i}.{k}"] = v
        return out

    @property
    def trainable_variables(self):
        # Each Variable once, even when a layer appears twice (shared weights).
        seen, out = set(), []
        for layer in self.layers:
            for v in layer.trainable_variables:
                if id(v) not in seen:
                    seen.add(id(v))
                    out.append(v)
        return out


# ---- GAN layers (issue 16) ----
class LeakyReLU(Layer):
    """x where x > 0, else negative_slope * x (Keras's LeakyReLU, default slope 0.3)."""

    def __init__(self, negative_slope: float = 0.3, **kw):
        super().__init__(**kw)
        if isinstance(negative_slope, bool) or not isinstance(negative_slope, (int, float)) or not negative_slope >= 0:
            raise ValueError(f"twincore.LeakyReLU: argument 'negative_slope': expected a number >= 0, "
                             f"got {negative_slope!r}")
        self.negative_slope = float(negative_slope)

    def call(self, x, training=False):
        return ops.leaky_relu(x, self.negative_slope)


class Reshape(Layer):
    """[N, ...] -> [N, *target_shape] (Keras's Reshape; no copy)."""

    def __init__(self, target_shape: Sequence[int], **kw):
        super().__init__(**kw)
        self.target_shape = tuple(int(d) for d in target_shape)

    def call(self, x, training=False):
        return ops.reshape(x, (x.shape[0], *self.target_shape))


class Conv2DTranspose(Layer):
    """2-D transposed convolution, NHWC: x [N,H,W,C] -> y [N,OH,OW,filters]; kernel [KH,KW,filters,C]
    (Keras's Conv2DTranspose layout), bias [filters]. padding "valid" | "same" (Keras's sizes) or ints;
    output_padding None or ints."""

    def __init__(self, filters: int, kernel_size: Any, strides: Any = 1, padding: Any = "valid",
                 output_padding: Any = None, dilation_rate: Any = 1, activation: str | None = None,
                 use_bias: bool = True, kernel_initializer: str | Callable = "glorot_uniform", **kw):
        super().__init__(**kw)
        if int(filters) < 1:
            raise ValueError(f"twincore.Conv2DTranspose: argument 'filters': must be >= 1, got {filters}")
        if activation not in ops._ACTIVATIONS:
            raise ValueError(f"twincore.Conv2DTranspose: argument 'activation': unknown activation {activation!r}")
        self.filters, self.activation, self.use_bias = int(filters), activation, use_bias
        self.kernel_size = _pair(kernel_size, "Conv2DTranspose", "kernel_size")
        self.strides, self.dilation_rate, self.output_padding = strides, dilation_rate, output_padding
        self.padding = padding.lower() if isinstance(padding, str) else padding
        self.kernel_initializer = kernel_initializer

    def build(self, input_shape):
        if len(input_shape) != 4:
            raise ValueError(f"twincore.Conv2DTranspose: argument 'x': expected [N,H,W,C], got shape {input_shape}")
        kh, kw = self.kernel_size
        c = input_shape[-1]
        # Keras's fans for a [KH, KW, filters, C] kernel: fan_in = KH*KW*filters, fan_out = KH*KW*C.
        self.kernel = self.add_weight("kernel", (kh, kw, self.filters, c), self.kernel_initializer,
                                      kh * kw * self.filters, kh * kw * c)
        self.bias = self.add_weight("bias", (self.filters,), "zeros") if self.use_bias else None

    def call(self, x, training=False):
        y = ops.conv_transpose2d(x, self.kernel, self.bias, self.strides, self.padding, self.output_padding,
                                 self.dilation_rate, "NHWC")
        return ops.activate(y, self.activation)


class BatchNormalization(Layer):
    """Keras's BatchNormalization, channels last ([N, C] or [N, H, W, C]): gamma, beta trainable;
    moving_mean, moving_variance updated in training as Keras does (momentum 0.99, the biased batch
    variance) by the core's update kernel; inference uses them (and records no gradient)."""

    def __init__(self, momentum: float = 0.99, epsilon: float = 1e-3, **kw):
        super().__init__(**kw)
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"twincore.BatchNormalization: argument 'momentum': expected a number in [0, 1], "
                             f"got {momentum!r}")
        if not epsilon > 0:
            raise ValueError(f"twincore.BatchNormalization: argument 'epsilon': expected > 0, got {epsilon!r}")
        self.momentum, self.epsilon = float(momentum), float(epsilon)

    def build(self, input_shape):
        c = (input_shape[-1],)
        self.gamma = self.add_weight("gamma", c, lambda s, fi, fo: np.ones(s))
        self.beta = self.add_weight("beta", c, "zeros")
        self.moving_mean = Tensor(np.zeros(c, self.dtype), trainable=False)
        self.moving_variance = Tensor(np.ones(c, self.dtype), trainable=False)

    def named_variables(self):
        return {**self._weights, "moving_mean": self.moving_mean, "moving_variance": self.moving_variance}

    def call(self, x, training=False):
        import twincore.kernels as K

        if not training:  # inference: a constant of the statistics (no gradient recorded)
            return Tensor(K.batch_norm_inference(*(np.array(t.numpy()) for t in (x, self.gamma, self.beta, self.moving_mean,
                                                                             self.moving_variance)), self.epsilon, "NHWC"))
        y, mean, var = ops.batch_norm(x, self.gamma, self.beta, self.epsilon, "NHWC")
        count = int(np.prod(x.shape[:-1]))
        nm, nv = K.batch_norm_update_stats(np.array(self.moving_mean.numpy()), np.array(self.moving_variance.numpy()),
                                           np.array(mean.numpy()), np.array(var.numpy()), 1.0 - self.momentum, count,
                                           False)
        self.moving_mean.assign(nm)
        self.moving_variance.assign(nv)
        return y

# ---- issue 16, LSTM half: Embedding, LSTM ----
def _orthogonal(rng: np.random.Generator) -> Callable:
    """Keras's orthogonal initializer: Q of the QR of a normal matrix, signs fixed by R's diagonal."""
    def init(shape, fi, fo):
        rows, cols = shape[0], int(np.prod(shape[1:]))
        a = rng.standard_normal((max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(a)
        q = q * np.sign(np.diag(r))
        return (q if rows >= cols else q.T).reshape(shape)
    return init


class Embedding(Layer):
    """Keras's Embedding: integer ids of any shape S -> S + (output_dim,); weight "embeddings"
    [input_dim, output_dim], uniform(-0.05, 0.05) as Keras."""

    def __init__(self, input_dim: int, output_dim: int, embeddings_initializer: str | Callable = "uniform", **kw):
        super().__init__(**kw)
        if int(input_dim) < 1 or int(output_dim) < 1:
            raise ValueError(f"twincore.Embedding: argument '{'input_dim' if int(input_dim) < 1 else 'output_dim'}': "
                             "must be >= 1")
        self.input_dim, self.output_dim = int(input_dim), int(output_dim)
        self.embeddings_initializer = embeddings_initializer

    def build(self, input_shape):
        init = self.embeddings_initializer
        if init == "uniform":
            init = lambda shape, fi, fo, rng=self._rng: rng.uniform(-0.05, 0.05, shape)  # noqa: E731
        self.embeddings = self.add_weight("embeddings", (self.input_dim, self.output_dim), init)

    def __call__(self, ids: Any, training: bool = False) -> Tensor:
        # ids stay integers (the base class would cast them to the layer's float dtype)
        if not self.built:
            self.build(np.shape(ids))
            self.built = True
        return ops.embedding(ids, self.embeddings)


class LSTM(Layer):
    """Keras's LSTM (one layer, unidirectional) on the core's fused op: x [B, T, I] -> [B, units]
    (or [B, T, units] with return_sequences). Weights "kernel" [I, 4*units], "recurrent_kernel"
    [units, 4*units], "bias" [4*units] (gates i, f, c, o; glorot_uniform, orthogonal, zeros with
    the forget gate's bias at 1 as Keras's unit_forget_bias)."""

    def __init__(self, units: int, return_sequences: bool = False, use_bias: bool = True,
                 kernel_initializer: str | Callable = "glorot_uniform",
                 recurrent_initializer: str | Callable = "orthogonal", unit_forget_bias: bool = True, **kw):
        super().__init__(**kw)
        if int(units) < 1:
            raise ValueError(f"twincore.LSTM: argument 'units': must be >= 1, got {units}")
        self.units, self.return_sequences, self.use_bias = int(units), bool(return_sequences), use_bias
        self.kernel_initializer, self.recurrent_initializer = kernel_initializer, recurrent_initializer
        self.unit_forget_bias = unit_forget_bias

    def build(self, input_shape):
        u, fan_in = self.units, input_shape[-1]
        self.kernel = self.add_weight("kernel", (fan_in, 4 * u), self.kernel_initializer, fan_in, 4 * u)
        rec = _orthogonal(self._rng) if self.recurrent_initializer == "orthogonal" else self.recurrent_initializer
        self.recurrent_kernel = self.add_weight("recurrent_kernel", (u, 4 * u), rec, u, 4 * u)
        self.bias = None
        if self.use_bias:
            forget = float(self.unit_forget_bias)
            init = lambda shape, fi, fo: np.r_[np.zeros(u), np.full(u, forget), np.zeros(2 * u)]  # noqa: E731
            self.bias = self.add_weight("bias", (4 * u,), init)

    def call(self, x, training=False):
        return ops.lstm(x, self.kernel, self.recurrent_kernel, self.bias, return_sequences=self.return_sequences)
