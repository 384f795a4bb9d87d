#include "gpu/max_pool2d.h"

#include <string>

namespace tc::gpu {
namespace {

// (N, C) of a 4-d shape in the layout.
int64_t batch(const Tensor& t) { return t.size(0); }
int64_t channels(const Tensor& t, bool nhwc) { return nhwc ? t.size(3) : t.size(1); }

}  // namespace

void max_pool2d(Gpu& g, const Tensor& x, const Window2d& w, bool nhwc, const Tensor& y, const Tensor* indices) {
  g.launch(Launch("max_pool2d.cu", std::string("max_pool2d_") + suffix(x.dtype))
               .grid1(blocks(y.numel()))
               .p(x).p(y).p(indices).i(batch(x)).i(channels(x, nhwc)).i(w.ih).i(w.iw).i(w.oh).i(w.ow)
               .i(w.kh).i(w.kw).i(w.sh).i(w.sw).i(w.pad_top).i(w.pad_left).i(nhwc));
}

void max_pool2d_backward(Gpu& g, const Tensor& grad, const Tensor& indices, const Window2d& s,
                         const Window2d* w, bool nhwc, const Tensor& dx) {
  const std::string sfx = suffix(grad.dtype);
  const int64_t N = batch(dx), C = channels(dx, nhwc);
  if (w) {
    g.launch(Launch("max_pool2d.cu", "max_pool2d_backward_" + sfx)
                 .grid1(blocks(dx.numel()))
                 .p(grad).p(indices).p(dx).i(N).i(C).i(s.ih).i(s.iw).i(s.oh).i(s.ow)
                 .i(w->kh).i(w->kw).i(w->sh).i(w->sw).i(w->pad_top).i(w->pad_left).i(nhwc));
    return;
  }
  // The window is unknown: scatter (deterministic when windows do not overlap, the usual
  // case); halves accumulate in a float buffer, cast at the end.
  const bool direct = grad.dtype == DType::f32 || grad.dtype == DType::f64;
  Tensor acc = direct ? dx : g.scratch(dx.shape, DType::f32);
  g.zero(acc);
  g.launch(Launch("max_pool2d.cu", "max_pool2d_backward_scatter_" + sfx)
               .grid1(blocks(grad.numel()))
               .p(grad).p(indices).p(acc).i(N).i(C).i(s.ih).i(s.iw).i(s.oh).i(s.ow).i(nhwc));
  if (!direct)
    g.launch(Launch("max_pool2d.cu", "max_pool2d_backward_cast_" + sfx)
                 .grid1(blocks(dx.numel())).p(acc).p(dx).i(dx.numel()));
}

}  // namespace tc::gpu
