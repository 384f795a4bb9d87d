import numpy as np


def binary_cross_entropy_with_logits(logits, targets, pos_weight=None, label_smoothing=0.0, reduction="mean"):
    """(loss, dlogits) in float64, written the textbook way on probabilities, in float64 with
    logaddexp so that logits of +-1e4 stay finite: log sigmoid(x) = -logaddexp(0, -x)."""
    x = np.asarray(logits, np.float64)
    y = np.asarray(targets, np.float64) * (1 - label_smoothing) + 0.5 * label_smoothing
    p = 1.0 if pos_weight is None else np.asarray(pos_weight, np.float64)
    log_sig, log_1m_sig = -np.logaddexp(0.0, -x), -np.logaddexp(0.0, x)
    loss = -(p * y * log_sig + (1 - y) * log_1m_sig)
    sig = np.exp(log_sig)
    grad = -(p * y * (1 - sig) - (1 - y) * sig)
    if reduction == "none":
        return loss, grad
    if reduction == "sum":
        return loss.sum(), grad
    return loss.mean(), grad / x.size
