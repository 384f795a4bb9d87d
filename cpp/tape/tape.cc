#include "tape/tape.h"

#include <algorithm>
#include <cstring>

#include "core/dispatch.h"

namespace tc::tape {

VarPtr new_var(const Shape& shape, DType dtype) {
  return std::make_shared<Var>(OwnedTensor(shape, dtype));
}

VarPtr new_var_like(const Tensor& t) { return new_var(t.shape, t.dtype); }

void accumulate(const Tensor& dst, const Tensor& src) {
  int64_t n = dst.numel();
  TC_FLOAT_TYPES("gradient", dst.dtype, T, {
    T* d = dst.ptr<T>();
    const T* s = src.ptr<T>();
    for (int64_t i = 0; i < n; ++i) d[i] += s[i];
  });
}

// ---- the active tapes of this thread ----

namespace {
thread_local std::vector<std::shared_ptr<Tape>> active;
}

void push_active(const std::shared_ptr<Tape>& t) { active.push_back(t); }

void pop_active(const Tape* t) {
  // Normally the innermost; tolerate out-of-order exits (e.g. a tape kept open
  // across function calls) by removing the one asked for.
  for (size_t i = active.size(); i-- > 0;)
    if (active[i].get() == t) {
      active.erase(active.begin() + i);
      return;
    }
}

bool is_active(const Tape* t) {
  return std::any_of(active.begin(), active.end(), [t](auto& a) { return a.get() == t; });
}

bool needs_record(std::initializer_list<const VarPtr*> inputs) {
  for (auto& tp : active)
    if (!tp->released())
      for (const VarPtr* in : inputs)
        if (in && *in && tp->tracks(in->get())) return true;
  return false;
}

void record(const char* op, std::vector<VarPtr> inputs, const VarPtr& output, Backward backward) {
  for (auto& tp : active) {
    if (tp->released()) continue;
    bool any = false;
    for (auto& in : inputs) any = any || (in && tp->tracks(in.get()));
    if (any) tp->record(Node{op, inputs, output, backward});
  }
}

// ---- one tape ----

void Tape::watch(const VarPtr& v) {
  if (released_) value_error("watch", "self", "the tape was released by its gradient call");
  if (tracked_.insert(v.get()).second) watched_.push_back(v);
}

void Tape::record(Node node) {
  tracked_.insert(node.output.get());
  for (auto& in : node.inputs)
    if (in && in->trainable) tracked_.insert(in.get());  // held by the node from now on
  nodes_.push_back(std::move(node));
}

void Tape::release() {
  nodes_.clear();
  nodes_.shrink_to_fit();
  watched_.clear();
  tracked_.clear();
  released_ = true;
}

std::vector<std::optional<OwnedTensor>> Tape::gradient(const VarPtr& target,
                                                       const std::vector<VarPtr>& sources,
                                                       const Tensor* output_grad) {
  if (released_)
    value_error("gradient", "self", "the tape was released by its first gradient call; use "
                "GradientTape(persistent=True) to call gradient more than once");
  for (auto& other : active)
    if (other.get() != this && !other->released() && other->tracks(target.get()))
      value_error("gradient", "target", "an outer tape is recording this computation, but "
                  "higher-order gradients are not supported (the backward pass is not recorded); "
                  "call gradient outside the outer tape's context");
  const Tensor& tt = target->t();
  if (output_grad) {
    check_input("gradient", "output_gradients", *output_grad);
    check_same_dtype("gradient", "output_gradients", *output_grad, tt);
    check_shape("gradient", "output_gradients", *output_grad, tt.shape);
  } else if (tt.numel() != 1) {
    value_error("gradient", "target", "is not a scalar (shape ", tt.shape.str(),
                "); pass output_gradients of the target's shape");
  }

  // Which vars lie on a path from a source: one forward sweep over the nodes.
  // Only their gradients are computed (not, say, the gradient of the input data).
  std::unordered_set<const Var*> on_path;
  for (auto& s : sources)
    if (tracks(s.get())) on_path.insert(s.get());  // unwatched constants get no gradient
  for (auto& n : nodes_)
    for (auto& in : n.inputs)
      if (in && on_path.count(in.get())) {
        on_path.insert(n.output.get());
        break;
      }

  // The backward pass: reverse recording order is a topological order.
  std::unordered_map<const Var*, OwnedTensor> grads;
  OwnedTensor seed(tt.shape, tt.dtype);
  if (output_grad) {
    std::memcpy(seed.view.data, output_grad->data, size_t(tt.numel()) * dtype_size(tt.dtype));
  } else {
    TC_FLOAT_TYPES("gradient", tt.dtype, T, { *seed.view.ptr<T>() = T(1); });
  }
  grads.emplace(target.get(), seed);
  std::vector<OwnedTensor> gin;
  std::vector<Tensor*> gin_ptrs;
  for (size_t k = nodes_.size(); k-- > 0;) {
    Node& n = nodes_[k];
    auto it = grads.find(n.output.get());
    if (it == grads.end()) continue;
    OwnedTensor gout = it->second;  // shared storage; stays valid while we add to grads
    gin.assign(n.inputs.size(), OwnedTensor());
    gin_ptrs.assign(n.inputs.size(), nullptr);
    bool any = false;
    for (size_t i = 0; i < n.inputs.size(); ++i) {
      const VarPtr& in = n.inputs[i];
      if (!in || !on_path.count(in.get())) continue;
      gin[i] = OwnedTensor(in->t().shape, in->t().dtype);
      gin_ptrs[i] = &gin[i].view;
      any = true;
    }
    if (!any) continue;
    n.backward(gout.view, gin_ptrs.data());
    for (size_t i = 0; i < n.inputs.size(); ++i) {
      if (!gin_ptrs[i]) continue;
      auto [slot, fresh] = grads.emplace(n.inputs[i].get(), gin[i]);
      if (!fresh) accumulate(slot->second.view, gin[i].view);
    }
  }

  std::vector<std::optional<OwnedTensor>> out;
  out.reserve(sources.size());
  for (auto& s : sources) {
    auto it = grads.find(s.get());
    if (it == grads.end()) out.emplace_back(std::nullopt);
    else out.emplace_back(it->second);
  }
  // A var given twice as a source gets two separate buffers (the caller may
  // update one in place, e.g. an optimizer step).
  for (size_t i = 0; i < out.size(); ++i)
    for (size_t j = 0; j < i; ++j)
      if (out[i] && out[j] && out[i]->storage == out[j]->storage) {
        OwnedTensor c(out[i]->view.shape, out[i]->view.dtype);
        std::memcpy(c.view.data, out[i]->view.data,
                    size_t(c.view.numel()) * dtype_size(c.view.dtype));
        out[i] = c;
      }
  if (!persistent_) release();
  return out;
}

}  // namespace tc::tape
