"""Elementwise activations: relu, tanh, sigmoid, leaky_relu (forward and backward).

Shapes: any; the output has the input's shape, dtype and kind (numpy in, numpy out;
torch in, torch out; ...). Backward takes the forward's *output* y, which is all
these gradients need.
"""

from __future__ import annotations

from twincore import _core
from twincore.kernels._array import prepare, to_core


def relu(x):
    """y = max(x, 0) elementwise; NaN stays NaN (as in torch and TF)."""
    x, kind = prepare(x)
    return kind.wrap(_core.relu(x, kind.alloc))


def relu_backward(grad, y):
    """dx = grad * (y > 0), with y = relu(x)."""
    grad, kind = prepare(grad)
    return kind.wrap(_core.relu_backward(grad, to_core(y), kind.alloc))


def tanh(x):
    """y = tanh(x) elementwise."""
    x, kind = prepare(x)
    return kind.wrap(_core.tanh(x, kind.alloc))


def tanh_backward(grad, y):
    """dx = grad * (1 - y**2), with y = tanh(x)."""
    grad, kind = prepare(grad)
    return kind.wrap(_core.tanh_backward(grad, to_core(y), kind.alloc))


# ---- leaky_relu (its backward reads the input x: the sign of y is ambiguous for slope < 0) ----
def leaky_relu(x, negative_slope: float = 0.01):
    """y = x where x > 0, else negative_slope * x (torch's default slope 0.01; Keras's 0.3)."""
    x, kind = prepare(x)
    return kind.wrap(_core.leaky_relu(x, negative_slope, kind.alloc))


def leaky_relu_backward(grad, x, negative_slope: float = 0.01):
    """dx = grad where x > 0, else grad * negative_slope; x is the forward's input."""
    grad, kind = prepare(grad)
    return kind.wrap(_core.leaky_relu_backward(grad, to_core(x), negative_slope, kind.alloc))

def sigmoid(x):
    """y = 1 / (1 + exp(-x)) elementwise; saturates to exactly 0 / 1 without overflow."""
    x, kind = prepare(x)
    return kind.wrap(_core.sigmoid(x, kind.alloc))


def sigmoid_backward(grad, y):
    """dx = grad * y * (1 - y), with y = sigmoid(x)."""
    grad, kind = prepare(grad)
    return kind.wrap(_core.sigmoid_backward(grad, to_core(y), kind.alloc))
