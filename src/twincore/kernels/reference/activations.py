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


def sigmoid(x):
    x = np.asarray(x, np.float64)
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # = 1 / (1 + e^-x), without overflow warnings


def sigmoid_backward(grad, y):
    y = np.asarray(y, np.float64)
    return np.asarray(grad, np.float64) * y * (1.0 - y)
