// Elementwise activations. x, y, dy, dx: same shape, contiguous, float32/float64.
#pragma once
#include <string>

#include "core/tensor.h"

namespace tc::cpu {

void relu(const Tensor& x, const Tensor& y);                         // y = max(x, 0); NaN stays NaN
void relu_backward(const Tensor& dy, const Tensor& y, const Tensor& dx);  // dx = dy * (y > 0)
void tanh(const Tensor& x, const Tensor& y);
void tanh_backward(const Tensor& dy, const Tensor& y, const Tensor& dx);  // dx = dy * (1 - y^2)

// leaky_relu: y = x > 0 ? x : slope * x (torch's and Keras's rule; NaN stays NaN). Its backward
// reads the input x (the sign of y alone is ambiguous for a negative slope):
// dx = dy * (x > 0 ? 1 : slope).
void leaky_relu(const Tensor& x, double slope, const Tensor& y);
void leaky_relu_backward(const Tensor& dy, const Tensor& x, double slope, const Tensor& dx);

// An activation fused into another op's epilogue (conv2d): the op applies it to each block
// of its output while the block is still in cache, instead of a second pass over memory.
enum class Act { none, relu, tanh };
// "relu" / "tanh"; "" or "linear" -> none; anything else: ValueError naming op's 'activation'.
Act act_from(const std::string& name, const char* op);
// Serial, on one block (the caller parallelises): y = f(y) in place ...
void act_inplace(Act a, float* y, int64_t n);
void act_inplace(Act a, double* y, int64_t n);
// ... and g = dy * f'(.) from the forward's output y (g may be dy).
void act_backward(Act a, const float* dy, const float* y, float* g, int64_t n);
void act_backward(Act a, const double* dy, const double* y, double* g, int64_t n);

}  // namespace tc::cpu
