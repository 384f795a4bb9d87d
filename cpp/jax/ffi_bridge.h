// The JAX face of the core: XLA FFI handlers (compiled only when jaxlib's FFI headers are
// found at configure time, see CMakeLists.txt) and the shape "plans" the Python side asks
// before it emits an ffi_call.
//
// Each op file cpp/jax/<op>.cc holds, for that op:
//   - a plan function bound as _core.jax_<op>_plan: it takes the inputs' shapes and
//     dtypes plus the op's Python options, runs the op's own C++ check (cpp/cpu/<op>.h)
//     on abstract tensors (shape and dtype, no data), and returns
//     {"out": [(shape, dtype), ...], "attrs": {name: int | float}}: the outputs for
//     jax.ffi.ffi_call and the resolved options passed as FFI attributes. Python never
//     restates a shape rule; bad input raises the op's ValueError/TypeError at trace time.
//   - handlers (forward, backward) that view XLA's buffers as tc::Tensor (zero copy),
//     re-run the same check on the real buffers (values too: label ranges, finite angles)
//     and call the same CPU kernels as the pybind bindings. A failed check comes back to
//     JAX as an FFI error carrying the same "twincore.<op>: argument '<arg>': ..." text.
//
// Platforms: handlers register under a platform name ("cpu" here). A CUDA handler for the
// same target name can be added beside each CPU one (binding .Ctx<ffi::PlatformStream<
// cudaStream_t>>() and launching the tc::gpu plan on XLA's stream) and registered with
// TC_JAX_HANDLER(name, "CUDA", symbol); the Python side registers every platform it finds.
#pragma once
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/half.h"
#include "core/tensor.h"
#include "python/bridge.h"
#include "xla/ffi/api/ffi.h"

namespace tc::jax {

namespace ffi = xla::ffi;
namespace pyb = pybind11;

// Zero-copy views of XLA buffers (row-major: ffi_call's default layout).
Tensor view(const ffi::AnyBuffer& b, Device dev = Device::cpu);
Tensor view(ffi::Result<ffi::AnyBuffer>& b, Device dev = Device::cpu);

// The buffers a handler binds with .RemainingArgs() / .RemainingRets(): an op's optional
// arrays, read in order. Which ones are there is told by attributes (has_bias, ...; use
// next / next_if) or by how many there are (next_if_any). A missing or malformed buffer is
// a ValueError naming the op and the argument ("missing array" / "not an array" for args,
// "missing result buffer" / "bad result buffer" for rets).
template <typename R>
class Remaining {
 public:
  Remaining(R& rest, const char* op) : rest_(rest), op_(op) {}
  // The next buffer, which must be there.
  Tensor next(const char* name);
  // The next buffer when `present`, else nothing.
  std::optional<Tensor> next_if(bool present, const char* name) {
    if (!present) return std::nullopt;
    return next(name);
  }
  // The next buffer if one is left, else nothing.
  std::optional<Tensor> next_if_any(const char* name) { return next_if(i_ < rest_.size(), name); }
  size_t size() const { return rest_.size(); }

 private:
  R& rest_;
  const char* op_;
  size_t i_ = 0;
};
using Args = Remaining<ffi::RemainingArgs>;
using Rets = Remaining<ffi::RemainingRets>;

// The pointer the kernels take for an optional array: nullptr when it is absent.
inline Tensor* ptr(std::optional<Tensor>& t) { return t ? &*t : nullptr; }

// Runs fn, turning the core's exceptions into FFI errors (the message is kept verbatim).
template <typename F>
ffi::Error guard(F&& fn) {
  try {
    fn();
    return ffi::Error::Success();
  } catch (const ValueError& e) {
    return ffi::Error::InvalidArgument(e.what());
  } catch (const TypeError& e) {
    return ffi::Error::InvalidArgument(e.what());
  } catch (const std::exception& e) {
    return ffi::Error::Internal(e.what());
  }
}

// Half precision: the handlers call the float32/float64 CPU kernels directly, so each kernel
// call runs inside half::run({inputs}, {outputs}, [&] { kernel(...); }) -- the same adapter
// py::run uses (core/half.h): float16/bfloat16 buffers are computed in float32 and rounded
// back; other dtypes pass through untouched.
using half::run;

// Handler registry: (target name, platform) -> handler, exported by _core.jax_handlers().
int add_handler(const char* name, const char* platform, XLA_FFI_Handler* handler);
#define TC_JAX_HANDLER(name, platform, symbol) \
  [[maybe_unused]] static int tc_jax_reg_##symbol = ::tc::jax::add_handler(name, platform, symbol)

// An input described by (shape, dtype) only, for the plans. zero_backed gives it a zeroed
// buffer, for the few checks that read values (class ids, angles): zeros pass them, and
// the handler checks the real values when it runs.
struct Abstract {
  Tensor t;
  std::vector<unsigned char> zeros;
};
Abstract abstract(pyb::handle shape, pyb::handle dtype, const char* op, const char* arg,
                  bool zero_backed = false);
// An optional input: nothing when its shape is None.
std::optional<Abstract> optional_abstract(pyb::handle shape, pyb::handle dtype, const char* op, const char* arg);
inline const Tensor* ptr(const std::optional<Abstract>& a) { return a ? &a->t : nullptr; }

// What a plan returns to Python.
struct Plan {
  pyb::list out;
  pyb::dict attrs;
  void output(const Shape& s, DType d);
  void attr(const char* name, int64_t v) { attrs[name] = pyb::int_(v); }
  void attr_f(const char* name, double v) { attrs[name] = pyb::float_(v); }
  pyb::dict to_py() const;
};

// A PadSpec as three integer attributes and back.
void pad_attrs(Plan& p, const PadSpec& pad);
PadSpec pad_from(int64_t mode, int64_t h, int64_t w);

}  // namespace tc::jax
