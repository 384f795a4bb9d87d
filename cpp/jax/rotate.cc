// rotate (rotation + translation warp) under JAX. Rules: cpu::rotate_check (finite angles
// and shifts are checked on the real values when the handler runs); kernels: cpu::rotate,
// cpu::rotate_backward (d images, d angle, d translate).
#include "cpu/rotate.h"
#include "jax/ffi_bridge.h"

namespace tc::jax {
namespace {

ffi::Error fwd(ffi::AnyBuffer images, ffi::AnyBuffer angle, ffi::AnyBuffer translate,
               ffi::Result<ffi::AnyBuffer> out, int64_t interpolation, int64_t fill, double fill_value,
               int64_t nhwc) {
  return guard([&] {
    Tensor ti = view(images), ta = view(angle), tt = view(translate), to = view(out);
    cpu::rotate_check(ti, ta, tt, int(interpolation), int(fill), nhwc);
    check_shape("rotate", "<output>", to, ti.shape);
    run({&ti, &ta, &tt}, {&to}, [&] { cpu::rotate(ti, ta, tt, int(interpolation), int(fill), fill_value, nhwc, to); });
  });
}

ffi::Error bwd(ffi::AnyBuffer grad, ffi::AnyBuffer images, ffi::AnyBuffer angle, ffi::AnyBuffer translate,
               ffi::Result<ffi::AnyBuffer> dimages, ffi::Result<ffi::AnyBuffer> dangle,
               ffi::Result<ffi::AnyBuffer> dtranslate, int64_t interpolation, int64_t fill, double fill_value,
               int64_t nhwc) {
  return guard([&] {
    const char* op = "rotate_backward";
    Tensor tg = view(grad), ti = view(images), ta = view(angle), tt = view(translate);
    Tensor di = view(dimages), da = view(dangle), dt = view(dtranslate);
    cpu::rotate_check(ti, ta, tt, int(interpolation), int(fill), nhwc);
    check_input_like(op, "grad", tg, ti);
    check_shape(op, "grad", tg, ti.shape);
    check_shape(op, "<dimages>", di, ti.shape);
    check_shape(op, "<dangle>", da, ta.shape);
    check_shape(op, "<dtranslate>", dt, tt.shape);
    run({&tg, &ti, &ta, &tt}, {&di, &da, &dt}, [&] {
      cpu::rotate_backward(tg, ti, ta, tt, int(interpolation), int(fill), fill_value, nhwc, &di, &da, &dt);
    });
  });
}

XLA_FFI_DEFINE_HANDLER(fwd_cpu, fwd,
                       ffi::Ffi::Bind()
                           .Arg<ffi::AnyBuffer>()
                           .Arg<ffi::AnyBuffer>()
                           .Arg<ffi::AnyBuffer>()
                           .Ret<ffi::AnyBuffer>()
                           .Attr<int64_t>("interpolation")
                           .Attr<int64_t>("fill")
                           .Attr<double>("fill_value")
                           .Attr<int64_t>("nhwc"));
XLA_FFI_DEFINE_HANDLER(bwd_cpu, bwd,
                       ffi::Ffi::Bind()
                           .Arg<ffi::AnyBuffer>()
                           .Arg<ffi::AnyBuffer>()
                           .Arg<ffi::AnyBuffer>()
                           .Arg<ffi::AnyBuffer>()
                           .Ret<ffi::AnyBuffer>()
                           .Ret<ffi::AnyBuffer>()
                           .Ret<ffi::AnyBuffer>()
                           .Attr<int64_t>("interpolation")
                           .Attr<int64_t>("fill")
                           .Attr<double>("fill_value")
                           .Attr<int64_t>("nhwc"));
TC_JAX_HANDLER("twincore_rotate", "cpu", fwd_cpu);
TC_JAX_HANDLER("twincore_rotate_backward", "cpu", bwd_cpu);

// (images, angle, translate, interpolation, fill, fill_value, layout) -> out [like images].
pyb::dict plan(pyb::handle i_shape, pyb::handle i_dtype, pyb::handle a_shape, pyb::handle a_dtype,
               pyb::handle t_shape, pyb::handle t_dtype, pyb::handle interpolation, pyb::handle fill,
               pyb::handle fill_value, pyb::handle layout) {
  const char* op = "rotate";
  Abstract images = abstract(i_shape, i_dtype, op, "images");
  Abstract angle = abstract(a_shape, a_dtype, op, "angle", true);
  Abstract translate = abstract(t_shape, t_dtype, op, "translate", true);
  const py::RotateOptions o = py::rotate_options(interpolation, fill, fill_value, layout, op);
  cpu::rotate_check(images.t, angle.t, translate.t, o.interpolation, o.fill, o.nhwc);
  Plan p;
  p.output(images.t.shape, images.t.dtype);
  p.attr("interpolation", o.interpolation);
  p.attr("fill", o.fill);
  p.attr_f("fill_value", o.fill_value);
  p.attr("nhwc", o.nhwc);
  return p.to_py();
}

}  // namespace
}  // namespace tc::jax

TC_BIND(jax_rotate) { m.def("jax_rotate_plan", &tc::jax::plan); }
