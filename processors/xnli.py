"""The XNLI processor (cross-lingual NLI), as in the original `run_classifier.py`.

Files inside the data directory (the layout of XNLI-MT-1.0 and XNLI-1.0 unpacked
side by side, as the original expects):

* train: `multinli/multinli.train.<language>.tsv` (header; premise, hypo, label),
  machine-translated MultiNLI. Its label "contradictory" is renamed "contradiction".
  guids `train-<i>`, `i` the 0-based row index (the first example is `train-1`).
* dev: `xnli.dev.tsv` (header; language, gold_label, ..., sentence1 at column 6,
  sentence2 at 7, ...), all 15 languages in one file: only rows whose language column
  equals `language` are kept. guids `dev-<i>` with `i` the row index in the whole
  file, so they are the original's.
* test: `xnli.test.tsv`, the same layout as dev (an addition: the original has no
  test set for XNLI). Its gold labels are kept. guids `test-<i>`.

Rows of the selected language with too few columns and labels outside the list raise
`DataError` naming the file and row; rows of other languages are only required to
have a language column.
"""

from __future__ import annotations

import os

from processors.base import DataError, DataProcessor, InputExample, check_label, check_row
from processors.glue import read_tsv_rows

_LABELS = ("contradiction", "entailment", "neutral")


class XnliProcessor(DataProcessor):
    """XNLI for one language (`--xnli_language`, default "zh" as the original)."""

    def __init__(self, language: str = "zh"):
        self.language = language

    def get_train_examples(self, data_dir: str) -> list[InputExample]:
        path = os.path.join(data_dir, "multinli", f"multinli.train.{self.language}.tsv")
        examples = []
        for i, row in enumerate(read_tsv_rows(path)):
            if i == 0:
                continue
            check_row(path, i, row, 3)
            label = "contradiction" if row[2] == "contradictory" else row[2]
            check_label(path, i, label, _LABELS)
            examples.append(InputExample(guid=f"train-{i}", text_a=row[0], text_b=row[1], label=label))
        if not examples:
            raise DataError(f"no examples in {path}")
        return examples

    def get_dev_examples(self, data_dir: str) -> list[InputExample]:
        return self._xnli_examples(os.path.join(data_dir, "xnli.dev.tsv"), "dev")

    def get_test_examples(self, data_dir: str) -> list[InputExample]:
        return self._xnli_examples(os.path.join(data_dir, "xnli.test.tsv"), "test")

    def get_labels(self) -> list[str]:
        return list(_LABELS)

    def _xnli_examples(self, path: str, set_type: str) -> list[InputExample]:
        examples = []
        for i, row in enumerate(read_tsv_rows(path)):
            if i == 0:
                continue
            check_row(path, i, row, 1)
            if row[0] != self.language:
                continue
            check_row(path, i, row, 8)
            check_label(path, i, row[1], _LABELS)
            examples.append(InputExample(guid=f"{set_type}-{i}", text_a=row[6], text_b=row[7], label=row[1]))
        if not examples:
            raise DataError(f"no rows for language {self.language!r} in {path}")
        return examples
