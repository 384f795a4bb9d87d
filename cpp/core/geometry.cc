#include "core/geometry.h"

#include "core/error.h"

namespace tc {
namespace {

void resolve_same(int64_t in, int64_t k, int64_t s, int64_t d, int64_t& out, int64_t& lo, int64_t& hi) {
  out = (in + s - 1) / s;
  int64_t total = (out - 1) * s + (k - 1) * d + 1 - in;
  if (total < 0) total = 0;
  lo = total / 2;
  hi = total - lo;
}

}  // namespace

Window2d make_window(const char* op, const char* kernel_arg, int64_t ih, int64_t iw, int64_t kh,
                     int64_t kw, int64_t sh, int64_t sw, int64_t dh, int64_t dw, PadSpec pad) {
  if (kh < 1 || kw < 1) value_error(op, kernel_arg, "kernel size must be >= 1, got (", kh, ", ", kw, ")");
  if (sh < 1 || sw < 1) value_error(op, "stride", "must be >= 1, got (", sh, ", ", sw, ")");
  if (dh < 1 || dw < 1) value_error(op, "dilation", "must be >= 1, got (", dh, ", ", dw, ")");
  Window2d g;
  g.kh = kh, g.kw = kw, g.sh = sh, g.sw = sw, g.dh = dh, g.dw = dw, g.ih = ih, g.iw = iw;
  if (pad.mode == PadMode::same) {
    resolve_same(ih, kh, sh, dh, g.oh, g.pad_top, g.pad_bottom);
    resolve_same(iw, kw, sw, dw, g.ow, g.pad_left, g.pad_right);
    return g;
  }
  if (pad.mode == PadMode::explicit_pad) {
    if (pad.h < 0 || pad.w < 0) value_error(op, "padding", "must be >= 0, got (", pad.h, ", ", pad.w, ")");
    g.pad_top = g.pad_bottom = pad.h;
    g.pad_left = g.pad_right = pad.w;
  }
  int64_t ekh = (kh - 1) * dh + 1, ekw = (kw - 1) * dw + 1;
  int64_t ph = ih + g.pad_top + g.pad_bottom, pw = iw + g.pad_left + g.pad_right;
  if (ekh > ph || ekw > pw)
    value_error(op, kernel_arg, "the (dilated) kernel ", ekh, "x", ekw,
                " is larger than the padded input ", ph, "x", pw);
  g.oh = (ph - ekh) / sh + 1;
  g.ow = (pw - ekw) / sw + 1;
  return g;
}

}  // namespace tc
