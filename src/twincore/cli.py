"""The `twincore` command.

    twincore train   --model M --frontend {torch,keras,native} [--epochs N] [--batch-size B] [--lr LR]
                     [--data PATH] [--out DIR] [--seed S] [--resume] [--init-from CKPT --freeze K]
                     [--strategy sync|async --workers N | --nproc N]   (docs/DISTRIBUTED.md)
    twincore compare --model M [--epochs N] [--frontends torch,keras,native] [--native] [--dtype float64]
    twincore bench   [op ...]          # the kernel ratio tables (needs a source checkout)
    twincore check                     # one-minute self-test of the installed build
    twincore serve   RUN_DIR [--port P] [--frontend native|torch|keras]   # HTTP API + web page (twincore.serve)
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys

import numpy as np

FRONTENDS = ("torch", "keras", "native")


def check_device(frontend: str, device: str) -> None:
    """Refuses, with a message that says what to do, a --device this install cannot train on.
    cuda needs: a frontend that runs on torch tensors (torch, torch-native, and keras /
    keras-native on KERAS_BACKEND=torch -- the trainer never imports TensorFlow there),
    torch with a visible GPU, and twincore's CUDA kernels (the nvcc build or CuPy: the
    trainer's optimizer step is twincore's kernel for every frontend)."""
    if device == "cpu":
        return
    if device != "cuda":
        raise SystemExit(f"twincore: --device {device!r}: expected 'cpu' or 'cuda'")
    if frontend == "native":
        raise SystemExit("twincore: --device cuda: the native frontend (the C++ tape) trains on the CPU only; "
                         "use --frontend torch or keras")
    if frontend in ("keras", "keras-native"):
        backend = os.environ.get("KERAS_BACKEND", "")
        if backend != "torch":
            raise SystemExit("twincore: --device cuda: the Keras frontend trains on the GPU on Keras's torch "
                             f"backend; set KERAS_BACKEND=torch (now {backend or 'unset: tensorflow'!r})")
    try:
        import torch
    except ImportError:
        raise SystemExit("twincore: --device cuda needs PyTorch with CUDA (pip install torch)") from None
    if not torch.cuda.is_available():
        raise SystemExit("twincore: --device cuda: no CUDA GPU is visible to torch "
                         f"(torch {torch.__version__}, torch.version.cuda={torch.version.cuda}); use --device cpu")
    # Our kernels on the GPU (the nvcc build or CuPy): every frontend needs them, since the
    # trainer's optimizer step is twincore's fused kernel for all of them.
    from twincore.kernels import gpu_info

    info = gpu_info()
    if not (info["nvcc_build"] and info["devices"]) and not info["cupy"]:
        raise SystemExit("twincore: --device cuda: this build of twincore has no CUDA kernels and CuPy is not "
                         "installed: build it with nvcc (TWINCORE_CUDA=ON) or pip install cupy-cuda13x")


def make_backend(frontend: str, spec, seed: int = 0, device: str = "cpu", dtype: str = "float32",
                 channels_last: bool = False):
    check_device(frontend, device)
    if getattr(spec, "task", None) == "gan":  # its own backends and loop (workloads/gan.py)
        from twincore.workloads.gan import make_gan_backend

        return make_gan_backend(frontend, spec, seed, dtype, channels_last, device)
    if frontend in ("torch", "torch-native"):
        from twincore.workloads.torch_backend import TorchBackend

        layout = "NHWC" if channels_last and frontend == "torch" else "NCHW"
        return TorchBackend(spec, ours=frontend == "torch", seed=seed, dtype=dtype, layout=layout, device=device)
    if frontend in ("keras", "keras-native"):
        from twincore.workloads.keras_backend import KerasBackend

        return KerasBackend(spec, ours=frontend == "keras", seed=seed, dtype=dtype, device=device)
    if frontend in ("keras-jax", "keras-jax-native"):  # Keras on its JAX backend (no TensorFlow)
        from twincore.workloads.keras_jax import use_jax_keras

        use_jax_keras()
        from twincore.workloads.keras_backend import KerasBackend

        return KerasBackend(spec, ours=frontend == "keras-jax", seed=seed, dtype=dtype)
    if frontend == "native":
        from twincore.workloads.native_backend import NativeBackend

        return NativeBackend(spec, seed=seed, dtype=dtype)
    raise SystemExit(f"twincore: unknown frontend {frontend!r}; choose from {', '.join(FRONTENDS)}")


def available_frontends() -> list[str]:
    import importlib.util

    out = []
    if importlib.util.find_spec("torch"):
        out.append("torch")
    if importlib.util.find_spec("tensorflow") or importlib.util.find_spec("keras"):
        out.append("keras")
    if importlib.util.find_spec("jax") and importlib.util.find_spec("keras"):
        from twincore import _core

        if getattr(_core, "with_jax_ffi", False):
            out.append("keras-jax")
    out.append("native")
    return out


def _spec_and_cfg(args):
    from twincore.workloads.specs import MODELS
    from twincore.workloads.trainer import RunConfig

    if args.model not in MODELS:
        raise SystemExit(f"twincore: unknown model {args.model!r}; choose from {', '.join(MODELS)}")
    spec = MODELS[args.model]
    if getattr(args, "val", None) is not None:
        if args.val < 0 or (args.val >= 1 and args.val != int(args.val)):
            raise SystemExit(f"twincore: --val: expected a fraction in [0, 1) or a count of images, got {args.val}")
        spec = dataclasses.replace(spec, val=args.val if args.val < 1 else int(args.val))
    cfg = RunConfig(epochs=args.epochs or spec.epochs, batch_size=args.batch_size or spec.batch_size,
                    lr=args.lr or spec.lr, seed=args.seed, max_steps=args.max_steps,
                    progress=not args.quiet, dtype=args.dtype,
                    lr_schedule=getattr(args, "lr_schedule", None) or spec.lr_schedule)
    return spec, cfg


def _load(spec, args):
    from twincore.data import DataError
    from twincore.workloads.tasks import load_task

    try:
        return load_task(spec, args.data, args.seed, args.limit_train, args.limit_test)
    except DataError as e:
        raise SystemExit(f"twincore: {e}") from None


def cmd_train(args) -> int:
    if getattr(args, "strategy", None) or getattr(args, "nproc", None) or getattr(args, "workers", None):
        from twincore.distributed.cli import run  # several processes: DDP, parameter server, tf.distribute

        return run(args)
    spec, cfg = _spec_and_cfg(args)
    cfg.out = args.out or os.path.join("runs", f"{spec.name}-{args.frontend}")
    cfg.resume, cfg.init_from, cfg.freeze = args.resume, args.init_from, args.freeze
    cfg.restore_best = args.restore_best
    if cfg.freeze and not cfg.init_from:
        raise SystemExit("twincore: --freeze needs --init-from CHECKPOINT")
    task = _load(spec, args)
    if spec.task == "gan":
        return _train_gan(spec, cfg, task, args)
    from twincore.workloads.trainer import fit

    backend = make_backend(args.frontend, spec, args.seed, args.device, args.dtype, args.channels_last)
    s = fit(spec, backend, task, cfg)
    print(f"\n{spec.name} through {backend.name}: test loss {s['test_loss']:.4f}"
          + (f", test accuracy {s['test_accuracy']:.4f}" if s.get("test_accuracy") is not None else ""))
    if "class_table" in s:
        print(s["class_table"])
    print(f"wrote {cfg.out}/: metrics.csv, curves.png, "
          + ("confusion.png, " if "class_table" in s else "") + "checkpoint.npz, summary.json")
    return 0


def _train_gan(spec, cfg, task, args) -> int:
    """twincore train --model gan: workloads/gan.py's loop (samples per epoch, curves, Frechet distance)."""
    from twincore.workloads.gan import feature_net, fit_gan

    # the device checks and refusals first, before the feature net trains
    backend = make_backend(args.frontend, spec, args.seed, args.device, args.dtype, args.channels_last)
    os.makedirs(cfg.out, exist_ok=True)
    features = None if args.no_fd else feature_net(task, cfg.out, args.fd_cnn, args.seed, progress=not args.quiet)
    s = fit_gan(spec, backend, task, cfg, features)
    fd = [f for f in s["fd"] if f is not None]
    print(f"\n{spec.name} through {backend.name}: D loss {s['d_loss']:.4f}, G loss {s['g_loss']:.4f}"
          + (f", Frechet distance {fd[0]:.2f} (initial) -> {fd[-1]:.2f}" if fd else ""))
    print(f"wrote {cfg.out}/: samples_epoch*.png, curves.png, " + ("fd.png, " if fd else "")
          + "metrics.csv, checkpoint.npz, summary.json")
    return 0


def cmd_compare(args) -> int:
    from twincore.workloads.compare import compare

    spec, cfg = _spec_and_cfg(args)
    fronts = args.frontends.split(",") if args.frontends else available_frontends()
    if args.native:
        fronts += [f + "-native" for f in fronts if f in ("torch", "keras", "keras-jax")]
    task = _load(spec, args)
    if args.device != "cpu":
        fronts = [f for f in fronts if f != "native"]  # the C++ tape trains on the CPU only
        for f in fronts:
            check_device(f, args.device)
    if spec.task == "gan":
        from twincore.workloads.gan import compare_gan, feature_net

        out = args.out or os.path.join("runs", f"compare-{spec.name}")
        os.makedirs(out, exist_ok=True)
        if args.device != "cpu":  # refuse a frontend that cannot train the GAN there before any work
            from twincore.workloads.gan import make_gan_backend

            for f in fronts:
                if not f.startswith("torch"):
                    make_gan_backend(f, spec, device=args.device)
        compare_gan(spec, task, cfg, fronts, out, args.channels_last,
                    None if args.no_fd else feature_net(task, out, args.fd_cnn, args.seed), args.device)
        return 0
    compare(spec, task, cfg, fronts, out=args.out or os.path.join("runs", f"compare-{spec.name}"),
            channels_last=args.channels_last, device=args.device)
    return 0


def _find_benchmarks() -> str | None:
    d = os.getcwd()
    while True:
        p = os.path.join(d, "benchmarks", "bench_cpu.py")
        if os.path.exists(p):
            return p
        if os.path.dirname(d) == d:
            return None
        d = os.path.dirname(d)


def cmd_bench(args) -> int:
    p = _find_benchmarks()
    if not p:
        raise SystemExit("twincore bench: run it inside a twincore source checkout (benchmarks/ is not installed)")
    import runpy

    sys.argv = [p] + args.ops
    runpy.run_path(p, run_name="__main__")
    return 0


def cmd_check(args) -> int:
    from twincore.selfcheck import run_checks

    return 0 if run_checks(verbose=True) else 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="twincore", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)

    def common(p):
        p.add_argument("--model", required=True,
                       help="mlp, deep-mlp, cnn, rotation-cnn, regression, multi-io, lstm, sentiment, gan")
        p.add_argument("--epochs", type=int)
        p.add_argument("--batch-size", type=int)
        p.add_argument("--lr", type=float)
        p.add_argument("--lr-schedule", choices=("constant", "cosine"),
                       help="learning rate over the run (default: the model's; cosine decays to 0)")
        p.add_argument("--val", type=float, help="validation split: a fraction or a number of images "
                       "(default: the model's)")
        p.add_argument("--data", help="folder of MNIST IDX files or a mnist.npz (default: Fashion-MNIST from "
                                      "Debian's dataset-fashion-mnist); --model sentiment: Keras's imdb.npz "
                                      "or an aclImdb/ folder (default: ~/.keras/datasets/)")
        p.add_argument("--out", help="output folder")
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--max-steps", type=int, help="stop each epoch after this many batches (short runs)")
        p.add_argument("--limit-train", type=int, help="use only the first N training images")
        p.add_argument("--limit-test", type=int, help="use only the first N test images")
        p.add_argument("--quiet", action="store_true", help="no progress bars")
        p.add_argument("--dtype", choices=("float32", "float64"), default="float32")
        p.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                       help="cuda: the whole step on the GPU (torch frontends; Keras on KERAS_BACKEND=torch)")
        p.add_argument("--channels-last", action="store_true",
                       help="torch frontend: conv layers in NHWC (Keras's layout, the same kernel paths)")
        p.add_argument("--fd-cnn", help="gan: a cnn checkpoint.npz whose features the Frechet distance uses "
                                        "(default: a cnn trained for 300 steps, cached in the run folder)")
        p.add_argument("--no-fd", action="store_true", help="gan: skip the Frechet distance")

    t = sub.add_parser("train", help="train one model through one frontend")
    common(t)
    t.add_argument("--frontend", choices=FRONTENDS + ("torch-native", "keras-native", "keras-jax", "keras-jax-native"),
                   default="torch")
    t.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.npz")
    t.add_argument("--init-from", help="checkpoint.npz of a saved model of the same kind (transfer)")
    t.add_argument("--freeze", type=int, default=0, help="with --init-from: load and freeze the first K layers")
    t.add_argument("--restore-best", action="store_true",
                   help="evaluate the test set with the weights of the epoch of best validation loss "
                        "(Keras's EarlyStopping(restore_best_weights=True))")
    from twincore.distributed.cli import add_arguments as distributed_arguments

    distributed_arguments(t)
    t.set_defaults(fn=cmd_train)

    c = sub.add_parser("compare", help="train one model through every frontend side by side")
    common(c)
    c.add_argument("--frontends", help="comma-separated (default: every installed one)")
    c.add_argument("--native", action="store_true", help="also train the same model in torch.nn / Keras layers")
    c.set_defaults(fn=cmd_compare)

    b = sub.add_parser("bench", help="kernel benchmark tables")
    b.add_argument("ops", nargs="*")
    b.set_defaults(fn=cmd_bench)

    k = sub.add_parser("check", help="self-test of the installed build")
    k.set_defaults(fn=cmd_check)

    from twincore.serve import add_arguments as serve_arguments  # flask is imported only when it runs

    serve_arguments(sub.add_parser("serve", help="serve a trained model: JSON API and web page"))

    args = ap.parse_args(argv)
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
