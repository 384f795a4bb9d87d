"""GPU benchmark (issues #9, #14): twincore's GPU path side by side with torch's (cuBLAS,
cuDNN, fused ATen kernels) and Keras's own layers, in one process, timed with CUDA events,
medians after warm-up. One table; the last column says which of the issue's targets a
row measures.

    python benchmarks/bench_gpu.py [--backend cuda|cupy] [--quick] [--peak-gbs 4800] [--only NAME,...]

Rows (issue 14's targets in brackets):
- matmul 4096^3: f32 with TF32 vs torch.matmul (allow_tf32), bf16 vs torch.matmul [>= 0.95x];
- dense 8192x4096 -> 4096 + bias + relu vs F.linear + F.relu [faster than torch];
- conv2d fwd+bwd on the document CNN's shapes at batch 1024 (NCHW and NHWC, f32/TF32 and
  bf16) vs cuDNN (F.conv2d + autograd) [>= 0.8x];
- fused softmax cross-entropy 8192 x 32000 (bf16, f32): loss + dlogits vs F.cross_entropy
  forward+backward [>= 2x], with the bandwidth of the ideal traffic (one read of the logits,
  one write of the gradient) as % of the device's peak [>= 70%];
- rotate bilinear fwd+bwd 1024 x 32 x 28 x 28 vs affine_grid + grid_sample [>= 1.5x];
- one training step of the document CNN at batch 1024 (forward, loss, backward, Adam):
  the torch frontend (twincore.frontends.torch modules + the fused Adam kernel) vs
  torch.nn + torch.optim.Adam [>= 0.9x]; the Keras frontend on KERAS_BACKEND=torch vs
  Keras's own layers in the same step [>= 0.9x] (skipped where Keras is not installed).
Never a pass/fail test; needs a CUDA GPU and torch with CUDA.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys

import numpy as np


SMOKE = False  # --smoke: every row once on the CPU with tiny shapes (checks this script, not speed)


def cuda_time(fn, warmup: int = 3, reps: int = 20) -> float:
    """Median seconds per call of fn, by CUDA events on the current stream."""
    import torch

    if SMOKE:
        import time

        fn()
        t0 = time.perf_counter()
        fn()
        return time.perf_counter() - t0

    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b) / 1e3)
    return statistics.median(times)


def peak_gbs(arg: float | None) -> float | None:
    if arg:
        return arg
    import torch

    p = torch.cuda.get_device_properties(0)
    clock, bus = getattr(p, "memory_clock_rate", 0), getattr(p, "memory_bus_width", 0)  # kHz, bits
    return 2 * clock * 1e3 * bus / 8 / 1e9 if clock and bus else None


def row(op, shape, ours, ref, ref_name, extra="", target=""):
    print(f"| {op} | {shape} | {ours * 1e3:.3f} | {ref_name} | {ref * 1e3:.3f} | {ref / ours:.2f}x | {extra} "
          f"| {target} |", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backend", choices=["cuda", "cupy"], default=None)
    ap.add_argument("--quick", action="store_true", help="smaller shapes (smoke run)")
    ap.add_argument("--peak-gbs", type=float, default=None, help="device memory bandwidth for the % column")
    ap.add_argument("--smoke", action="store_true", help="run every row once on the CPU, tiny shapes (no GPU)")
    ap.add_argument("--only", default="", help="comma-separated: matmul,dense,conv2d,xent,rotate,cnn,keras")
    args = ap.parse_args()
    only = set(filter(None, args.only.split(",")))
    want = lambda name: not only or name in only  # noqa: E731
    if args.backend == "cupy":
        os.environ["TWINCORE_GPU_BACKEND"] = "cupy"
    os.environ.setdefault("KERAS_BACKEND", "torch")  # before anything imports keras: no TensorFlow here
    import torch
    import torch.nn.functional as F

    global SMOKE
    SMOKE = args.smoke
    if not torch.cuda.is_available() and not SMOKE:
        print("bench_gpu: no CUDA device (torch.cuda.is_available() is False)")
        return 0
    import twincore.kernels as K

    from twincore import _core

    dev = torch.device("cpu" if SMOKE else "cuda")
    peak = None if SMOKE else peak_gbs(args.peak_gbs)
    lt = _core.cublaslt_info() if hasattr(_core, "cublaslt_info") else {"loaded": False, "path": "", "error": "CPU build"}
    print(f"## GPU benchmark: {'CPU smoke run' if SMOKE else torch.cuda.get_device_name(0)}, torch {torch.__version__}, "
          f"peak {peak or float('nan'):.0f} GB/s, backend {K.backend_for(torch.zeros(1, device=dev))}, "
          f"GEMM provider {_core.gemm_provider()} ({lt['path'] or lt['error']})\n")
    print("| op | shape | ours (ms) | reference | ref (ms) | ratio ref/ours | notes | target |")
    print("|---|---|---:|---|---:|---:|---|---|")
    q = args.quick or SMOKE
    half = () if SMOKE else (torch.bfloat16,)  # the CPU kernels are f32/f64 only

    # ---- matmul ----
    n = 128 if SMOKE else 1024 if q else 4096
    for dt, tf32 in ((torch.float32, True),) + tuple((h, False) for h in half) if want("matmul") else ():
        a, b = torch.randn(n, n, device=dev, dtype=dt), torch.randn(n, n, device=dev, dtype=dt)
        torch.backends.cuda.matmul.allow_tf32 = tf32
        K.set_allow_tf32(tf32)
        ours = cuda_time(lambda: K.matmul(a, b))
        ref = cuda_time(lambda: torch.matmul(a, b))
        tfl = 2 * n ** 3 / ours / 1e12
        row("matmul", f"{n}^3 {'tf32' if tf32 else 'bf16'}", ours, ref, "torch.matmul (cuBLAS)", f"{tfl:.1f} TFLOP/s",
            ">= 0.95x")
    torch.backends.cuda.matmul.allow_tf32 = False

    # ---- dense: matmul + bias + relu (the epilogue fused by cuBLASLt where the op takes it) ----
    if want("dense"):
        M_, K_, N_ = (256, 256, 256) if q else (8192, 4096, 4096)
        for dt in half + (torch.float32,):
            torch.backends.cuda.matmul.allow_tf32 = dt == torch.float32
            _gpu.set_allow_tf32(dt == torch.float32)
            x = torch.randn(M_, K_, device=dev, dtype=dt)
            w = torch.randn(N_, K_, device=dev, dtype=dt) * 0.02
            bias = torch.randn(N_, device=dev, dtype=dt)
            try:  # the fused form, once the matmul op takes an activation
                K.matmul(x, w, bias, trans_b=True, activation="relu")
                ours_fn, how = (lambda: K.matmul(x, w, bias, trans_b=True, activation="relu")), "one fused call"
            except TypeError:
                ours_fn, how = (lambda: K.relu(K.matmul(x, w, bias, trans_b=True))), "matmul(+bias) then relu"
            t_ref = cuda_time(lambda: F.relu(F.linear(x, w, bias)))
            row("dense + bias + relu", f"{M_}x{K_} -> {N_} {str(dt)[6:]}", cuda_time(ours_fn), t_ref,
                "F.linear + F.relu", how, "faster than torch")
        torch.backends.cuda.matmul.allow_tf32 = False
        _gpu.set_allow_tf32(False)

    # ---- conv2d fwd + bwd, the document CNN's layers at batch 1024 ----
    N = (8 if SMOKE else 128) if q else 1024
    for dt in (torch.float32,) + half if want("conv2d") else ():
        tf32 = dt == torch.float32  # TF32 where torch allows it (cuDNN's default for conv)
        torch.backends.cudnn.allow_tf32 = tf32
        _gpu.set_allow_tf32(tf32)
        for layout in ("NCHW", "NHWC"):
            for (C, H, O, s) in ((1, 28, 32, 1), (32, 28, 64, 2)):
                xn = torch.randn(N, C, H, H, device=dev, dtype=dt)
                wn = torch.randn(O, C, 3, 3, device=dev, dtype=dt) * 0.1
                if layout == "NHWC":  # our NHWC: [N,H,W,C] with HWIO weights; cuDNN: channels_last
                    x, w = xn.permute(0, 2, 3, 1).contiguous(), wn.permute(2, 3, 1, 0).contiguous()
                    xr0 = xn.contiguous(memory_format=torch.channels_last)
                else:
                    x, w, xr0 = xn, wn, xn
                y = K.conv2d(x, w, None, s, "same", layout=layout)
                g = torch.randn_like(y)
                gr = g.permute(0, 3, 1, 2) if layout == "NHWC" else g

                def ours():
                    K.conv2d(x, w, None, s, "same", layout=layout)
                    K.conv2d_backward(g, x, w, s, "same", layout=layout, need_x=C > 1, need_w=True)

                def ref():
                    xr = xr0.detach().requires_grad_(C > 1)
                    wr = wn.detach().requires_grad_()
                    yr = F.conv2d(xr, wr, None, s, 1) if s == 1 else \
                        F.conv2d(F.pad(xr, (0, 1, 0, 1)), wr, None, s)  # TF "same" for stride 2
                    yr.backward(gr)

                row("conv2d fwd+bwd", f"{N}x{C}x{H}x{H} -> {O} s{s} {layout} {'tf32' if tf32 else 'bf16'}",
                    cuda_time(ours), cuda_time(ref), "cuDNN (F.conv2d + autograd)", "", ">= 0.8x")
    torch.backends.cudnn.allow_tf32 = True
    _gpu.set_allow_tf32(False)

    # ---- fused softmax cross-entropy ----
    R, V = (64, 1000) if SMOKE else (1024, 32000) if q else (8192, 32000)
    for dt in half + (torch.float32,) if want("xent") else ():
        logits = torch.randn(R, V, device=dev, dtype=dt)
        labels = torch.randint(0, V, (R,), device=dev)
        ours = cuda_time(lambda: K.softmax_cross_entropy(logits, labels))

        def ref():
            lr = logits.detach().requires_grad_()
            F.cross_entropy(lr, labels).backward()

        t_ref = cuda_time(ref)
        nbytes = 2 * logits.numel() * logits.element_size()  # the ideal: read the logits once, write dlogits once
        bw = nbytes / ours / 1e9
        row("softmax_cross_entropy", f"{R}x{V} {str(dt)[6:]}", ours, t_ref, "F.cross_entropy fwd+bwd",
            f"{bw:.0f} GB/s" + (f" = {100 * bw / peak:.0f}% of peak" if peak else ""), ">= 2x, >= 70% of peak")

    # ---- rotate fwd + bwd ----
    if want("rotate"):
        img = torch.randn(N, 32, 28, 28, device=dev)
        ang = torch.rand(N, device=dev) * 60 - 30
        tr = torch.rand(N, 2, device=dev) * 20 - 10
        gy = torch.randn_like(img)

        def ours():
            K.rotate(img, ang, tr)
            K.rotate_backward(gy, img, ang, tr)

        a_ = (28 - 1) / 2
        rad = ang * np.pi / 180
        c, s_ = torch.cos(rad), torch.sin(rad)
        theta = torch.stack([torch.stack([c, -s_, (-c * tr[:, 0] + s_ * tr[:, 1]) / a_], 1),
                             torch.stack([s_, c, (-s_ * tr[:, 0] - c * tr[:, 1]) / a_], 1)], 1)

        def ref():
            x = img.detach().requires_grad_()
            grid = F.affine_grid(theta, list(img.shape), align_corners=True)
            F.grid_sample(x, grid, align_corners=True).backward(gy)

        t = cuda_time(ours)
        bw = 4 * img.numel() * 4 / t / 1e9  # fwd: read + write; bwd: read grad + write dimages
        row("rotate bilinear fwd+bwd", f"{N}x32x28x28 f32", t, cuda_time(ref), "affine_grid + grid_sample",
            f"{bw:.0f} GB/s" + (f" = {100 * bw / peak:.0f}% of peak" if peak else ""), ">= 1.5x")

    # ---- one training step of the document CNN (model 3): the frontends vs the frameworks ----
    if want("cnn"):
        cnn_step_rows(N, dev)
    if want("keras"):
        keras_step_rows(N, dev)
    return 0


def _adam_all(params, grads, m, v, step):
    import twincore.kernels as K

    for p, g, m_, v_ in zip(params, grads, m, v):
        K.adam_step(p, g, m_, v_, step, lr=1e-3, flavor="torch")


def cnn_step_rows(N: int, dev) -> None:
    """The torch frontend's modules + the fused Adam kernel vs torch.nn + torch.optim.Adam,
    on the same batch already on the device (as `twincore train --device cuda` runs it)."""
    import torch
    import torch.nn.functional as F

    from twincore.workloads.specs import MODELS
    from twincore.workloads.torch_backend import TorchBackend

    spec = MODELS["cnn"]
    xb = torch.randn(N, 1, 28, 28, device=dev)
    yb = torch.randint(0, 10, (N,), device=dev)
    for ours in (True, False):
        b = TorchBackend(spec, ours=ours, device=dev.type)
        if ours:
            m = [torch.zeros_like(p.detach()) for p in b.params]
            v = [torch.zeros_like(p.detach()) for p in b.params]

            def step_ours(b=b, m=m, v=v):
                grads = torch.autograd.grad(b.xent(b.model(xb), yb), b.params)
                _adam_all(b.params, grads, m, v, 1)

            t_ours = cuda_time(step_ours, reps=10)
        else:
            opt = torch.optim.Adam(b.params, lr=1e-3)

            def step_ref(b=b, opt=opt):
                opt.zero_grad(set_to_none=True)
                F.cross_entropy(b.model(xb), yb).backward()
                opt.step()

            t_ref = cuda_time(step_ref, reps=10)
    row("CNN train step", f"batch {N} f32", t_ours, t_ref, "torch.nn + torch.optim.Adam (cuDNN)",
        "torch frontend + fused Adam", ">= 0.9x")


def keras_step_rows(N: int, dev) -> None:
    """Keras on the torch backend: our layers vs Keras's own in the same step (forward, loss,
    torch.autograd, the fused Adam kernel)."""
    import importlib.util

    import torch

    if importlib.util.find_spec("keras") is None:
        print("| Keras CNN train step | - | - | Keras's own layers | - | - | skipped: keras not installed | >= 0.9x |")
        return
    import keras

    if keras.backend.backend() != "torch":
        print("| Keras CNN train step | - | - | Keras's own layers | - | - | skipped: KERAS_BACKEND is not torch | >= 0.9x |")
        return
    from twincore.workloads.keras_backend import KerasBackend
    from twincore.workloads.specs import MODELS

    spec = MODELS["cnn"]
    xb = torch.randn(N, 28, 28, 1, device=dev)
    yb = torch.randint(0, 10, (N,), device=dev)
    times = {}
    for ours in (True, False):
        b = KerasBackend(spec, ours=ours, device=dev.type)
        m = [torch.zeros_like(p.detach()) for p in b.params]
        v = [torch.zeros_like(p.detach()) for p in b.params]

        def step(b=b, m=m, v=v):
            with b._scope():
                loss = b.xent(yb, b.model(xb, training=True))
            _adam_all(b.params, torch.autograd.grad(loss, b.params), m, v, 1)

        times[ours] = cuda_time(step, reps=10)
    row("Keras CNN train step", f"batch {N} f32", times[True], times[False], "Keras's own layers (torch backend)",
        "twincore Keras layers", ">= 0.9x")


if __name__ == "__main__":
    sys.exit(main())
