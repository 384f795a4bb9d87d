#include "cpu/rotate.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "core/dispatch.h"
#include "core/half.h"
#include "core/parallel.h"
#include "gpu/rotate.h"
#include "python/gpu_py.h"

namespace tc::cpu {
namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr double kFar = 1e12;  // coordinates are clamped to +-kFar before floor -> int64
enum Fill { kZeros = 0, kConstant = 1, kNearest = 2, kReflect = 3 };

struct Dims {
  int64_t n, c, h, w;
};
Dims dims_of(const Tensor& t, bool nhwc) {
  return nhwc ? Dims{t.size(0), t.size(3), t.size(1), t.size(2)}
              : Dims{t.size(0), t.size(1), t.size(2), t.size(3)};
}

// cos and sin of an angle in degrees; exact at multiples of 90 degrees so that those
// rotations land exactly on the pixel grid (np.rot90 equality, identity at 0 and 360).
void cos_sin_deg(double deg, double* c, double* s) {
  double r = std::fmod(deg, 360.0);
  if (r < 0) r += 360.0;
  if (r == 0) { *c = 1; *s = 0; return; }
  if (r == 90) { *c = 0; *s = 1; return; }
  if (r == 180) { *c = -1; *s = 0; return; }
  if (r == 270) { *c = 0; *s = -1; return; }
  *c = std::cos(r * kPi / 180.0);
  *s = std::sin(r * kPi / 180.0);
}

// One sample's warp: cos, sin of its angle and its translation.
struct Pose {
  double c, s, dx, dy;
};

template <typename T>
Pose pose_of(const Tensor& angle, const Tensor& translate, int64_t n) {
  Pose p;
  cos_sin_deg(double(angle.ptr<T>()[angle.ndim() == 0 ? 0 : n]), &p.c, &p.s);
  const T* t = translate.ptr<T>() + (translate.ndim() == 1 ? 0 : 2 * n);
  p.dx = double(t[0]);
  p.dy = double(t[1]);
  return p;
}

// Where output pixel (y, x) reads the input (see rotate.h); also returns u, v.
struct Src {
  double sx, sy, u, v;
};
inline Src source(const Pose& p, double cx, double cy, int64_t y, int64_t x) {
  Src r;
  r.u = double(x) - cx - p.dx;
  r.v = double(y) - cy - p.dy;
  r.sx = std::clamp(p.c * r.u - p.s * r.v + cx, -kFar, kFar);
  r.sy = std::clamp(p.s * r.u + p.c * r.v + cy, -kFar, kFar);
  return r;
}

// Tap index i on an axis of length n, mapped by the fill mode; -1 = outside (zeros/constant).
inline int64_t map_index(int64_t i, int64_t n, int fill) {
  if (i >= 0 && i < n) return i;
  if (fill == kNearest) return i < 0 ? 0 : n - 1;
  if (fill == kReflect) {  // half-sample symmetric, period 2n
    int64_t p = 2 * n, m = i % p;
    if (m < 0) m += p;
    return m < n ? m : p - 1 - m;
  }
  return -1;
}

// One output pixel with at least one tap inside the image: out[p] = bias + sum_k w[k] in[off[k]].
// K = 4 (bilinear) or 1 (nearest). Taps outside (zeros/constant) have w = 0, their
// weight moved into bias (times the constant), and off pointing at an inside tap of
// the same pixel, so the inner loops need no branch. Pixels with no tap inside are
// not in the table: they keep the fill value (and get no gradient).
template <typename T, int K>
struct Entry {
  int32_t p;
  int32_t off[K];
  T w[K];
  T bias;
};

// Table of output pixels [p0, p1) of one sample (pixels are processed in blocks so the
// table stays small, in cache, whatever the image size).
template <typename T, int K>
void build_table(const Pose& ps, int64_t H, int64_t W, int64_t p0, int64_t p1, int fill,
                 double fill_value, std::vector<Entry<T, K>>& tab) {
  tab.clear();
  const double cx = 0.5 * double(W - 1), cy = 0.5 * double(H - 1);
  for (int64_t p = p0; p < p1; ++p) {
    Src s = source(ps, cx, cy, p / W, p % W);
    Entry<T, K> e;
    e.p = int32_t(p);
    if constexpr (K == 1) {
      int64_t xi = map_index(int64_t(std::floor(s.sx + 0.5)), W, fill);
      int64_t yi = map_index(int64_t(std::floor(s.sy + 0.5)), H, fill);
      if (xi < 0 || yi < 0) continue;
      e.off[0] = int32_t(yi * W + xi);
      e.w[0] = T(1);
      e.bias = T(0);
    } else {
      double fx0 = std::floor(s.sx), fy0 = std::floor(s.sy);
      double fx = s.sx - fx0, fy = s.sy - fy0;
      int64_t x0 = int64_t(fx0), y0 = int64_t(fy0);
      int64_t xs[2] = {map_index(x0, W, fill), map_index(x0 + 1, W, fill)};
      int64_t ys[2] = {map_index(y0, H, fill), map_index(y0 + 1, H, fill)};
      double wx[2] = {1.0 - fx, fx}, wy[2] = {1.0 - fy, fy};
      double outside_w = 0;
      int32_t inside = -1;
      for (int a = 0; a < 2; ++a)
        for (int b = 0; b < 2; ++b) {
          int k = 2 * a + b;
          if (ys[a] < 0 || xs[b] < 0) {
            e.off[k] = -1;
            e.w[k] = T(0);
            outside_w += wy[a] * wx[b];
          } else {
            e.off[k] = int32_t(ys[a] * W + xs[b]);
            e.w[k] = T(wy[a] * wx[b]);
            inside = e.off[k];
          }
        }
      if (inside < 0) continue;
      for (int k = 0; k < 4; ++k)
        if (e.off[k] < 0) e.off[k] = inside;
      e.bias = T(fill == kConstant && outside_w != 0 ? fill_value * outside_w : 0.0);
    }
    tab.push_back(e);
  }
}

// A block of output pixels [p0, p1) of one image, for channels [c0, c1).
// NCHW (nhwc=false): planes hw apart; the channel loop sits inside the table loop so
// each entry is read once for all channels. NHWC: channels contiguous (C apart pixels),
// the innermost loop vectorizes.
template <typename T, int K>
void forward_block(const std::vector<Entry<T, K>>& tab, const T* in, T* out, int64_t p0,
                   int64_t p1, int64_t c0, int64_t c1, int64_t hw, int64_t C, bool nhwc, T fillv) {
  if (nhwc) {
    if (int64_t(tab.size()) < p1 - p0) std::fill(out + p0 * C, out + p1 * C, fillv);
    for (const auto& e : tab) {
      T* o = out + int64_t(e.p) * C;
      const T* src[K];
      for (int k = 0; k < K; ++k) src[k] = in + int64_t(e.off[k]) * C;
      for (int64_t c = 0; c < C; ++c) {
        T acc = e.bias;
        for (int k = 0; k < K; ++k) acc += e.w[k] * src[k][c];
        o[c] = acc;
      }
    }
    return;
  }
  if (int64_t(tab.size()) < p1 - p0)
    for (int64_t c = c0; c < c1; ++c) std::fill(out + c * hw + p0, out + c * hw + p1, fillv);
  for (const auto& e : tab) {
    const T* src = in + c0 * hw;
    T* o = out + c0 * hw + e.p;
    for (int64_t c = c0; c < c1; ++c, src += hw, o += hw) {
      T acc = e.bias;
      for (int k = 0; k < K; ++k) acc += e.w[k] * src[e.off[k]];
      *o = acc;
    }
  }
}

// Backward, d images: the transpose of the gather (scatter-add into the taps). The
// caller zeroes d before the first block.
template <typename T, int K>
void backward_block(const std::vector<Entry<T, K>>& tab, const T* g, T* d, int64_t c0, int64_t c1,
                    int64_t hw, int64_t C, bool nhwc) {
  if (nhwc) {
    for (const auto& e : tab) {
      const T* gp = g + int64_t(e.p) * C;
      for (int k = 0; k < K; ++k) {
        T* dp = d + int64_t(e.off[k]) * C;
        const T w = e.w[k];
        for (int64_t c = 0; c < C; ++c) dp[c] += w * gp[c];
      }
    }
    return;
  }
  for (const auto& e : tab) {
    const T* gp = g + c0 * hw + e.p;
    T* dp = d + c0 * hw;
    for (int64_t c = c0; c < c1; ++c, gp += hw, dp += hw) {
      const T gv = *gp;
      for (int k = 0; k < K; ++k) dp[e.off[k]] += e.w[k] * gv;
    }
  }
}

constexpr int64_t kBlock = 4096;  // output pixels per table

// Runs per_block(table, n, c0, c1, p0, p1) over every image n and channel range
// [c0, c1) in parallel. A thread owns whole (n, c) planes (NCHW) or whole images
// (NHWC), so the scatter of the backward never races. Each table block is built once
// per (thread, sample) and used for all of that thread's channels of the sample.
template <typename T, int K, typename F>
void for_each_unit(const Tensor& images, const Tensor& angle, const Tensor& translate, int fill,
                   double fill_value, bool nhwc, F per_block) {
  Dims d = dims_of(images, nhwc);
  const int64_t hw = d.h * d.w;
  const int64_t per_n = nhwc ? 1 : d.c;  // parallel units per sample
  const int64_t grain = std::max<int64_t>(1, (1 << 15) / (hw * (nhwc ? d.c : 1)));
  parallel_for(d.n * per_n, grain, [&](int64_t b, int64_t e) {
    std::vector<Entry<T, K>> tab;
    tab.reserve(size_t(std::min(hw, kBlock)));
    for (int64_t i = b; i < e;) {
      const int64_t n = i / per_n, end = std::min(e, (n + 1) * per_n);  // units [i, end) of n
      const int64_t c0 = nhwc ? 0 : i - n * per_n, c1 = nhwc ? d.c : end - n * per_n;
      const Pose ps = pose_of<T>(angle, translate, n);
      for (int64_t p0 = 0; p0 < hw; p0 += kBlock) {
        const int64_t p1 = std::min(hw, p0 + kBlock);
        build_table<T, K>(ps, d.h, d.w, p0, p1, fill, fill_value, tab);
        per_block(tab, n, c0, c1, p0, p1);
      }
      i = end;
    }
  });
}

template <typename T, int K>
void forward_impl(const Tensor& images, const Tensor& angle, const Tensor& translate, int fill,
                  double fill_value, bool nhwc, const Tensor& out) {
  Dims d = dims_of(images, nhwc);
  const int64_t hw = d.h * d.w;
  const T fillv = T(fill == kConstant ? fill_value : 0.0);
  const T* in = images.ptr<T>();
  T* o = out.ptr<T>();
  for_each_unit<T, K>(images, angle, translate, fill, fill_value, nhwc,
                      [&](const std::vector<Entry<T, K>>& tab, int64_t n, int64_t c0, int64_t c1,
                          int64_t p0, int64_t p1) {
                        const int64_t base = n * d.c * hw;
                        forward_block<T, K>(tab, in + base, o + base, p0, p1, c0, c1, hw, d.c, nhwc, fillv);
                      });
}

template <typename T, int K>
void backward_images_impl(const Tensor& grad, const Tensor& images, const Tensor& angle,
                          const Tensor& translate, int fill, double fill_value, bool nhwc,
                          const Tensor& dimages) {
  Dims d = dims_of(images, nhwc);
  const int64_t hw = d.h * d.w;
  const T* g = grad.ptr<T>();
  T* di = dimages.ptr<T>();
  for_each_unit<T, K>(images, angle, translate, fill, fill_value, nhwc,
                      [&](const std::vector<Entry<T, K>>& tab, int64_t n, int64_t c0, int64_t c1,
                          int64_t p0, int64_t) {
                        const int64_t base = n * d.c * hw;
                        if (p0 == 0) std::fill(di + base + c0 * hw, di + base + c1 * hw, T(0));
                        backward_block<T, K>(tab, g + base, di + base, c0, c1, hw, d.c, nhwc);
                      });
}

// ---- backward, d angle and d translate (bilinear) ----
// out = sum of bilinear weights(sx, sy) * taps, so d out / d sx = (1-fy)(v01-v00) + fy(v11-v10)
// and d out / d sy = (1-fx)(v10-v00) + fx(v11-v01) (outside taps read the fill constant;
// clamped/reflected taps make the derivative 0 or mirrored, as the mapped samples say).
// Chain rule: d sx/d a = -s u - c v, d sy/d a = c u - s v (a in radians, times pi/180 per
// degree); d(sx, sy)/d dx = (-c, -s); d(sx, sy)/d dy = (s, -c).

// Per output pixel with a tap inside: its taps (-1 = reads the fill constant) and the
// fractional position, gathered once per block and used for every channel.
struct CoordTap {
  int64_t p, off[4];
  double fx, fy;
};

// Writes [d angle (per degree), d dx, d dy] of sample n, summed over channels and pixels.
template <typename T>
void coord_grads(const Tensor& grad, const Tensor& images, const Pose& ps, int64_t n, int fill,
                 double fill_value, bool nhwc, double* res) {
  Dims d = dims_of(images, nhwc);
  const int64_t hw = d.h * d.w;
  const int64_t pstride = nhwc ? d.c : 1, cstride = nhwc ? 1 : hw;
  const T* img = images.ptr<T>() + n * hw * d.c;
  const T* g = grad.ptr<T>() + n * hw * d.c;
  const double cx = 0.5 * double(d.w - 1), cy = 0.5 * double(d.h - 1);
  const double fillc = fill == kConstant ? fill_value : 0.0;
  double sum_a = 0, sum_x = 0, sum_y = 0;
  std::vector<CoordTap> taps;
  std::vector<double> gxs, gys;  // d out / d (sx, sy) times grad, summed over channels
  for (int64_t p0 = 0; p0 < hw; p0 += kBlock) {
    const int64_t p1 = std::min(hw, p0 + kBlock);
    taps.clear();
    for (int64_t p = p0; p < p1; ++p) {
      Src s = source(ps, cx, cy, p / d.w, p % d.w);
      CoordTap t;
      double fx0 = std::floor(s.sx), fy0 = std::floor(s.sy);
      t.p = p;
      t.fx = s.sx - fx0;
      t.fy = s.sy - fy0;
      int64_t x0 = int64_t(fx0), y0 = int64_t(fy0);
      int64_t xs[2] = {map_index(x0, d.w, fill), map_index(x0 + 1, d.w, fill)};
      int64_t ys[2] = {map_index(y0, d.h, fill), map_index(y0 + 1, d.h, fill)};
      if ((xs[0] < 0 && xs[1] < 0) || (ys[0] < 0 && ys[1] < 0)) continue;  // all fill: flat
      for (int k = 0; k < 4; ++k) {
        int64_t yy = ys[k >> 1], xx = xs[k & 1];
        t.off[k] = (yy < 0 || xx < 0) ? -1 : (yy * d.w + xx) * pstride;
      }
      taps.push_back(t);
    }
    gxs.assign(taps.size(), 0.0);
    gys.assign(taps.size(), 0.0);
    auto accumulate = [&](size_t i, int64_t c) {
      const CoordTap& t = taps[i];
      const T* ic = img + c * cstride;
      double v[4];
      for (int k = 0; k < 4; ++k) v[k] = t.off[k] < 0 ? fillc : double(ic[t.off[k]]);
      double go = double(g[t.p * pstride + c * cstride]);
      gxs[i] += go * ((1 - t.fy) * (v[1] - v[0]) + t.fy * (v[3] - v[2]));
      gys[i] += go * ((1 - t.fx) * (v[2] - v[0]) + t.fx * (v[3] - v[1]));
    };
    if (nhwc) {  // channels contiguous: channel loop inside
      for (size_t i = 0; i < taps.size(); ++i)
        for (int64_t c = 0; c < d.c; ++c) accumulate(i, c);
    } else {  // planes: one plane at a time stays in cache
      for (int64_t c = 0; c < d.c; ++c)
        for (size_t i = 0; i < taps.size(); ++i) accumulate(i, c);
    }
    for (size_t i = 0; i < taps.size(); ++i) {
      Src s = source(ps, cx, cy, taps[i].p / d.w, taps[i].p % d.w);
      sum_a += gxs[i] * (-ps.s * s.u - ps.c * s.v) + gys[i] * (ps.c * s.u - ps.s * s.v);
      sum_x += gxs[i];
      sum_y += gys[i];
    }
  }
  res[0] = sum_a * kPi / 180.0;
  res[1] = -ps.c * sum_x - ps.s * sum_y;
  res[2] = ps.s * sum_x - ps.c * sum_y;
}

template <typename T>
void backward_coords_impl(const Tensor& grad, const Tensor& images, const Tensor& angle,
                          const Tensor& translate, int interpolation, int fill, double fill_value,
                          bool nhwc, const Tensor* dangle, const Tensor* dtranslate) {
  const int64_t N = images.size(0);
  std::vector<double> part(size_t(3 * N), 0.0);
  // Bilinear only; nearest is piecewise constant in the coordinates: its gradient is 0.
  if (interpolation == 0) {
    parallel_for(N, 1, [&](int64_t b, int64_t e) {
      for (int64_t n = b; n < e; ++n)
        coord_grads<T>(grad, images, pose_of<T>(angle, translate, n), n, fill, fill_value, nhwc,
                       &part[size_t(3 * n)]);
    });
  }
  if (dangle) {
    T* da = dangle->ptr<T>();
    if (angle.ndim() == 0) {
      double s = 0;
      for (int64_t n = 0; n < N; ++n) s += part[size_t(3 * n)];
      da[0] = T(s);
    } else {
      for (int64_t n = 0; n < N; ++n) da[n] = T(part[size_t(3 * n)]);
    }
  }
  if (dtranslate) {
    T* dt = dtranslate->ptr<T>();
    if (translate.ndim() == 1) {
      double sx = 0, sy = 0;
      for (int64_t n = 0; n < N; ++n) {
        sx += part[size_t(3 * n + 1)];
        sy += part[size_t(3 * n + 2)];
      }
      dt[0] = T(sx);
      dt[1] = T(sy);
    } else {
      for (int64_t n = 0; n < N; ++n) {
        dt[2 * n] = T(part[size_t(3 * n + 1)]);
        dt[2 * n + 1] = T(part[size_t(3 * n + 2)]);
      }
    }
  }
}

void check_all(const char* op, const Tensor& images, const Tensor& angle, const Tensor& translate,
               int interpolation, int fill, bool nhwc) {
  check_input(op, "images", images);
  check_rank(op, "images", images, 4, 4);
  const int64_t N = images.size(0);
  if (images.size(nhwc ? 1 : 2) * images.size(nhwc ? 2 : 3) > std::numeric_limits<int32_t>::max())
    value_error(op, "images", "images of more than 2^31 pixels (H*W) are not supported, got shape ",
                images.shape.str());
  check_input_like(op, "angle", angle, images);
  if (!(angle.ndim() == 0 || (angle.ndim() == 1 && angle.size(0) == N)))
    value_error(op, "angle", "expected a scalar (0-d) or shape (", N, ",) (one per image), got shape ",
                angle.shape.str());
  check_input_like(op, "translate", translate, images);
  if (!((translate.ndim() == 1 && translate.size(0) == 2) ||
        (translate.ndim() == 2 && translate.size(0) == N && translate.size(1) == 2)))
    value_error(op, "translate", "expected shape (2,) (shared) or (", N, ", 2) (per image), got shape ",
                translate.shape.str());
  // Finite angle / translate (CPU only: on the GPU reading them would cost a copy and a sync).
  if (images.device == Device::cpu) {
    for (int64_t i = 0; i < angle.numel(); ++i)
      if (!std::isfinite(half::load(angle, i)))
        value_error(op, "angle", "must be finite, got ", half::load(angle, i), " at index ", i);
    for (int64_t i = 0; i < translate.numel(); ++i)
      if (!std::isfinite(half::load(translate, i)))
        value_error(op, "translate", "must be finite, got ", half::load(translate, i), " at index ", i);
  }
  if (interpolation < 0 || interpolation > 1)
    value_error(op, "interpolation", "expected 0 (bilinear) or 1 (nearest), got ", interpolation);
  if (fill < 0 || fill > 3)
    value_error(op, "fill", "expected 0 (zeros), 1 (constant), 2 (nearest) or 3 (reflect), got ", fill);
}

}  // namespace

void rotate_check(const Tensor& images, const Tensor& angle, const Tensor& translate,
                  int interpolation, int fill, bool nhwc) {
  check_all("rotate", images, angle, translate, interpolation, fill, nhwc);
}

void rotate(const Tensor& images, const Tensor& angle, const Tensor& translate, int interpolation,
            int fill, double fill_value, bool nhwc, const Tensor& out) {
  TC_FLOAT_TYPES("rotate", images.dtype, T, {
    if (interpolation == 0)
      forward_impl<T, 4>(images, angle, translate, fill, fill_value, nhwc, out);
    else
      forward_impl<T, 1>(images, angle, translate, fill, fill_value, nhwc, out);
  });
}

void rotate_backward(const Tensor& grad, const Tensor& images, const Tensor& angle,
                     const Tensor& translate, int interpolation, int fill, double fill_value,
                     bool nhwc, const Tensor* dimages, const Tensor* dangle,
                     const Tensor* dtranslate) {
  TC_FLOAT_TYPES("rotate_backward", images.dtype, T, {
    if (dimages) {
      if (interpolation == 0)
        backward_images_impl<T, 4>(grad, images, angle, translate, fill, fill_value, nhwc, *dimages);
      else
        backward_images_impl<T, 1>(grad, images, angle, translate, fill, fill_value, nhwc, *dimages);
    }
    if (dangle || dtranslate)
      backward_coords_impl<T>(grad, images, angle, translate, interpolation, fill, fill_value, nhwc,
                              dangle, dtranslate);
  });
}

}  // namespace tc::cpu

namespace {

using namespace tc;
namespace pyb = pybind11;

pyb::object rotate_py(pyb::handle images_obj, pyb::handle angle_obj, pyb::handle translate_obj,
                      pyb::handle interp, pyb::handle fill, pyb::handle fill_value, pyb::handle layout,
                      pyb::handle allocator) {
  const char* op = "rotate";
  auto images = py::arg(images_obj, op, "images");
  py::device_ready(allocator, images.t, op, "images");
  auto angle = py::arg(angle_obj, op, "angle");
  auto translate = py::arg(translate_obj, op, "translate");
  const py::RotateOptions o = py::rotate_options(interp, fill, fill_value, layout, op);
  cpu::check_all(op, images.t, angle.t, translate.t, o.interpolation, o.fill, o.nhwc);
  auto out = py::alloc(allocator, images.t.shape, images.t.dtype, op);
  py::run(allocator, images.t, op, "images", {&images.t, &angle.t, &translate.t}, {&out.t},
          [&] { cpu::rotate(images.t, angle.t, translate.t, o.interpolation, o.fill, o.fill_value, o.nhwc, out.t); },
          [&](gpu::Gpu& g) {
            gpu::rotate(g, images.t, angle.t, translate.t, o.interpolation, o.fill, o.fill_value, o.nhwc, out.t);
          });
  return out.obj;
}

pyb::tuple rotate_backward_py(pyb::handle grad_obj, pyb::handle images_obj, pyb::handle angle_obj,
                              pyb::handle translate_obj, pyb::handle interp, pyb::handle fill,
                              pyb::handle fill_value, pyb::handle layout, bool need_images,
                              bool need_angle, bool need_translate, bool deterministic,
                              pyb::handle allocator) {
  const char* op = "rotate_backward";
  auto grad = py::arg(grad_obj, op, "grad");
  py::device_ready(allocator, grad.t, op, "grad");
  auto images = py::arg(images_obj, op, "images");
  auto angle = py::arg(angle_obj, op, "angle");
  auto translate = py::arg(translate_obj, op, "translate");
  const py::RotateOptions o = py::rotate_options(interp, fill, fill_value, layout, op);
  cpu::check_all(op, images.t, angle.t, translate.t, o.interpolation, o.fill, o.nhwc);
  check_input_like(op, "grad", grad.t, images.t);
  check_shape(op, "grad", grad.t, images.t.shape);
  std::optional<py::Out> di, da, dt;
  if (need_images) di = py::alloc(allocator, images.t.shape, images.t.dtype, op);
  if (need_angle) da = py::alloc(allocator, angle.t.shape, angle.t.dtype, op);
  if (need_translate) dt = py::alloc(allocator, translate.t.shape, translate.t.dtype, op);
  auto ptr = [](std::optional<py::Out>& x) { return x ? &x->t : nullptr; };
  py::run(allocator, grad.t, op, "grad", {&grad.t, &images.t, &angle.t, &translate.t}, {ptr(di), ptr(da), ptr(dt)},
          [&] {
            cpu::rotate_backward(grad.t, images.t, angle.t, translate.t, o.interpolation, o.fill, o.fill_value,
                                 o.nhwc, ptr(di), ptr(da), ptr(dt));
          },
          [&](gpu::Gpu& g) {
            gpu::rotate_backward(g, grad.t, images.t, angle.t, translate.t, o.interpolation, o.fill,
                                 o.fill_value, o.nhwc, ptr(di), ptr(da), ptr(dt), deterministic);
          });
  auto obj = [](std::optional<py::Out>& x) { return x ? x->obj : pyb::object(pyb::none()); };
  return pyb::make_tuple(obj(di), obj(da), obj(dt));
}

}  // namespace

TC_BIND(rotate) {
  m.def("rotate", &rotate_py);
  m.def("rotate_backward", &rotate_backward_py);
}
