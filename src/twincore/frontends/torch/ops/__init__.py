"""The twincore ops as torch custom ops (namespace `twincore::`), one file per op.

Each forward op has a registered fake (meta) kernel, so it traces under torch.compile
without graph breaks, and an autograd formula (`register_autograd`) whose backward is
itself a custom op (so compile traces the backward too). `torch.ops.twincore.<op>` is
the autograd-aware op. Each forward op also carries `op.eager`, a thin
torch.autograd.Function over the same forward / setup_context / backward functions that
skips the dispatcher; `functional` uses it in eager mode and the custom op under
torch.compile (see `_common.register` and `_common.call`).
"""

from twincore.frontends.torch.ops.activations import relu, relu_backward, tanh, tanh_backward  # noqa: F401
from twincore.frontends.torch.ops.conv2d import conv2d, conv2d_backward  # noqa: F401
from twincore.frontends.torch.ops.softmax_cross_entropy import softmax_cross_entropy  # noqa: F401
from twincore.frontends.torch.ops.global_avg_pool2d import global_avg_pool2d, global_avg_pool2d_backward  # noqa: F401
from twincore.frontends.torch.ops.matmul import matmul, matmul_backward  # noqa: F401
from twincore.frontends.torch.ops.max_pool2d import max_pool2d, max_pool2d_backward  # noqa: F401
from twincore.frontends.torch.ops.mse import mse, mse_backward  # noqa: F401
from twincore.frontends.torch.ops.rotate import rotate, rotate_backward  # noqa: F401
from twincore.frontends.torch.ops.softmax import softmax, softmax_backward  # noqa: F401
# GAN ops (issue 16)
from twincore.frontends.torch.ops.batch_norm import batch_norm, batch_norm_backward, batch_norm_inference  # noqa: F401
from twincore.frontends.torch.ops.binary_cross_entropy import binary_cross_entropy_with_logits  # noqa: F401
from twincore.frontends.torch.ops.conv_transpose2d import conv_transpose2d, conv_transpose2d_backward  # noqa: F401
from twincore.frontends.torch.ops.leaky_relu import leaky_relu, leaky_relu_backward  # noqa: F401

# issue 16, LSTM half
from twincore.frontends.torch.ops.activations import sigmoid, sigmoid_backward  # noqa: F401
from twincore.frontends.torch.ops.embedding import embedding, embedding_backward  # noqa: F401
from twincore.frontends.torch.ops.lstm import lstm, lstm_backward  # noqa: F401

# torch.autocast: the same policy as torch's own ops (see _common.register_autocast).
from twincore.frontends.torch._common import register_autocast  # noqa: E402

for _op in (matmul, conv2d, conv_transpose2d, lstm):  # as torch's linear / conv / rnn: the autocast dtype
    register_autocast(_op, "lower")
for _op in (softmax_cross_entropy, mse, binary_cross_entropy_with_logits):  # losses: float32
    register_autocast(_op, "fp32")
for _op in (rotate, batch_norm, batch_norm_inference):  # several float inputs: the widest dtype
    register_autocast(_op, "promote")
del _op

# Every custom op, forward and backward, for opcheck and for readers.
ALL_OPS = {name: obj for name, obj in globals().items() if hasattr(obj, "register_fake")}
