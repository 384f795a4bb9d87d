import numpy as np


def embedding(ids, weight):
    return np.asarray(weight, np.float64)[np.asarray(ids)]


def embedding_backward(grad, ids, num_embeddings, padding_idx=None):
    grad = np.asarray(grad, np.float64)
    ids = np.asarray(ids).reshape(-1)
    dw = np.zeros((num_embeddings, grad.shape[-1]))
    np.add.at(dw, ids, grad.reshape(len(ids), -1))
    if padding_idx is not None:
        dw[padding_idx] = 0.0
    return dw
