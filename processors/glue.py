"""Processors of the GLUE benchmark's tasks, reading GLUE's own TSV files.

MRPC, CoLA and MNLI reproduce the original `run_classifier.py` exactly: same files,
columns, guids and label lists. The other tasks follow the layouts of GLUE's
download (`download_glue_data.py`). Per task: the header, then the 0-based columns of
text_a, text_b and label in train/dev.tsv and of the texts in test.tsv:

* mrpc: `Quality #1_ID #2_ID #1_String #2_String` -> 3, 4, 0; test `index #1_ID
  #2_ID #1_String #2_String` -> 3, 4. Labels 0, 1.
* cola: `source label mark sentence`, no header -> 3, -, 1; test `index sentence` -> 1.
  Labels 0, 1.
* mnli: `index promptID pairID genre ... sentence1 sentence2 label1 .. gold_label`
  -> 8, 9, last; test -> 8, 9. Labels contradiction, entailment, neutral.
* sst-2: `sentence label` -> 0, -, 1; test `index sentence` -> 1. Labels 0, 1.
* qqp: `id qid1 qid2 question1 question2 is_duplicate` -> 3, 4, 5; test `id question1
  question2` -> 1, 2. Labels 0, 1.
* qnli: `index question sentence label` -> 1, 2, 3; test -> 1, 2. Labels entailment,
  not_entailment.
* rte: `index sentence1 sentence2 label` -> 1, 2, 3; test -> 1, 2. Labels entailment,
  not_entailment.
* wnli: `index sentence1 sentence2 label` -> 1, 2, 3; test -> 1, 2. Labels 0, 1.
* sts-b: `index genre filename year old_index source1 source2 sentence1 sentence2
  score` -> 7, 8, 9 (a float); test -> 7, 8. Regression.

MNLI's dev and test sets are the matched ones (`dev_matched.tsv`, `test_matched.tsv`,
as the original); task `mnli-mm` reads `dev_mismatched.tsv` / `test_mismatched.tsv`.

Conventions, the same for every task:

* Files are read without quoting (a `"` is text), as the original's `_read_tsv`.
  Every file but CoLA's train/dev has a header row, which is skipped.
* guids are `"<set>-<i>"`, `i` the 0-based row index in the file (so the first
  example after a header is `train-1`); MNLI's are `"<set>-<column 0>"` as the
  original's. The sets are `train`, `dev`, `test` (MNLI: `train`, `dev_matched`,
  `test`; MNLI-mm: `train`, `dev_mismatched`, `test_mismatched`).
* Test files carry no labels: every test example gets the task's first label (the
  original does this for MRPC and CoLA, "0", and MNLI, "contradiction"), so that the
  features can be built; predictions never read it. STS-B's test label is None.
* A missing file, a row with too few columns, a train/dev label outside `get_labels()`
  (or an STS-B score that is not a finite number) raise `DataError` with one line
  naming the file and the 1-based row. Malformed rows are never skipped silently
  (older Hugging Face readers skip QQP rows that fail to parse; we refuse instead).
  Blank lines at the end of a file are ignored; a file with no examples is an error.
"""

from __future__ import annotations

import math
import os
from typing import Optional

from processors.base import (
    REGRESSION,
    DataError,
    DataProcessor,
    InputExample,
    check_label,
    check_row,
)


def read_tsv_rows(path: str) -> list[list[str]]:
    """The rows of a TSV file (no quoting) without trailing blank lines.

    Raises:
      DataError: the file is missing, not UTF-8 or empty.
    """
    rows = DataProcessor._read_tsv(path)
    while rows and not rows[-1]:
        rows.pop()
    if not rows:
        raise DataError(f"data file is empty: {path}")
    return rows


class GlueProcessor(DataProcessor):
    """Table-driven reader of one GLUE task; subclasses set the class attributes.

    Attributes:
      LABELS: the label list (class-id order). Empty for regression.
      TEXT_A, TEXT_B, LABEL: columns of text_a, text_b (None: single text) and label in
        train/dev rows; LABEL may be -1 (the last column, as MNLI's gold_label).
      TEST_TEXT_A, TEST_TEXT_B: columns of the texts in test rows.
      LABELED_HEADER, TEST_HEADER: whether train/dev and test files start with a header.
      TRAIN_FILE, DEV_FILE, TEST_FILE: file names inside the data directory.
      DEV_SET, TEST_SET: the guid prefixes of the dev and test examples.
    """

    LABELS: tuple = ()
    TEXT_A: int = 0
    TEXT_B: Optional[int] = None
    LABEL: int = 1
    TEST_TEXT_A: int = 1
    TEST_TEXT_B: Optional[int] = None
    LABELED_HEADER = True
    TEST_HEADER = True
    TRAIN_FILE = "train.tsv"
    DEV_FILE = "dev.tsv"
    TEST_FILE = "test.tsv"
    DEV_SET = "dev"
    TEST_SET = "test"

    def get_train_examples(self, data_dir: str) -> list[InputExample]:
        return self._create_examples(os.path.join(data_dir, self.TRAIN_FILE), "train", labeled=True)

    def get_dev_examples(self, data_dir: str) -> list[InputExample]:
        return self._create_examples(os.path.join(data_dir, self.DEV_FILE), self.DEV_SET, labeled=True)

    def get_test_examples(self, data_dir: str) -> list[InputExample]:
        return self._create_examples(os.path.join(data_dir, self.TEST_FILE), self.TEST_SET, labeled=False)

    def get_labels(self) -> list[str]:
        return list(self.LABELS)

    def get_test_ids(self, data_dir: str) -> list[str]:
        """The `index` column (the first) of the test rows, in the order of
        `get_test_examples`: the ids a GLUE submission file is keyed by."""
        path = os.path.join(data_dir, self.TEST_FILE)
        rows = read_tsv_rows(path)
        return [row[0] for i, row in enumerate(rows) if not (self.TEST_HEADER and i == 0)]

    # ------------------------------------------------------------------ internals
    def _guid(self, set_type: str, index: int, row: list[str]) -> str:
        return f"{set_type}-{index}"

    def _parse_label(self, path: str, index: int, raw: str):
        check_label(path, index, raw, self.LABELS)
        return raw

    def _test_label(self):
        return self.LABELS[0]

    def _create_examples(self, path: str, set_type: str, labeled: bool) -> list[InputExample]:
        if labeled:
            text_a, text_b, header = self.TEXT_A, self.TEXT_B, self.LABELED_HEADER
        else:
            text_a, text_b, header = self.TEST_TEXT_A, self.TEST_TEXT_B, self.TEST_HEADER
        columns = [c for c in (text_a, text_b) if c is not None]
        if labeled:
            # A label at -1 is the last column, which must come after the texts.
            columns.append(self.LABEL if self.LABEL >= 0 else max(columns) + 1)
        needed = max(columns) + 1
        examples = []
        for i, row in enumerate(read_tsv_rows(path)):
            if header and i == 0:
                continue
            check_row(path, i, row, needed)
            label = self._parse_label(path, i, row[self.LABEL]) if labeled else self._test_label()
            examples.append(InputExample(
                guid=self._guid(set_type, i, row),
                text_a=row[text_a],
                text_b=None if text_b is None else row[text_b],
                label=label,
            ))
        if not examples:
            raise DataError(f"no examples in {path}")
        return examples


class MrpcProcessor(GlueProcessor):
    """Microsoft Research Paraphrase Corpus: are the two sentences paraphrases (1)?"""

    LABELS = ("0", "1")
    TEXT_A, TEXT_B, LABEL = 3, 4, 0
    TEST_TEXT_A, TEST_TEXT_B = 3, 4


class ColaProcessor(GlueProcessor):
    """Corpus of Linguistic Acceptability: is the sentence grammatical (1)?

    train/dev.tsv have no header (source, label, original mark, sentence); test.tsv
    has one (index, sentence). So the first train guid is `train-0`, the first test
    guid `test-1`, as in the original.
    """

    LABELS = ("0", "1")
    TEXT_A, TEXT_B, LABEL = 3, None, 1
    TEST_TEXT_A, TEST_TEXT_B = 1, None
    LABELED_HEADER = False


class MnliProcessor(GlueProcessor):
    """Multi-Genre NLI (matched dev/test). guids use column 0 (GLUE's `index`)."""

    LABELS = ("contradiction", "entailment", "neutral")
    TEXT_A, TEXT_B, LABEL = 8, 9, -1
    TEST_TEXT_A, TEST_TEXT_B = 8, 9
    DEV_FILE = "dev_matched.tsv"
    TEST_FILE = "test_matched.tsv"
    DEV_SET = "dev_matched"
    TEST_SET = "test"

    def _guid(self, set_type: str, index: int, row: list[str]) -> str:
        return f"{set_type}-{row[0]}"


    DIAGNOSTIC_FILE = "diagnostic.tsv"

    def diagnostic_file(self, data_dir: str) -> Optional[str]:
        """GLUE's diagnostic set (AX), scored with an MNLI model: `diagnostic.tsv` in the
        data directory or in GLUE's `diagnostic/` beside it; None when absent."""
        for path in (os.path.join(data_dir, self.DIAGNOSTIC_FILE),
                     os.path.join(data_dir, os.pardir, "diagnostic", self.DIAGNOSTIC_FILE)):
            if os.path.isfile(path):
                return path
        return None

    def get_diagnostic_examples(self, path: str) -> list[InputExample]:
        """The rows of `diagnostic.tsv` (index, sentence1, sentence2; a header), labelled
        with the first label as test examples are."""
        examples = []
        for i, row in enumerate(read_tsv_rows(path)):
            if i == 0:
                continue
            check_row(path, i, row, 3)
            examples.append(InputExample(guid=f"diagnostic-{row[0]}", text_a=row[1], text_b=row[2],
                                         label=self._test_label()))
        if not examples:
            raise DataError(f"no examples in {path}")
        return examples

    def get_diagnostic_ids(self, path: str) -> list[str]:
        return [row[0] for i, row in enumerate(read_tsv_rows(path)) if i > 0]


class MnliMismatchedProcessor(MnliProcessor):
    """Multi-Genre NLI evaluated on the mismatched genres (task `mnli-mm`)."""

    DEV_FILE = "dev_mismatched.tsv"
    TEST_FILE = "test_mismatched.tsv"
    DEV_SET = "dev_mismatched"
    TEST_SET = "test_mismatched"


class Sst2Processor(GlueProcessor):
    """Stanford Sentiment Treebank, binary (1 = positive)."""

    LABELS = ("0", "1")
    TEXT_A, TEXT_B, LABEL = 0, None, 1
    TEST_TEXT_A, TEST_TEXT_B = 1, None


class QqpProcessor(GlueProcessor):
    """Quora Question Pairs: are the two questions duplicates (1)?"""

    LABELS = ("0", "1")
    TEXT_A, TEXT_B, LABEL = 3, 4, 5
    TEST_TEXT_A, TEST_TEXT_B = 1, 2


class QnliProcessor(GlueProcessor):
    """Question NLI: does the sentence answer the question?"""

    LABELS = ("entailment", "not_entailment")
    TEXT_A, TEXT_B, LABEL = 1, 2, 3
    TEST_TEXT_A, TEST_TEXT_B = 1, 2


class RteProcessor(GlueProcessor):
    """Recognizing Textual Entailment."""

    LABELS = ("entailment", "not_entailment")
    TEXT_A, TEXT_B, LABEL = 1, 2, 3
    TEST_TEXT_A, TEST_TEXT_B = 1, 2


class WnliProcessor(GlueProcessor):
    """Winograd NLI (1 = entailment)."""

    LABELS = ("0", "1")
    TEXT_A, TEXT_B, LABEL = 1, 2, 3
    TEST_TEXT_A, TEST_TEXT_B = 1, 2


class StsbProcessor(GlueProcessor):
    """Semantic Textual Similarity Benchmark: a similarity score in [0, 5].

    A regression task: `output_mode` is `"regression"`, labels are floats,
    `get_labels()` is empty and test labels are None.
    """

    output_mode = REGRESSION
    LABELS = ()
    TEXT_A, TEXT_B, LABEL = 7, 8, 9
    TEST_TEXT_A, TEST_TEXT_B = 7, 8

    def _parse_label(self, path: str, index: int, raw: str) -> float:
        try:
            score = float(raw)
        except ValueError:
            score = math.nan
        if not math.isfinite(score):
            raise DataError(
                f"{os.path.basename(path)} row {index + 1}: score {raw!r} is not a number ({path})"
            )
        return score

    def _test_label(self):
        return None
