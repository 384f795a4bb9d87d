"""The same Keras layers on Keras's torch backend (in a subprocess: the backend is fixed
when keras is imported): training matches Keras's own layers there, models saved
under one backend load under the other with the same predictions, and Keras's run_layer_test
and the mixed_float16 / mixed_bfloat16 checks of keras_layer_cases pass for every layer."""
import pytest

import keras_layer_cases as cases
import keras_test_models as models
from keras_testutil import needs, round_trip_with_tf
from support import has


def _has_torch_frontend() -> bool:
    try:
        return has("torch") and has("twincore.frontends.torch.functional")
    except ImportError:  # the parent package is missing
        return False


pytestmark = [needs(*models.OPS), pytest.mark.skipif(not has("torch"), reason="needs torch"),
              pytest.mark.skipif(not _has_torch_frontend(), reason="the torch frontend has not landed yet")]


def test_torch_backend_trains_and_shares_models_with_tf(tmp_path):
    layer_tests = round_trip_with_tf(tmp_path, "torch")
    # Keras's run_layer_test and the mixed-precision checks, every layer (torch has every op)
    assert len(layer_tests) == 3 * len(cases.CASES) + len(cases.POLICIES) * len(cases.LOSSES)
    bad = {k: v for k, v in layer_tests.items() if v != "passed"}
    assert not bad, bad
