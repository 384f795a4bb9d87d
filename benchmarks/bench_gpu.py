"""GPU benchmark (issue #9): twincore's CUDA kernels side by side with torch's (cuBLAS,
cuDNN, fused ATen kernels), in one process, timed with CUDA events, medians after warm-up.

    python benchmarks/bench_gpu.py [--backend cuda|cupy] [--quick] [--peak-gbs 3350]

Cases:
- matmul 4096^3: f32 with TF32 vs torch.matmul (allow_tf32), bf16 vs torch.matmul (TFLOP/s);
- conv2d fwd+bwd on the document CNN's shapes at batch 1024 (NCHW, f32/TF32 and bf16) vs
  cuDNN (F.conv2d + autograd);
- fused softmax cross-entropy 8192 x 32000 (bf16, f32): loss + dlogits vs F.cross_entropy
  forward+backward, with achieved bandwidth as % of the device's peak;
- rotate (bilinear, 1024 x 32 x 28 x 28) vs affine_grid + grid_sample, bandwidth %;
- one training step of the document CNN at batch 1024 (forward, loss, backward, Adam),
  ours vs the same model in torch.
Never a pass/fail test; needs a CUDA GPU and torch with CUDA.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys

import numpy as np


def cuda_time(fn, warmup: int = 3, reps: int = 20) -> float:
    """Median seconds per call of fn, by CUDA events on the current stream."""
    import torch

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


def row(op, shape, ours, ref, ref_name, extra=""):
    print(f"| {op} | {shape} | {ours * 1e3:.3f} | {ref_name} | {ref * 1e3:.3f} | {ref / ours:.2f}x | {extra} |",
          flush=True)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backend", choices=["cuda", "cupy"], default=None)
    ap.add_argument("--quick", action="store_true", help="smaller shapes (smoke run)")
    ap.add_argument("--peak-gbs", type=float, default=None, help="device memory bandwidth for the % column")
    args = ap.parse_args()
    if args.backend == "cupy":
        os.environ["TWINCORE_GPU_BACKEND"] = "cupy"
    import torch
    import torch.nn.functional as F

    if not torch.cuda.is_available():
        print("bench_gpu: no CUDA device (torch.cuda.is_available() is False)")
        return 0
    import twincore.kernels as K

    dev = torch.device("cuda")
    peak = peak_gbs(args.peak_gbs)
    print(f"## GPU benchmark: {torch.cuda.get_device_name(0)}, torch {torch.__version__}, "
          f"peak {peak or float('nan'):.0f} GB/s, backend {K.backend_for(torch.zeros(1, device=dev))}\n")
    print("| op | shape | ours (ms) | reference | ref (ms) | ratio ref/ours | notes |")
    print("|---|---|---:|---|---:|---:|---|")
    q = args.quick

    # ---- matmul ----
    n = 1024 if q else 4096
    for dt, tf32 in ((torch.float32, True), (torch.bfloat16, False)):
        a, b = torch.randn(n, n, device=dev, dtype=dt), torch.randn(n, n, device=dev, dtype=dt)
        torch.backends.cuda.matmul.allow_tf32 = tf32
        K.set_allow_tf32(tf32)
        ours = cuda_time(lambda: K.matmul(a, b))
        ref = cuda_time(lambda: torch.matmul(a, b))
        tfl = 2 * n ** 3 / ours / 1e12
        row("matmul", f"{n}^3 {'tf32' if tf32 else 'bf16'}", ours, ref, "torch.matmul (cuBLAS)", f"{tfl:.1f} TFLOP/s")
    torch.backends.cuda.matmul.allow_tf32 = False

    # ---- conv2d fwd + bwd, the document CNN's layers at batch 1024 ----
    N = 128 if q else 1024
    for dt in (torch.float32, torch.bfloat16):
        for (C, H, O, s) in ((1, 28, 32, 1), (32, 28, 64, 2)):
            x = torch.randn(N, C, H, H, device=dev, dtype=dt)
            w = torch.randn(O, C, 3, 3, device=dev, dtype=dt) * 0.1
            y = K.conv2d(x, w, None, s, "same")
            g = torch.randn_like(y)
            pad = 1

            def ours():
                K.conv2d(x, w, None, s, "same")
                K.conv2d_backward(g, x, w, s, "same", need_x=C > 1, need_w=True)

            def ref():
                xr = x.detach().requires_grad_(C > 1)
                wr = w.detach().requires_grad_()
                yr = F.conv2d(xr, wr, None, s, pad if s == 1 else 0) if s == 1 else \
                    F.conv2d(F.pad(xr, (0, 1, 0, 1)), wr, None, s)  # TF "same" for stride 2
                yr.backward(g)

            row("conv2d fwd+bwd", f"{N}x{C}x{H}x{H} -> {O} s{s} {str(dt)[6:]}", cuda_time(ours), cuda_time(ref),
                "cuDNN (F.conv2d + autograd)")

    # ---- fused softmax cross-entropy ----
    R, V = (1024, 32000) if q else (8192, 32000)
    for dt in (torch.bfloat16, torch.float32):
        logits = torch.randn(R, V, device=dev, dtype=dt)
        labels = torch.randint(0, V, (R,), device=dev)
        ours = cuda_time(lambda: K.softmax_cross_entropy(logits, labels))

        def ref():
            lr = logits.detach().requires_grad_()
            F.cross_entropy(lr, labels).backward()

        t_ref = cuda_time(ref)
        nbytes = 3 * logits.numel() * logits.element_size()  # read twice, write dlogits once
        bw = nbytes / ours / 1e9
        row("softmax_cross_entropy", f"{R}x{V} {str(dt)[6:]}", ours, t_ref, "F.cross_entropy fwd+bwd",
            f"{bw:.0f} GB/s" + (f" = {100 * bw / peak:.0f}% of peak" if peak else ""))

    # ---- rotate ----
    img = torch.randn(N, 32, 28, 28, device=dev)
    ang = torch.rand(N, device=dev) * 60 - 30
    tr = torch.rand(N, 2, device=dev) * 20 - 10
    ours = cuda_time(lambda: K.rotate(img, ang, tr))
    a_ = (28 - 1) / 2
    rad = ang * np.pi / 180
    c, s_ = torch.cos(rad), torch.sin(rad)
    theta = torch.stack([torch.stack([c, -s_, (-c * tr[:, 0] + s_ * tr[:, 1]) / a_], 1),
                         torch.stack([s_, c, (-s_ * tr[:, 0] - c * tr[:, 1]) / a_], 1)], 1)

    def ref():
        grid = F.affine_grid(theta, list(img.shape), align_corners=True)
        F.grid_sample(img, grid, align_corners=True)

    bw = 2 * img.numel() * 4 / ours / 1e9
    row("rotate bilinear", f"{N}x32x28x28 f32", ours, cuda_time(ref), "affine_grid + grid_sample",
        f"{bw:.0f} GB/s" + (f" = {100 * bw / peak:.0f}% of peak" if peak else ""))

    # ---- one CNN training step (document model 3) ----
    rng = torch.Generator(device="cpu").manual_seed(0)
    xb = torch.randn(N, 1, 28, 28, device=dev)
    yb = torch.randint(0, 10, (N,), device=dev)
    shapes = {"w1": (32, 1, 3, 3), "b1": (32,), "w2": (64, 32, 3, 3), "b2": (64,), "w3": (64, 64 * 7 * 7),
              "b3": (64,), "w4": (10, 64), "b4": (10,)}
    P = {k: (torch.randn(v, generator=rng) * 0.05).to(dev) for k, v in shapes.items()}
    M = {k: torch.zeros_like(v) for k, v in P.items()}
    Vv = {k: torch.zeros_like(v) for k, v in P.items()}

    def ours_step():
        h1 = K.relu(K.conv2d(xb, P["w1"], P["b1"], 1, "same"))
        h2 = K.relu(K.conv2d(h1, P["w2"], P["b2"], 2, "same"))
        p, idx = K.max_pool2d(h2, 2, return_indices=True)
        f = p.reshape(N, -1)
        h3 = K.relu(K.matmul(f, P["w3"], P["b3"], trans_b=True))
        logits = K.matmul(h3, P["w4"], P["b4"], trans_b=True)
        _, dl = K.softmax_cross_entropy(logits, yb)
        dh3, dw4, db4 = K.matmul_backward(dl, h3, P["w4"], trans_b=True, need_bias=True)
        dh3 = K.relu_backward(dh3, h3)
        df, dw3, db3 = K.matmul_backward(dh3, f, P["w3"], trans_b=True, need_bias=True)
        dh2 = K.max_pool2d_backward(df.reshape(p.shape), idx, h2.shape, kernel_size=2)
        dh2 = K.relu_backward(dh2, h2)
        dh1, dw2, db2 = K.conv2d_backward(dh2, h1, P["w2"], 2, "same", need_bias=True)
        dh1 = K.relu_backward(dh1, h1)
        _, dw1, db1 = K.conv2d_backward(dh1, xb, P["w1"], 1, "same", need_x=False, need_bias=True)
        for k, g in (("w1", dw1), ("b1", db1), ("w2", dw2), ("b2", db2), ("w3", dw3), ("b3", db3), ("w4", dw4),
                     ("b4", db4)):
            K.adam_step(P[k], g, M[k], Vv[k], 1)

    model = torch.nn.Sequential(
        torch.nn.Conv2d(1, 32, 3, 1, 1), torch.nn.ReLU(), torch.nn.ZeroPad2d((0, 1, 0, 1)),
        torch.nn.Conv2d(32, 64, 3, 2), torch.nn.ReLU(), torch.nn.MaxPool2d(2), torch.nn.Flatten(),
        torch.nn.Linear(64 * 7 * 7, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10)).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def ref_step():
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(xb), yb).backward()
        opt.step()

    row("CNN train step", f"batch {N} f32", cuda_time(ours_step, reps=10), cuda_time(ref_step, reps=10),
        "torch nn + Adam (cuDNN)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
