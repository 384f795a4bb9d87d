"""Training on several processes and machines, on the existing engines.

* sync, torch: DistributedDataParallel over twincore's torch modules (gloo), started by
  our launcher (launcher.py, `--nproc N`) or torchrun (ddp.py).
* async, torch: a parameter server over torch.distributed.rpc; workers push gradients,
  the server applies twincore's fused adam/sgd step per push (ps.py).
* Keras: MirroredStrategy (logical CPUs) and MultiWorkerMirroredStrategy (TF_CONFIG)
  over twincore's Keras layers (keras_dist.py).
* compare.py: sync vs async, loss against step and wall-clock.

Command line: `python -m twincore.distributed {train,compare} ...` (cli.py).
"""
