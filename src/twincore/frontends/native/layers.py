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

    def call(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def __call__(self, x: Any) -> Tensor:
        x = x if isinstance(x, Tensor) else Tensor(np.asarray(x, dtype=self.dtype))
        if not self.built:
            self.build(x.shape)
            self.built = True
        return self.call(x)

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
    """y = activation(x @ kernel + bias); x [..., in] -> y [..., units]. kernel [in, units] (Keras)."""

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

    def call(self, x):
        return ops.dense(x, self.kernel, self.bias, self.activation)


class Flatten(Layer):
    """[N, ...] -> [N, prod(...)] (NHWC order, as Keras)."""

    def call(self, x):
        return ops.flatten(x)


class Activation(Layer):
    def __init__(self, activation: str, **kw):
        super().__init__(**kw)
        self.activation = activation

    def call(self, x):
        return ops.activate(x, self.activation)


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

    def __call__(self, x):
        self.built = True
        for layer in self.layers:
            x = layer(x)
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
