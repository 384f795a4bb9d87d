"""Float64 references of one optimizer step; each returns the new arrays (inputs untouched)."""
import numpy as np


def sgd_step(param, grad, buf=None, lr=0.01, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
    p, d = np.asarray(param, np.float64), np.asarray(grad, np.float64)
    d = d + weight_decay * p
    if momentum != 0:
        buf = momentum * np.asarray(buf, np.float64) + (1 - dampening) * d
        d = d + momentum * buf if nesterov else buf
    return p - lr * d, buf


def adam_step(param, grad, m, v, step, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0,
              decoupled_weight_decay=False, flavor="torch"):
    p, g = np.asarray(param, np.float64), np.asarray(grad, np.float64)
    m, v = np.asarray(m, np.float64), np.asarray(v, np.float64)
    b1p, b2p = beta1 ** step, beta2 ** step
    decay = lr * weight_decay
    if flavor == "keras":  # Keras holds lr, and casts the betas and its weight decay, as float32
        f32 = lambda d: float(np.float32(d))
        lr, decay, b1p, b2p = f32(lr), f32(lr) * f32(weight_decay), f32(beta1) ** step, f32(beta2) ** step
    if decoupled_weight_decay:
        p = p * (1 - decay)
    else:
        g = g + weight_decay * p
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g * g
    if flavor == "torch":
        m_hat, v_hat = m / (1 - b1p), v / (1 - b2p)
        p = p - lr * m_hat / (np.sqrt(v_hat) + eps)
    else:
        alpha = lr * np.sqrt(1 - b2p) / (1 - b1p)
        p = p - alpha * m / (np.sqrt(v) + eps)
    return p, m, v
