"""GLUE submission files: what the GLUE server takes for each task.

Written by `run_classifier.py --do_predict` on a GLUE task, beside the original's
`test_results.tsv` (which stays as it was: class probabilities, unlabelled):

    MRPC.tsv        index<TAB>prediction     one row per test example, in the test
    0\t1                                     file's order, keyed by its `index` column

Labels are GLUE's own strings (`entailment`, `not_entailment`, `contradiction`, ...,
`0`/`1` for the binary tasks); STS-B scores are clipped to [0, 5]. MNLI's model also
scores GLUE's diagnostic set into `AX.tsv` when `diagnostic.tsv` is found.
"""

from __future__ import annotations

import os
from typing import Optional, Sequence

from bert_estimator.core.errors import UserError
from bert_estimator.core.fileio import write_atomically

# --task_name -> the file name GLUE expects.
SUBMISSION_FILES = {
    "cola": "CoLA.tsv",
    "sst-2": "SST-2.tsv",
    "mrpc": "MRPC.tsv",
    "sts-b": "STS-B.tsv",
    "qqp": "QQP.tsv",
    "mnli": "MNLI-m.tsv",
    "mnli-mm": "MNLI-mm.tsv",
    "qnli": "QNLI.tsv",
    "rte": "RTE.tsv",
    "wnli": "WNLI.tsv",
}
DIAGNOSTIC_FILE = "AX.tsv"
HEADER = "index\tprediction"
STSB_RANGE = (0.0, 5.0)


def submission_file(task_name: str) -> Optional[str]:
    """GLUE's file name for `task_name`, or None for a task that is not GLUE's."""
    return SUBMISSION_FILES.get(task_name.lower())


def predictions(rows: Sequence[Sequence[float]], label_list: Sequence[str], is_regression: bool) -> list[str]:
    """The predicted label string of each row of class probabilities (regression: the
    score, clipped to STS-B's [0, 5])."""
    if is_regression:
        low, high = STSB_RANGE
        return [f"{min(max(float(row[0]), low), high):.6g}" for row in rows]
    return [label_list[max(range(len(row)), key=row.__getitem__)] for row in rows]


def format_submission(ids: Sequence[str], labels: Sequence[str]) -> str:
    if len(ids) != len(labels):
        raise UserError(f"the test file has {len(ids)} rows but {len(labels)} predictions were made")
    return HEADER + "\n" + "".join(f"{i}\t{label}\n" for i, label in zip(ids, labels))


def write_submission(output_dir: str, name: str, ids: Sequence[str], rows, label_list: Sequence[str],
                     is_regression: bool) -> str:
    """Writes `output_dir/name` from the probability rows; returns its path."""
    path = os.path.join(output_dir, name)
    write_atomically(path, format_submission(ids, predictions(rows, label_list, is_regression)))
    return path


def read_submission(path: str) -> list[tuple[str, str]]:
    """(index, prediction) rows of a submission file; UserError when it is malformed."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    if not lines or lines[0] != HEADER:
        raise UserError(f"{path}: not a GLUE submission file (first line must be {HEADER!r})")
    rows = [tuple(line.split("\t")) for line in lines[1:]]
    bad = next((n for n, row in enumerate(rows, 2) if len(row) != 2), None)
    if bad is not None:
        raise UserError(f"{path} line {bad}: expected index<TAB>prediction")
    return rows
