// Window geometry shared by conv2d and the pooling ops: kernel, stride,
// dilation, padding (explicit, TF's "same" or "valid") -> output size and pads.
#pragma once
#include <cstdint>

namespace tc {

enum class PadMode { explicit_pad, same, valid };

struct PadSpec {
  PadMode mode = PadMode::explicit_pad;
  int64_t h = 0, w = 0;  // symmetric explicit padding (rows, cols)
};

struct Window2d {
  int64_t kh = 1, kw = 1, sh = 1, sw = 1, dh = 1, dw = 1;
  int64_t pad_top = 0, pad_bottom = 0, pad_left = 0, pad_right = 0;
  int64_t ih = 0, iw = 0, oh = 0, ow = 0;
};

// Validates and resolves the geometry of a window sliding over an ih x iw image.
// "same" follows TensorFlow: out = ceil(in / stride), the total padding
// max((out - 1) * stride + (k - 1) * dilation + 1 - in, 0) split with the odd pixel
// at the bottom/right (torch's padding="same" does the same for stride 1).
// Throws ValueError naming `op` and the argument: stride < 1 ('stride'),
// dilation < 1 ('dilation'), negative padding ('padding'), a (dilated) kernel larger
// than the padded input (`kernel_arg`), kernel < 1 (`kernel_arg`).
Window2d make_window(const char* op, const char* kernel_arg, int64_t ih, int64_t iw, int64_t kh,
                     int64_t kw, int64_t sh, int64_t sw, int64_t dh, int64_t dw, PadSpec pad);

}  // namespace tc
