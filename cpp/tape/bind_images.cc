// Python bindings of the tape's image ops (see image_ops.h); arguments are parsed
// as the kernels' own bindings parse them (python/bridge.h).
#include "python/bridge.h"
#include "tape/image_ops.h"

namespace {

using namespace tc;
using tape::VarPtr;
namespace pyb = pybind11;

}  // namespace

TC_BIND(tape_images) {
  auto A = [](const char* name) { return pyb::arg(name).none(false); };
  m.def("tape_conv2d", [](const VarPtr& x, const VarPtr& w, const VarPtr& bias, pyb::handle stride,
                          pyb::handle padding, pyb::handle dilation, const std::string& layout) {
    const char* op = "conv2d";
    auto s = py::pair_from(stride, op, "stride");
    auto p = py::padding_from(padding, op, "padding");
    auto d = py::pair_from(dilation, op, "dilation");
    bool nhwc = py::nhwc_from(layout, op);
    pyb::gil_scoped_release nogil;
    return tape::conv2d(x, w, bias, s, p, d, nhwc);
  }, A("x"), A("w"), pyb::arg("bias") = nullptr, pyb::arg("stride") = 1, pyb::arg("padding") = 0,
     pyb::arg("dilation") = 1, pyb::arg("layout") = "NHWC");
  m.def("tape_max_pool2d", [](const VarPtr& x, pyb::handle kernel, pyb::handle stride, pyb::handle padding,
                              const std::string& layout) {
    const char* op = "max_pool2d";
    auto k = py::pair_from(kernel, op, "kernel_size");
    auto s = py::pair_from(stride, op, "stride");
    auto p = py::padding_from(padding, op, "padding");
    bool nhwc = py::nhwc_from(layout, op);
    pyb::gil_scoped_release nogil;
    return tape::max_pool2d(x, k, s, p, nhwc);
  }, A("x"), A("kernel_size"), A("stride"), pyb::arg("padding") = 0, pyb::arg("layout") = "NHWC");
  m.def("tape_global_avg_pool2d", [](const VarPtr& x, const std::string& layout) {
    bool nhwc = py::nhwc_from(layout, "global_avg_pool2d");
    pyb::gil_scoped_release nogil;
    return tape::global_avg_pool2d(x, nhwc);
  }, A("x"), pyb::arg("layout") = "NHWC");
  m.def("tape_rotate", [](const VarPtr& images, const VarPtr& angle, const VarPtr& translate,
                          const std::string& interpolation, const std::string& fill, double fill_value,
                          const std::string& layout) {
    const char* op = "rotate";
    int interp = choose(op, "interpolation", interpolation, py::kRotateInterpolations);
    int f = choose(op, "fill", fill, py::kRotateFills);
    bool nhwc = py::nhwc_from(layout, op);
    pyb::gil_scoped_release nogil;
    return tape::rotate(images, angle, translate, interp, f, fill_value, nhwc);
  }, A("images"), A("angle"), A("translate"), pyb::arg("interpolation") = "bilinear",
     pyb::arg("fill") = "zeros", pyb::arg("fill_value") = 0.0, pyb::arg("layout") = "NHWC");
}
