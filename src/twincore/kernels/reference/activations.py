import numpy as np


def relu(x):
    x = np.asarray(x, np.float64)
    return np.where(x < 0, 0.0, x)


def relu_backward(grad, y):
    return np.where(np.asarray(y) > 0, np.asarray(grad, np.float64), 0.0)


def tanh(x):
    return np.tanh(np.asarray(x, np.float64))


def tanh_backward(grad, y):
    y = np.asarray(y, np.float64)
    return np.asarray(grad, np.float64) * (1.0 - y * y)


def leaky_relu(x, negative_slope=0.01):
    x = np.asarray(x, np.float64)
    return np.where(x > 0, x, x * negative_slope)


def leaky_relu_backward(grad, x, negative_slope=0.01):
    return np.where(np.asarray(x) > 0, 1.0, negative_slope) * np.asarray(grad, np.float64)

def sigmoid(x):
    x = np.asarray(x, np.float64)
    e = np.exp(-np.abs(x))  # never overflows; exact in both tails (no 1 + tanh cancellation)
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def sigmoid_backward(grad, y):
    y = np.asarray(y, np.float64)
    return np.asarray(grad, np.float64) * y * (1.0 - y)
