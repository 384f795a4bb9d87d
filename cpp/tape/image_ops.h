// The tape's image ops, each on its kernel file: conv2d (cpu/conv2d.h), max_pool2d
// and global_avg_pool2d (cpu/max_pool2d.h, cpu/global_avg_pool2d.h), rotate
// (cpu/rotate.h). nhwc picks the layout ([N,H,W,C], HWIO weights) over NCHW/OIHW.
#pragma once
#include <utility>

#include "core/geometry.h"
#include "tape/tape.h"

namespace tc::tape {

using Pair = std::pair<int64_t, int64_t>;

VarPtr conv2d(const VarPtr& x, const VarPtr& w, const VarPtr& bias, Pair stride, PadSpec padding,
              Pair dilation, bool nhwc);
// NCHW: w [Cin, Cout, KH, KW] (torch's); NHWC: w [KH, KW, Cout, Cin] (Keras's). output_padding -1: None.
VarPtr conv_transpose2d(const VarPtr& x, const VarPtr& w, const VarPtr& bias, Pair stride, PadSpec padding,
                        Pair output_padding, Pair dilation, bool nhwc);
// Batch normalization in training mode (cpu/batch_norm.h): (y, batch mean, batch var); only y is
// recorded (the statistics feed the running averages, which get no gradient). x [N, C] or images.
struct BatchNormOut {
  VarPtr y, mean, var;
};
BatchNormOut batch_norm(const VarPtr& x, const VarPtr& gamma, const VarPtr& beta, double eps, bool nhwc);
VarPtr max_pool2d(const VarPtr& x, Pair kernel, Pair stride, PadSpec padding, bool nhwc);
VarPtr global_avg_pool2d(const VarPtr& x, bool nhwc);
// interpolation: 0 bilinear, 1 nearest; fill: 0 zeros, 1 constant, 2 nearest, 3 reflect.
VarPtr rotate(const VarPtr& images, const VarPtr& angle, const VarPtr& translate, int interpolation,
              int fill, double fill_value, bool nhwc);

}  // namespace tc::tape
