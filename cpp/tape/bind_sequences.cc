// Python bindings of the tape's sequence ops (see sequence_ops.h).
#include "python/bridge.h"
#include "tape/sequence_ops.h"

namespace {

using namespace tc;
using tape::VarPtr;
namespace pyb = pybind11;

}  // namespace

TC_BIND(tape_sequences) {
  auto A = [](const char* name) { return pyb::arg(name).none(false); };
  using G = pyb::call_guard<pyb::gil_scoped_release>;
  m.def("tape_sigmoid", &tape::sigmoid, A("x"), G());
  m.def("tape_lstm", &tape::lstm, A("x"), A("w_ih"), A("w_hh"), pyb::arg("bias") = nullptr,
        pyb::arg("h0") = nullptr, pyb::arg("c0") = nullptr, pyb::arg("batch_first") = false,
        pyb::arg("return_sequences") = true, pyb::arg("keras_layout") = false, G());
  m.def("tape_embedding", [](pyb::handle ids, const VarPtr& weight) {
    py::Arg a = py::arg(ids, "embedding", "ids");
    if (a.t.device != Device::cpu) value_error("embedding", "ids", "the native tape runs on the CPU; got a CUDA tensor");
    pyb::gil_scoped_release nogil;
    return tape::embedding(a.t, weight);
  }, A("ids"), A("weight"));
}
