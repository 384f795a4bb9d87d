// Elementwise activations. x, y, dy, dx: same shape, contiguous, float32/float64.
#pragma once
#include <cmath>
#include <string>

#include "core/dispatch.h"
#include "core/tensor.h"
#include "cpu/softmax.h"

namespace tc::cpu {

void relu(const Tensor& x, const Tensor& y);                         // y = max(x, 0); NaN stays NaN
void relu_backward(const Tensor& dy, const Tensor& y, const Tensor& dx);  // dx = dy * (y > 0)
void tanh(const Tensor& x, const Tensor& y);
void tanh_backward(const Tensor& dy, const Tensor& y, const Tensor& dx);  // dx = dy * (1 - y^2)

// leaky_relu: y = x > 0 ? x : slope * x (torch's and Keras's rule; NaN stays NaN). Its backward
// reads the input x (the sign of y alone is ambiguous for a negative slope):
// dx = dy * (x > 0 ? 1 : slope).
void leaky_relu(const Tensor& x, double slope, const Tensor& y);
// The slope's rule (every frontend): finite, else ValueError naming 'negative_slope'. Returns it.
double leaky_relu_slope(double slope, const char* op);
void leaky_relu_backward(const Tensor& dy, const Tensor& x, double slope, const Tensor& dx);
// sigmoid: y = 1 / (1 + exp(-x)); dx = dy * y * (1 - y).
void sigmoid(const Tensor& x, const Tensor& y);
void sigmoid_backward(const Tensor& dy, const Tensor& y, const Tensor& dx);

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

// Scalar tanh / sigmoid shared by the elementwise kernels and fused ones (lstm's gates).
// Call them only from TC_ISA_FN bodies so each ISA's loop inlines and vectorizes them.
namespace act {

// tanh for float as a rational function (the coefficients of Eigen's
// generic_fast_tanh_float, max error ~2 ulp) so the loop vectorizes; double uses std::tanh.
TC_INLINE float tanh_of(float x) {
  const float c = 7.90531110763549805f;
  float xc = x > c ? c : (x < -c ? -c : x);
  float x2 = xc * xc;
  float p = -2.76076847742355e-16f;
  p = p * x2 + 2.00018790482477e-13f;
  p = p * x2 + -8.60467152213735e-11f;
  p = p * x2 + 5.12229709037114e-08f;
  p = p * x2 + 1.48572235717979e-05f;
  p = p * x2 + 6.37261928875436e-04f;
  p = p * x2 + 4.89352455891786e-03f;
  p = p * xc;
  float q = 1.19825839466702e-06f;
  q = q * x2 + 1.18534705686654e-04f;
  q = q * x2 + 2.26843463243900e-03f;
  q = q * x2 + 4.89352518554385e-03f;
  float r = std::fabs(x) < 0.0004f ? x : p / q;
  return x != x ? x : r;
}
TC_INLINE double tanh_of(double x) { return std::tanh(x); }

// 1 / (1 + e^-x) through the vectorizable exp (rows::exp_of): e^-x = inf for x < -88.7
// gives 0, e^-x = 0 for x > 87 gives 1; NaN stays NaN.
TC_INLINE float sigmoid_of(float x) { return 1.0f / (1.0f + rows::exp_of(-x)); }
TC_INLINE double sigmoid_of(double x) { return 1.0 / (1.0 + std::exp(-x)); }

}  // namespace act

}  // namespace tc::cpu
