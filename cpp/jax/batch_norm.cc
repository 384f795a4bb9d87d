// batch_norm under JAX: training (batch statistics) and its backward, inference (given
// statistics) and the running-statistics update -- the same four kernels as the bindings.
// Rules: cpu::batch_norm_check (x rank 2 or 4, gamma / beta / stats [C] of x's dtype, eps > 0)
// and the binding's update checks; kernels: cpu::batch_norm, cpu::batch_norm_backward,
// cpu::batch_norm_inference, cpu::batch_norm_update_stats.
// Optional gamma / beta travel as remaining args / rets, their presence as attributes:
//   batch_norm            x [, gamma][, beta]                  -> y, mean, var
//   batch_norm_backward   grad, x, mean, var [, gamma]         -> dx [, dgamma][, dbeta]
//   batch_norm_inference  x, mean, var [, gamma][, beta]       -> y
//   batch_norm_update_stats  running_mean, running_var, mean, var -> new_mean, new_var
#include "cpu/batch_norm.h"
#include "jax/ffi_bridge.h"

namespace tc::jax {
namespace {

ffi::Error train(ffi::AnyBuffer x, ffi::RemainingArgs rest, ffi::Result<ffi::AnyBuffer> y,
                 ffi::Result<ffi::AnyBuffer> mean, ffi::Result<ffi::AnyBuffer> var, double eps, int64_t nhwc,
                 int64_t has_gamma, int64_t has_beta) {
  return guard([&] {
    const char* op = "batch_norm";
    Tensor tx = view(x), ty = view(y), tm = view(mean), tv = view(var);
    Args args(rest, op);
    std::optional<Tensor> gamma = args.next_if(has_gamma, "gamma"), beta = args.next_if(has_beta, "beta");
    const int64_t C = cpu::batch_norm_check(tx, nhwc, ptr(gamma), ptr(beta), nullptr, nullptr, eps, op);
    check_shape(op, "<y>", ty, tx.shape);
    check_shape(op, "<mean>", tm, Shape{C});
    check_shape(op, "<var>", tv, Shape{C});
    run({&tx, ptr(gamma), ptr(beta)}, {&ty, &tm, &tv},
        [&] { cpu::batch_norm(tx, nhwc, ptr(gamma), ptr(beta), eps, ty, tm, tv); });
  });
}

ffi::Error backward(ffi::AnyBuffer grad, ffi::AnyBuffer x, ffi::AnyBuffer mean, ffi::AnyBuffer var,
                    ffi::RemainingArgs rest, ffi::Result<ffi::AnyBuffer> dx, ffi::RemainingRets more, double eps,
                    int64_t nhwc, int64_t has_gamma, int64_t has_beta) {
  return guard([&] {
    const char* op = "batch_norm_backward";
    Tensor tg = view(grad), tx = view(x), tm = view(mean), tv = view(var), tdx = view(dx);
    std::optional<Tensor> gamma = Args(rest, op).next_if(has_gamma, "gamma");
    const int64_t C = cpu::batch_norm_check(tx, nhwc, ptr(gamma), nullptr, &tm, &tv, eps, op);
    check_input_like(op, "grad", tg, tx);
    check_shape(op, "grad", tg, tx.shape);
    check_shape(op, "<dx>", tdx, tx.shape);
    Rets rets(more, op);
    std::optional<Tensor> dg = rets.next_if(has_gamma, "<dgamma>");
    if (dg) check_shape(op, "<dgamma>", *dg, Shape{C});
    std::optional<Tensor> db = rets.next_if(has_beta, "<dbeta>");
    if (db) check_shape(op, "<dbeta>", *db, Shape{C});
    run({&tg, &tx, ptr(gamma), &tm, &tv}, {&tdx, ptr(dg), ptr(db)}, [&] {
      cpu::batch_norm_backward(tg, tx, nhwc, ptr(gamma), tm, tv, eps, &tdx, ptr(dg), ptr(db));
    });
  });
}

ffi::Error inference(ffi::AnyBuffer x, ffi::AnyBuffer mean, ffi::AnyBuffer var, ffi::RemainingArgs rest,
                     ffi::Result<ffi::AnyBuffer> y, double eps, int64_t nhwc, int64_t has_gamma, int64_t has_beta) {
  return guard([&] {
    const char* op = "batch_norm_inference";
    Tensor tx = view(x), tm = view(mean), tv = view(var), ty = view(y);
    Args args(rest, op);
    std::optional<Tensor> gamma = args.next_if(has_gamma, "gamma"), beta = args.next_if(has_beta, "beta");
    cpu::batch_norm_check(tx, nhwc, ptr(gamma), ptr(beta), &tm, &tv, eps, op);
    check_shape(op, "<y>", ty, tx.shape);
    run({&tx, ptr(gamma), ptr(beta), &tm, &tv}, {&ty},
        [&] { cpu::batch_norm_inference(tx, nhwc, ptr(gamma), ptr(beta), tm, tv, eps, ty); });
  });
}

ffi::Error update(ffi::AnyBuffer rm, ffi::AnyBuffer rv, ffi::AnyBuffer mean, ffi::AnyBuffer var,
                  ffi::Result<ffi::AnyBuffer> nm, ffi::Result<ffi::AnyBuffer> nv, double momentum, int64_t count,
                  int64_t unbiased) {
  return guard([&] {
    const char* op = "batch_norm_update_stats";
    Tensor trm = view(rm), trv = view(rv), tm = view(mean), tv = view(var), tnm = view(nm), tnv = view(nv);
    cpu::batch_norm_update_stats_check(trm, trv, tm, tv, momentum, count);
    check_shape(op, "<new_mean>", tnm, trm.shape);
    check_shape(op, "<new_var>", tnv, trm.shape);
    run({&trm, &trv, &tm, &tv}, {&tnm, &tnv},
        [&] { cpu::batch_norm_update_stats(trm, trv, tm, tv, momentum, count, unbiased != 0, tnm, tnv); });
  });
}

#define TC_BN_ATTRS .Attr<double>("eps").Attr<int64_t>("nhwc").Attr<int64_t>("has_gamma").Attr<int64_t>("has_beta")

XLA_FFI_DEFINE_HANDLER(train_cpu, train,
                       ffi::Ffi::Bind()
                           .Arg<ffi::AnyBuffer>()
                           .RemainingArgs()
                           .Ret<ffi::AnyBuffer>()
                           .Ret<ffi::AnyBuffer>()
                           .Ret<ffi::AnyBuffer>() TC_BN_ATTRS);
XLA_FFI_DEFINE_HANDLER(backward_cpu, backward,
                       ffi::Ffi::Bind()
                           .Arg<ffi::AnyBuffer>()
                           .Arg<ffi::AnyBuffer>()
                           .Arg<ffi::AnyBuffer>()
                           .Arg<ffi::AnyBuffer>()
                           .RemainingArgs()
                           .Ret<ffi::AnyBuffer>()
                           .RemainingRets() TC_BN_ATTRS);
XLA_FFI_DEFINE_HANDLER(inference_cpu, inference,
                       ffi::Ffi::Bind()
                           .Arg<ffi::AnyBuffer>()
                           .Arg<ffi::AnyBuffer>()
                           .Arg<ffi::AnyBuffer>()
                           .RemainingArgs()
                           .Ret<ffi::AnyBuffer>() TC_BN_ATTRS);
XLA_FFI_DEFINE_HANDLER(update_cpu, update,
                       ffi::Ffi::Bind()
                           .Arg<ffi::AnyBuffer>()
                           .Arg<ffi::AnyBuffer>()
                           .Arg<ffi::AnyBuffer>()
                           .Arg<ffi::AnyBuffer>()
                           .Ret<ffi::AnyBuffer>()
                           .Ret<ffi::AnyBuffer>()
                           .Attr<double>("momentum")
                           .Attr<int64_t>("count")
                           .Attr<int64_t>("unbiased"));
TC_JAX_HANDLER("twincore_batch_norm", "cpu", train_cpu);
TC_JAX_HANDLER("twincore_batch_norm_backward", "cpu", backward_cpu);
TC_JAX_HANDLER("twincore_batch_norm_inference", "cpu", inference_cpu);
TC_JAX_HANDLER("twincore_batch_norm_update_stats", "cpu", update_cpu);

void bn_attrs(Plan& p, double eps, bool nhwc, const std::optional<Abstract>& g, const std::optional<Abstract>& b) {
  p.attr_f("eps", eps);
  p.attr("nhwc", nhwc);
  p.attr("has_gamma", g.has_value());
  p.attr("has_beta", b.has_value());
}

// (x, gamma / beta or None, eps, layout) -> out [y, mean, var].
pyb::dict train_plan(pyb::handle x_shape, pyb::handle x_dtype, pyb::handle g_shape, pyb::handle g_dtype,
                     pyb::handle b_shape, pyb::handle b_dtype, pyb::handle eps_obj, const std::string& layout) {
  const char* op = "batch_norm";
  Abstract x = abstract(x_shape, x_dtype, op, "x");
  auto g = optional_abstract(g_shape, g_dtype, op, "gamma"), b = optional_abstract(b_shape, b_dtype, op, "beta");
  const bool nhwc = py::nhwc_from(layout, op);
  const double eps = py::float_from(eps_obj, op, "eps");
  const int64_t C = cpu::batch_norm_check(x.t, nhwc, ptr(g), ptr(b), nullptr, nullptr, eps, op);
  Plan p;
  p.output(x.t.shape, x.t.dtype);
  p.output(Shape{C}, x.t.dtype);
  p.output(Shape{C}, x.t.dtype);
  bn_attrs(p, eps, nhwc, g, b);
  return p.to_py();
}

// (x, gamma / beta or None, running_mean, running_var, eps, layout) -> out [y].
pyb::dict inference_plan(pyb::handle x_shape, pyb::handle x_dtype, pyb::handle g_shape, pyb::handle g_dtype,
                         pyb::handle b_shape, pyb::handle b_dtype, pyb::handle m_shape, pyb::handle m_dtype,
                         pyb::handle v_shape, pyb::handle v_dtype, pyb::handle eps_obj, const std::string& layout) {
  const char* op = "batch_norm_inference";
  Abstract x = abstract(x_shape, x_dtype, op, "x");
  auto g = optional_abstract(g_shape, g_dtype, op, "gamma"), b = optional_abstract(b_shape, b_dtype, op, "beta");
  Abstract m = abstract(m_shape, m_dtype, op, "running_mean"), v = abstract(v_shape, v_dtype, op, "running_var");
  const bool nhwc = py::nhwc_from(layout, op);
  const double eps = py::float_from(eps_obj, op, "eps");
  cpu::batch_norm_check(x.t, nhwc, ptr(g), ptr(b), &m.t, &v.t, eps, op);
  Plan p;
  p.output(x.t.shape, x.t.dtype);
  bn_attrs(p, eps, nhwc, g, b);
  return p.to_py();
}

// (running_mean, running_var, mean, var, momentum, count, unbiased) -> out [new_mean, new_var].
pyb::dict update_plan(pyb::handle rm_shape, pyb::handle rm_dtype, pyb::handle rv_shape, pyb::handle rv_dtype,
                      pyb::handle m_shape, pyb::handle m_dtype, pyb::handle v_shape, pyb::handle v_dtype,
                      pyb::handle mom_obj, int64_t count, bool unbiased) {
  const char* op = "batch_norm_update_stats";
  Abstract rm = abstract(rm_shape, rm_dtype, op, "running_mean"), rv = abstract(rv_shape, rv_dtype, op, "running_var");
  Abstract m = abstract(m_shape, m_dtype, op, "mean"), v = abstract(v_shape, v_dtype, op, "var");
  const double mom = py::float_from(mom_obj, op, "momentum");
  cpu::batch_norm_update_stats_check(rm.t, rv.t, m.t, v.t, mom, count);
  Plan p;
  p.output(rm.t.shape, rm.t.dtype);
  p.output(rm.t.shape, rm.t.dtype);
  p.attr_f("momentum", mom);
  p.attr("count", count);
  p.attr("unbiased", unbiased);
  return p.to_py();
}

}  // namespace
}  // namespace tc::jax

TC_BIND(jax_batch_norm) {
  m.def("jax_batch_norm_plan", &tc::jax::train_plan);
  m.def("jax_batch_norm_inference_plan", &tc::jax::inference_plan);
  m.def("jax_batch_norm_update_stats_plan", &tc::jax::update_plan);
}
