"""twincore.kernels: the op API over the C++/CUDA core.

Each function takes arrays of any DLPack-capable kind (NumPy, torch, TensorFlow,
CuPy) and returns arrays of the same kind. float32, float64, float16 and bfloat16 everywhere
(halves accumulate in float32; on the CPU through cpp/core/half.h). `Meta(shape, dtype)` inputs return Meta outputs: the ops' own shape
rules and checks, no kernel (what the frontends' shape functions use).
Bad input raises ValueError/TypeError naming the op and the argument.
"""

from twincore._core import cpu_isa, cpu_best_isa, set_cpu_isa, num_threads, set_num_threads  # noqa: F401
from twincore.kernels.activations import relu, relu_backward, tanh, tanh_backward  # noqa: F401
from twincore.kernels.max_pool2d import max_pool2d, max_pool2d_backward  # noqa: F401
from twincore.kernels.global_avg_pool2d import global_avg_pool2d, global_avg_pool2d_backward  # noqa: F401
from twincore.kernels.optim import sgd_step, adam_step  # noqa: F401
from twincore.kernels.conv2d import conv2d, conv2d_backward  # noqa: F401
from twincore.kernels.rotate import rotate, rotate_backward, check_options as rotate_check_options  # noqa: F401
from twincore.kernels.matmul import matmul, matmul_backward  # noqa: F401
from twincore.kernels.mse import mse, mse_backward  # noqa: F401
from twincore.kernels.softmax import softmax, softmax_backward  # noqa: F401
from twincore.kernels.softmax_cross_entropy import softmax_cross_entropy  # noqa: F401
# GAN ops (issue 16)
from twincore.kernels.activations import leaky_relu, leaky_relu_backward  # noqa: F401
from twincore.kernels.binary_cross_entropy_with_logits import binary_cross_entropy_with_logits  # noqa: F401
from twincore.kernels.conv_transpose2d import conv_transpose2d, conv_transpose2d_backward  # noqa: F401
from twincore.kernels.batch_norm import (  # noqa: F401
    batch_norm, batch_norm_backward, batch_norm_inference, batch_norm_update_stats)

# issue 16, LSTM half: sigmoid, embedding, lstm
from twincore.kernels.activations import sigmoid, sigmoid_backward  # noqa: F401
from twincore.kernels.embedding import embedding, embedding_backward  # noqa: F401
from twincore.kernels.lstm import lstm, lstm_backward  # noqa: F401

# CUDA arrays (torch / CuPy / any DLPack kCUDA array) run the same bindings, which launch each
# op's GPU plan through the nvcc build or CuPy (see _dispatch); Meta arrays give shapes only.
from twincore._core import Meta  # noqa: F401
from twincore.kernels._dispatch import backend_for, backends_used, gpu_info, set_stream, set_allow_tf32  # noqa: F401
