// Python bindings of the tape's GAN ops (issue 16): leaky_relu, binary cross-entropy from
// logits, conv_transpose2d. Arguments are parsed as the kernels' own bindings parse them.
#include "python/bridge.h"
#include "tape/image_ops.h"
#include "tape/ops.h"

namespace {

using namespace tc;
using tape::VarPtr;
namespace pyb = pybind11;

}  // namespace

TC_BIND(tape_gan) {
  auto A = [](const char* name) { return pyb::arg(name).none(false); };
  m.def("tape_leaky_relu", &tape::leaky_relu, A("x"), pyb::arg("negative_slope") = 0.01,
        pyb::call_guard<pyb::gil_scoped_release>());
  m.def("tape_binary_cross_entropy_with_logits", [](const VarPtr& logits, pyb::handle targets,
                                                    pyb::handle pos_weight, double smoothing,
                                                    const std::string& reduction) {
    const char* op = "binary_cross_entropy_with_logits";
    py::Arg t = py::arg(targets, op, "targets");
    auto pw = py::optional_arg(pos_weight, op, "pos_weight");
    if (t.t.device != Device::cpu) value_error(op, "targets", "the native tape runs on the CPU; got a CUDA tensor");
    pyb::gil_scoped_release nogil;
    return tape::binary_cross_entropy_with_logits(logits, t.t, pw ? &pw->t : nullptr, smoothing, reduction);
  }, A("logits"), A("targets"), pyb::arg("pos_weight") = pyb::none(), pyb::arg("label_smoothing") = 0.0,
     pyb::arg("reduction") = "mean");
  m.def("tape_conv_transpose2d", [](const VarPtr& x, const VarPtr& w, const VarPtr& bias, pyb::handle stride,
                                    pyb::handle padding, pyb::handle output_padding, pyb::handle dilation,
                                    const std::string& layout) {
    const char* op = "conv_transpose2d";
    auto s = py::pair_from(stride, op, "stride");
    auto p = py::padding_from(padding, op, "padding");
    auto opad = output_padding.is_none() ? tape::Pair{-1, -1} : py::pair_from(output_padding, op, "output_padding");
    if (!output_padding.is_none() && (opad.first < 0 || opad.second < 0))
      value_error(op, "output_padding", "must be >= 0, got (", opad.first, ", ", opad.second, ")");
    auto d = py::pair_from(dilation, op, "dilation");
    bool nhwc = py::nhwc_from(layout, op);
    pyb::gil_scoped_release nogil;
    return tape::conv_transpose2d(x, w, bias, s, p, opad, d, nhwc);
  }, A("x"), A("w"), pyb::arg("bias") = nullptr, pyb::arg("stride") = 1, pyb::arg("padding") = 0,
     pyb::arg("output_padding") = pyb::none(), pyb::arg("dilation") = 1, pyb::arg("layout") = "NHWC");
  m.def("tape_batch_norm", [](const VarPtr& x, const VarPtr& gamma, const VarPtr& beta, double eps,
                              const std::string& layout) {
    bool nhwc = py::nhwc_from(layout, "batch_norm");
    tape::BatchNormOut o;
    {
      pyb::gil_scoped_release nogil;
      o = tape::batch_norm(x, gamma, beta, eps, nhwc);
    }
    return pyb::make_tuple(o.y, o.mean, o.var);
  }, A("x"), pyb::arg("gamma") = nullptr, pyb::arg("beta") = nullptr, pyb::arg("eps") = 1e-3,
     pyb::arg("layout") = "NHWC");
}
