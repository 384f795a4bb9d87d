// The tape's sequence ops (issue 16): lstm (cpu/lstm.h) and embedding (cpu/embedding.h),
// plus sigmoid (cpu/activations.h). Single-output nodes: lstm gives the sequence y or, with
// return_sequences=false, the last h (the classifier's input); its c_n is not on the tape.
#pragma once
#include "tape/tape.h"

namespace tc::tape {

// x [T,B,I] / [B,T,I] (batch_first); w_ih [4H,I], w_hh [4H,H] (gates i, f, g, o); bias [4H],
// h0, c0 [B,H]: each may be null. Returns y [T,B,H] / [B,T,H], or h_n [B,H].
// keras_layout: w_ih is Keras's kernel [I,4H] and w_hh its recurrent_kernel [H,4H] (gates
// i, f, c, o = the kernel's order), transposed inside the node both ways.
VarPtr lstm(const VarPtr& x, const VarPtr& w_ih, const VarPtr& w_hh, const VarPtr& bias, const VarPtr& h0,
            const VarPtr& c0, bool batch_first, bool return_sequences, bool keras_layout);
// weight [V,D] rows at integer ids (a constant: the node keeps its own copy) -> ids.shape + (D,).
VarPtr embedding(const Tensor& ids, const VarPtr& weight);
VarPtr sigmoid(const VarPtr& x);

}  // namespace tc::tape
