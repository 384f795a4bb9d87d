"""twincore.frontends.native: train models on the C++ core alone, no framework.

    import twincore.frontends.native as tn

    model = tn.Sequential([tn.Dense(512, "relu"), tn.Dense(10)])
    opt = tn.Adam(1e-3)
    with tn.GradientTape() as tape:
        loss = tn.softmax_cross_entropy(model(x), labels)
    opt.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))

Tensors are owned by the core (64-byte aligned) and export by DLPack without copies;
the tape records core ops and runs the backward pass in C++ (cpp/tape). Images are NHWC.
"""

from twincore.frontends.native.tensor import Tensor, Variable, as_tensor, constant, zeros  # noqa: F401
from twincore.frontends.native.tape import GradientTape  # noqa: F401
from twincore.frontends.native.ops import (  # noqa: F401
    activate, add, conv2d, dense, flatten, global_avg_pool2d, matmul, max_pool2d, mse, mul, reduce_mean,
    reduce_sum, relu, reshape, rotate, softmax, softmax_cross_entropy, sub, tanh,
)
from twincore.frontends.native.layers import (  # noqa: F401
    Activation, Conv2D, Dense, Flatten, GlobalAveragePooling2D, Layer, MaxPool2D, RotationConv2D, Sequential,
)
from twincore.frontends.native.optimizers import SGD, Adam, Optimizer  # noqa: F401
from twincore.frontends.native.ops import (  # noqa: F401
    batch_norm, binary_cross_entropy_with_logits, conv_transpose2d, leaky_relu)
from twincore.frontends.native.layers import BatchNormalization, Conv2DTranspose, LeakyReLU, Reshape  # noqa: F401
from twincore.frontends.native.ops import embedding, lstm, sigmoid  # noqa: F401,E402  (issue 16)
from twincore.frontends.native.layers import LSTM, Embedding  # noqa: F401,E402  (issue 16)

__all__ = [
    "Tensor", "Variable", "as_tensor", "constant", "zeros", "GradientTape",
    "activate", "add", "conv2d", "dense", "flatten", "global_avg_pool2d", "matmul", "max_pool2d", "mse", "mul",
    "reduce_mean", "reduce_sum", "relu", "reshape", "rotate", "softmax", "softmax_cross_entropy", "sub", "tanh",
    "Activation", "Conv2D", "Dense", "Flatten", "GlobalAveragePooling2D", "Layer", "MaxPool2D", "RotationConv2D",
    "Sequential", "SGD", "Adam", "Optimizer",
]
__all__ += ["batch_norm", "binary_cross_entropy_with_logits", "conv_transpose2d", "leaky_relu",  # GAN (issue 16)
            "BatchNormalization", "Conv2DTranspose", "LeakyReLU", "Reshape"]
__all__ += ["embedding", "lstm", "sigmoid", "LSTM", "Embedding"]  # issue 16
