"""Keras with tf.distribute over twincore's Keras layers.

* MirroredStrategy: N replicas in one process, on N logical CPU devices
  (tf.config.set_logical_device_configuration). Each global batch is split between the
  replicas, their gradients are summed (all-reduce) and every replica applies the same
  update, so N devices train exactly like one device on the whole batch.
* MultiWorkerMirroredStrategy: N worker processes on this machine (or several), each
  configured by TF_CONFIG; collectives over gRPC. Each worker reads every N-th example
  (AutoShardPolicy.DATA). A custom training loop there (model.fit fails under it in
  Keras 3.15, see multiworker_main), checkpointed like BackupAndRestore does.

Our Keras layers call the core through tf.numpy_function when model.fit runs in graph mode
(see twincore/frontends/keras/tf_ops/_bridge.py); here that runs inside each replica's
context. Logical devices must be configured before TensorFlow starts its runtime, so
every function here runs in a fresh process (the CLI, or a test's subprocess).
"""

from __future__ import annotations

import json
import os
import time

from twincore.distributed.common import get_spec, limit_threads, load_data


def configure_cpus(n: int, threads: int = 1):
    """n logical CPU devices; one op thread each (the machine is shared). Returns their names."""
    import tensorflow as tf

    cpus = tf.config.list_physical_devices("CPU")
    if n > 1:
        tf.config.set_logical_device_configuration(cpus[0], [tf.config.LogicalDeviceConfiguration()] * n)
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(max(2, n))  # replicas and numpy_function need a few
    return [d.name for d in tf.config.list_logical_devices("CPU")]


def build_model(spec_name: str, ours: bool = True, seed: int = 0):
    """The spec's classifier as a keras.Sequential of our layers (ours=False: Keras's own),
    starting from twincore's canonical weights for `seed` (the same as every frontend)."""
    import keras

    from twincore.workloads.specs import init_weights

    spec = get_spec(spec_name)
    if ours:
        from twincore.frontends import keras as tk

        dense, conv, pool = tk.Dense, tk.Conv2D, tk.MaxPooling2D
    else:
        dense, conv, pool = keras.layers.Dense, keras.layers.Conv2D, keras.layers.MaxPooling2D
    layers = [keras.Input((28, 28))]  # the images as load_task gives them, [N, 28, 28]
    if any(layer.kind == "conv" for layer in spec.layers):
        layers.append(keras.layers.Reshape((28, 28, 1)))  # NHWC for Conv2D
    for layer in spec.layers:
        if layer.kind == "conv":
            layers.append(conv(layer.units, layer.kernel, strides=layer.stride, padding="same",
                               activation=layer.activation))
        elif layer.kind == "maxpool":
            layers.append(pool(layer.kernel))
        elif layer.kind == "flatten":
            layers.append(keras.layers.Flatten())
        elif layer.kind == "dense":
            layers.append(dense(layer.units, activation=layer.activation))
        else:
            raise ValueError(f"twincore.distributed: argument '--model': {spec_name} has a {layer.kind!r} layer, "
                             "which the Keras distributed runs do not build (use mlp, deep-mlp, cnn or tiny-mlp)")
    model = keras.Sequential(layers)
    model.set_weights(init_weights(spec, seed))
    return model


def _compile(model, spec_name: str, lr: float, optimizer: str | None, ours: bool):
    import keras

    opt = optimizer or get_spec(spec_name).optimizer
    if ours:
        from twincore.frontends import keras as tk

        loss = tk.SparseCategoricalCrossentropy(from_logits=True)
    else:
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(optimizer=keras.optimizers.Adam(lr) if opt == "adam" else keras.optimizers.SGD(lr), loss=loss)


class _StepLog:
    """A Keras callback recording (step, seconds, loss) of every batch."""

    def __new__(cls):
        import keras

        class StepLog(keras.callbacks.Callback):
            def __init__(self):
                super().__init__()
                self.rows, self.t0 = [], None

            def on_train_batch_end(self, batch, logs=None):
                if self.t0 is None:
                    self.t0 = time.perf_counter()
                self.rows.append((len(self.rows) + 1, time.perf_counter() - self.t0, float(logs["loss"]), -1))

        return StepLog()


def dataset(x, y, global_batch: int, shard_data: bool = False):
    """Global batches in a fixed order (no shuffle), repeated: the same batches for any
    number of replicas. shard_data: multi-worker runs split by example (AutoShardPolicy.DATA)."""
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((x, y)).repeat().batch(global_batch, drop_remainder=True)
    if shard_data:
        opts = tf.data.Options()
        opts.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
        ds = ds.with_options(opts)
    return ds


def fit_mirrored(strategy, cfg: dict, x, y, ours: bool = True, callbacks=()):
    """model.fit under `strategy` for cfg['steps'] steps of global batches of
    cfg['batch_size'] * replicas; returns (model, step log rows)."""
    with strategy.scope():
        model = build_model(cfg["model"], ours, cfg["seed"])
        _compile(model, cfg["model"], cfg["lr"], cfg.get("optimizer"), ours)
    gb = cfg["batch_size"] * strategy.num_replicas_in_sync
    log = _StepLog()
    model.fit(dataset(x, y, gb), epochs=1, steps_per_epoch=cfg["steps"], verbose=0, shuffle=False,
              callbacks=[log, *callbacks])
    return model, log.rows


def mirrored_main(cfg: dict, replicas: int) -> dict:
    """One process: `replicas` logical CPUs under MirroredStrategy. Writes OUT/summary.json
    and OUT/weights.npz (the trained parameters, canonical layout)."""
    limit_threads(cfg.get("threads", 1))
    names = configure_cpus(replicas, cfg.get("threads", 1))
    import tensorflow as tf

    train = load_data(cfg)
    strategy = tf.distribute.MirroredStrategy(names[:replicas])
    print(f"twincore.distributed: MirroredStrategy on {names[:replicas]}: num_replicas_in_sync = "
          f"{strategy.num_replicas_in_sync}", flush=True)
    t0 = time.perf_counter()
    model, rows = fit_mirrored(strategy, cfg, train.x, train.y, ours=cfg.get("ours", True))
    return _finish(cfg, model, rows, "mirrored", strategy.num_replicas_in_sync, time.perf_counter() - t0)


def _finish(cfg, model, rows, strategy: str, replicas: int, seconds: float, write: bool = True) -> dict:
    from twincore.distributed.common import save_checkpoint, write_steps

    out = cfg["out"]
    summary = {"strategy": strategy, "frontend": "keras" if cfg.get("ours", True) else "keras-native",
               "model": cfg["model"], "replicas": replicas, "batch_size": cfg["batch_size"],
               "steps": rows[-1][0] if rows else 0,  # the last step's number (counts a resumed run's earlier steps)
               "seconds": seconds, "final_loss": rows[-1][2] if rows else None}
    if write:
        os.makedirs(out, exist_ok=True)
        save_checkpoint(os.path.join(out, "weights.npz"), {f"w{i}": w for i, w in enumerate(model.get_weights())},
                        {"model": cfg["model"], "frontend": summary["frontend"], "step": len(rows), "epoch": 0,
                         "history": [], "strategy": strategy})
        write_steps(os.path.join(out, "steps.csv"), rows)
        with open(os.path.join(out, "summary.json"), "w") as f:
            json.dump(summary, f, indent=1)
        print(f"twincore.distributed: {strategy} done, {summary['steps']} steps, last loss {summary['final_loss']:.4f}, "
              f"{seconds:.1f} s; wrote {out}/", flush=True)
    return summary


def multiworker_main(cfg: dict) -> dict:
    """One worker of a MultiWorkerMirroredStrategy job; TF_CONFIG must be set.

    A custom training loop (strategy.run + tf.GradientTape + the Keras optimizer), not
    model.fit: Keras 3.15's fit fails under MultiWorkerMirroredStrategy on this machine,
    with Keras's own layers as with ours (its build step averages a sample batch across
    workers: "Attempt to convert a value (PerReplica ...) to a Tensor"; past that, its
    per-replica metric reduction fails on a 0-d loss). The loop is TensorFlow's documented
    multi-worker pattern; fault tolerance the same way: a tf.train.Checkpoint every
    checkpoint_every steps (the chief into OUT/ckpt, the others into scratch folders,
    since saving is a collective), restored when the job starts again. This is what
    keras.callbacks.BackupAndRestore does inside fit.
    """
    limit_threads(cfg.get("threads", 1))
    tf_config = json.loads(os.environ["TF_CONFIG"])
    index = tf_config["task"]["index"]
    import keras
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(cfg.get("threads", 1))
    train = load_data(cfg)
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    replicas = strategy.num_replicas_in_sync
    print(f"twincore.distributed: worker {index}: MultiWorkerMirroredStrategy, num_replicas_in_sync = "
          f"{replicas}", flush=True)
    ours = cfg.get("ours", True)
    gb = cfg["batch_size"] * replicas
    with strategy.scope():
        model = build_model(cfg["model"], ours, cfg["seed"])
        opt = cfg.get("optimizer") or get_spec(cfg["model"]).optimizer
        optimizer = keras.optimizers.Adam(cfg["lr"]) if opt == "adam" else keras.optimizers.SGD(cfg["lr"])
        if ours:
            from twincore.frontends import keras as tk

            loss_fn = tk.SparseCategoricalCrossentropy(from_logits=True, reduction=None)
        else:
            loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction=None)
        step_var = tf.Variable(0, dtype=tf.int64, trainable=False)
        ckpt = tf.train.Checkpoint(model=model, optimizer=optimizer, step=step_var)
    folder = os.path.join(cfg["out"], "ckpt" if index == 0 else f"ckpt-scratch-worker{index}")
    manager = tf.train.CheckpointManager(ckpt, folder, max_to_keep=1)
    restore = tf.train.latest_checkpoint(os.path.join(cfg["out"], "ckpt"))
    if restore:
        ckpt.restore(restore)
        print(f"twincore.distributed: worker {index}: resumed from {restore} at step {int(step_var.numpy())}",
              flush=True)
    dist = strategy.experimental_distribute_dataset(dataset(train.x, train.y, gb, shard_data=True))
    it = iter(dist)

    @tf.function
    def train_step(batch):
        def step_fn(x, y):
            with tf.GradientTape() as tape:
                per_example = loss_fn(y, model(x, training=True))
                loss = tf.nn.compute_average_loss(per_example, global_batch_size=gb)
            grads = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(grads, model.trainable_variables))  # sums grads over replicas
            return loss

        return strategy.reduce("SUM", strategy.run(step_fn, args=batch), axis=None)

    rows, every = [], cfg.get("checkpoint_every", 0)
    t0 = time.perf_counter()
    for _ in range(int(step_var.numpy())):  # the data position of a resumed run
        next(it)
    while int(step_var.numpy()) < cfg["steps"]:
        loss = float(train_step(next(it)))
        step_var.assign_add(1)
        rows.append((int(step_var.numpy()), time.perf_counter() - t0, loss, -1))
        if every and int(step_var.numpy()) % every == 0:
            manager.save()
    manager.save()
    return _finish(cfg, model, rows, "multiworker", replicas, time.perf_counter() - t0, write=index == 0)


def launch_multiworker(cfg: dict, workers: int, argv: list[str], timeout: float | None = None) -> None:
    """Start `workers` processes `python -m twincore.distributed keras-worker <argv>` on
    127.0.0.1, each with its TF_CONFIG; stop all of them when one fails (naming it)."""
    import subprocess
    import sys

    from twincore.distributed.common import free_port
    from twincore.distributed.launcher import WorkerFailed, _describe

    cluster = {"worker": [f"127.0.0.1:{free_port()}" for _ in range(workers)]}
    procs = []
    try:
        for i in range(workers):
            env = {**os.environ, "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}}),
                   "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")}
            procs.append(subprocess.Popen([sys.executable, "-m", "twincore.distributed", "keras-worker", *argv], env=env))
        os.makedirs(cfg["out"], exist_ok=True)
        for i, p in enumerate(procs):
            with open(os.path.join(cfg["out"], f"rank{i}.pid"), "w") as f:
                f.write(str(p.pid))
        start = time.monotonic()
        while True:
            codes = [p.poll() for p in procs]
            failed = [i for i, c in enumerate(codes) if c not in (None, 0)]
            if failed:
                first = min(failed, key=lambda i: (codes[i] >= 0, i))
                raise WorkerFailed(f"twincore.distributed: keras worker {first} (pid {procs[first].pid}) "
                                   f"{_describe(codes[first])}; stopped the other {workers - 1} worker(s); "
                                   f"start the job again to resume from {cfg['out']}/ckpt", first)
            if all(c == 0 for c in codes):
                return
            if timeout and time.monotonic() - start > timeout:
                raise WorkerFailed(f"twincore.distributed: timed out after {timeout:.0f} s; stopped all workers", -1)
            time.sleep(0.1)
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
