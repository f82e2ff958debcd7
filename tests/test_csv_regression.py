"""Regression on a CSV (task `csv`, `--problem_type=regression` or a detected score
column) end to end with a tiny BERT: train, eval, predict, export, predict.py.

The data are real: movie snippets (tests/real_data.py) with their mean human rating in
[-4, 4] as the label, the issue's score column.
"""

from __future__ import annotations

import csv
import json
import os

import numpy as np
import pytest
import scipy.stats

from bert_estimator.results import output_files
from tests.conftest import PROJECT_ROOT, run_cli, run_log, write_csv
from tests.real_data import movie_snippets

RUN_CLASSIFIER = os.path.join(PROJECT_ROOT, "run_classifier.py")
PREDICT = os.path.join(PROJECT_ROOT, "predict.py")


@pytest.fixture(scope="module")
def scores_dir(tmp_path_factory) -> str:
    """train.csv: 96 snippets; dev.csv: the next 24, test.csv the same 24 (so the
    predictions can be checked against eval_results.txt). Columns id,text,rating."""
    snippets = movie_snippets()
    rows = [(t.id, t.text, repr(t.score)) for t in snippets[:120]]
    d = tmp_path_factory.mktemp("scores")
    header = ("id", "text", "rating")
    write_csv(d / "train.csv", rows[:96], header)
    write_csv(d / "dev.csv", rows[96:], header)
    write_csv(d / "test.csv", rows[96:], header)
    return str(d)


def common_flags(model_dir: str, data_dir: str) -> list[str]:
    return [RUN_CLASSIFIER, "--task_name=csv", f"--data_dir={data_dir}", "--label_column=rating",
            "--max_seq_length=32", "--eval_batch_size=5", "--predict_batch_size=7", "--seed=2",
            f"--vocab_file={model_dir}/vocab.txt", f"--bert_config_file={model_dir}/bert_config.json",
            f"--init_checkpoint={model_dir}/bert_model.ckpt"]


def dev_ratings(data_dir: str) -> np.ndarray:
    with open(os.path.join(data_dir, "dev.csv"), encoding="utf-8", newline="") as f:
        return np.array([float(row["rating"]) for row in csv.DictReader(f)])


def test_regression_train_eval_predict_export(tiny_bert_dir, scores_dir, tmp_path):
    out, export = tmp_path / "out", tmp_path / "export"
    r = run_cli([*common_flags(tiny_bert_dir, scores_dir), "--problem_type=regression", f"--output_dir={out}",
                 "--do_train", "--do_eval", "--do_predict", "--train_batch_size=16", "--num_train_epochs=2",
                 "--learning_rate=1e-3", f"--export_dir={export}"])
    assert r.returncode == 0, r.stderr[-3000:]
    assert "Task csv: regression (one value)" in r.stderr
    assert "csv task: regression" not in r.stderr  # asked for, not detected

    # eval: MSE, Pearson, Spearman of the dev set (= the test set)
    result = output_files.read_eval_results(out / "eval_results.txt")
    assert {"eval_loss", "mse", "pearson", "spearman", "loss", "global_step"} <= set(result)
    assert "eval_accuracy" not in result
    assert result["global_step"] == 12  # int(96 / 16 * 2)
    labels = dev_ratings(scores_dir)
    predictions = np.array(output_files.read_test_results(out))
    assert predictions.shape == (24, 1)  # one value per row
    values = predictions[:, 0]
    assert np.ptp(values) > 1e-4  # a function of the text
    assert result["mse"] == pytest.approx(np.mean((values - labels) ** 2), rel=1e-4)
    assert result["eval_loss"] == pytest.approx(result["mse"], rel=1e-4)
    # The tiny model's values differ by ~1e-3 from one text to another, so the 7 digits of
    # test_results.tsv move the correlations in their 4th decimal.
    assert result["pearson"] == pytest.approx(scipy.stats.pearsonr(values, labels)[0], abs=2e-3)
    assert result["spearman"] == pytest.approx(scipy.stats.spearmanr(values, labels)[0], abs=2e-3)

    # export, and predict.py on it: the value of test_results.tsv
    (version,) = os.listdir(export)
    with open(export / version / "assets.extra" / "export_info.json", encoding="utf-8") as f:
        info = json.load(f)
    assert info["is_regression"] is True and info["label_list"] == []
    text = movie_snippets()[96].text
    p = run_cli([PREDICT, f"--export_dir={export}", "--output_format=tsv", text])
    assert p.returncode == 0, p.stderr[-3000:]
    head, row = p.stdout.splitlines()
    assert head == "value\ttext"
    assert float(row.split("\t")[0]) == pytest.approx(values[0], abs=1e-5)


def test_score_column_detected_without_the_flag(tiny_bert_dir, scores_dir, tmp_path):
    """The issue's bug: without --problem_type a column of mean ratings made one class
    per distinct score. Now it is a regression, and the console says why."""
    out = tmp_path / "out"
    r = run_cli([*common_flags(tiny_bert_dir, scores_dir), f"--output_dir={out}", "--do_train",
                 "--train_batch_size=16", "--num_train_epochs=1", "--do_eval", "--do_predict"])
    assert r.returncode == 0, r.stderr[-3000:]
    shown = [line for line in r.stderr.splitlines() if "csv task: regression" in line]
    assert len(shown) == 1 and "label column 'rating'" in shown[0] and "not whole" in shown[0], r.stderr[-3000:]
    assert "csv task: regression" in run_log(out)
    assert {"mse", "pearson", "spearman"} <= set(output_files.read_eval_results(out / "eval_results.txt"))
    assert np.array(output_files.read_test_results(out)).shape == (24, 1)
