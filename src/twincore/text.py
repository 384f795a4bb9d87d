"""Text data for the sentiment model (IMDB reviews), from files the user puts in place;
nothing is downloaded.

Two layouts are read:
- Keras's `imdb.npz` (what keras.datasets.imdb downloads to ~/.keras/datasets/imdb.npz):
  x_train / x_test object arrays of word-rank lists (rank 1 = the most frequent word),
  y_train / y_test 0/1;
- the Stanford release `aclImdb/` ({train,test}/{pos,neg}/*.txt): reviews are tokenised
  (lower case, `<br />` removed, runs of letters/digits with an optional 's/'t/... suffix),
  and the vocabulary is built from the training reviews by frequency.

Both give Keras's id convention: 0 padding, 1 start of review, 2 out of vocabulary, and a
word of frequency rank r (1-based) has id r + 3; only ids < num_words are kept (others
become 2). Sequences are padded and truncated at the front to maxlen (Keras's
pad_sequences defaults), so the last words of a review sit at the last steps.

Default location when no path is given: ~/.keras/datasets/imdb.npz, then
~/.keras/datasets/aclImdb.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from twincore.data import DataError

PAD, START, OOV, INDEX_FROM = 0, 1, 2, 3
CLASSES = ("negative", "positive")
DEFAULT_PLACES = ("~/.keras/datasets/imdb.npz", "~/.keras/datasets/aclImdb")
_HINT = ("put Keras's imdb.npz or the aclImdb/ folder (train/{pos,neg}/*.txt, test/{pos,neg}/*.txt) at "
         "~/.keras/datasets/, or pass --data PATH (nothing is downloaded)")
_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


@dataclass
class TextDataset:
    x_train: np.ndarray  # [N, maxlen] int32 ids
    y_train: np.ndarray  # [N] int64 in {0, 1}
    x_test: np.ndarray
    y_test: np.ndarray
    classes: tuple[str, ...]
    source: str
    vocab: dict | None = None  # word -> id (aclImdb only)


def tokenize(text: str) -> list[str]:
    return _TOKEN.findall(text.lower().replace("<br />", " "))


def build_vocab(docs: Iterable[Sequence[str]], num_words: int) -> dict[str, int]:
    """word -> id (rank + 3, most frequent first, ties alphabetical), ids < num_words only."""
    counts = Counter(w for doc in docs for w in doc)
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return {w: r + INDEX_FROM for r, (w, _) in enumerate(ranked, start=1) if r + INDEX_FROM < num_words}


def pad(seqs: Sequence[Sequence[int]], maxlen: int) -> np.ndarray:
    """[N, maxlen] int32: each sequence's last maxlen ids, zeros in front (Keras's 'pre')."""
    out = np.zeros((len(seqs), maxlen), np.int32)
    for i, s in enumerate(seqs):
        s = list(s)[-maxlen:]
        if s:
            out[i, maxlen - len(s):] = s
    return out


def _ranks_to_ids(ranks: Sequence[int], num_words: int) -> list[int]:
    return [START] + [r + INDEX_FROM if r + INDEX_FROM < num_words else OOV for r in ranks]


def load_imdb_npz(path: str, num_words: int = 20000, maxlen: int = 200) -> TextDataset:
    try:
        with np.load(path, allow_pickle=True) as f:
            parts = {k: f[k] for k in ("x_train", "y_train", "x_test", "y_test")}
    except (OSError, ValueError, KeyError) as e:
        raise DataError(f"cannot read {path} as Keras's imdb.npz ({e}); {_HINT}") from None
    xs = {k: pad([_ranks_to_ids(np.asarray(r, np.int64).tolist(), num_words) for r in parts[k]], maxlen)
          for k in ("x_train", "x_test")}
    ys = {k: np.asarray(parts[k], np.int64) for k in ("y_train", "y_test")}
    return TextDataset(xs["x_train"], ys["y_train"], xs["x_test"], ys["y_test"], CLASSES, f"imdb.npz ({path})")


def _read_reviews(folder: str) -> tuple[list[list[str]], np.ndarray]:
    docs, labels = [], []
    for label, sub in ((0, "neg"), (1, "pos")):
        d = os.path.join(folder, sub)
        if not os.path.isdir(d):
            raise DataError(f"no {d}/ folder; {_HINT}")
        for name in sorted(os.listdir(d)):  # sorted: the same order on every machine
            if name.endswith(".txt"):
                with open(os.path.join(d, name), encoding="utf-8", errors="replace") as f:
                    docs.append(tokenize(f.read()))
                labels.append(label)
    if not docs:
        raise DataError(f"no *.txt reviews under {folder}/{{pos,neg}}; {_HINT}")
    return docs, np.asarray(labels, np.int64)


def load_aclimdb(folder: str, num_words: int = 20000, maxlen: int = 200) -> TextDataset:
    train_docs, y_train = _read_reviews(os.path.join(folder, "train"))
    test_docs, y_test = _read_reviews(os.path.join(folder, "test"))
    vocab = build_vocab(train_docs, num_words)
    enc = lambda docs: pad([[START] + [vocab.get(w, OOV) for w in d] for d in docs], maxlen)  # noqa: E731
    return TextDataset(enc(train_docs), y_train, enc(test_docs), y_test, CLASSES, f"aclImdb ({folder})", vocab)


def load_text(path: str | None = None, num_words: int = 20000, maxlen: int = 200) -> TextDataset:
    """imdb.npz (a file, or a folder holding one) or an aclImdb folder; None: the default places."""
    candidates = [path] if path else [os.path.expanduser(p) for p in DEFAULT_PLACES]
    for p in candidates:
        if os.path.isfile(p):
            return load_imdb_npz(p, num_words, maxlen)
        if os.path.isdir(p):
            if os.path.isfile(os.path.join(p, "imdb.npz")):
                return load_imdb_npz(os.path.join(p, "imdb.npz"), num_words, maxlen)
            if os.path.isdir(os.path.join(p, "aclImdb")):
                p = os.path.join(p, "aclImdb")
            if os.path.isdir(os.path.join(p, "train")):
                return load_aclimdb(p, num_words, maxlen)
            raise DataError(f"{p} holds neither imdb.npz nor train/ and test/ review folders; {_HINT}")
    raise DataError(f"no IMDB data at {' or '.join(candidates)}; {_HINT}")
