"""twincore.text: IMDB in Keras's imdb.npz format and in the aclImdb/ folder layout (a small
sample written here), Keras's id convention and padding; and the sentiment model
(Embedding + LSTM) training on it through every frontend, bit for bit the same in float32."""

import os

import numpy as np
import pytest

from support import requires_tf, requires_torch
from twincore import text
from twincore.data import DataError

GOOD, BAD = ["great", "wonderful", "loved", "superb"], ["awful", "boring", "hated", "dull"]
FILLER = ["the", "movie", "was", "a", "and", "it", "plot", "actor", "scene", "story", "of", "this"]


def _review(rng, positive: bool) -> str:
    words = list(rng.choice(FILLER, rng.integers(5, 30)))
    for _ in range(rng.integers(1, 4)):
        words.insert(int(rng.integers(0, len(words) + 1)), str(rng.choice(GOOD if positive else BAD)))
    return " ".join(words).capitalize() + ".<br /><br />It's " + ("fine" if positive else "not") + "."


@pytest.fixture(scope="module")
def acl(tmp_path_factory):
    root = tmp_path_factory.mktemp("imdb") / "aclImdb"
    rng = np.random.default_rng(0)
    for split, n in (("train", 160), ("test", 60)):
        for sub in ("pos", "neg"):
            os.makedirs(root / split / sub)
            for i in range(n // 2):
                (root / split / sub / f"{i}_7.txt").write_text(_review(rng, sub == "pos"))
    return str(root)


def test_tokenize_and_vocab_and_pad():
    assert text.tokenize("It's GREAT.<br />Loved it, 10/10!") == ["it's", "great", "loved", "it", "10", "10"]
    vocab = text.build_vocab([["b", "a", "b"], ["c", "b", "a"]], num_words=6)
    assert vocab == {"b": 4, "a": 5}  # rank + 3, ids < num_words only
    np.testing.assert_array_equal(text.pad([[1, 2, 3], [4, 5, 6, 7, 8]], 4), [[0, 1, 2, 3], [5, 6, 7, 8]])


def test_aclimdb_folder(acl):
    ds = text.load_text(os.path.dirname(acl), num_words=30, maxlen=20)  # the parent folder works too
    assert ds.x_train.shape == (160, 20) and ds.x_train.dtype == np.int32 and ds.x_test.shape == (60, 20)
    assert sorted(np.unique(ds.y_train)) == [0, 1] and ds.classes == ("negative", "positive")
    assert ds.x_train.max() < 30 and (ds.x_train[:, -1] != 0).all()
    assert ds.vocab["the"] >= text.INDEX_FROM + 1
    first = [r for r in ds.x_train if r[0] == 0][0]  # short review: zeros in front, then START
    assert first[np.argmax(first != 0)] == text.START


def test_keras_npz_format(tmp_path):
    ranks = [np.array([5, 1, 30000, 2]), np.array([7] * 300)]
    np.savez(tmp_path / "imdb.npz", x_train=np.array(ranks, dtype=object), y_train=np.array([1, 0]),
             x_test=np.array(ranks[:1], dtype=object), y_test=np.array([1]))
    ds = text.load_text(str(tmp_path / "imdb.npz"), num_words=100, maxlen=6)
    # Keras's load_data: [start] + rank + 3, ranks at or past num_words -> oov (2); 'pre' padding
    np.testing.assert_array_equal(ds.x_train[0], [0, 1, 8, 4, 2, 5])
    np.testing.assert_array_equal(ds.x_train[1], [10] * 6)
    assert text.load_text(str(tmp_path)).x_test.shape == (1, 200)  # a folder holding imdb.npz


def test_missing_data_says_where_to_put_it(tmp_path):
    with pytest.raises(DataError, match="aclImdb"):
        text.load_text(str(tmp_path / "nothing"))
    (tmp_path / "x").mkdir()
    with pytest.raises(DataError, match="imdb.npz"):
        text.load_text(str(tmp_path / "x"))


FRONTENDS = [pytest.param("torch", marks=requires_torch), pytest.param("keras", marks=requires_tf), "native"]


@pytest.mark.parametrize("frontend", FRONTENDS)
def test_sentiment_model_learns_the_sample(frontend, acl):
    from twincore.cli import make_backend
    from twincore.workloads.specs import MODELS
    from twincore.workloads.tasks import load_task
    from twincore.workloads.trainer import RunConfig, fit

    spec = MODELS["sentiment"]
    task = load_task(spec, acl)
    s = fit(spec, make_backend(frontend, spec), task, RunConfig(epochs=4, batch_size=16, lr=5e-3, progress=False))
    assert s["test_accuracy"] >= 0.8, s["test_accuracy"]


@requires_tf
@requires_torch
def test_sentiment_float32_bit_identical_across_frontends(acl):
    from twincore.cli import make_backend
    from twincore.workloads.specs import MODELS
    from twincore.workloads.tasks import load_task
    from twincore.workloads.trainer import RunConfig, fit

    spec = MODELS["sentiment"]
    task = load_task(spec, acl, limit_train=64, limit_test=20)
    ws = {}
    for f in ("torch", "keras", "native"):
        b = make_backend(f, spec)
        fit(spec, b, task, RunConfig(epochs=1, batch_size=16, lr=1e-3, progress=False))
        ws[f] = [np.asarray(b.to_canonical(i, p)) for i, p in enumerate(b.params)]
    for f in ("keras", "native"):
        for i, (a, b) in enumerate(zip(ws[f], ws["torch"])):
            np.testing.assert_array_equal(a, b, err_msg=f"{f}: parameter {i}")
