import numpy as np


def targets(labels, n_classes, label_smoothing=0.0):
    """[N, C] float64 targets from class ids or probabilities, smoothed as torch/Keras."""
    labels = np.asarray(labels)
    if labels.ndim == 1:
        t = np.zeros((labels.shape[0], n_classes))
        t[np.arange(labels.shape[0]), labels] = 1.0
    else:
        t = labels.astype(np.float64)
    return (1.0 - label_smoothing) * t + label_smoothing / n_classes


def softmax_cross_entropy(logits, labels, label_smoothing=0.0, reduction="mean"):
    """(loss, dlogits) in float64: loss_i = -sum_j t_ij log_softmax(x)_ij (0 where t_ij == 0)."""
    x = np.asarray(logits, np.float64)
    n, c = x.shape
    t = targets(labels, c, label_smoothing)
    m = x.max(axis=1, keepdims=True)
    lse = m + np.log(np.exp(x - m).sum(axis=1, keepdims=True))
    with np.errstate(invalid="ignore"):
        logp = x - lse
        per_row = -np.where(t != 0, t * logp, 0.0).sum(axis=1)
    grad = t.sum(axis=1, keepdims=True) * np.exp(logp) - t
    if reduction == "none":
        return per_row, grad
    if reduction == "sum":
        return per_row.sum(), grad
    return per_row.mean(), grad / n
