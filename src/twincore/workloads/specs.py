"""The document models, described once, frontend-free.

Each frontend builds the same model from these specs (twincore/workloads/<frontend>.py),
and every frontend starts from the same canonical weights: a list of arrays in Keras's
layout (Dense kernel [in, out], Conv2D kernel HWIO [KH, KW, C, O], biases [out]) made by
`init_weights` from a seed. A frontend with another layout (torch: [out, in], OIHW,
NCHW flatten order) converts on the way in and out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Layer:
    kind: str           # dense | conv | rotconv | maxpool | gap | flatten | lstm | embedding
    units: int = 0      # dense units / conv filters
    kernel: int = 0     # conv kernel size / pool size
    stride: int = 1
    activation: str | None = None
    rotation_angle: float = 0.0
    translation_range: float = 0.0
    vocab: int = 0      # embedding: number of ids (issue 16)


@dataclass(frozen=True)
class Spec:
    name: str
    task: str                       # classify | regress | multi-io | text (ids [N, maxlen] -> classes) | gan (workloads/gan.py)
    layers: tuple[Layer, ...] = ()  # for sequential models
    input_shape: tuple = (28, 28, 1)  # canonical NHWC (without batch)
    optimizer: str = "adam"
    lr: float = 1e-3
    batch_size: int = 32
    epochs: int = 5
    val: float | int = 0.2          # validation split: fraction or count
    lr_schedule: str = "constant"   # or "cosine" (trainer.lr_at)
    clipnorm: float | None = None
    loss_weights: tuple = ()
    init: str = "glorot_uniform"    # kernels; "normal" = N(0, 1) as the source's tf.random_normal
    doc: str = ""
    extra: dict = field(default_factory=dict)


def _dense(u, act=None):
    return Layer("dense", units=u, activation=act)


MODELS: dict[str, Spec] = {
    "mlp": Spec("mlp", "classify", (Layer("flatten"), _dense(512, "relu"), _dense(10)),
                batch_size=32, epochs=5, val=5000, lr_schedule="cosine",
                doc="Dense(512, relu) -> Dense(10); Adam 1e-3 with cosine decay; batch 32; 5 epochs; 5000 "
                    "validation images (the source: constant lr, validation_split 0.2 -> 0.859 test accuracy; "
                    "benchmarks/RESULTS.md)"),
    "deep-mlp": Spec("deep-mlp", "classify",
                     (Layer("flatten"), _dense(300, "relu"), _dense(50, "relu"), _dense(50, "relu"),
                      _dense(20, "relu"), _dense(10)),
                     batch_size=32, epochs=5, val=0.2,
                     doc="300-50-50-20-10 relu; --init-from a saved deep-mlp and --freeze 3 reuse its first layers"),
    "cnn": Spec("cnn", "classify",
                (Layer("conv", 32, 3, 1, "relu"), Layer("conv", 64, 3, 2, "relu"), Layer("maxpool", kernel=2),
                 Layer("flatten"), _dense(64, "relu"), _dense(10)),
                batch_size=100, epochs=10, val=5000, lr_schedule="cosine",
                doc="conv 32 3x3 s1 same relu -> conv 64 3x3 s2 same relu -> maxpool 2 -> dense 64 relu -> 10; "
                    "Adam 1e-3 with cosine decay (constant lr overfits after epoch 8: 0.911 test accuracy)"),
    "rotation-cnn": Spec("rotation-cnn", "classify",
                         (Layer("rotconv", 32, 3, 1, "relu", rotation_angle=30.0, translation_range=10.0),
                          Layer("gap"), _dense(10)),
                         batch_size=100, epochs=5, val=5000,
                         doc="CustomConv2D(32, 3, rotation_angle=30, translation_range=10) -> GAP -> Dense(10)"),
    "regression": Spec("regression", "regress", (_dense(10, "tanh"), _dense(1)), input_shape=(1,),
                       optimizer="sgd", lr=0.1, batch_size=200, epochs=2000, val=0, init="normal",
                       doc="y = x^2 + noise, 200 points in [-0.5, 0.5]; 1-10-1 tanh; MSE; GD lr 0.1; 2000 steps; "
                           "weights N(0, 1) and zero biases as in the source (with Glorot init, plain GD "
                           "at lr 0.1 is still at MSE 0.0015-0.0056 after 2000 steps)"),
    "multi-io": Spec("multi-io", "multi-io", input_shape=(28, 14), batch_size=64, epochs=3, val=5000,
                     clipnorm=1.0, loss_weights=(1.0, 0.5),
                     doc="inputs: left and right image halves; dense 64 each, added; residual dense 64; "
                         "outputs: class (10) and mean brightness (1); loss weights 1.0 / 0.5; clipnorm 1.0"),
    "gan": Spec("gan", "gan", input_shape=(28, 28, 1), lr=2e-4, batch_size=64, epochs=5, val=0,
                extra={"z_dim": 64, "g_channels": (64, 32), "d_channels": (32, 64), "beta1": 0.5, "bn_momentum": 0.1,
                       "bn_eps": 1e-5},
                doc="DCGAN-style (workloads/gan.py): G dense 7x7x64 -> BN relu -> convT 32 4x4 s2 -> BN relu -> convT 1 "
                    "4x4 s2 tanh; D conv 32 4x4 s2 -> leaky 0.2 -> conv 64 4x4 s2 -> leaky -> dense 1; BCE from "
                    "logits, alternating updates, Adam 2e-4 beta1 0.5; batch 64"),
    # issue 16: a recurrent classifier, each image read as a sequence (28 steps of 28 pixels)
    "lstm": Spec("lstm", "classify", (Layer("lstm", units=128), _dense(10)), input_shape=(28, 28),
                 batch_size=100, epochs=10, val=5000, lr=2e-3, lr_schedule="cosine",
                 doc="sequential Fashion-MNIST: 28 steps of 28 pixels -> LSTM 128 (last h) -> Dense 10; "
                     "Adam 2e-3 with cosine decay; batch 100; 10 epochs; 5000 validation images"),
    # issue 16: the sentiment task on IMDB reviews (twincore.text: imdb.npz or aclImdb/, via --data)
    "sentiment": Spec("sentiment", "text", (Layer("embedding", units=64, vocab=20000), Layer("lstm", units=64),
                                            _dense(2)),
                      input_shape=(200,), batch_size=64, epochs=3, val=5000, lr=1e-3,
                      doc="IMDB reviews, 20000-word vocabulary, last 200 words: Embedding 64 -> LSTM 64 (last h) -> "
                          "Dense 2 (softmax cross-entropy on positive/negative); Adam 1e-3; batch 64; 3 epochs"),
}


def param_shapes(spec: Spec) -> list[tuple[int, ...]]:
    """Canonical (Keras-layout) shapes of every parameter, in order."""
    if spec.task == "multi-io":
        h = spec.input_shape[0] * spec.input_shape[1]
        return [(h, 64), (64,), (h, 64), (64,), (64, 64), (64,), (64, 10), (10,), (64, 1), (1,)]
    shapes, shape = [], tuple(spec.input_shape)
    for layer in spec.layers:
        if layer.kind in ("conv", "rotconv"):
            h, w, c = shape
            shapes += [(layer.kernel, layer.kernel, c, layer.units), (layer.units,)]
            shape = (-(-h // layer.stride), -(-w // layer.stride), layer.units)  # "same" padding
        elif layer.kind == "maxpool":
            shape = (shape[0] // layer.kernel, shape[1] // layer.kernel, shape[2])
        elif layer.kind == "gap":
            shape = (shape[-1],)
        elif layer.kind == "flatten":
            shape = (int(np.prod(shape)),)
        elif layer.kind == "dense":
            shapes += [(shape[-1], layer.units), (layer.units,)]
            shape = (layer.units,)
        elif layer.kind == "lstm":  # Keras's kernel, recurrent_kernel, bias (gates i, f, c, o)
            u = layer.units
            shapes += [(shape[-1], 4 * u), (u, 4 * u), (4 * u,)]
            shape = (u,)
        elif layer.kind == "embedding":  # [vocab, units] in every frontend
            shapes += [(layer.vocab, layer.units)]
            shape = (shape[0], layer.units)
    return shapes


def flatten_source(spec: Spec) -> tuple[int, int, int] | None:
    """(H, W, C) of the feature map a Flatten layer sees, if it flattens an image map with C > 1
    (then NCHW and NHWC frontends order the features differently)."""
    shape = tuple(spec.input_shape)
    for layer in spec.layers:
        if layer.kind in ("conv", "rotconv"):
            shape = (-(-shape[0] // layer.stride), -(-shape[1] // layer.stride), layer.units)
        elif layer.kind == "maxpool":
            shape = (shape[0] // layer.kernel, shape[1] // layer.kernel, shape[2])
        elif layer.kind == "flatten":
            return shape if len(shape) == 3 and shape[2] > 1 else None
    return None


def init_weights(spec: Spec, seed: int = 0, dtype=np.float32) -> list[np.ndarray]:
    """Keras's defaults (glorot_uniform kernels, zero biases) or, for init="normal", N(0, 1)
    kernels; reproducible from `seed`."""
    rng = np.random.default_rng(seed)
    out = []
    for shape, how in zip(param_shapes(spec), _param_inits(spec)):
        if how == "orthogonal":  # Keras's LSTM recurrent_kernel: Q of QR(normal), signs from R
            a = rng.standard_normal((max(shape), min(shape)))
            q, r = np.linalg.qr(a)
            q = q * np.sign(np.diag(r))
            out.append((q if shape[0] >= shape[1] else q.T).astype(dtype))
            continue
        if how == "uniform":  # Keras's Embedding default: uniform(-0.05, 0.05)
            out.append(rng.uniform(-0.05, 0.05, shape).astype(dtype))
            continue
        if how == "forget_bias":  # Keras's unit_forget_bias: zeros, ones for the forget gate
            u = shape[0] // 4
            out.append(np.r_[np.zeros(u), np.ones(u), np.zeros(2 * u)].astype(dtype))
            continue
        if len(shape) == 1:
            out.append(np.zeros(shape, dtype))
            continue
        if spec.init == "normal":
            out.append(rng.standard_normal(shape).astype(dtype))
            continue
        receptive = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
        fan_in, fan_out = shape[-2] * receptive, shape[-1] * receptive
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        out.append(rng.uniform(-limit, limit, shape).astype(dtype))
    return out


def _param_inits(spec: Spec) -> list[str]:
    """How init_weights makes each parameter: "default" (glorot / normal kernels, zero biases),
    or the LSTM's "orthogonal" recurrent kernel and "forget_bias" bias."""
    out = []
    for layer in spec.layers if spec.task != "multi-io" else ():
        if layer.kind == "lstm":
            out += ["default", "orthogonal", "forget_bias"]
        elif layer.kind == "embedding":
            out += ["uniform"]
        elif layer.kind in ("conv", "rotconv", "dense"):
            out += ["default", "default"]
    return out + ["default"] * (len(param_shapes(spec)) - len(out))


def param_kinds(spec: Spec) -> list[tuple]:
    """What each canonical parameter is: ("dense",), ("dense", (H, W, C)) for the dense
    layer right after flattening an H x W x C map, ("conv",) or ("bias",)."""
    if spec.task == "multi-io":
        return [("dense",), ("bias",)] * 5
    kinds, flat = [], flatten_source(spec)
    first_dense = True
    for layer in spec.layers:
        if layer.kind in ("conv", "rotconv"):
            kinds += [("conv",), ("bias",)]
        elif layer.kind == "dense":
            kinds += [("dense", flat) if (first_dense and flat) else ("dense",), ("bias",)]
            first_dense = False
        elif layer.kind == "lstm":  # kernels [in, 4H] <-> torch's [4H, in]: transposes, as dense
            kinds += [("dense",), ("dense",), ("bias",)]
        elif layer.kind == "embedding":  # the same [vocab, units] everywhere
            kinds += [("embedding",)]
    return kinds


def to_torch_layout(kind: tuple, a: np.ndarray, nhwc: bool = False) -> np.ndarray:
    """Canonical (Keras) layout -> torch's (Linear [out, in], Conv2d OIHW, NCHW flatten order);
    nhwc: channels-last modules (Conv2d HWIO as Keras, NHWC flatten order)."""
    if kind[0] == "conv":
        return a if nhwc else np.ascontiguousarray(a.transpose(3, 2, 0, 1))
    if kind[0] == "dense" and len(kind) > 1 and kind[1] and not nhwc:
        h, w, c = kind[1]
        return np.ascontiguousarray(a.reshape(h, w, c, -1).transpose(3, 2, 0, 1).reshape(a.shape[1], -1))
    if kind[0] == "dense":
        return np.ascontiguousarray(a.T)
    return a


def from_torch_layout(kind: tuple, a: np.ndarray, nhwc: bool = False) -> np.ndarray:
    if kind[0] == "conv":
        return a if nhwc else np.ascontiguousarray(a.transpose(2, 3, 1, 0))
    if kind[0] == "dense" and len(kind) > 1 and kind[1] and not nhwc:
        h, w, c = kind[1]
        return np.ascontiguousarray(a.reshape(-1, c, h, w).transpose(2, 3, 1, 0).reshape(h * w * c, -1))
    if kind[0] == "dense":
        return np.ascontiguousarray(a.T)
    return a
