"""The document models through PyTorch: our modules (frontend "torch") or, for a side-by-side
speed and parity reference, torch.nn's own layers (frontend "torch-native").

Images are NCHW, torch's layout; with layout="NHWC" (channels last, `--channels-last`) our
modules run the conv models in Keras's layout, on the same kernel paths as the keras and
native frontends, which then train bit for bit the same float32 numbers.

device="cuda": the model, its parameters, the optimizer state and each batch live on the
GPU; grad_step returns the loss and the number of correct predictions as device scalars
(no host round trip per step: the trainer sums them on the device and reads them once per
log interval)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from twincore.workloads.specs import Spec, from_torch_layout, param_kinds, to_torch_layout


class _LastH(nn.Module):
    """An LSTM whose output is its last hidden state h_n [B, H] (the classifier's input).
    Ours has one bias (merged_bias, as Keras and the kernel); torch.nn's second bias (bias_hh)
    is held at zero and frozen, so both train the canonical parameters (kernel, recurrent, bias)."""

    def __init__(self, in_features: int, units: int, ours: bool):
        super().__init__()
        from twincore.frontends import torch as tc

        self.lstm = tc.LSTM(in_features, units, batch_first=True, merged_bias=True) if ours else \
            nn.LSTM(in_features, units, batch_first=True)
        if not ours:
            nn.init.zeros_(self.lstm.bias_hh_l0)
            self.lstm.bias_hh_l0.requires_grad_(False)

    def forward(self, x):
        return self.lstm(x)[1][0][0]


def _layers(spec: Spec, ours: bool, layout: str = "NCHW"):
    from twincore.frontends import torch as tc

    mods, c = [], spec.input_shape[-1] if len(spec.input_shape) == 3 else None
    feat = spec.input_shape[0] if len(spec.input_shape) == 1 else None
    shape = tuple(spec.input_shape)
    for layer in spec.layers:
        if layer.kind in ("conv", "rotconv"):
            if layer.kind == "rotconv":
                if not ours:
                    raise ValueError("rotation-cnn has no torch.nn equivalent (use --frontend torch)")
                mods.append(tc.RotationConv2d(c, layer.units, layer.kernel, layer.rotation_angle,
                                              layer.translation_range, stride=layer.stride, padding="same", layout=layout))
            elif ours:
                mods.append(tc.Conv2d(c, layer.units, layer.kernel, stride=layer.stride, padding="same", layout=layout))
            else:  # TF's "same" for stride 2 pads only bottom/right: torch.nn needs an explicit pad
                h = shape[0]
                total = max((-(-h // layer.stride) - 1) * layer.stride + layer.kernel - h, 0)
                mods += [nn.ZeroPad2d((total // 2, total - total // 2, total // 2, total - total // 2)),
                         nn.Conv2d(c, layer.units, layer.kernel, stride=layer.stride)]
            shape = (-(-shape[0] // layer.stride), -(-shape[1] // layer.stride), layer.units)
            c = layer.units
        elif layer.kind == "maxpool":
            mods.append(tc.MaxPool2d(layer.kernel, layout=layout) if ours else nn.MaxPool2d(layer.kernel))
            shape = (shape[0] // layer.kernel, shape[1] // layer.kernel, shape[2])
        elif layer.kind == "gap":
            mods += [tc.GlobalAvgPool2d(layout=layout)] if ours else [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
            feat = c
        elif layer.kind == "flatten":
            mods.append(nn.Flatten())
            feat = int(np.prod(shape))
        elif layer.kind == "dense":
            mods.append(tc.Linear(feat, layer.units) if ours else nn.Linear(feat, layer.units))
            feat = layer.units
        elif layer.kind == "lstm":  # x [N, T, features], batch first
            mods.append(_LastH(shape[-1], layer.units, ours))
            feat = layer.units
        elif layer.kind == "embedding":  # ids [N, T] -> [N, T, units]
            mods.append(tc.Embedding(layer.vocab, layer.units) if ours else nn.Embedding(layer.vocab, layer.units))
            shape = (shape[0], layer.units)
        if layer.activation == "relu":
            mods.append(tc.ReLU() if ours else nn.ReLU())
        elif layer.activation == "tanh":
            mods.append(tc.Tanh() if ours else nn.Tanh())
    return nn.Sequential(*mods)


class MultiIO(nn.Module):
    """Two inputs (image halves) -> added dense branches -> residual block -> two heads."""

    def __init__(self, spec: Spec, ours: bool):
        super().__init__()
        from twincore.frontends import torch as tc

        lin = tc.Linear if ours else nn.Linear
        self.relu = tc.ReLU() if ours else nn.ReLU()
        h = spec.input_shape[0] * spec.input_shape[1]
        self.left, self.right, self.block = lin(h, 64), lin(h, 64), lin(64, 64)
        self.cls, self.value = lin(64, 10), lin(64, 1)

    def forward(self, left, right):
        h = self.relu(self.left(left.flatten(1))) + self.relu(self.right(right.flatten(1)))
        h = h + self.relu(self.block(h))  # the residual connection
        return self.cls(h), self.value(h)


class _Params:
    """The trainer's view of torch parameters (shared by the classifier and GAN backends)."""

    def set_param(self, i, value):
        with torch.no_grad():
            self.params[i].copy_(value)

    def zeros_like(self, p):
        return torch.zeros_like(p.detach())

    def commit(self):
        pass


class TorchBackend(_Params):
    def __init__(self, spec: Spec, ours: bool = True, seed: int = 0, dtype: str = "float32",
                 layout: str = "NCHW", device: str = "cpu"):
        from twincore.frontends import torch as tc

        if layout not in ("NCHW", "NHWC") or (layout == "NHWC" and not ours):
            raise ValueError(f"layout {layout!r}: expected 'NCHW', or 'NHWC' with our modules")
        torch.manual_seed(seed)
        self.spec, self.name, self.nhwc = spec, "torch" if ours else "torch-native", layout == "NHWC"
        self.model = MultiIO(spec, ours) if spec.task == "multi-io" else _layers(spec, ours, layout)
        self.dtype = np.dtype(dtype)
        self.device = device
        self._dev = torch.device(device)
        self.model.to(device=self._dev, dtype=getattr(torch, self.dtype.name))
        self.params = [p for p in self.model.parameters() if p.requires_grad]  # (a frozen zero bias_hh)
        self.kinds = param_kinds(spec)
        if ours:
            import twincore.frontends.torch.functional as tcf

            self.xent, self.mse = tcf.cross_entropy, tcf.mse_loss
        else:
            self.xent, self.mse = nn.functional.cross_entropy, nn.functional.mse_loss
        del tc

    def _t(self, a):
        a = np.asarray(a)
        t = torch.from_numpy(a.astype(self.dtype, copy=False) if a.dtype.kind == "f" else a)
        return t if self.device == "cpu" else t.to(self._dev, non_blocking=True)

    def _x(self, x):
        if isinstance(x, tuple):
            return tuple(self._t(a) for a in x)
        t = self._t(x)
        if t.dim() != 3 or self.spec.layers[0].kind not in ("conv", "rotconv"):
            return t
        return t.unsqueeze(-1) if self.nhwc else t.unsqueeze(1)  # images [N,28,28] -> [N,28,28,1] / [N,1,28,28]

    def to_native(self, i, a):
        return torch.from_numpy(to_torch_layout(self.kinds[i], np.asarray(a), self.nhwc)).to(self._dev)

    def to_canonical(self, i, p):
        return from_torch_layout(self.kinds[i], p.detach().cpu().numpy(), self.nhwc)


    def _loss(self, out, y):
        if self.spec.task == "multi-io":
            w = self.spec.loss_weights
            logits, value = out
            return w[0] * self.xent(logits, self._t(y[0])) + w[1] * self.mse(value, self._t(y[1])), logits
        if self.spec.task == "regress":
            return self.mse(out, self._t(y)), None
        return self.xent(out, self._t(y)), out

    def grad_step(self, x, y):
        self.model.train()
        for p in self.params:
            p.grad = None
        xs = self._x(x)
        out = self.model(*xs) if isinstance(xs, tuple) else self.model(xs)
        loss, logits = self._loss(out, y)
        loss.backward()
        labels = y[0] if isinstance(y, tuple) else y
        if self.device != "cpu":  # device scalars: no synchronisation here
            correct = (logits.argmax(1) == self._t(labels)).sum() if logits is not None else 0
            return loss.detach(), correct, [p.grad for p in self.params]
        correct = int((logits.argmax(1).numpy() == labels).sum()) if logits is not None else 0
        return float(loss.detach()), correct, [p.grad for p in self.params]

    @torch.no_grad()
    def predict(self, x):
        self.model.eval()
        xs = self._x(x)
        out = self.model(*xs) if isinstance(xs, tuple) else self.model(xs)
        return tuple(o.numpy() for o in out) if isinstance(out, tuple) else out.numpy()


class TorchGanBackend(_Params):
    """The GAN of workloads/gan.py through PyTorch: our modules (ours=True) or torch.nn's own. NCHW by
    default; layout="NHWC" (our modules only) runs Keras's layouts, on the same kernel paths as the
    keras and native frontends. device="cuda": both nets, their parameters and every batch live on
    the GPU (our modules run conv2d / conv_transpose2d / batch_norm / ... through their GPU plans);
    d_step / g_step still return the loss as a Python float (one read per step)."""

    def __init__(self, spec: Spec, ours: bool = True, dtype: str = "float32", layout: str = "NCHW",
                 device: str = "cpu"):
        from twincore.frontends import torch as tc
        from twincore.workloads import gan

        if layout not in ("NCHW", "NHWC") or (layout == "NHWC" and not ours):
            raise ValueError(f"layout {layout!r}: expected 'NCHW', or 'NHWC' with our modules")
        z, c1, c2, d1, d2 = gan.dims(spec)
        self.spec, self.name, self.nhwc, self.dtype = spec, "torch" if ours else "torch-native", layout == "NHWC", \
            np.dtype(dtype)
        L = tc if ours else nn
        if ours:
            convt = lambda i, o: tc.ConvTranspose2d(i, o, 4, stride=2, padding="same", layout=layout)  # noqa: E731
            conv = lambda i, o: tc.Conv2d(i, o, 4, stride=2, padding="same", layout=layout)  # noqa: E731
        else:  # Keras's "same" for 4x4 stride 2 on even sizes pads 1 on each side
            convt = lambda i, o: nn.ConvTranspose2d(i, o, 4, stride=2, padding=1)  # noqa: E731
            conv = lambda i, o: nn.Conv2d(i, o, 4, stride=2, padding=1)  # noqa: E731
        mom, eps = spec.extra["bn_momentum"], spec.extra["bn_eps"]
        bn = (lambda c: tc.BatchNorm2d(c, eps, mom, layout=layout)) if ours else \
            (lambda c: nn.BatchNorm2d(c, eps, mom))  # noqa: E731
        self.G = nn.Sequential(L.Linear(z, 49 * c1), nn.Unflatten(1, (7, 7, c1) if self.nhwc else (c1, 7, 7)),
                               bn(c1), L.ReLU(), convt(c1, c2), bn(c2), L.ReLU(), convt(c2, 1), L.Tanh())
        self.D = nn.Sequential(conv(1, d1), L.LeakyReLU(gan.SLOPE), conv(d1, d2), L.LeakyReLU(gan.SLOPE),
                               nn.Flatten(), L.Linear(49 * d2, 1))
        tdt = getattr(torch, self.dtype.name)
        self.device, self._dev = device, torch.device(device)
        self.G.to(device=self._dev, dtype=tdt)
        self.D.to(device=self._dev, dtype=tdt)
        self.params = list(self.G.parameters()) + list(self.D.parameters())
        self.kinds = gan.param_kinds(spec)
        if ours:
            import twincore.frontends.torch.functional as tcf

            self.bce = tcf.binary_cross_entropy_with_logits
        else:
            self.bce = nn.functional.binary_cross_entropy_with_logits

    def _t(self, a: np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(a, self.dtype)).to(self._dev)

    def _img(self, a: np.ndarray):
        t = self._t(a)
        return t if self.nhwc else t.permute(0, 3, 1, 2).contiguous()

    def to_native(self, i, a):
        from twincore.workloads.gan import to_torch_layout

        return torch.from_numpy(to_torch_layout(self.kinds[i], np.asarray(a), self.nhwc)).to(self._dev)

    def to_canonical(self, i, p):
        from twincore.workloads.gan import from_torch_layout

        return from_torch_layout(self.kinds[i], p.detach().cpu().numpy(), self.nhwc)


    def d_step(self, real, z):
        from twincore.workloads.gan import N_G

        self.G.train()
        with torch.no_grad():
            fake = self.G(self._t(z))  # batch statistics, as the generator step sees
        x = torch.cat([self._img(real), fake])
        n = len(real)
        labels = torch.cat([torch.ones(n, 1, dtype=x.dtype, device=x.device),
                            torch.zeros(n, 1, dtype=x.dtype, device=x.device)])
        loss = self.bce(self.D(x), labels)
        return float(loss.detach()), torch.autograd.grad(loss, self.params[N_G:])

    def g_step(self, z):
        from twincore.workloads.gan import N_G

        self.G.train()
        d_params = self.params[N_G:]
        for p in d_params:  # no discriminator weight gradients in the generator's step
            p.requires_grad_(False)
        try:
            logits = self.D(self.G(self._t(z)))
            loss = self.bce(logits, torch.ones_like(logits.detach()))
            return float(loss.detach()), torch.autograd.grad(loss, self.params[:N_G])
        finally:
            for p in d_params:
                p.requires_grad_(True)

    @torch.no_grad()
    def generate(self, z):
        self.G.eval()  # the running statistics
        y = self.G(self._t(z))
        return (y if self.nhwc else y.permute(0, 2, 3, 1)).cpu().numpy().copy()
