// The autograd tape: records core ops while it is active and runs the backward
// pass in C++, with no Python call per node.
//
// The shape is micrograd's: every recorded node keeps its inputs (the parents)
// and a backward closure. The tape stores nodes in the order they ran, which is
// already a topological order, so the backward pass is one loop over the nodes
// in reverse: read the gradient of the node's output, let the closure write the
// gradients of its inputs, add them to what those inputs already have (a tensor
// used twice, or a parameter shared by two layers, gets the sum).
//
// Like TensorFlow's GradientTape, a tape records an op only when one of its
// inputs is tracked: watched explicitly, a trainable Var (parameters are watched
// automatically), or the output of an op it recorded. Backward kernels are not
// themselves recorded, so higher-order gradients are not supported: asking for
// a gradient while another tape records the target raises a clear error.
#pragma once
#include <functional>
#include <memory>
#include <optional>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/storage.h"

namespace tc::tape {

// A tensor the tape can see: an owned, aligned value (exportable by DLPack).
struct Var {
  OwnedTensor value;
  bool trainable = false;  // parameters: every tape watches them without being told
  explicit Var(OwnedTensor v, bool trainable_ = false) : value(std::move(v)), trainable(trainable_) {}
  const Tensor& t() const { return value.view; }
};
using VarPtr = std::shared_ptr<Var>;

VarPtr new_var(const Shape& shape, DType dtype);  // zero-filled
VarPtr new_var_like(const Tensor& t);             // zero-filled, t's shape and dtype

// backward(gout, gin): gout is d target / d output; gin[i] is a zero-filled
// buffer shaped like input i to write d target / d input i into, or nullptr when
// input i needs no gradient.
using Backward = std::function<void(const Tensor& gout, Tensor* const* gin)>;

struct Node {
  const char* op;
  std::vector<VarPtr> inputs;
  VarPtr output;
  Backward backward;
};

class Tape {
 public:
  explicit Tape(bool persistent) : persistent_(persistent) {}

  void watch(const VarPtr& v);
  bool tracks(const Var* v) const { return v->trainable || tracked_.count(v) > 0; }
  void record(Node node);

  // d target / d sources[i] for each source (nullopt where the source is not
  // connected to the target). output_grad: d loss / d target, required unless
  // the target has one element. Releases the tape unless it is persistent.
  std::vector<std::optional<OwnedTensor>> gradient(const VarPtr& target,
                                                   const std::vector<VarPtr>& sources,
                                                   const Tensor* output_grad);
  void release();  // drops the recorded nodes (and the tensors they hold)

  bool persistent() const { return persistent_; }
  bool released() const { return released_; }
  size_t size() const { return nodes_.size(); }

 private:
  bool persistent_;
  bool released_ = false;
  std::vector<Node> nodes_;
  std::vector<VarPtr> watched_;               // keeps watched vars alive while tracked
  std::unordered_set<const Var*> tracked_;  // vars held by watched_ or by a node
};

// The tapes inside `with tape:` on this thread, innermost last.
void push_active(const std::shared_ptr<Tape>& t);
void pop_active(const Tape* t);
bool is_active(const Tape* t);

// What every op does after computing its output: `needs_record(inputs)` tells
// whether any active tape tracks an input (so the op can skip building its
// backward when nothing records), and `record` adds the node to each such tape.
bool needs_record(std::initializer_list<const VarPtr*> inputs);
void record(const char* op, std::vector<VarPtr> inputs, const VarPtr& output, Backward backward);

// dst += src elementwise (same shape and dtype): how gradients accumulate.
void accumulate(const Tensor& dst, const Tensor& src);

}  // namespace tc::tape
