"""The data types every processor shares: examples, features and the processor base class.

A processor only reads files and yields `InputExample`s, in a stable order with stable
guids. Tokenization, truncation and TFRecord I/O live in `bert_estimator.data.features`.
"""

from __future__ import annotations

import csv
import io
import os
import sys
from dataclasses import dataclass
from typing import Optional, Union

import tensorflow.compat.v1 as tf

from bert_estimator.core.errors import UserError
from bert_estimator.core.textfiles import decode_utf8

# Lines of GLUE's TSVs can exceed csv's default 128 KiB field limit (long MNLI premises
# are fine, but user CSVs with whole documents are not).
csv.field_size_limit(sys.maxsize)

CLASSIFICATION = "classification"
REGRESSION = "regression"
# Several labels per example (a set, possibly empty): one sigmoid output per label.
MULTI_LABEL = "multi_label_classification"
# What joins the labels of a multi-label example where they are written as one string
# (a csv label column, test_predicted_labels.tsv, the export's `labels`): "joy,surprise".
DEFAULT_LABEL_SEPARATOR = ","


class DataError(UserError, ValueError):
    """A data file is missing, unreadable or malformed. The message is one line that
    names the file (and row, where there is one) and says what is wrong."""


@dataclass
class InputExample:
    """A single training/eval/test example for sequence (pair) classification.

    Attributes:
      guid: unique, stable id of the example, e.g. "train-12".
      text_a: str. The untokenized first sequence (the only one for single-text tasks).
      text_b: Optional str. The untokenized second sequence of pair tasks.
      label: Optional str (classification), float (regression) or tuple of str
        (multi-label: the example's label set, possibly empty). None for unlabeled
        test examples.
    """

    guid: str
    text_a: str
    text_b: Optional[str] = None
    label: Optional[Union[str, float, tuple]] = None


class MultiLabelList(list):
    """The label list of a multi-label task (`output_mode` `MULTI_LABEL`): a plain list
    of the labels in output order that also says "each example carries a set of these".

    Everything that turns examples into features takes the label list already
    (`convert_single_example(..., label_list, ...)`, the TFRecord writers and their
    cache fingerprint); with this type it also tells them to write label_ids as a
    multi-hot vector of len(label_list) int64s instead of one class id, with no new
    argument on the original's functions.
    """


def example_labels(label) -> tuple:
    """The label set of a multi-label example's `label`: a tuple of str ("a" -> ("a",);
    None -> ())."""
    if label is None:
        return ()
    if isinstance(label, str):
        return (label,)
    return tuple(label)


class PaddingInputExample:
    """A fake example that pads eval/predict sets to a multiple of the batch size.

    TPUs need a fixed batch size, so the last partial batch is filled with these
    instead of being dropped; they become all-zero features with
    `is_real_example=False`, which metrics and prediction output then ignore. A class
    of its own rather than `None`, so that padding is never mistaken for a bug.
    """




class DataProcessor:
    """Base class of the dataset readers.

    Subclasses implement `get_train_examples`, `get_dev_examples`,
    `get_test_examples` (each takes the data directory and returns a list of
    `InputExample`) and `get_labels`. `output_mode` is `"classification"` or
    `"regression"` (one real-valued output, mean-squared-error loss; `get_labels`
    returns an empty list) or `"multi_label_classification"` (labels are tuples of
    labels; `get_labels` returns a `MultiLabelList`).

    Options that come from flags (XNLI's language, the CSV columns...) are keyword
    arguments of the subclass's `__init__`; `processors.get_processor` passes them on,
    and an option that the processor does not take is an error naming its flag.
    """

    output_mode = CLASSIFICATION

    def get_train_examples(self, data_dir: str) -> list[InputExample]:
        raise NotImplementedError()

    def get_dev_examples(self, data_dir: str) -> list[InputExample]:
        raise NotImplementedError()

    def get_test_examples(self, data_dir: str) -> list[InputExample]:
        raise NotImplementedError()

    def get_labels(self) -> list[str]:
        raise NotImplementedError()

    @classmethod
    def _read_tsv(cls, input_file: str, quotechar: Optional[str] = None) -> list[list[str]]:
        """Reads a tab-separated file into a list of rows (lists of str).

        As the original: no quoting unless `quotechar` is given. A UTF-8 BOM and CRLF
        line ends are accepted; bytes that are not UTF-8 raise `DataError` naming the
        file and line (we refuse rather than guess: silently altered text would train
        a different model than the user thinks).

        Rows end at LF (or CRLF) only, as when the original iterates over the file:
        `str.splitlines` would also break at U+2028, U+0085, form feeds... that occur
        inside multilingual sentences (XNLI) and shift every later column. A blank line
        is an empty row `[]`, as in the original.
        """
        text = read_text(input_file)
        if quotechar:
            reader = csv.reader(io.StringIO(text, newline=""), delimiter="\t", quotechar=quotechar)
            return [row for row in reader]
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()  # the final line end, not a blank line
        rows = []
        for line in lines:
            if line.endswith("\r"):
                line = line[:-1]
            # csv.reader with QUOTE_NONE and no escapechar splits exactly at tabs.
            rows.append(line.split("\t") if line else [])
        return rows


def require_file(path: str) -> str:
    """Returns `path` if it exists, else raises DataError naming it."""
    if not tf.io.gfile.exists(path):
        raise DataError(f"data file not found: {path}")
    return path


def read_text(path: str) -> str:
    """Reads a whole UTF-8 text file (local or `gs://`) with the BOM removed.

    Raises:
      DataError: the file is missing, or a line holds bytes that are not UTF-8.
    """
    require_file(path)
    with tf.io.gfile.GFile(path, "rb") as f:
        raw = f.read()
    return decode_utf8(raw, path, DataError)


def check_row(path: str, row_index: int, row: list, needed: int) -> None:
    """Raises DataError when `row` has fewer than `needed` columns."""
    if len(row) < needed:
        raise DataError(
            f"{os.path.basename(path)} row {row_index + 1}: expected at least {needed} "
            f"tab-separated columns, found {len(row)} ({path})"
        )


def unknown_label(where: str, label, labels, source: Optional[str] = None) -> DataError:
    """The one error for a label outside the label list, wherever it is found (a file row,
    an example before training, an example being converted)."""
    suffix = f" ({source})" if source else ""
    return DataError(f"{where}: label {label!r} is not one of {list(labels)}{suffix}")


def check_label(path: str, row_index: int, label: str, labels) -> None:
    """Raises DataError when `label` of row `row_index` (0-based) of `path` is not one of `labels`."""
    if label not in labels:
        raise unknown_label(f"{os.path.basename(path)} row {row_index + 1}", label, labels, path)


def check_labels(label_list, splits: dict) -> None:
    """Raises DataError for the first labelled example of `splits` ({name: examples or
    None}) whose label is not in `label_list`."""
    known = set(label_list)
    multi_label = isinstance(label_list, MultiLabelList)
    for split, examples in splits.items():
        for example in examples or ():
            labels = example_labels(example.label) if multi_label else (example.label,)
            for label in labels:
                if label is not None and label not in known:
                    raise unknown_label(f"{split} example {example.guid}", label, label_list)
