"""The original's result files, in its formats.

    eval_results.txt    one `key = value` line per metric, sorted by key
    test_results.tsv    one tab-separated row of class probabilities per test example
                        (one predicted value per row for regression)
"""

from __future__ import annotations

import os
from typing import Iterable, Mapping, Sequence

from bert_estimator.fileio import write_atomically

EVAL_RESULTS = "eval_results.txt"
TEST_RESULTS = "test_results.tsv"


def format_eval_results(result: Mapping) -> str:
    """eval_results.txt's text: `key = value` lines, sorted."""
    # str(), not an f-string: numpy's float32.__format__ goes through a Python float and
    # would print 0.31617647409439087 where the original prints 0.31617647.
    return "".join(f"{key} = {str(result[key])}\n" for key in sorted(result))


def format_test_results(probabilities_rows: Iterable[Sequence]) -> str:
    """test_results.tsv's text: one tab-separated row of probabilities per example."""
    return "".join("\t".join(str(p) for p in row) + "\n" for row in probabilities_rows)


def write_eval_results(output_dir: str, result: Mapping) -> str:
    path = os.path.join(output_dir, EVAL_RESULTS)
    write_atomically(path, format_eval_results(result))
    return path


def write_test_results(output_dir: str, probabilities_rows: Iterable[Sequence]) -> str:
    path = os.path.join(output_dir, TEST_RESULTS)
    write_atomically(path, format_test_results(probabilities_rows))
    return path
