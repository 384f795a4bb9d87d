"""twincore's JAX frontend: the core's ops as JAX functions (XLA FFI custom calls).

    import jax, jax.numpy as jnp
    import twincore.jax as tj
    y = jax.jit(lambda x, w: tj.conv2d(x, w, padding="same", layout="NHWC", activation="relu"))(x, w)
    g = jax.grad(lambda logits: tj.softmax_cross_entropy(logits, labels))(logits)

Each op is a jax.ffi.ffi_call into a handler compiled into twincore._core (cpp/jax/<op>.cc)
that views XLA's buffers in place (zero copy) and runs the same C++ checks and kernels as
the other frontends; jax.custom_vjp gives the backward kernels. Shapes and options are
checked by the core at trace time (ValueError/TypeError naming twincore.<op> and the
argument); value checks (class ids in range, finite angles) run in the kernel and come
back as XLA runtime errors with the same text. Works under jax.jit and jax.grad; vmap:
relu/tanh/sigmoid/softmax/leaky_relu, mse(reduction="none") and
binary_cross_entropy_with_logits(reduction="none", no pos_weight) batch in one call
(broadcast_all), the others loop over the batch (sequential). CPU only for now (the handlers register for
platform "cpu"; a CUDA handler per op can be added beside each one).
"""

from twincore.frontends.jax._ffi import AVAILABLE, register  # noqa: F401
from twincore.frontends.jax.activations import relu, sigmoid, softmax, tanh  # noqa: F401
from twincore.frontends.jax.batch_norm import (  # noqa: F401
    batch_norm, batch_norm_inference, batch_norm_update_stats)
from twincore.frontends.jax.binary_cross_entropy_with_logits import binary_cross_entropy_with_logits  # noqa: F401
from twincore.frontends.jax.conv2d import conv2d  # noqa: F401
from twincore.frontends.jax.conv_transpose2d import conv_transpose2d  # noqa: F401
from twincore.frontends.jax.embedding import embedding  # noqa: F401
from twincore.frontends.jax.global_avg_pool2d import global_avg_pool2d  # noqa: F401
from twincore.frontends.jax.leaky_relu import leaky_relu  # noqa: F401
from twincore.frontends.jax.lstm import lstm  # noqa: F401
from twincore.frontends.jax.matmul import dense, matmul  # noqa: F401
from twincore.frontends.jax.max_pool2d import max_pool2d  # noqa: F401
from twincore.frontends.jax.mse import mse  # noqa: F401
from twincore.frontends.jax.rotate import rotate  # noqa: F401
from twincore.frontends.jax.softmax_cross_entropy import softmax_cross_entropy  # noqa: F401

__all__ = ["batch_norm", "batch_norm_inference", "batch_norm_update_stats", "binary_cross_entropy_with_logits",
           "conv2d", "conv_transpose2d", "dense", "embedding", "global_avg_pool2d", "leaky_relu", "lstm", "matmul",
           "max_pool2d", "mse", "relu", "rotate", "sigmoid", "softmax", "softmax_cross_entropy", "tanh"]
