"""Plain NumPy float64 references, one file per op: slow, obvious, used by tests and `twincore check`."""
