// twincore._core: the pybind11 module. Op files add their functions through
// TC_BIND blocks; this file adds the core's own objects (Buffer, threads, ISA)
// and maps tc::ValueError/TypeError to Python's ValueError/TypeError.
#include <pybind11/stl.h>

#include "core/cpu_features.h"
#include "core/parallel.h"
#include "core/storage.h"
#include "python/bridge.h"

namespace tc::py {
void run_bindings(pyb::module_& m);
}

namespace {

namespace pyb = pybind11;

void capsule_destructor(PyObject* cap) {
  // Called when the capsule dies; only an unconsumed capsule still owns the tensor.
  if (PyCapsule_IsValid(cap, "dltensor")) {
    auto* m = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(cap, "dltensor"));
    if (m && m->deleter) m->deleter(m);
  }
}

pyb::object make_capsule(DLManagedTensor* m) {
  PyObject* cap = PyCapsule_New(m, "dltensor", capsule_destructor);
  if (!cap) {
    m->deleter(m);
    throw pyb::error_already_set();
  }
  return pyb::reinterpret_steal<pyb::object>(cap);
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "twincore's C++ kernel core (CPU kernels; CUDA kernels when built with nvcc)";

  pyb::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const tc::ValueError& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    } catch (const tc::TypeError& e) {
      PyErr_SetString(PyExc_TypeError, e.what());
    }
  });

  pyb::class_<tc::OwnedTensor>(m, "Buffer",
      "A 64-byte aligned array owned by the core; export it with DLPack "
      "(np.from_dlpack, torch.from_dlpack, tf.experimental.dlpack.from_dlpack(buf.__dlpack__())).")
      .def_property_readonly("shape", [](const tc::OwnedTensor& t) {
        pyb::tuple s(t.view.ndim());
        for (int i = 0; i < t.view.ndim(); ++i) s[i] = t.view.shape[i];
        return s;
      })
      .def_property_readonly("dtype", [](const tc::OwnedTensor& t) { return tc::dtype_name(t.view.dtype); })
      .def_property_readonly("address", [](const tc::OwnedTensor& t) { return reinterpret_cast<uintptr_t>(t.view.data); })
      .def("__dlpack__", [](const tc::OwnedTensor& t, pyb::object, pyb::object, pyb::object, pyb::object) {
             return make_capsule(tc::to_dlpack(t));
           },
           pyb::arg("stream") = pyb::none(), pyb::arg("max_version") = pyb::none(),
           pyb::arg("dl_device") = pyb::none(), pyb::arg("copy") = pyb::none())
      .def("__dlpack_device__", [](const tc::OwnedTensor&) { return pyb::make_tuple(int(kDLCPU), 0); });

  pyb::class_<tc::py::MetaTensor>(m, "Meta",
      "A shape-only array (no data): ops given Meta inputs validate them with their usual checks and "
      "return Meta outputs of the shapes they would compute, running no kernel.")
      .def(pyb::init([](pyb::object shape, const std::string& dtype) {
             tc::py::MetaTensor t;
             t.shape = tc::py::shape_from(shape, "Meta", "shape");
             for (int i = 0; i < t.shape.ndim; ++i)
               if (t.shape[i] < 0) tc::value_error("Meta", "shape", "negative dimension in ", t.shape.str());
             t.dtype = tc::dtype_from_name(dtype);
             return t;
           }), pyb::arg("shape"), pyb::arg("dtype") = "float32")
      .def_property_readonly("shape", [](const tc::py::MetaTensor& t) {
        pyb::tuple s(t.shape.ndim);
        for (int i = 0; i < t.shape.ndim; ++i) s[i] = t.shape[i];
        return s;
      })
      .def_property_readonly("dtype", [](const tc::py::MetaTensor& t) { return tc::dtype_name(t.dtype); })
      .def_property_readonly("ndim", [](const tc::py::MetaTensor& t) { return t.shape.ndim; })
      .def("__repr__", [](const tc::py::MetaTensor& t) {
        return "Meta(" + t.shape.str() + ", '" + tc::dtype_name(t.dtype) + "')";
      });

  m.def("empty", [](pyb::object shape, const std::string& dtype) {
          return tc::OwnedTensor(tc::py::shape_from(shape, "empty", "shape"), tc::dtype_from_name(dtype), false);
        }, pyb::arg("shape"), pyb::arg("dtype"),
        "An uninitialised, 64-byte aligned core buffer (outputs for TensorFlow callers).");
  m.def("zeros", [](pyb::object shape, const std::string& dtype) {
          return tc::OwnedTensor(tc::py::shape_from(shape, "zeros", "shape"), tc::dtype_from_name(dtype), true);
        }, pyb::arg("shape"), pyb::arg("dtype"), "A zero-filled, 64-byte aligned core buffer.");
  m.def("register_dlpack_exporter", &tc::py::register_exporter, pyb::arg("type"), pyb::arg("fn"),
        "Export objects of exactly `type` with fn(obj) -> 'dltensor' capsule instead of obj.__dlpack__().");
  m.def("num_threads", &tc::num_threads, "Threads the CPU kernels use.");
  m.def("set_num_threads", [](int n) {
    if (n < 1) throw tc::ValueError("twincore.set_num_threads: argument 'n': must be >= 1");
    tc::set_num_threads(n);
  });
  m.def("cpu_isa", [] { return tc::isa_name(tc::cpu_isa()); }, "SIMD path in use: avx512, avx2 or generic.");
  m.def("cpu_best_isa", [] { return tc::isa_name(tc::cpu_best_isa()); });
  m.def("set_cpu_isa", [](const std::string& name) {
    int i = tc::choose("set_cpu_isa", "isa", name, {"generic", "avx2", "avx512"});
    tc::set_cpu_isa(static_cast<tc::Isa>(i));
    return tc::isa_name(tc::cpu_isa());
  }, "Force a SIMD path (clamped to what the CPU has); returns the path now in use.");
#ifdef TWINCORE_WITH_CUDA
  m.attr("with_cuda") = true;
#else
  m.attr("with_cuda") = false;
#endif

  tc::py::run_bindings(m);
}
