"""embedding: custom ops twincore::embedding / twincore::embedding_backward.

ids: int32/int64 of any shape S; weight [V, D]; out S + (D,). The backward is the
core's deterministic scatter-add (same bits every run); row padding_idx gets no gradient.
Saves ids only.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

import twincore.kernels as K
from twincore.frontends.torch._common import backward_op, register


def _forward(ids: Tensor, weight: Tensor, padding_idx: Optional[int]) -> Tensor:
    return K.embedding(ids, weight)


embedding = torch.library.custom_op("twincore::embedding", _forward, mutates_args=())


@embedding.register_fake
def _(ids, weight, padding_idx):
    return weight.new_empty((*ids.shape, weight.shape[1]))


def _backward_impl(grad: Tensor, ids: Tensor, num_embeddings: int, padding_idx: Optional[int]) -> Tensor:
    return K.embedding_backward(grad, ids, num_embeddings, padding_idx)


embedding_backward = torch.library.custom_op("twincore::embedding_backward", _backward_impl, mutates_args=())


@embedding_backward.register_fake
def _(grad, ids, num_embeddings, padding_idx):
    return grad.new_empty((num_embeddings, grad.shape[-1]))


def _setup(ctx, inputs, output):
    ids, weight, padding_idx = inputs
    ctx.num_embeddings, ctx.padding_idx = weight.shape[0], padding_idx
    ctx.save_for_backward(ids)


def _backward(ctx, grad):
    (ids,) = ctx.saved_tensors
    if not ctx.needs_input_grad[1]:
        return None, None, None
    dw = backward_op(ctx, embedding_backward, _backward_impl)(grad, ids, ctx.num_embeddings, ctx.padding_idx)
    return None, dw, None


register(embedding, _forward, _setup, _backward)
