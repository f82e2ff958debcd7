"""The original's result files, in its formats, and the one reader of each.

    eval_results.txt    one `key = value` line per metric, sorted by key; beside the
                        original's keys, `checkpoint = model.ckpt-N`: the basename of
                        the checkpoint evaluated (absent when none of --output_dir was:
                        an evaluation of a fine-tuned --init_checkpoint alone)
    test_results.tsv    one tab-separated row of class probabilities per test example
                        (one predicted value per row for regression; for multi-label
                        tasks each label's own probability, in label-list order)
    test_predicted_labels.tsv
                        multi-label tasks only: a header `guid<TAB>labels`, then per
                        test example its guid and its predicted label set (each label
                        whose probability is at least its threshold, in label-list
                        order, joined by the task's label separator; empty for none)

Everything that reads these files back (the demo, the sweep's summary, the benchmarks,
the tests) goes through `read_eval_results` / `read_test_results`.
"""

from __future__ import annotations

import os
import re
from typing import Iterable, Mapping, Optional, Sequence, Union

from bert_estimator.core.fileio import is_directory, read_text, write_atomically

EVAL_RESULTS = "eval_results.txt"
# eval_results.txt's key naming the checkpoint evaluated (not one of the original's).
CHECKPOINT_KEY = "checkpoint"
TEST_RESULTS = "test_results.tsv"
PREDICTED_LABELS = "test_predicted_labels.tsv"

EvalValue = Union[float, int, str]
_INT = re.compile(r"[-+]?[0-9]+")


def format_eval_results(result: Mapping) -> str:
    """eval_results.txt's text: `key = value` lines, sorted."""
    # str(), not an f-string: numpy's float32.__format__ goes through a Python float and
    # would print 0.31617647409439087 where the original prints 0.31617647.
    return "".join(f"{key} = {str(result[key])}\n" for key in sorted(result))


def format_test_results(probabilities_rows: Iterable[Sequence]) -> str:
    """test_results.tsv's text: one tab-separated row of probabilities per example."""
    return "".join("\t".join(str(p) for p in row) + "\n" for row in probabilities_rows)


def write_eval_results(output_dir: str, result: Mapping, checkpoint: Optional[str] = None) -> str:
    """Writes `output_dir/eval_results.txt` (atomically); returns its path.

    Args:
      output_dir: where to write it.
      result: the metrics, as `estimator.evaluate` returns them.
      checkpoint: the path of the checkpoint evaluated: its basename (`model.ckpt-48`) is
        written as `CHECKPOINT_KEY`, sorted among the metrics. None: no such line.
    """
    if checkpoint:
        result = {**result, CHECKPOINT_KEY: os.path.basename(checkpoint.rstrip("/"))}
    path = os.path.join(output_dir, EVAL_RESULTS)
    write_atomically(path, format_eval_results(result))
    return path


def write_test_results(output_dir: str, probabilities_rows: Iterable[Sequence]) -> str:
    """Writes `output_dir/test_results.tsv` (atomically); returns its path."""
    path = os.path.join(output_dir, TEST_RESULTS)
    write_atomically(path, format_test_results(probabilities_rows))
    return path


# A multi-label model predicts a label when its probability is at least its threshold:
# this one, unless thresholds were tuned (bert_estimator/training/thresholds.py).
DEFAULT_THRESHOLD = 0.5


def predicted_label_set(probabilities: Sequence[float], label_list: Sequence[str],
                        thresholds: Sequence[float]) -> list[str]:
    """The labels whose probability is at least their threshold, in label-list order."""
    return [label for label, p, t in zip(label_list, probabilities, thresholds) if float(p) >= t]


def write_predicted_label_sets(output_dir: str, guids: Sequence[str], probabilities_rows: Sequence[Sequence],
                               label_list: Sequence[str], thresholds: Sequence[float], separator: str) -> str:
    """Writes `output_dir/test_predicted_labels.tsv` (module docstring); returns its path."""
    lines = ["guid\tlabels\n"]
    for guid, row in zip(guids, probabilities_rows, strict=True):
        lines.append(f"{guid}\t{separator.join(predicted_label_set(row, label_list, thresholds))}\n")
    path = os.path.join(output_dir, PREDICTED_LABELS)
    write_atomically(path, "".join(lines))
    return path


def _file_in(path_or_dir: Union[str, os.PathLike], name: str) -> str:
    """`path_or_dir/name` when `path_or_dir` is a directory, else `path_or_dir` itself."""
    path = os.fspath(path_or_dir)
    return os.path.join(path, name) if is_directory(path) else path


def _eval_value(text: str) -> EvalValue:
    """A value as `format_eval_results` printed it: int, float (nan and inf included), else str."""
    if _INT.fullmatch(text):
        return int(text)
    try:
        return float(text)
    except ValueError:
        return text


def parse_eval_results(text: str, source: str = EVAL_RESULTS) -> dict[str, EvalValue]:
    """The inverse of `format_eval_results`.

    Args:
      text: the text of an eval_results.txt.
      source: what to name in an error (the file's path).

    Returns:
      dict, key -> value in the order of the lines (sorted, as the writer writes them):
      an int where the value is written as one (global_step), a float for any other
      number (the metrics, as float32's str() printed them; "nan" and "inf" too), the
      text itself otherwise (`checkpoint`, e.g. "model.ckpt-48").

    Raises:
      ValueError: for a non-empty line that is not `key = value`.
    """
    result = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        key, separator, value = line.partition(" = ")
        if not separator or not key:
            raise ValueError(f"{source} line {number}: expected 'key = value', got {line!r}")
        result[key] = _eval_value(value)
    return result


def read_eval_results(path_or_dir: Union[str, os.PathLike]) -> dict[str, EvalValue]:
    """The metrics of an eval_results.txt: `parse_eval_results` of its text.

    Args:
      path_or_dir: the file, or the directory holding it (an --output_dir, or its
        `best/`); a local path or `gs://`.

    Raises:
      tf.errors.NotFoundError: when the file does not exist.
      ValueError: when a line is not `key = value`.
    """
    path = _file_in(path_or_dir, EVAL_RESULTS)
    return parse_eval_results(read_text(path), path)


def parse_test_results(text: str, source: str = TEST_RESULTS) -> list[list[float]]:
    """The inverse of `format_test_results`.

    Returns:
      list of rows, one per test example in the order of the test file, each a list of
      float: the class probabilities (in the order of the label list), or the one
      predicted value for regression.

    Raises:
      ValueError: for a line that is not tab-separated numbers.
    """
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        try:
            rows.append([float(value) for value in line.split("\t")])
        except ValueError:
            raise ValueError(f"{source} line {number}: expected tab-separated numbers, got {line!r}") from None
    return rows


def read_test_results(path_or_dir: Union[str, os.PathLike]) -> list[list[float]]:
    """The rows of a test_results.tsv (`parse_test_results`); `path_or_dir` is the file
    or the directory holding it, a local path or `gs://`.

    Raises:
      tf.errors.NotFoundError: when the file does not exist.
      ValueError: when a line is not tab-separated numbers.
    """
    path = _file_in(path_or_dir, TEST_RESULTS)
    return parse_test_results(read_text(path), path)
