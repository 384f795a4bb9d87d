#include "gpu/rotate.h"

#include <string>

namespace tc::gpu {
namespace {

struct Dims {
  int64_t N, C, H, W;
};
Dims dims_of(const Tensor& t, bool nhwc) {
  return nhwc ? Dims{t.size(0), t.size(3), t.size(1), t.size(2)} : Dims{t.size(0), t.size(1), t.size(2), t.size(3)};
}

// angle, a_per, translate, t_per: the pose slots every rotate kernel takes.
Launch& pose(Launch& l, const Tensor& angle, const Tensor& tr) {
  return l.p(angle).i(angle.ndim()).p(tr).i(tr.ndim() == 2);
}

}  // namespace

void rotate(Gpu& g, const Tensor& images, const Tensor& angle, const Tensor& translate, int interp, int fill,
            double fill_value, bool nhwc, const Tensor& out) {
  const Dims d = dims_of(images, nhwc);
  Launch l("rotate.cu", std::string("rotate_") + suffix(images.dtype));
  l.grid1(blocks(d.N * d.H * d.W)).p(images);
  g.launch(pose(l, angle, translate).p(out).i(d.N).i(d.C).i(d.H).i(d.W).i(nhwc).i(interp).i(fill).d(fill_value));
}

void rotate_backward(Gpu& g, const Tensor& grad, const Tensor& images, const Tensor& angle,
                     const Tensor& translate, int interp, int fill, double fill_value, bool nhwc,
                     const Tensor* dimages, const Tensor* dangle, const Tensor* dtranslate, bool deterministic) {
  const char* op = "rotate_backward";
  const Dims d = dims_of(images, nhwc);
  const bool coords = (dangle || dtranslate) && interp == 0;
  if (coords && d.N > 65535)  // one grid row per image
    value_error(op, "images", "d angle / d translate support at most 65535 images per call, got ", d.N);
  const std::string sfx = suffix(grad.dtype);
  auto dims = [&](Launch& l) -> Launch& { return l.i(d.N).i(d.C).i(d.H).i(d.W).i(nhwc).i(interp).i(fill); };
  if (dimages) {
    if (deterministic && (fill == 0 || fill == 1)) {
      Launch l("rotate.cu", "rotate_backward_gather_" + sfx);
      l.grid1(blocks(d.N * d.H * d.W)).p(grad);
      g.launch(dims(pose(l, angle, translate).p(*dimages)));
    } else {  // atomicAdd into float/double (halves: a float buffer, cast at the end)
      const bool direct = grad.dtype == DType::f32 || grad.dtype == DType::f64;
      Tensor acc = direct ? *dimages : g.scratch(grad.shape, DType::f32);
      g.zero(acc);
      Launch l("rotate.cu", "rotate_backward_scatter_" + sfx);
      l.grid1(blocks(d.N * d.H * d.W)).p(grad);
      g.launch(dims(pose(l, angle, translate).p(acc)));
      if (!direct)
        g.launch(Launch("rotate.cu", "rotate_backward_cast_" + sfx)
                     .grid1(blocks(grad.numel())).p(acc).p(*dimages).i(grad.numel()));
    }
  }
  if (!dangle && !dtranslate) return;
  if (interp == 1) {  // nearest: zero coordinate gradient
    if (dangle) g.zero(*dangle);
    if (dtranslate) g.zero(*dtranslate);
    return;
  }
  const int64_t nb = blocks(d.H * d.W, 256, 64);
  Tensor part = g.scratch(Shape{d.N * nb * 3}, DType::f64);
  Tensor work = g.scratch(Shape{d.N * 3}, DType::f64);
  Launch l("rotate.cu", "rotate_backward_coords_" + sfx);
  l.grid1(nb, d.N).p(grad).p(images);
  g.launch(pose(l, angle, translate).p(part).i(d.C).i(d.H).i(d.W).i(nhwc).i(fill).d(fill_value));
  Launch f("rotate.cu", "rotate_backward_coords_finish_" + sfx);
  f.p(part).i(nb);
  g.launch(pose(f, angle, translate).i(d.N).p(work).p(dangle).p(dtranslate));
}

}  // namespace tc::gpu
