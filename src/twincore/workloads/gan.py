"""The GAN workload (issue 16): a DCGAN-style generator and discriminator on Fashion-MNIST,
trained by alternating updates with binary cross-entropy from logits, through each frontend.

Architecture (canonical NHWC, Keras's weight layouts; sizes from specs.MODELS["gan"].extra):
  G: z [N, Z] -> Dense(7*7*C1) -> reshape [7, 7, C1] -> BatchNorm -> relu -> Conv2DTranspose(C2, 4, 2, same)
     -> BatchNorm -> relu -> Conv2DTranspose(1, 4, 2, same, tanh) -> [N, 28, 28, 1] in [-1, 1]
     (batch statistics while training, running ones when sampling; momentum bn_momentum in torch's
     convention = Keras's 1 - bn_momentum)
  D: x [N, 28, 28, 1] -> Conv2D(D1, 4, 2, same) -> LeakyReLU(0.2) -> Conv2D(D2, 4, 2, same)
     -> LeakyReLU(0.2) -> flatten -> Dense(1) (a logit)
One step: the discriminator on [real; G(z1)] with labels [1; 0] (one batch of 2N, fakes
detached), its Adam update; then the generator on D(G(z2)) against labels 1 (the
non-saturating loss), its Adam update. Adam (twincore's fused kernel) with lr 2e-4,
beta1 0.5 as DCGAN. Noise, batches and initial weights come from the seed, the same for
every frontend.

Quality: the Frechet distance between the feature statistics of real test images and
generated ones, in the 64-d penultimate (dense, relu) layer of the project's own `cnn`
classifier -- NOT Inception's FID, so its values are not comparable to published FIDs. The
classifier is a `twincore train --model cnn` checkpoint (--fd-cnn PATH) or, without one,
the same cnn trained here for a short while (a few hundred steps, ~85% test accuracy on
Fashion-MNIST), cached in the run folder as fd_cnn.npz.

Backend protocol (torch_backend.TorchGanBackend, keras_backend.KerasGanBackend -- on TF, or on
Keras's JAX backend as frontends keras-jax / keras-jax-native with keras_jax.JaxGanSteps --,
native_backend.NativeGanBackend): name; params (generator's first, n_g of them);
to_native / to_canonical / set_param / zeros_like / commit as the trainer's backends;
d_step(real, z) -> (loss, grads of params[n_g:]); g_step(z) -> (loss, grads of
params[:n_g]); generate(z) -> NHWC images (numpy).
"""

from __future__ import annotations

import json
import math
import os
import time

import numpy as np

import twincore.kernels as K
from twincore.workloads import report

SLOPE = 0.2  # the discriminator's leaky relu


# ---- the architecture, frontend-free --------------------------------------------------------

def dims(spec) -> tuple[int, int, int, int, int]:
    e = spec.extra
    return e["z_dim"], e["g_channels"][0], e["g_channels"][1], e["d_channels"][0], e["d_channels"][1]


def param_shapes(spec) -> list[tuple]:
    """Canonical shapes: the generator's ten (batch-norm gamma, beta after the dense layer and the
    first transposed convolution), then the discriminator's six."""
    z, c1, c2, d1, d2 = dims(spec)
    return [(z, 49 * c1), (49 * c1,), (c1,), (c1,), (4, 4, c2, c1), (c2,), (c2,), (c2,), (4, 4, 1, c2), (1,),
            (4, 4, 1, d1), (d1,), (4, 4, d1, d2), (d2,), (49 * d2, 1), (1,)]


def param_kinds(spec) -> list[tuple]:
    """What each canonical parameter is, for the torch layout conversions below."""
    _, c1, _, _, d2 = dims(spec)
    return [("dense_to_image", (7, 7, c1)), ("bias_to_image", (7, 7, c1)), ("gamma",), ("bias",), ("convT",),
            ("bias",), ("gamma",), ("bias",), ("convT",), ("bias",),
            ("conv",), ("bias",), ("conv",), ("bias",), ("dense", (7, 7, d2)), ("bias",)]


N_G = 10  # generator parameters come first


def init_weights(spec, seed: int = 0, dtype=np.float32) -> list[np.ndarray]:
    """Keras's defaults, reproducible from seed: glorot_uniform kernels (Keras's fans: the last
    two axes times the receptive field), zero biases and betas, unit gammas."""
    rng = np.random.default_rng(seed)
    out = []
    for shape, kind in zip(param_shapes(spec), param_kinds(spec)):
        if len(shape) == 1:
            out.append((np.ones if kind[0] == "gamma" else np.zeros)(shape, dtype))
            continue
        receptive = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
        limit = math.sqrt(6.0 / ((shape[-2] + shape[-1]) * receptive))
        out.append(rng.uniform(-limit, limit, shape).astype(dtype))
    return out


def to_torch_layout(kind: tuple, a: np.ndarray, nhwc: bool) -> np.ndarray:
    """Canonical -> torch modules' layout (NCHW: ConvTranspose2d [in, out, KH, KW], Linear
    [out, in], the generator's first features in (c, h, w) order); nhwc: Keras's conv layouts."""
    from twincore.workloads.specs import to_torch_layout as base

    if kind[0] == "convT":
        return a if nhwc else np.ascontiguousarray(a.transpose(3, 2, 0, 1))
    if kind[0] == "dense_to_image":
        h, w, c = kind[1]
        a = a if nhwc else a.reshape(-1, h, w, c).transpose(0, 3, 1, 2).reshape(a.shape[0], -1)
        return np.ascontiguousarray(a.T)
    if kind[0] == "bias_to_image":
        h, w, c = kind[1]
        return a if nhwc else np.ascontiguousarray(a.reshape(h, w, c).transpose(2, 0, 1).reshape(-1))
    return base(kind, a, nhwc)


def from_torch_layout(kind: tuple, a: np.ndarray, nhwc: bool) -> np.ndarray:
    from twincore.workloads.specs import from_torch_layout as base

    if kind[0] == "convT":
        return a if nhwc else np.ascontiguousarray(a.transpose(2, 3, 1, 0))
    if kind[0] == "dense_to_image":
        h, w, c = kind[1]
        a = a.T
        return np.ascontiguousarray(a if nhwc else a.reshape(-1, c, h, w).transpose(0, 2, 3, 1).reshape(a.shape[0], -1))
    if kind[0] == "bias_to_image":
        h, w, c = kind[1]
        return a if nhwc else np.ascontiguousarray(a.reshape(c, h, w).transpose(1, 2, 0).reshape(-1))
    return base(kind, a, nhwc)


def make_gan_backend(frontend: str, spec, seed: int = 0, dtype: str = "float32", channels_last: bool = False,
                     device: str = "cpu"):
    """device="cuda": the torch frontends only (cli.check_device has checked the GPU and our kernels)."""
    if device != "cpu" and frontend not in ("torch", "torch-native"):
        # KerasGanBackend's steps are tf.function + tf.GradientTape (TensorFlow only, no GPU on
        # the GPU machine); the native tape runs on the CPU.
        raise SystemExit(f"twincore: --device {device}: the gan model trains on the GPU through the torch "
                         f"frontends only (--frontend torch or torch-native), not {frontend!r}")
    if frontend in ("torch", "torch-native"):
        from twincore.workloads.torch_backend import TorchGanBackend

        layout = "NHWC" if channels_last and frontend == "torch" else "NCHW"
        return TorchGanBackend(spec, ours=frontend == "torch", dtype=dtype, layout=layout, device=device)
    if frontend in ("keras", "keras-native"):
        from twincore.workloads.keras_backend import KerasGanBackend

        return KerasGanBackend(spec, ours=frontend == "keras", seed=seed, dtype=dtype)
    if frontend in ("keras-jax", "keras-jax-native"):  # Keras on its JAX backend (no TensorFlow)
        from twincore.workloads.keras_jax import use_jax_keras

        use_jax_keras()
        from twincore.workloads.keras_backend import KerasGanBackend

        return KerasGanBackend(spec, ours=frontend == "keras-jax", seed=seed, dtype=dtype)
    if frontend == "native":
        from twincore.workloads.native_backend import NativeGanBackend

        return NativeGanBackend(spec, dtype=dtype)
    raise SystemExit(f"twincore: unknown frontend {frontend!r}")


# ---- the quality figure: Frechet distance in the project's CNN's feature space -------------------

class CnnFeatures:
    """The 64-d penultimate features (dense 64, relu) of the `cnn` model (specs.MODELS["cnn"]) from its
    canonical weights, computed with twincore.kernels. Images [N, 28, 28] or [N, 28, 28, 1] in [0, 1]."""

    def __init__(self, weights: list[np.ndarray], source: str):
        self.w = [np.ascontiguousarray(a, np.float32) for a in weights]
        self.source = source

    def __call__(self, images: np.ndarray, batch: int = 500) -> np.ndarray:
        w = self.w
        out = []
        for i in range(0, len(images), batch):
            x = np.ascontiguousarray(np.asarray(images[i:i + batch], np.float32).reshape(-1, 28, 28, 1))
            h = K.conv2d(x, w[0], w[1], stride=1, padding="same", layout="NHWC", activation="relu")
            h = K.conv2d(h, w[2], w[3], stride=2, padding="same", layout="NHWC", activation="relu")
            h = K.max_pool2d(h, 2, layout="NHWC")
            f = K.relu(K.matmul(np.ascontiguousarray(h.reshape(len(x), -1)), w[4], w[5]))
            out.append(f.astype(np.float64))
        return np.concatenate(out)

    def logits(self, images: np.ndarray) -> np.ndarray:
        return self(images) @ self.w[6].astype(np.float64) + self.w[7]


def frechet_distance(f1: np.ndarray, f2: np.ndarray) -> float:
    """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)) of two feature sets [n, d] (float64).
    Tr((S1 S2)^(1/2)) = sum sqrt(eig(S1^(1/2) S2 S1^(1/2))), a symmetric PSD matrix (no sqrtm)."""
    mu1, mu2 = f1.mean(0), f2.mean(0)
    s1, s2 = np.cov(f1, rowvar=False), np.cov(f2, rowvar=False)
    e, v = np.linalg.eigh(s1)
    r1 = (v * np.sqrt(np.clip(e, 0, None))) @ v.T
    cross = np.sqrt(np.clip(np.linalg.eigvalsh(r1 @ s2 @ r1), 0, None)).sum()
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2.0 * cross)


def feature_net(task, out: str | None, checkpoint: str | None = None, seed: int = 0, steps: int = 300,
                progress: bool = False) -> CnnFeatures:
    """The CNN whose features the Frechet distance uses: a cnn checkpoint.npz (twincore train --model cnn)
    if given, else one cached in out/fd_cnn.npz, else the cnn trained now through the native frontend
    for `steps` batches of 100 (one epoch at most) and cached there."""
    from twincore.workloads.specs import MODELS

    if checkpoint:
        from twincore.workloads.trainer import load_checkpoint

        meta, arrays = load_checkpoint(checkpoint)
        if meta.get("model") != "cnn":
            raise SystemExit(f"twincore: --fd-cnn: {checkpoint} holds a {meta.get('model')!r} model, not 'cnn'")
        return CnnFeatures([arrays[f"w{i}"] for i in range(8)], f"cnn checkpoint {checkpoint}")
    cache = os.path.join(out, "fd_cnn.npz") if out else None
    if cache and os.path.exists(cache):
        with np.load(cache) as z:
            return CnnFeatures([z[f"w{i}"] for i in range(8)], str(z["source"]))
    from twincore.workloads.native_backend import NativeBackend
    from twincore.workloads.tasks import Split, TaskData
    from twincore.workloads.trainer import RunConfig, fit

    spec = MODELS["cnn"]
    cls = TaskData(Split(task.train.x, task.train.y), None, task.test, task.classes, task.source)
    cfg = RunConfig(epochs=1, batch_size=100, lr=1e-3, seed=seed, max_steps=steps, progress=progress)
    backend = NativeBackend(spec, seed=seed)
    s = fit(spec, backend, cls, cfg)
    weights = [backend.to_canonical(i, p) for i, p in enumerate(backend.params)]
    source = (f"the project's cnn trained for {s['steps']} steps of 100 images (native frontend, seed {seed}); "
              f"test accuracy {s['test_accuracy']:.3f}")
    if cache:
        np.savez(cache, source=np.array(source), **{f"w{i}": w for i, w in enumerate(weights)})
    return CnnFeatures(weights, source)


# ---- plots --------------------------------------------------------------------------------

def plot_grid(path: str, images: np.ndarray, title: str) -> None:
    """images [n, 28, 28(, 1)] in [-1, 1] as a square grid."""
    plt = report._plt()
    n = len(images)
    side = int(math.ceil(math.sqrt(n)))
    canvas = np.ones((side * 29 + 1, side * 29 + 1))
    for i, img in enumerate(np.asarray(images).reshape(n, 28, 28)):
        r, c = divmod(i, side)
        canvas[1 + 29 * r:29 * (r + 1), 1 + 29 * c:29 * (c + 1)] = (img + 1) / 2
    fig, ax = plt.subplots(figsize=(6, 6.3))
    ax.imshow(canvas, cmap="gray_r", vmin=0, vmax=1)
    ax.axis("off")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_losses(path: str, d_losses, g_losses, per_epoch: int, title: str) -> None:
    plt = report._plt()
    fig, ax = plt.subplots(figsize=(9, 4.5))
    steps = np.arange(1, len(d_losses) + 1)
    k = max(1, min(50, len(d_losses) // 20))
    smooth = lambda v: np.convolve(v, np.ones(k) / k, mode="valid")
    for vals, name in ((d_losses, "discriminator"), (g_losses, "generator")):
        line, = ax.plot(steps, vals, lw=0.5, alpha=0.25)
        ax.plot(steps[k - 1:], smooth(np.asarray(vals)), lw=1.5, color=line.get_color(),
                label=f"{name} (moving mean of {k})")
    for e in range(per_epoch, len(d_losses), per_epoch):
        ax.axvline(e, color="gray", lw=0.5, ls=":")
    ax.set_xlabel("step")
    ax.set_ylabel("binary cross-entropy")
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_fd(path: str, history: list[dict], title: str) -> None:
    plt = report._plt()
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot([h["epoch"] for h in history], [h["fd"] for h in history], "-o")
    ax.set_xlabel("epoch (0 = initial weights)")
    ax.set_ylabel("Frechet distance (project CNN features)")
    ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ---- training -------------------------------------------------------------------------------

def images(x: np.ndarray) -> np.ndarray:
    """uint8-derived [N, 28, 28] in [0, 1] -> the generator's range [-1, 1], NHWC."""
    return (np.asarray(x, np.float32) * np.float32(2.0) - np.float32(1.0))[..., None]


def fit_gan(spec, backend, task, cfg, features: CnnFeatures | None = None, fd_samples: int = 2000,
            grid: int = 64) -> dict:
    """Train backend's GAN; write samples_epoch<k>.png, curves.png, fd.png, metrics.csv, summary.json and
    checkpoint.npz to cfg.out. features: the CNN for the Frechet distance (None: no quality figure)."""
    e = spec.extra
    beta1, z_dim = e["beta1"], dims(spec)[0]
    dtype = np.dtype(cfg.dtype)
    if cfg.out:
        os.makedirs(cfg.out, exist_ok=True)
    for i, w in enumerate(init_weights(spec, cfg.seed, dtype)):
        backend.set_param(i, backend.to_native(i, w))
    m = [backend.zeros_like(p) for p in backend.params]
    v = [backend.zeros_like(p) for p in backend.params]
    backend.commit()
    fixed = np.random.default_rng([cfg.seed, 1]).standard_normal((grid, z_dim)).astype(dtype)
    z_fd = np.random.default_rng([cfg.seed, 2]).standard_normal((fd_samples, z_dim)).astype(dtype)
    real_feats = None
    if features is not None:
        real_feats = features(task.test.x[:fd_samples])

    def quality(epoch: int) -> dict:
        row = {"epoch": epoch}
        if features is not None:
            fake = np.concatenate([backend.generate(z_fd[i:i + 500]) for i in range(0, fd_samples, 500)])
            row["fd"] = frechet_distance(real_feats, features((fake + 1) / 2))
        if cfg.out:
            plot_grid(os.path.join(cfg.out, f"samples_epoch{epoch}.png"), backend.generate(fixed),
                      f"{spec.name} ({backend.name}), epoch {epoch}" + (f": FD {row['fd']:.2f}" if "fd" in row else ""))
        return row

    history = [quality(0)]
    n = len(task.train)
    d_losses, g_losses, step, t_train = [], [], 0, 0.0
    x_all = task.train.x
    per_epoch = 0
    for epoch in range(cfg.epochs):
        from twincore.data import batch_order

        order = batch_order(n, cfg.batch_size, cfg.seed, epoch)
        if cfg.max_steps:
            order = order[:cfg.max_steps]
        per_epoch = len(order)
        bar = None
        if cfg.progress:
            from tqdm import tqdm

            bar = tqdm(total=len(order), desc=f"{backend.name} gan epoch {epoch + 1}/{cfg.epochs}", unit="batch",
                       dynamic_ncols=True)
        t0 = time.perf_counter()
        for idx in order:
            step += 1
            real = images(x_all[idx])
            z = np.random.default_rng([cfg.seed, 3, step]).standard_normal((2, len(idx), z_dim)).astype(dtype)
            d_loss, grads = backend.d_step(real, z[0])
            for i, g in enumerate(grads, start=N_G):
                K.adam_step(backend.params[i], g, m[i], v[i], step, lr=cfg.lr, beta1=beta1, flavor="torch")
            backend.commit()
            g_loss, grads = backend.g_step(z[1])
            for i, g in enumerate(grads):
                K.adam_step(backend.params[i], g, m[i], v[i], step, lr=cfg.lr, beta1=beta1, flavor="torch")
            backend.commit()
            d_losses.append(d_loss)
            g_losses.append(g_loss)
            if bar:
                bar.update(1)
                bar.set_postfix(d=f"{d_loss:.3f}", g=f"{g_loss:.3f}")
        seconds = time.perf_counter() - t0
        t_train += seconds
        if bar:
            bar.close()
        row = quality(epoch + 1)
        row.update(d_loss=float(np.mean(d_losses[-per_epoch:])), g_loss=float(np.mean(g_losses[-per_epoch:])),
                   seconds=seconds)
        history.append(row)
        if bar is not None and "fd" in row:
            print(f"  d_loss {row['d_loss']:.4f}  g_loss {row['g_loss']:.4f}  FD {row['fd']:.3f}")
    summary = {"model": spec.name, "frontend": backend.name, "epochs": cfg.epochs, "steps": step,
               "d_loss": history[-1].get("d_loss"), "g_loss": history[-1].get("g_loss"),
               "fd": [h.get("fd") for h in history], "train_seconds": t_train, "history": history,
               "fd_features": features.source if features is not None else None, "data": task.source}
    if cfg.out:
        arrays = {f"w{i}": backend.to_canonical(i, p) for i, p in enumerate(backend.params)}
        meta = {"model": spec.name, "frontend": backend.name, "step": step, "epoch": cfg.epochs,
                "history": history, "lr": cfg.lr, "batch_size": cfg.batch_size, "seed": cfg.seed}
        np.savez(os.path.join(cfg.out, "checkpoint.npz"), meta=np.array(json.dumps(meta)), **arrays)
        report.write_metrics_csv(os.path.join(cfg.out, "metrics.csv"), history)
        plot_losses(os.path.join(cfg.out, "curves.png"), d_losses, g_losses, per_epoch,
                    f"{spec.name} through {backend.name}: losses of both nets")
        if features is not None:
            plot_fd(os.path.join(cfg.out, "fd.png"), history,
                    f"{spec.name} ({backend.name}): Frechet distance, real vs generated test images,\n"
                    "in the project's CNN feature space (not Inception's FID)")
        report.write_json(os.path.join(cfg.out, "summary.json"), summary)
    summary["d_losses"], summary["g_losses"] = d_losses, g_losses
    summary["weights"] = [np.asarray(backend.to_canonical(i, p)) for i, p in enumerate(backend.params)]
    summary["samples"] = np.asarray(backend.generate(fixed))  # the final grid (moving batch-norm statistics)
    return summary


def compare_gan(spec, task, cfg, frontends: list[str], out: str, channels_last: bool = False,
                features: CnnFeatures | None = None, device: str = "cpu") -> list[dict]:
    """Train the GAN through each frontend from the same weights, noise and batches; print one epoch's
    time per frontend side by side (ours vs the same GAN in torch.nn / Keras layers)."""
    import copy

    from twincore.workloads.keras_jax import keras_backend_name, run_child

    os.makedirs(out, exist_ok=True)
    results = []
    for name in frontends:
        c = copy.copy(cfg)
        c.out = os.path.join(out, name)
        if name.startswith("keras-jax") and keras_backend_name() != "jax":
            # keras's backend is fixed at import: a child on JAX, so this process's keras (the
            # "keras" rows, TF) is left as it is
            results.append({"frontend": name, **run_child(name, spec, task, c, channels_last, features)})
            continue
        try:
            backend = make_gan_backend(name, spec, cfg.seed, cfg.dtype, channels_last, device)
        except (ImportError, ValueError) as err:
            print(f"skipping {name}: {err}")
            continue
        results.append({"frontend": name, **fit_gan(spec, backend, task, c, features)})
    if not results:
        raise SystemExit("twincore compare: no frontend could run")
    ref = {r["frontend"]: r for r in results}
    lines = [f"{spec.name}: {cfg.epochs} epoch(s), batch {cfg.batch_size}, lr {cfg.lr}, seed {cfg.seed}, "
             f"{results[0]['steps']} steps each, {cfg.dtype}; same initial weights, noise and batches; "
             "optimizer: twincore's fused Adam", "",
             "| frontend | s/epoch | speed vs the framework's own layers (their s / ours) | final D loss | "
             "final G loss | FD (first -> last) |",
             "|---|---:|---:|---:|---:|---:|"]
    for r in results:
        per = r["train_seconds"] / max(r["epochs"], 1)
        base = ref.get(r["frontend"] + "-native")
        ratio = f"{base['train_seconds'] / r['train_seconds']:.2f}x" if base else "-"
        fd = r["fd"]
        fd_txt = f"{fd[0]:.2f} -> {fd[-1]:.2f}" if fd and fd[0] is not None else "-"
        lines.append(f"| {r['frontend']} | {per:.1f} | {ratio} | {r['d_loss']:.4f} | {r['g_loss']:.4f} | {fd_txt} |")
    ours = [r for r in results if not r["frontend"].endswith("-native")]
    if len(ours) > 1:
        same = all(all(np.array_equal(a, b) for a, b in zip(r["weights"], ours[0]["weights"])) for r in ours)
        lines += ["", (f"Bit-identical training through {', '.join(r['frontend'] for r in ours)}: the same "
                       f"{cfg.dtype} weights at the end." if same else
                       "The twincore frontends end with different weights" +
                       (" (the torch frontend runs NCHW; --channels-last runs Keras's layout, the same kernels)."
                        if not channels_last else "."))]
    if features is not None:
        lines += ["", f"FD: Frechet distance in the feature space of {features.source} (not Inception's FID)."]
    table = "\n".join(lines)
    print("\n" + table)
    with open(os.path.join(out, "compare.md"), "w") as f:
        f.write(table + "\n")
    return results
