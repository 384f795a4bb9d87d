// Rotation + translation (affine warp), the GPU form of cpp/cpu/rotate.cc; same
// conventions (see src/twincore/kernels/rotate.py): output pixel (y, x) samples the input at
//   u = x - cx - dx, v = y - cy - dy, sx = c u - s v + cx, sy = s u + c v + cy,
// cx = (W-1)/2, cy = (H-1)/2, c/s = cos/sin(angle in degrees), exact at multiples of 90.
// Coordinates in double like the CPU kernel. interp 0 bilinear, 1 nearest (floor(s + .5));
// fill 0 zeros, 1 constant, 2 nearest (edge), 3 reflect (half-sample symmetric).
// angle: [N] when a_per (else one shared value); translate: [N,2] when t_per (else [2]).
//
// Kernels: rotate_<dt> (gather; one thread per (n, pixel), looping channels);
// rotate_backward_scatter_<dt> (d images by atomicAdd into an accumulator buffer `acc`
// of float/double, any fill); rotate_backward_gather_<dt> (d images deterministic: each
// input pixel finds the output pixels whose footprint covers it by inverting the warp;
// fills zeros/constant only); rotate_backward_coords_<dt> (per-block double partials of
// d angle / d dx / d dy) + rotate_backward_coords_finish_<dt> (fixed-order sums).
#include "common.cuh"

#define TC_PI 3.14159265358979323846
#define TC_FAR 1e12

struct Pose {
  double c, s, dx, dy;
};

template <typename T>
__device__ __forceinline__ Pose pose_of(const T* angle, i64 a_per, const T* tr, i64 t_per, i64 n) {
  Pose p;
  double r = fmod(double(ld(angle, a_per ? n : 0)), 360.0);
  if (r < 0) r += 360.0;
  if (r == 0) { p.c = 1; p.s = 0; }
  else if (r == 90) { p.c = 0; p.s = 1; }
  else if (r == 180) { p.c = -1; p.s = 0; }
  else if (r == 270) { p.c = 0; p.s = -1; }
  else { p.c = cos(r * TC_PI / 180.0); p.s = sin(r * TC_PI / 180.0); }
  const i64 o = t_per ? 2 * n : 0;
  p.dx = double(ld(tr, o));
  p.dy = double(ld(tr, o + 1));
  return p;
}

__device__ __forceinline__ i64 map_index(i64 i, i64 n, i64 fill) {
  if (i >= 0 && i < n) return i;
  if (fill == 2) return i < 0 ? 0 : n - 1;
  if (fill == 3) {
    i64 p = 2 * n, m = i % p;
    if (m < 0) m += p;
    return m < n ? m : p - 1 - m;
  }
  return -1;
}

// The taps of one output pixel: plane offsets (-1 = outside, reads the fill constant),
// weights, and whether any tap is inside. Also u, v and the fractional position.
struct Taps {
  i64 off[4];
  double w[4];
  double fx, fy, u, v;
  int k;  // 4 bilinear, 1 nearest
  bool any;
};

__device__ __forceinline__ Taps taps_of(const Pose& ps, double cx, double cy, i64 H, i64 W, i64 y, i64 x,
                                        i64 interp, i64 fill) {
  Taps t;
  t.u = double(x) - cx - ps.dx;
  t.v = double(y) - cy - ps.dy;
  double sx = fmin(fmax(ps.c * t.u - ps.s * t.v + cx, -TC_FAR), TC_FAR);
  double sy = fmin(fmax(ps.s * t.u + ps.c * t.v + cy, -TC_FAR), TC_FAR);
  if (interp == 1) {
    i64 xi = map_index(i64(floor(sx + 0.5)), W, fill), yi = map_index(i64(floor(sy + 0.5)), H, fill);
    t.k = 1;
    t.any = xi >= 0 && yi >= 0;
    t.off[0] = t.any ? yi * W + xi : -1;
    t.w[0] = 1;
    t.fx = t.fy = 0;
    return t;
  }
  double fx0 = floor(sx), fy0 = floor(sy);
  t.fx = sx - fx0;
  t.fy = sy - fy0;
  i64 x0 = i64(fx0), y0 = i64(fy0);
  i64 xs[2] = {map_index(x0, W, fill), map_index(x0 + 1, W, fill)};
  i64 ys[2] = {map_index(y0, H, fill), map_index(y0 + 1, H, fill)};
  double wx[2] = {1.0 - t.fx, t.fx}, wy[2] = {1.0 - t.fy, t.fy};
  t.k = 4;
  t.any = false;
  for (int a = 0; a < 2; ++a)
    for (int b = 0; b < 2; ++b) {
      int k = 2 * a + b;
      bool in = ys[a] >= 0 && xs[b] >= 0;
      t.off[k] = in ? ys[a] * W + xs[b] : -1;
      t.w[k] = wy[a] * wx[b];
      t.any = t.any || in;
    }
  return t;
}

// NCHW: plane stride HW, pixel stride 1; NHWC: plane stride 1 (channels), pixel stride C.
template <typename T>
__device__ __forceinline__ void rotate_body(const T* img, const T* angle, i64 a_per, const T* tr, i64 t_per,
                                            T* out, i64 N, i64 C, i64 H, i64 W, i64 nhwc, i64 interp,
                                            i64 fill, double fill_value) {
  typedef typename Acc<T>::type A;
  const i64 HW = H * W, ps_ = nhwc ? C : 1, cs = nhwc ? 1 : HW;
  const double cx = 0.5 * double(W - 1), cy = 0.5 * double(H - 1);
  const A fillv = A(fill == 1 ? fill_value : 0.0);
  TC_GRID_LOOP(e, N * HW) {
    const i64 n = e / HW, p = e % HW;
    const Pose pose = pose_of(angle, a_per, tr, t_per, n);
    Taps t = taps_of(pose, cx, cy, H, W, p / W, p % W, interp, fill);
    const T* in = img + n * C * HW;
    T* o = out + n * C * HW + p * ps_;
    if (!t.any) {
      for (i64 c = 0; c < C; ++c) st(o, c * cs, fillv);
      continue;
    }
    A bias = 0, w[4];
    for (int k = 0; k < t.k; ++k) {
      if (t.off[k] < 0) bias += A(t.w[k]);
      w[k] = t.off[k] < 0 ? A(0) : A(t.w[k]);
      t.off[k] = t.off[k] < 0 ? 0 : t.off[k] * ps_;
    }
    bias = fill == 1 ? bias * A(fill_value) : A(0);
    for (i64 c = 0; c < C; ++c) {
      A acc = bias;
      for (int k = 0; k < t.k; ++k) acc += w[k] * ld(in, t.off[k] + c * cs);
      st(o, c * cs, acc);
    }
  }
}

// d images += w * grad at each inside tap (acc zeroed by the host; A = float or double).
template <typename T, typename A>
__device__ __forceinline__ void scatter_body(const T* grad, const T* angle, i64 a_per, const T* tr, i64 t_per,
                                             A* acc, i64 N, i64 C, i64 H, i64 W, i64 nhwc, i64 interp, i64 fill) {
  const i64 HW = H * W, ps_ = nhwc ? C : 1, cs = nhwc ? 1 : HW;
  const double cx = 0.5 * double(W - 1), cy = 0.5 * double(H - 1);
  TC_GRID_LOOP(e, N * HW) {
    const i64 n = e / HW, p = e % HW;
    Taps t = taps_of(pose_of(angle, a_per, tr, t_per, n), cx, cy, H, W, p / W, p % W, interp, fill);
    if (!t.any) continue;
    const T* g = grad + n * C * HW + p * ps_;
    A* d = acc + n * C * HW;
    for (i64 c = 0; c < C; ++c) {
      A gv = A(ld(g, c * cs));
      for (int k = 0; k < t.k; ++k)
        if (t.off[k] >= 0) tc_atomic_add(d + t.off[k] * ps_ + c * cs, A(t.w[k]) * gv);
    }
  }
}

// acc (float/double) -> dimages (T), elementwise.
template <typename T, typename A>
__device__ __forceinline__ void cast_body(const A* acc, T* out, i64 n) {
  TC_GRID_LOOP(i, n) st(out, i, typename Acc<T>::type(acc[i]));
}

// Deterministic d images (fill zeros/constant): input pixel (iy, ix) is a tap of output
// pixel (y, x) only if that pixel's sample point lies within 1 pixel of it; inverting
// the warp, such (x, y) lie within (|c| + |s|) <= sqrt(2) of the image of (ix, iy).
// Every candidate recomputes its taps exactly as the forward does and contributes
// the weight of the taps equal to this pixel, in a fixed order.
template <typename T>
__device__ __forceinline__ void gather_body(const T* grad, const T* angle, i64 a_per, const T* tr, i64 t_per,
                                            T* dimg, i64 N, i64 C, i64 H, i64 W, i64 nhwc, i64 interp, i64 fill) {
  typedef typename Acc<T>::type A;
  const i64 HW = H * W, ps_ = nhwc ? C : 1, cs = nhwc ? 1 : HW;
  const double cx = 0.5 * double(W - 1), cy = 0.5 * double(H - 1);
  TC_GRID_LOOP(e, N * HW) {
    const i64 n = e / HW, p = e % HW, iy = p / W, ix = p % W;
    const Pose ps = pose_of(angle, a_per, tr, t_per, n);
    const double ax = double(ix) - cx, ay = double(iy) - cy;
    const double xc = ps.c * ax + ps.s * ay + cx + ps.dx, yc = -ps.s * ax + ps.c * ay + cy + ps.dy;
    const double ext = fabs(ps.c) + fabs(ps.s) + 1e-6;
    const i64 x0 = i64(fmax(ceil(xc - ext), 0.0)), x1 = i64(fmin(floor(xc + ext), double(W - 1)));
    const i64 y0 = i64(fmax(ceil(yc - ext), 0.0)), y1 = i64(fmin(floor(yc + ext), double(H - 1)));
    // (output pixel offset, weight) of each contributor: at most 3 x 3 candidates.
    i64 src[9];
    A wt[9];
    int m = 0;
    for (i64 y = y0; y <= y1 && y - y0 < 3; ++y)
      for (i64 x = x0; x <= x1 && x - x0 < 3; ++x) {
        Taps t = taps_of(ps, cx, cy, H, W, y, x, interp, fill);
        double w = 0;
        for (int k = 0; k < t.k; ++k)
          if (t.off[k] == p) w += t.w[k];
        if (w != 0 && m < 9) {
          src[m] = (y * W + x) * ps_;
          wt[m] = A(w);
          ++m;
        }
      }
    const T* g = grad + n * C * HW;
    T* d = dimg + n * C * HW + p * ps_;
    for (i64 c = 0; c < C; ++c) {
      A acc = 0;
      for (int k = 0; k < m; ++k) acc += wt[k] * ld(g, src[k] + c * cs);
      st(d, c * cs, acc);
    }
  }
}

// d angle / d translate partials: blockIdx.y = sample n; part[(n * gridDim.x + bx) * 3 + j]
// holds this block's sums of (gx * dsx/da + gy * dsy/da, gx, gy) -- gx, gy = d out / d (sx, sy)
// times grad, summed over channels. Bilinear only (nearest has zero coordinate gradient).
template <typename T>
__device__ __forceinline__ void coords_body(const T* grad, const T* img, const T* angle, i64 a_per, const T* tr,
                                            i64 t_per, double* part, i64 C, i64 H, i64 W, i64 nhwc, i64 fill,
                                            double fill_value) {
  __shared__ double scratch[32];
  const i64 HW = H * W, ps_ = nhwc ? C : 1, cs = nhwc ? 1 : HW, n = blockIdx.y;
  const double cx = 0.5 * double(W - 1), cy = 0.5 * double(H - 1);
  const double fillc = fill == 1 ? fill_value : 0.0;
  const Pose ps = pose_of(angle, a_per, tr, t_per, n);
  const T* im = img + n * C * HW;
  const T* g = grad + n * C * HW;
  double sa = 0, sx = 0, sy = 0;
  for (i64 p = i64(blockIdx.x) * blockDim.x + threadIdx.x; p < HW; p += i64(gridDim.x) * blockDim.x) {
    Taps t = taps_of(ps, cx, cy, H, W, p / W, p % W, 0, fill);
    if (!t.any) continue;  // x taps or y taps all outside: flat (all fill), as the CPU skips
    double gx = 0, gy = 0;
    for (i64 c = 0; c < C; ++c) {
      double v[4];
      for (int k = 0; k < 4; ++k) v[k] = t.off[k] < 0 ? fillc : double(ld(im, t.off[k] * ps_ + c * cs));
      double go = double(ld(g, p * ps_ + c * cs));
      gx += go * ((1 - t.fy) * (v[1] - v[0]) + t.fy * (v[3] - v[2]));
      gy += go * ((1 - t.fx) * (v[2] - v[0]) + t.fx * (v[3] - v[1]));
    }
    sa += gx * (-ps.s * t.u - ps.c * t.v) + gy * (ps.c * t.u - ps.s * t.v);
    sx += gx;
    sy += gy;
  }
  sa = block_sum(sa, scratch);
  sx = block_sum(sx, scratch);
  sy = block_sum(sy, scratch);
  if (threadIdx.x == 0) {
    double* o = part + (n * gridDim.x + blockIdx.x) * 3;
    o[0] = sa;
    o[1] = sx;
    o[2] = sy;
  }
}

// One block: per sample, sum its nb block partials in order and apply the chain rule's
// last step; then write dangle ([N] or summed to 0-d) and dtranslate ([N,2] or [2]).
// Either output may be null. `work` holds 3N doubles.
template <typename T>
__device__ __forceinline__ void coords_finish_body(const double* part, i64 nb, const T* angle, i64 a_per,
                                                   const T* tr, i64 t_per, i64 N, double* work, T* dangle,
                                                   T* dtr) {
  typedef typename Acc<T>::type A;
  for (i64 n = threadIdx.x; n < N; n += blockDim.x) {
    double a = 0, x = 0, y = 0;
    for (i64 b = 0; b < nb; ++b) {
      a += part[(n * nb + b) * 3];
      x += part[(n * nb + b) * 3 + 1];
      y += part[(n * nb + b) * 3 + 2];
    }
    Pose ps = pose_of(angle, a_per, tr, t_per, n);
    work[3 * n] = a * TC_PI / 180.0;
    work[3 * n + 1] = -ps.c * x - ps.s * y;
    work[3 * n + 2] = ps.s * x - ps.c * y;
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    double a = 0, x = 0, y = 0;
    for (i64 n = 0; n < N; ++n) {
      if (dangle && a_per) st(dangle, n, A(work[3 * n]));
      if (dtr && t_per) { st(dtr, 2 * n, A(work[3 * n + 1])); st(dtr, 2 * n + 1, A(work[3 * n + 2])); }
      a += work[3 * n]; x += work[3 * n + 1]; y += work[3 * n + 2];
    }
    if (dangle && !a_per) st(dangle, 0, A(a));
    if (dtr && !t_per) { st(dtr, 0, A(x)); st(dtr, 1, A(y)); }
  }
}

#define TC_ROT(S, T)                                                                                 \
  extern "C" __global__ void rotate_##S(const T* img, const T* angle, i64 a_per, const T* tr, i64 t_per, \
      T* out, i64 N, i64 C, i64 H, i64 W, i64 nhwc, i64 interp, i64 fill, double fill_value) {       \
    rotate_body(img, angle, a_per, tr, t_per, out, N, C, H, W, nhwc, interp, fill, fill_value);      \
  }                                                                                                  \
  extern "C" __global__ void rotate_backward_scatter_##S(const T* grad, const T* angle, i64 a_per,    \
      const T* tr, i64 t_per, Acc<T>::type* acc, i64 N, i64 C, i64 H, i64 W, i64 nhwc, i64 interp,   \
      i64 fill) {                                                                                    \
    scatter_body(grad, angle, a_per, tr, t_per, acc, N, C, H, W, nhwc, interp, fill);                \
  }                                                                                                  \
  extern "C" __global__ void rotate_backward_cast_##S(const Acc<T>::type* acc, T* out, i64 n) {      \
    cast_body(acc, out, n);                                                                          \
  }                                                                                                  \
  extern "C" __global__ void rotate_backward_gather_##S(const T* grad, const T* angle, i64 a_per,     \
      const T* tr, i64 t_per, T* dimg, i64 N, i64 C, i64 H, i64 W, i64 nhwc, i64 interp, i64 fill) { \
    gather_body(grad, angle, a_per, tr, t_per, dimg, N, C, H, W, nhwc, interp, fill);                \
  }                                                                                                  \
  extern "C" __global__ void rotate_backward_coords_##S(const T* grad, const T* img, const T* angle,  \
      i64 a_per, const T* tr, i64 t_per, double* part, i64 C, i64 H, i64 W, i64 nhwc, i64 fill,      \
      double fill_value) {                                                                           \
    coords_body(grad, img, angle, a_per, tr, t_per, part, C, H, W, nhwc, fill, fill_value);          \
  }                                                                                                  \
  extern "C" __global__ void rotate_backward_coords_finish_##S(const double* part, i64 nb,           \
      const T* angle, i64 a_per, const T* tr, i64 t_per, i64 N, double* work, T* dangle, T* dtr) {   \
    coords_finish_body(part, nb, angle, a_per, tr, t_per, N, work, dangle, dtr);                     \
  }                                                                                                  \
  TC_REGISTER(rotate_##S) TC_REGISTER(rotate_backward_scatter_##S) TC_REGISTER(rotate_backward_cast_##S) \
  TC_REGISTER(rotate_backward_gather_##S) TC_REGISTER(rotate_backward_coords_##S)                    \
  TC_REGISTER(rotate_backward_coords_finish_##S)
TC_FOR_FLOATS(TC_ROT)
#undef TC_ROT
