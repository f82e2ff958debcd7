"""What run_classifier.py prints (bert_estimator/core/console.py): a short console, the
whole INFO log, as the original prints it, in <output_dir>/run_classifier.log."""

from __future__ import annotations

import logging
import os
import re

import pytest

from bert_estimator.core import console
from tests.conftest import PROJECT_ROOT, run_cli
from tests.test_run_classifier import RUN_CLASSIFIER, model_flags

# Issue 24's target for a 10-step train-and-eval run.
MAX_CONSOLE_LINES = 80


def _train_and_eval(tiny_bert_dir, sentiment_dir, out, *extra):
    # 64 examples / batch 8 * 1.25 epochs = 10 steps
    return run_cli([RUN_CLASSIFIER, "--task_name=csv", f"--data_dir={sentiment_dir}", f"--output_dir={out}",
                    *model_flags(tiny_bert_dir), "--do_train", "--do_eval", "--train_batch_size=8",
                    "--num_train_epochs=1.25", "--max_seq_length=32", "--log_every_seconds=0", "--seed=1",
                    *extra], env={"TF_CPP_MIN_LOG_LEVEL": "0"})


@pytest.fixture(scope="module")
def quiet_run(tiny_bert_dir, sentiment_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("quiet") / "out"
    result = _train_and_eval(tiny_bert_dir, sentiment_dir, out)
    assert result.returncode == 0, result.stderr[-4000:]
    return result, out


def _console_lines(result) -> list[str]:
    return [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]


def test_a_ten_step_run_prints_what_matters_in_few_lines(quiet_run):
    result, out = quiet_run
    lines = _console_lines(result)
    assert len(lines) <= MAX_CONSOLE_LINES, "\n".join(lines)
    text = "\n".join(lines)
    assert "Task csv: 2 labels" in text and "examples: 64 train, 24 dev" in text  # the settings
    assert f"the full log: {out / console.LOG_FILE}" in text
    assert "train step 10/10 (100%)" in text and ", loss " in text and "ETA" in text  # progress
    assert "eval_accuracy = " in text and "global_step = 10" in text  # the metrics
    assert f"Wrote {out / 'eval_results.txt'}" in text  # where the outputs went
    assert "deprecat" not in text.lower()  # TensorFlow's notices stay in the log file
    assert "name = bert/embeddings/word_embeddings" not in text and "*** Example ***" not in text


def test_the_log_file_holds_the_original_info_lines(quiet_run):
    result, out = quiet_run
    log = (out / console.LOG_FILE).read_text(encoding="utf-8")
    # The original's INFO lines, in TensorFlow's format: example dumps, the variable list.
    assert "INFO:tensorflow:*** Example ***" in log
    assert re.search(r"^INFO:tensorflow:  name = bert/embeddings/word_embeddings:0, shape = \(\d+, 32\), "
                     r"\*INIT_FROM_CKPT\*$", log, flags=re.M)
    assert "INFO:tensorflow:***** Running training *****" in log
    # What the console showed is in the file too, and the lines logged before the
    # output directory existed (the settings' checks) were kept.
    assert "train step 10/10 (100%)" in log and "eval_accuracy = " in log
    assert len(log.splitlines()) > 5 * len(_console_lines(result))


def test_verbose_shows_the_whole_log_on_the_console(tiny_bert_dir, sentiment_dir, tmp_path, quiet_run):
    result = _train_and_eval(tiny_bert_dir, sentiment_dir, tmp_path / "out", "--verbose")
    assert result.returncode == 0, result.stderr[-4000:]
    assert "INFO:tensorflow:*** Example ***" in result.stderr
    assert len(_console_lines(result)) > 3 * len(_console_lines(quiet_run[0]))


def test_a_bad_flag_writes_no_log_file(tiny_bert_dir, sentiment_dir, tmp_path):
    out = tmp_path / "out"
    result = run_cli([RUN_CLASSIFIER, "--task_name=csv", f"--data_dir={sentiment_dir}", f"--output_dir={out}",
                      *model_flags(tiny_bert_dir), "--do_train", "--train_batch_size=0"])
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == ("run_classifier.py: error: --train_batch_size must be "
                                                      "positive, got 0")
    assert not out.exists()


def _record(message, level=logging.INFO, pathname="x.py", **extra):
    record = logging.LogRecord("tensorflow", level, pathname, 1, message, (), None)
    record.__dict__.update(extra)
    return record


def test_console_filter():
    quiet, verbose = console.ConsoleFilter(), console.ConsoleFilter(verbose=True)
    marked = _record("train step 1/2", **console.CONSOLE)
    info = _record("*** Example ***")
    warning = _record("train.tf_record is damaged: rebuilding", logging.WARNING,
                      pathname=os.path.join(PROJECT_ROOT, "bert_estimator", "data", "feature_cache.py"))
    theirs = _record("eval_on_tpu ignored because use_tpu is False.", logging.WARNING,
                     pathname="/venv/site-packages/tensorflow_estimator/python/estimator/tpu/tpu_estimator.py")
    error = _record("something failed", logging.ERROR, pathname="/venv/site-packages/tensorflow/x.py")
    notice = _record("From /x/y.py:12: dense (from tensorflow.python.layers.core) is deprecated and will be "
                     "removed in a future version.", logging.WARNING, pathname="/tf/python/util/deprecation.py")
    records = (marked, info, warning, theirs, error, notice)
    assert [quiet.filter(r) for r in records] == [True, False, True, False, True, False]
    assert all(verbose.filter(r) for r in records)
