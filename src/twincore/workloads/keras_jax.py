"""The Keras workload on Keras's JAX backend (frontends "keras-jax" and
"keras-jax-native"): no TensorFlow in the step.

The gradient step is jax.value_and_grad over model.stateless_call, jitted (our layers'
ops are XLA FFI calls, which jit compiles), so Keras's own layers (keras-jax-native) and
ours (keras-jax) run the same program shape. Keras fixes its backend when it is first
imported: `use_jax_keras()` picks JAX in a process that has not imported keras yet, and
`compare` runs these frontends in a child process (`run_child`) when its own keras is on
another backend.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import tempfile

import numpy as np


def keras_backend_name() -> str | None:
    """The backend of an already imported keras, or None."""
    keras = sys.modules.get("keras")
    return None if keras is None else keras.backend.backend()


def use_jax_keras() -> None:
    """Make the coming `import keras` use JAX; ImportError if keras already runs on another backend."""
    current = keras_backend_name()
    if current is None:
        os.environ["KERAS_BACKEND"] = "jax"
    elif current != "jax":
        raise ImportError(f"keras is already imported on the {current} backend in this process "
                          "(its backend is fixed at import); run with KERAS_BACKEND=jax")


class JaxSteps:
    """The jitted gradient step and prediction of a KerasBackend whose keras runs on JAX.

    step(x, y) -> (loss, logits, grads) for the backend's `vars` (kernel, bias per layer);
    predict(x) -> outputs. The loss is the backend's own (`loss_of(out, y)`).
    """

    def __init__(self, model, train_vars, loss_of):
        import jax

        self.model = model
        ids = [id(v) for v in train_vars]
        trainable = model.trainable_variables
        order = {id(v): i for i, v in enumerate(trainable)}
        self._pick = [order[i] for i in ids]  # our vars' positions among the trainable ones

        def loss_fn(tv, ntv, x, y):
            out, _ = model.stateless_call(tv, ntv, x, training=True)
            loss, logits = loss_of(out, y)
            return loss, logits

        grad_fn = jax.value_and_grad(loss_fn, has_aux=True)

        def step(tv, ntv, x, y):
            (loss, logits), grads = grad_fn(tv, ntv, x, y)
            return loss, logits, [grads[i] for i in self._pick]

        self._step = jax.jit(step)
        self._predict = jax.jit(lambda tv, ntv, x: model.stateless_call(tv, ntv, x, training=False)[0])

    def _state(self):
        return ([v.value for v in self.model.trainable_variables],
                [v.value for v in self.model.non_trainable_variables])

    def step(self, x, y):
        tv, ntv = self._state()
        return self._step(tv, ntv, x, y)

    def predict(self, x):
        tv, ntv = self._state()
        return self._predict(tv, ntv, x)


class JaxGanSteps:
    """The jitted steps of a KerasGanBackend whose keras runs on JAX (workloads/gan.py's protocol).

    d_step(real, z, labels) -> (loss, grads of the discriminator's train_vars[n_g:]): the generator
    in training mode (batch statistics) makes the fakes outside the gradient, the discriminator sees
    [real; fakes]. g_step(z, labels) -> (loss, grads of the generator's train_vars[:n_g]) through
    D(G(z)). generate(z) -> images with the moving statistics. Both steps are stateless calls; the
    batch-norm moving statistics they return are assigned to the Keras variables after each step,
    so they move twice per training step, as the TF step's G(z, training=True) calls move them.
    The trainable values are read from the Keras variables (the backend's commit assigns them).
    """

    def __init__(self, G, D, train_vars, n_g: int, bce):
        import jax
        import jax.numpy as jnp

        self.G, self.D = G, D

        def positions(model, wanted):  # our vars' positions among the model's trainable ones
            order = {id(v): i for i, v in enumerate(model.trainable_variables)}
            return [order[id(v)] for v in wanted]

        g_pos, d_pos = positions(G, train_vars[:n_g]), positions(D, train_vars[n_g:])

        def d_loss(d_tv, d_ntv, x, labels):
            logits, d_ntv = D.stateless_call(d_tv, d_ntv, x, training=True)
            return bce(labels, logits), d_ntv

        def d_step(g_tv, g_ntv, d_tv, d_ntv, real, z, labels):
            fake, g_ntv = G.stateless_call(g_tv, g_ntv, z, training=True)  # no gradient flows to G here
            x = jnp.concatenate([real, fake], 0)
            (loss, d_ntv), grads = jax.value_and_grad(d_loss, has_aux=True)(d_tv, d_ntv, x, labels)
            return loss, [grads[i] for i in d_pos], g_ntv, d_ntv

        def g_loss(g_tv, g_ntv, d_tv, d_ntv, z, labels):
            fake, g_ntv = G.stateless_call(g_tv, g_ntv, z, training=True)
            logits, d_ntv = D.stateless_call(d_tv, d_ntv, fake, training=True)
            return bce(labels, logits), (g_ntv, d_ntv)

        def g_step(g_tv, g_ntv, d_tv, d_ntv, z, labels):
            (loss, (g_ntv, d_ntv)), grads = jax.value_and_grad(g_loss, has_aux=True)(g_tv, g_ntv, d_tv, d_ntv,
                                                                                       z, labels)
            return loss, [grads[i] for i in g_pos], g_ntv, d_ntv

        self._d = jax.jit(d_step)
        self._g = jax.jit(g_step)
        self._gen = jax.jit(lambda tv, ntv, z: G.stateless_call(tv, ntv, z, training=False)[0])

    @staticmethod
    def _values(model):
        return [v.value for v in model.trainable_variables], [v.value for v in model.non_trainable_variables]

    def _run(self, fn, *args):
        g_tv, g_ntv = self._values(self.G)
        d_tv, d_ntv = self._values(self.D)
        loss, grads, g_ntv, d_ntv = fn(g_tv, g_ntv, d_tv, d_ntv, *args)
        for model, new in ((self.G, g_ntv), (self.D, d_ntv)):
            for v, a in zip(model.non_trainable_variables, new):
                v.assign(a)
        return loss, grads

    def d_step(self, real, z, labels):
        return self._run(self._d, real, z, labels)

    def g_step(self, z, labels):
        return self._run(self._g, z, labels)

    def generate(self, z):
        return self._gen(*self._values(self.G), z)


def run_child(frontend: str, spec, task, cfg, channels_last: bool, features=None):
    """Train `frontend` in a child process with KERAS_BACKEND=jax; returns (summary, weights)
    as `compare` collects them in-process (the gan model: fit_gan's summary, which holds its
    weights; features is its Frechet-distance CNN)."""
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = os.path.join(tmp, "in.pkl"), os.path.join(tmp, "out.pkl")
        with open(src, "wb") as f:
            pickle.dump((frontend, spec, task, cfg, channels_last, features), f)
        env = dict(os.environ, KERAS_BACKEND="jax", TF_CPP_MIN_LOG_LEVEL="2")
        proc = subprocess.run([sys.executable, "-m", "twincore.workloads.keras_jax", src, dst], env=env)
        if proc.returncode != 0 or not os.path.exists(dst):
            raise RuntimeError(f"twincore compare: the {frontend} child process failed (exit {proc.returncode})")
        with open(dst, "rb") as f:
            return pickle.load(f)


def _child(src: str, dst: str) -> None:
    from twincore.cli import make_backend
    from twincore.workloads.trainer import fit

    with open(src, "rb") as f:
        frontend, spec, task, cfg, channels_last, features = pickle.load(f)
    if getattr(spec, "task", None) == "gan":
        from twincore.workloads.gan import fit_gan, make_gan_backend

        s = fit_gan(spec, make_gan_backend(frontend, spec, cfg.seed, cfg.dtype, channels_last), task, cfg, features)
        with open(dst, "wb") as f:
            pickle.dump(s, f)
        return
    backend = make_backend(frontend, spec, cfg.seed, dtype=cfg.dtype, channels_last=channels_last)
    s = fit(spec, backend, task, cfg)
    weights = [np.asarray(backend.to_canonical(i, p)) for i, p in enumerate(backend.params)]
    with open(dst, "wb") as f:
        pickle.dump((s, weights), f)


if __name__ == "__main__":
    _child(sys.argv[1], sys.argv[2])
