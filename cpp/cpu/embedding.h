// Embedding: a row gather and its deterministic scatter-add.
//   ids    int32/int64, any shape S (rank <= 7), each in [0, V)
//   weight [V, D] float32/float64
//   out    S + (D,): out[..., :] = weight[ids[...], :]
// The backward sums the gradient rows of equal ids in the order they appear in ids
// (a counting sort, then one thread per weight row): no atomics, the same bits every run
// whatever the thread count.
#pragma once
#include <cstdint>

#include "core/tensor.h"

namespace tc::cpu {

// Throws ValueError naming op's 'ids' when an id is outside [0, V).
void embedding_check_ids(const Tensor& ids, int64_t V, const char* op);
// Every check of the forward (ids: int32/int64, contiguous, non-empty, on weight's device, in
// range when on the CPU; weight: float [V, D]); returns the output shape ids.shape + (D,).
Shape embedding_check(const Tensor& ids, const Tensor& weight, const char* op);
// padding_idx resolved against V rows (torch's rule: a negative index counts from the end):
// -1 for none; ValueError naming 'padding_idx' outside [-V, V).
int64_t embedding_padding_idx(const int64_t* padding_idx, int64_t V, const char* op);
void embedding(const Tensor& ids, const Tensor& weight, const Tensor& out);
// dweight [V, D] = sum of grad rows per id; row padding_idx (if >= 0) stays zero (torch's padding_idx).
void embedding_backward(const Tensor& grad, const Tensor& ids, int64_t padding_idx, const Tensor& dweight);

}  // namespace tc::cpu
