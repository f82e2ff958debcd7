"""The IMDB movie-review sentiment processor (Maas et al. 2011), binary.

Two layouts are read; `data_dir` is searched in this order:

1. aclImdb, the Stanford release: `aclImdb/{train,test}/{pos,neg}/<id>_<rating>.txt`,
   one review a file, 25,000 train and 25,000 (labelled) test reviews. `data_dir` may
   be the folder that contains `aclImdb` or `aclImdb` itself. `unsup/` and the other
   files (`urls_*.txt`, `*.feat`, `imdb.vocab`...) are not read.
   Order: per split, all `neg` reviews then all `pos` reviews, each sorted numerically
   by review id, then rating (file names that do not follow `<id>_<rating>.txt` come
   last, by name). guid `<split>-<label>-<file stem>`, e.g. `train-pos-1234_9`.
2. The Kaggle "IMDB Dataset of 50K Movie Reviews": `IMDB Dataset.csv`, columns
   `review,sentiment` (sentiment `positive` / `negative`), read with pandas as the
   `csv` task reads CSVs (`csv_tasks.read_table`).
   The split is by position (the file is already in random order): the first
   ceil(N / 2) rows are the train split, the remaining rows the test split; for the
   50,000-row file that is rows 0-24,999 and 25,000-49,999, the sizes of aclImdb's
   splits. guid `<split>-<row>`, `row` the 0-based data row of the file (the header
   not counted), e.g. `train-0`, `test-25000`. Error messages count rows with the
   header as row 1.

Labels are `["neg", "pos"]`: class 1 is the positive class, which binary metrics use.
HTML line breaks (`<br />`, `<br/>`, `<br>`, any case) become a space.

Dev set (`imdb_dev_split`):

* `"test"` (default): the test split, as most IMDB papers report.
* `"heldout"`: a seeded slice of the train split, `dev_fraction` of it (rounded,
  at least one review), stratified by label: the reviews of each label are shuffled
  with `random.Random(seed)` (neg first, then pos, from the same generator) and the
  first `round(dev_fraction * n_label)` of each go to dev. The rest is the train set.
  Both keep the stable order above; dev keeps the reviews' train guids. Same seed and
  fraction, same split; train and dev never overlap.

Test examples are always the test split, with their real labels.
"""

from __future__ import annotations

import os
import random
import re

import tensorflow.compat.v1 as tf

from processors.base import DataError, DataProcessor, InputExample, read_text
from processors.csv_tasks import column_index, read_table

LABELS = ["neg", "pos"]
KAGGLE_FILE = "IMDB Dataset.csv"
_SENTIMENTS = {"negative": "neg", "positive": "pos"}
_BR = re.compile(r"<br\s*/?\s*>", re.IGNORECASE)
_FILE_NAME = re.compile(r"^(\d+)_(\d+)\.txt$")


def clean_review(text: str) -> str:
    """Replaces the HTML line breaks of IMDB reviews with spaces."""
    return _BR.sub(" ", text)


def _review_sort_key(name: str):
    m = _FILE_NAME.match(name)
    if m:
        return (0, int(m.group(1)), int(m.group(2)), name)
    return (1, 0, 0, name)


class ImdbProcessor(DataProcessor):
    """IMDB reviews, from the aclImdb folder or Kaggle's `IMDB Dataset.csv`.

    Args:
      imdb_dev_split: "test" (dev = the test split) or "heldout" (dev = a seeded
        slice of train, removed from the train set).
      dev_fraction: size of the held-out slice, a fraction of train in (0, 1).
      seed: seed of the held-out split.
    """

    def __init__(self, imdb_dev_split: str = "test", dev_fraction: float = 0.1, seed: int = 12345):
        if imdb_dev_split not in ("test", "heldout"):
            raise ValueError(f"imdb_dev_split must be 'test' or 'heldout', not {imdb_dev_split!r}")
        if not 0.0 < float(dev_fraction) < 1.0:
            raise ValueError(f"dev_fraction must be between 0 and 1 (exclusive), not {dev_fraction}")
        self.imdb_dev_split = imdb_dev_split
        self.dev_fraction = float(dev_fraction)
        self.seed = int(seed)
        self._cache: dict = {}

    def get_labels(self) -> list[str]:
        return list(LABELS)

    def get_train_examples(self, data_dir: str) -> list[InputExample]:
        train = self._split(data_dir, "train")
        if self.imdb_dev_split == "heldout":
            train, _ = self._heldout(train)
        return train

    def get_dev_examples(self, data_dir: str) -> list[InputExample]:
        if self.imdb_dev_split == "heldout":
            return self._heldout(self._split(data_dir, "train"))[1]
        return self._split(data_dir, "test")

    def get_test_examples(self, data_dir: str) -> list[InputExample]:
        return self._split(data_dir, "test")

    # ------------------------------------------------------------------ internals
    def _split(self, data_dir: str, split: str) -> list[InputExample]:
        key = (data_dir, split)
        if key not in self._cache:
            acl = _find_acl_imdb(data_dir)
            if acl is not None:
                self._cache[key] = _read_acl_split(acl, split)
            else:
                kaggle = os.path.join(data_dir, KAGGLE_FILE)
                if not tf.io.gfile.exists(kaggle):
                    raise DataError(
                        f"no IMDB data in {data_dir}: expected aclImdb/{{train,test}}/{{pos,neg}}/*.txt "
                        f"or {KAGGLE_FILE!r}"
                    )
                train, test = _read_kaggle(kaggle)
                self._cache[(data_dir, "train")] = train
                self._cache[(data_dir, "test")] = test
        return list(self._cache[key])

    def _heldout(self, train: list[InputExample]):
        rng = random.Random(self.seed)
        dev_ids = set()
        for label in LABELS:
            indices = [i for i, ex in enumerate(train) if ex.label == label]
            rng.shuffle(indices)
            dev_ids.update(indices[: int(round(self.dev_fraction * len(indices)))])
        if not dev_ids:  # a tiny train set: hold out one review all the same
            dev_ids.add(random.Random(self.seed).randrange(len(train)))
        if len(dev_ids) == len(train):
            raise DataError(f"dev_fraction {self.dev_fraction} leaves no training reviews")
        kept = [ex for i, ex in enumerate(train) if i not in dev_ids]
        dev = [ex for i, ex in enumerate(train) if i in dev_ids]
        return kept, dev


def _find_acl_imdb(data_dir: str):
    """The aclImdb folder: `data_dir/aclImdb` or `data_dir` itself, else None."""
    for candidate in (os.path.join(data_dir, "aclImdb"), data_dir):
        for split in ("train", "test"):
            for label in LABELS:
                if tf.io.gfile.isdir(os.path.join(candidate, split, label)):
                    return candidate
    return None


def _read_acl_split(acl_dir: str, split: str) -> list[InputExample]:
    examples = []
    for label in LABELS:
        folder = os.path.join(acl_dir, split, label)
        if not tf.io.gfile.isdir(folder):
            raise DataError(f"IMDB folder not found: {folder}")
        names = sorted((n for n in tf.io.gfile.listdir(folder) if n.endswith(".txt")), key=_review_sort_key)
        if not names:
            raise DataError(f"no reviews (*.txt) in {folder}")
        for name in names:
            text = clean_review(read_text(os.path.join(folder, name)))
            examples.append(InputExample(guid=f"{split}-{label}-{name[:-4]}", text_a=text, label=label))
    return examples


def _read_kaggle(path: str):
    """(train, test) examples of Kaggle's IMDB Dataset.csv, split by position."""
    header, rows = read_table(path, ",")
    review_col = column_index(path, header, "review")
    sentiment_col = column_index(path, header, "sentiment")
    n_train = (len(rows) + 1) // 2
    train, test = [], []
    for i, row in enumerate(rows):
        review, sentiment = row[review_col], row[sentiment_col]
        label = _SENTIMENTS.get((sentiment or "").strip().lower())
        if review is None or label is None:
            raise DataError(
                f"{os.path.basename(path)} row {i + 2}: expected a review and a sentiment 'positive' "
                f"or 'negative', found {sentiment!r} ({path})"
            )
        split, target = ("train", train) if i < n_train else ("test", test)
        target.append(InputExample(guid=f"{split}-{i}", text_a=clean_review(review), label=label))
    return train, test
