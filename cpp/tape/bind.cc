// Python bindings of the tape: _core.TapeVar (a core-owned tensor the tape can
// see), _core.Tape, and one tape_<op> function per op. The Python frontend
// (twincore.frontends.native) wraps these in its Tensor / GradientTape / layers.
#include <pybind11/stl.h>

#include <cstring>

#include "python/bridge.h"
#include "tape/ops.h"

namespace {

using namespace tc;
using tape::Var;
using tape::VarPtr;
namespace pyb = pybind11;

void capsule_destructor(PyObject* cap) {
  if (PyCapsule_IsValid(cap, "dltensor")) {
    auto* m = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(cap, "dltensor"));
    if (m && m->deleter) m->deleter(m);
  }
}

pyb::object dlpack_capsule(const OwnedTensor& t) {
  DLManagedTensor* m = to_dlpack(t);
  PyObject* cap = PyCapsule_New(m, "dltensor", capsule_destructor);
  if (!cap) {
    m->deleter(m);
    throw pyb::error_already_set();
  }
  return pyb::reinterpret_steal<pyb::object>(cap);
}

// Copies any (possibly strided) CPU tensor into `dst` (contiguous, same shape and dtype).
void copy_into(const Tensor& src, const Tensor& dst) {
  const size_t es = size_t(dtype_size(src.dtype));
  const int64_t n = src.numel();
  if (n == 0) return;
  if (src.is_contiguous()) {
    std::memcpy(dst.data, src.data, size_t(n) * es);
    return;
  }
  int64_t idx[kMaxDims] = {0};
  const char* s = static_cast<const char*>(src.data);
  char* d = static_cast<char*>(dst.data);
  for (int64_t i = 0; i < n; ++i) {
    int64_t off = 0;
    for (int k = 0; k < src.ndim(); ++k) off += idx[k] * src.strides[k];
    std::memcpy(d + i * es, s + off * int64_t(es), es);
    for (int k = src.ndim() - 1; k >= 0; --k) {
      if (++idx[k] < src.shape[k]) break;
      idx[k] = 0;
    }
  }
}

py::Arg cpu_arg(pyb::handle obj, const char* op, const char* name) {
  py::Arg a = py::arg(obj, op, name);
  if (a.t.device != Device::cpu)
    value_error(op, name, "the native tape runs on the CPU; got a CUDA tensor");
  return a;
}

// The tape's ops call the float32/float64 kernels directly (no half::Scope around them).
void no_half(const char* op, const char* name, DType d) {
  if (d == DType::f16 || d == DType::bf16)
    type_error(op, name, "the native tape computes in float32 or float64; got ", dtype_name(d),
               " (cast it first; halves run through the torch/Keras/JAX faces)");
}

VarPtr var_from(pyb::handle obj, bool trainable) {
  py::Arg a = cpu_arg(obj, "Tensor", "value");
  no_half("Tensor", "value", a.t.dtype);
  OwnedTensor o(a.t.shape, a.t.dtype);
  copy_into(a.t, o.view);
  return std::make_shared<Var>(o, trainable);
}

pyb::tuple shape_tuple(const Shape& s) {
  pyb::tuple t(s.ndim);
  for (int i = 0; i < s.ndim; ++i) t[i] = s[i];
  return t;
}

}  // namespace

TC_BIND(tape) {
  pyb::class_<Var, VarPtr>(m, "TapeVar",
      "A core-owned, 64-byte aligned tensor the autograd tape can see; exports by DLPack without a copy.")
      .def_property_readonly("shape", [](const Var& v) { return shape_tuple(v.t().shape); })
      .def_property_readonly("dtype", [](const Var& v) { return dtype_name(v.t().dtype); })
      .def_property_readonly("address", [](const Var& v) { return reinterpret_cast<uintptr_t>(v.t().data); })
      .def_readwrite("trainable", &Var::trainable)
      .def("assign", [](Var& v, pyb::handle obj) {
             py::Arg a = cpu_arg(obj, "assign", "value");
             check_same_dtype("assign", "value", a.t, v.t());
             check_shape("assign", "value", a.t, v.t().shape);
             copy_into(a.t, v.t());
           }, "Copy values in place (same shape and dtype).")
      .def("__dlpack__", [](const Var& v, pyb::object, pyb::object, pyb::object, pyb::object) {
             return dlpack_capsule(v.value);
           },
           pyb::arg("stream") = pyb::none(), pyb::arg("max_version") = pyb::none(),
           pyb::arg("dl_device") = pyb::none(), pyb::arg("copy") = pyb::none())
      .def("__dlpack_device__", [](const Var&) { return pyb::make_tuple(int(kDLCPU), 0); });

  m.def("tape_var", &var_from, pyb::arg("value"), pyb::arg("trainable") = false,
        "A TapeVar holding a copy of any DLPack array (numpy, torch, a capsule, ...).");
  m.def("tape_zeros", [](pyb::handle shape, const std::string& dtype) {
          const DType d = dtype_from_name(dtype);
          no_half("zeros", "dtype", d);
          return tape::new_var(py::shape_from(shape, "zeros", "shape"), d);
        });

  pyb::class_<tape::Tape, std::shared_ptr<tape::Tape>>(m, "Tape", "The C++ autograd tape.")
      .def(pyb::init<bool>(), pyb::arg("persistent") = false)
      .def("push", [](std::shared_ptr<tape::Tape> t) {
        if (t->released()) value_error("GradientTape", "self", "the tape was released; make a new one");
        tape::push_active(t);
      })
      .def("pop", [](tape::Tape& t) { tape::pop_active(&t); })
      .def("watch", &tape::Tape::watch, pyb::arg("x").none(false))
      .def("release", &tape::Tape::release)
      .def_property_readonly("released", &tape::Tape::released)
      .def_property_readonly("persistent", &tape::Tape::persistent)
      .def_property_readonly("active", [](const tape::Tape& t) { return tape::is_active(&t); })
      .def("__len__", &tape::Tape::size)
      .def("gradient", [](tape::Tape& t, const VarPtr& target, const std::vector<VarPtr>& sources,
                          const VarPtr& output_grad) {
             if (!target) type_error("gradient", "target", "expected a tensor, got None");
             for (auto& s : sources)
               if (!s) type_error("gradient", "sources", "expected tensors, got None");
             std::vector<std::optional<OwnedTensor>> g;
             {
               pyb::gil_scoped_release nogil;
               g = t.gradient(target, sources, output_grad ? &output_grad->t() : nullptr);
             }
             pyb::list out;
             for (auto& gi : g)
               if (gi) out.append(std::make_shared<Var>(*gi));
               else out.append(pyb::none());
             return out;
           }, pyb::arg("target"), pyb::arg("sources"), pyb::arg("output_grad") = nullptr);

  using G = pyb::call_guard<pyb::gil_scoped_release>;
  auto A = [](const char* name) { return pyb::arg(name).none(false); };  // None -> TypeError
  m.def("tape_matmul", &tape::matmul, A("a"), A("b"), pyb::arg("bias") = nullptr,
        pyb::arg("trans_a") = false, pyb::arg("trans_b") = false, G());
  m.def("tape_relu", &tape::relu, A("x"), G());
  m.def("tape_tanh", &tape::tanh, A("x"), G());
  m.def("tape_softmax", &tape::softmax, A("x"), G());
  m.def("tape_add", &tape::add, A("a"), A("b"), G());
  m.def("tape_sub", &tape::sub, A("a"), A("b"), G());
  m.def("tape_mul", &tape::mul, A("a"), A("b"), G());
  m.def("tape_sum", &tape::sum, A("x"), G());
  m.def("tape_mean", &tape::mean, A("x"), G());
  m.def("tape_reshape", [](const VarPtr& x, pyb::handle shape) {
    return tape::reshape(x, py::shape_from(shape, "reshape", "shape"));
  }, A("x"), A("shape"));
  m.def("tape_mse", [](const VarPtr& pred, pyb::handle target, const std::string& reduction) {
    py::Arg t = cpu_arg(target, "mse", "target");
    pyb::gil_scoped_release nogil;
    return tape::mse(pred, t.t, reduction);
  }, A("pred"), A("target"), pyb::arg("reduction") = "mean");
  m.def("tape_softmax_cross_entropy", [](const VarPtr& logits, pyb::handle labels, double smoothing,
                                         const std::string& reduction) {
    py::Arg l = cpu_arg(labels, "softmax_cross_entropy", "labels");
    pyb::gil_scoped_release nogil;
    return tape::softmax_cross_entropy(logits, l.t, smoothing, reduction);
  }, A("logits"), A("labels"), pyb::arg("label_smoothing") = 0.0,
     pyb::arg("reduction") = "mean");
}
