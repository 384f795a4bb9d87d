// embedding under JAX: out[..., :] = weight[ids[...], :] and its deterministic scatter-add.
// Rules: cpu::embedding_check (ids int32/int64 in [0, V) -- values checked on the real ids when
// the handler runs --, weight float [V, D]); kernels: cpu::embedding, cpu::embedding_backward.
#include "cpu/embedding.h"
#include "jax/ffi_bridge.h"

namespace tc::jax {
namespace {

ffi::Error fwd(ffi::AnyBuffer ids, ffi::AnyBuffer weight, ffi::Result<ffi::AnyBuffer> out) {
  return guard([&] {
    const char* op = "embedding";
    Tensor ti = view(ids), tw = view(weight), to = view(out);
    check_shape(op, "<output>", to, cpu::embedding_check(ti, tw, op));
    cpu::embedding(ti, tw, to);  // a gather: half rows are copied as they are (no conversion)
  });
}

// grad [ids.shape + (D,)], ids -> dweight [V, D] (row padding_idx, if >= 0, stays zero).
ffi::Error bwd(ffi::AnyBuffer grad, ffi::AnyBuffer ids, ffi::Result<ffi::AnyBuffer> dweight, int64_t padding_idx) {
  return guard([&] {
    const char* op = "embedding_backward";
    Tensor tg = view(grad), ti = view(ids), td = view(dweight);
    check_input(op, "grad", tg);
    // dweight has weight's shape and dtype: the forward's check, ids against V, on it.
    Shape gs = cpu::embedding_check(ti, td, op);
    check_input_like(op, "grad", tg, td);
    check_shape(op, "grad", tg, gs);
    if (padding_idx >= td.size(0)) value_error(op, "padding_idx", "out of range: ", padding_idx);
    run({&tg}, {&td}, [&] { cpu::embedding_backward(tg, ti, padding_idx, td); });
  });
}

XLA_FFI_DEFINE_HANDLER(fwd_cpu, fwd,
                       ffi::Ffi::Bind().Arg<ffi::AnyBuffer>().Arg<ffi::AnyBuffer>().Ret<ffi::AnyBuffer>());
XLA_FFI_DEFINE_HANDLER(bwd_cpu, bwd,
                       ffi::Ffi::Bind()
                           .Arg<ffi::AnyBuffer>()
                           .Arg<ffi::AnyBuffer>()
                           .Ret<ffi::AnyBuffer>()
                           .Attr<int64_t>("padding_idx"));
TC_JAX_HANDLER("twincore_embedding", "cpu", fwd_cpu);
TC_JAX_HANDLER("twincore_embedding_backward", "cpu", bwd_cpu);

// (ids, weight, padding_idx or None) -> out [ids.shape + (D,)], attrs {padding_idx} (-1: none;
// a negative index counts from the end, torch's rule, as the binding resolves it).
pyb::dict plan(pyb::handle i_shape, pyb::handle i_dtype, pyb::handle w_shape, pyb::handle w_dtype,
               pyb::handle padding_obj) {
  const char* op = "embedding";
  std::optional<int64_t> padding_idx;
  if (!padding_obj.is_none()) {
    if (!PyLong_Check(padding_obj.ptr()) || PyBool_Check(padding_obj.ptr()))
      type_error(op, "padding_idx", "expected None or an int, got ", std::string(pyb::repr(padding_obj)));
    padding_idx = padding_obj.cast<int64_t>();
  }
  Abstract ids = abstract(i_shape, i_dtype, op, "ids", /*zero_backed=*/true);
  Abstract w = abstract(w_shape, w_dtype, op, "weight");
  Shape os = cpu::embedding_check(ids.t, w.t, op);
  const int64_t pad = cpu::embedding_padding_idx(padding_idx ? &*padding_idx : nullptr, w.t.size(0), op);
  Plan p;
  p.output(os, w.t.dtype);
  p.attr("padding_idx", pad);
  return p.to_py();
}

}  // namespace
}  // namespace tc::jax

TC_BIND(jax_embedding) {
  m.def("jax_embedding_plan", &tc::jax::plan, pybind11::arg("ids_shape"), pybind11::arg("ids_dtype"),
        pybind11::arg("weight_shape"), pybind11::arg("weight_dtype"), pybind11::arg("padding_idx") = pybind11::none());
}
