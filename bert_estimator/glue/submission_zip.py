"""Gathers the GLUE files of the selected runs into `submission.zip`, checked first.

    python -m bert_estimator.glue.submission_zip --runs OUT/MRPC/lr2e-05_ep3_bs32/seed1 OUT/CoLA/... \\
        --glue_dir glue_data --output submission.zip

Each run directory holds what `run_classifier.py --do_predict` wrote for its GLUE task:
the task's file as GLUE names it (`MRPC.tsv`, `CoLA.tsv`, ..., `MNLI-m.tsv`,
`MNLI-mm.tsv`) and, for an MNLI run whose data has GLUE's diagnostic set, `AX.tsv`.
A run's task is the one in its `.done` marker (written by scripts/reproduce_glue.py),
else the one whose file it holds.

Every expected file must be there, be a submission file (header `index<TAB>prediction`,
two columns) and have one row per row of the task's test file under --glue_dir
(`<glue_dir>/MRPC/test.tsv`, `<glue_dir>/MNLI/test_matched.tsv`, GLUE's
`diagnostic.tsv`, ...). Otherwise nothing is written and the error is one line, exit 1.
The files go to the root of the zip, as gluebenchmark.com expects; their order and
time stamps are fixed, so the same files make the same zip. A zip lacking some of GLUE's
11 files is written, with a note naming those missing.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import zipfile
from typing import Optional, Sequence

import tensorflow.compat.v1 as tf

import processors
from bert_estimator.core.errors import UsageError, UserError, run_cli
from bert_estimator.core.fileio import write_atomically
from bert_estimator.glue.submission_files import DIAGNOSTIC_FILE, SUBMISSION_FILES, read_submission

PROG = "python -m bert_estimator.glue.submission_zip"
DONE_FILE = ".done"  # scripts/reproduce_glue.py's marker of a finished run (JSON, with "task")
# --task_name -> the task's folder in GLUE's download.
DATA_FOLDERS = {
    "cola": "CoLA", "sst-2": "SST-2", "mrpc": "MRPC", "sts-b": "STS-B", "qqp": "QQP",
    "mnli": "MNLI", "mnli-mm": "MNLI", "qnli": "QNLI", "rte": "RTE", "wnli": "WNLI",
}
ALL_FILES = (*SUBMISSION_FILES.values(), DIAGNOSTIC_FILE)  # a full GLUE submission
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


class SubmissionError(UserError):
    """A run's GLUE file is missing, malformed or of the wrong length."""


def data_dir(glue_dir: str, task: str) -> str:
    return os.path.join(glue_dir, DATA_FOLDERS[task])


def diagnostic_file(glue_dir: str) -> Optional[str]:
    """GLUE's diagnostic set, where run_classifier.py finds it for MNLI; None when absent."""
    return processors.get_processor("mnli").diagnostic_file(data_dir(glue_dir, "mnli"))


def expected_files(task: str, glue_dir: str) -> list[str]:
    """The GLUE files a run of `task` must hold: its own, and AX.tsv for MNLI when the
    diagnostic set is in `glue_dir` (run_classifier.py then scores it)."""
    names = [SUBMISSION_FILES[task]]
    if task == "mnli" and diagnostic_file(glue_dir):
        names.append(DIAGNOSTIC_FILE)
    return names


def expected_rows(name: str, glue_dir: str) -> int:
    """The rows GLUE file `name` must have: one per row of its task's test file."""
    if name == DIAGNOSTIC_FILE:
        path = diagnostic_file(glue_dir)
        if path is None:
            raise SubmissionError(f"cannot check {name}: GLUE's diagnostic.tsv is not in "
                                  f"{data_dir(glue_dir, 'mnli')} nor in {os.path.join(glue_dir, 'diagnostic')}")
        return len(processors.get_processor("mnli").get_diagnostic_ids(path))
    task = next(t for t, n in SUBMISSION_FILES.items() if n == name)
    return len(processors.get_processor(task).get_test_ids(data_dir(glue_dir, task)))


def task_of_run(run_dir: str) -> str:
    """The task of a run directory: from its .done marker, else from the GLUE file it holds."""
    if not tf.io.gfile.isdir(run_dir):
        raise SubmissionError(f"run directory not found: {run_dir}")
    marker = os.path.join(run_dir, DONE_FILE)
    if tf.io.gfile.exists(marker):
        try:
            with tf.io.gfile.GFile(marker) as f:
                task = json.load(f).get("task")
        except (ValueError, AttributeError):
            task = None
        if task in SUBMISSION_FILES:
            return task
    found = [t for t, name in SUBMISSION_FILES.items() if tf.io.gfile.exists(os.path.join(run_dir, name))]
    if len(found) == 1:
        return found[0]
    if not found:
        raise SubmissionError(f"no GLUE submission file in {run_dir} (one of {', '.join(SUBMISSION_FILES.values())}, "
                              "written by run_classifier.py --do_predict on a GLUE task)")
    raise SubmissionError(f"{run_dir} holds the files of several tasks ({', '.join(SUBMISSION_FILES[t] for t in found)}); "
                          "pass one run directory per task")


def check_file(path: str, expected: int) -> int:
    """The rows of submission file `path`, checked against `expected`."""
    if not tf.io.gfile.exists(path):
        raise SubmissionError(f"missing {os.path.basename(path)} in {os.path.dirname(path)} "
                              "(run_classifier.py --do_predict writes it)")
    try:
        rows = len(read_submission(path))
    except UnicodeDecodeError:
        raise SubmissionError(f"{path}: not a GLUE submission file (not UTF-8 text)") from None
    except UserError as e:
        raise SubmissionError(str(e)) from None
    if rows != expected:
        raise SubmissionError(f"{path} has {rows} rows, expected {expected} (one per row of the task's test file)")
    return rows


def gather(runs: Sequence[tuple[str, Optional[str]]], output: str, glue_dir: str) -> list[tuple[str, int]]:
    """Checks the GLUE files of `runs` ((run directory, task or None) pairs) and writes
    them into the zip `output`; returns (file name, rows) in the zip's order."""
    if not tf.io.gfile.isdir(glue_dir):
        raise UsageError(f"--glue_dir not found: {glue_dir}")
    files = {}  # name -> path
    for run_dir, task in runs:
        task = task or task_of_run(run_dir)
        for name in expected_files(task, glue_dir):
            if name in files:
                raise SubmissionError(f"two runs for {name}: {os.path.dirname(files[name])} and {run_dir}; "
                                      "pass one run directory per task")
            files[name] = os.path.join(run_dir, name)
    if not files:
        raise UsageError("no runs to gather")
    ordered = [name for name in ALL_FILES if name in files]
    counted = [(name, check_file(files[name], expected_rows(name, glue_dir))) for name in ordered]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in ordered:
            with tf.io.gfile.GFile(files[name], "rb") as f:
                info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                archive.writestr(info, f.read())
    parent = os.path.dirname(output)
    if parent:
        tf.io.gfile.makedirs(parent)
    write_atomically(output, buffer.getvalue())
    return counted


def missing_note(names: Sequence[str]) -> Optional[str]:
    """A note naming GLUE's files the zip lacks, or None when it has all of them."""
    missing = [name for name in ALL_FILES if name not in names]
    if not missing:
        return None
    return (f"note: the zip has {len(ALL_FILES) - len(missing)} of GLUE's {len(ALL_FILES)} files; a full "
            f"submission to gluebenchmark.com also needs {', '.join(missing)}")


def report(output: str, counted: Sequence[tuple[str, int]]) -> None:
    print(f"wrote {output}: " + ", ".join(f"{name} ({rows} rows)" for name, rows in counted), flush=True)
    note = missing_note([name for name, _ in counted])
    if note:
        print(note, file=sys.stderr, flush=True)


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are UsageErrors: one line and exit status 1 under run_cli."""

    def error(self, message):
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog=PROG, allow_abbrev=False, description=__doc__.split("\n\n")[0],
                     epilog="Every expected file must be present with one row per row of its task's test file; "
                            "otherwise nothing is written (one line, exit status 1).")
    parser.add_argument("--runs", nargs="+", required=True, metavar="RUN_DIR",
                        help="the run directories to gather, one per task")
    parser.add_argument("--glue_dir", required=True, help="GLUE's data: MRPC/, CoLA/, ..., MNLI/ (test files)")
    parser.add_argument("--output", default="submission.zip", help="the zip to write (default: %(default)s)")
    return parser


def run(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    report(args.output, gather([(run_dir, None) for run_dir in args.runs], args.output, args.glue_dir))
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    return run_cli(lambda: run(argv), PROG)


if __name__ == "__main__":
    sys.exit(main())
