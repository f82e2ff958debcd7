"""Multi-label classification on a CSV (task `csv`) end to end with a tiny BERT: a label
column of joined sources detected as multi-label, class weights, training, evaluation
checked against scikit-learn on the predictions, tuned thresholds, test_results.tsv
and the predicted label sets. (The export and predict.py: tests/test_serving.py.)

The data are real: snippets of VADER's four sources (tests/real_data.py) joined two or
one at a time, the sources present as the labels.
"""

from __future__ import annotations

import csv
import json
import os
import random

import numpy as np
import pytest
from sklearn import metrics as skm

from bert_estimator.results import output_files
from bert_estimator.training import evaluation, metrics
from tests.conftest import PROJECT_ROOT, run_cli, write_csv
from tests.real_data import ground_truth

RUN_CLASSIFIER = os.path.join(PROJECT_ROOT, "run_classifier.py")
SOURCES = ("amazon", "movies", "nyt", "tweets")


@pytest.fixture(scope="module")
def sources_dir(tmp_path_factory) -> str:
    """train.csv: 120 examples of one or two snippets, `sources` the label column
    ("movies,tweets"); dev.csv: 40 more, test.csv the same 40."""
    rng = random.Random(7)
    pools = {source: list(ground_truth(source)) for source in SOURCES}
    rows = []
    for i in range(160):
        chosen = sorted(rng.sample(SOURCES, rng.randint(1, 2)))
        rows.append((f"ex{i}", " ".join(pools[s][i].text for s in chosen), ",".join(chosen)))
    d = tmp_path_factory.mktemp("sources")
    header = ("id", "text", "sources")
    write_csv(d / "train.csv", rows[:120], header)
    write_csv(d / "dev.csv", rows[120:], header)
    write_csv(d / "test.csv", rows[120:], header)
    return str(d)


def dev_truth(data_dir: str) -> np.ndarray:
    with open(os.path.join(data_dir, "dev.csv"), encoding="utf-8", newline="") as f:
        return np.array([[int(s in row["sources"].split(",")) for s in SOURCES] for row in csv.DictReader(f)])


def test_multi_label_train_eval_predict(tiny_bert_dir, sources_dir, tmp_path):
    out, model = tmp_path / "out", tiny_bert_dir
    r = run_cli([RUN_CLASSIFIER, "--task_name=csv", f"--data_dir={sources_dir}", "--label_column=sources",
                 f"--vocab_file={model}/vocab.txt", f"--bert_config_file={model}/bert_config.json",
                 f"--init_checkpoint={model}/bert_model.ckpt", f"--output_dir={out}", "--do_train", "--do_eval",
                 "--do_predict", "--max_seq_length=64", "--train_batch_size=8", "--num_train_epochs=3",
                 "--learning_rate=2e-3", "--eval_batch_size=7", "--predict_batch_size=9", "--seed=1",
                 "--class_weights=balanced", "--tune_thresholds"])
    assert r.returncode == 0, r.stderr[-3000:]
    assert "csv task: multi-label (one sigmoid output per label)" in r.stderr  # detected from the separator
    assert "Task csv: multi-label, 4 labels (amazon, movies, nyt, tweets)" in r.stderr

    # class weights: pos_weight = negatives / positives of each label in train.csv, recorded
    recorded = json.loads((out / "class_weights.json").read_text())
    counts = [entry["train_count"] for entry in recorded["labels"]]
    assert [entry["weight"] for entry in recorded["labels"]] == pytest.approx([(120 - c) / c for c in counts])
    assert recorded["kind"].startswith("pos_weight")

    # eval_results.txt against scikit-learn on the same predictions (test.csv = dev.csv)
    result = output_files.read_eval_results(out)
    probabilities = np.array(output_files.read_test_results(out))
    assert probabilities.shape == (40, 4)  # one probability per label, label-list order
    assert ((probabilities > 0) & (probabilities < 1)).all()
    truth = dev_truth(sources_dir)
    predicted = (probabilities >= 0.5).astype(int)
    assert result["global_step"] == 45  # int(120 / 8 * 3)
    assert result["micro_f1"] == pytest.approx(skm.f1_score(truth, predicted, average="micro"), abs=1e-6)
    assert result["macro_f1"] == pytest.approx(skm.f1_score(truth, predicted, average="macro", zero_division=0),
                                               abs=1e-6)
    assert result["hamming_loss"] == pytest.approx(skm.hamming_loss(truth, predicted), abs=1e-6)
    assert result["subset_accuracy"] == pytest.approx(skm.accuracy_score(truth, predicted), abs=1e-6)
    for i, source in enumerate(SOURCES):
        assert result[f"f1_{source}"] == pytest.approx(
            skm.f1_score(truth[:, i], predicted[:, i], zero_division=0), abs=1e-6)
        # test_results.tsv's 7 digits: ties the model may break in the 8th decimal
        assert result[f"auc_{source}"] == pytest.approx(skm.roc_auc_score(truth[:, i], probabilities[:, i]),
                                                        abs=1e-3)
    assert sorted(k for k in result if k not in ("global_step", "loss", "checkpoint")) == sorted(
        n for n in metrics.multi_label_metric_names(SOURCES) if n != "loss")

    # tuned thresholds, and the predicted label sets they give
    tuned = json.loads((out / "thresholds.json").read_text())
    assert tuned["labels"] == list(SOURCES) and tuned["checkpoint"] == "model.ckpt-45"
    thresholds = np.array(tuned["thresholds"])
    with open(out / "test_predicted_labels.tsv", encoding="utf-8") as f:
        rows = list(csv.reader(f, delimiter="\t"))
    assert rows[0] == ["guid", "labels"]
    assert [row[0] for row in rows[1:]] == [f"test-{i}" for i in range(40)]
    expected = [",".join(s for s, p, t in zip(SOURCES, row, thresholds) if p >= t) for row in probabilities]
    assert [row[1] for row in rows[1:]] == expected
    tuned_f1 = skm.f1_score(truth, (probabilities >= thresholds).astype(int), average="micro")
    assert tuned_f1 >= result["micro_f1"] - 1e-6  # tuned on this very set

    report = (out / "classification_report.txt").read_text()
    assert "micro avg" in report and "samples avg" in report and "ROC AUC per label" in report
    assert f"hamming_loss = {skm.hamming_loss(truth, predicted):.4f}" in report


def test_thresholds_are_tuned_for_the_checkpoint_predicted_from(tiny_bert_dir, sources_dir, tmp_path):
    """With evaluation during training and --predict_from=best, the last evaluation can make
    a new best; the thresholds must be tuned on that checkpoint, the one --do_predict uses."""
    out, model = tmp_path / "out", tiny_bert_dir
    r = run_cli([RUN_CLASSIFIER, "--task_name=csv", f"--data_dir={sources_dir}", "--label_column=sources",
                 f"--vocab_file={model}/vocab.txt", f"--bert_config_file={model}/bert_config.json",
                 f"--init_checkpoint={model}/bert_model.ckpt", f"--output_dir={out}", "--do_train", "--do_eval",
                 "--do_predict", "--max_seq_length=64", "--train_batch_size=8", "--num_train_epochs=2",
                 "--learning_rate=3e-4", "--seed=1", "--evaluate_every_n_steps=10", "--best_metric=eval_loss",
                 "--predict_from=best", "--tune_thresholds", "--write_reports=false"])
    assert r.returncode == 0, r.stderr[-3000:]
    best = os.path.basename(evaluation.best_checkpoint(str(out)))
    assert best == "model.ckpt-30"  # the last evaluation (step 30 of 30) was the new best
    assert json.loads((out / "thresholds.json").read_text())["checkpoint"] == best
    assert "holds thresholds tuned for" not in r.stderr  # prediction used them, not 0.5
    thresholds = json.loads((out / "thresholds.json").read_text())["thresholds"]
    probabilities = np.array(output_files.read_test_results(out))
    with open(out / "test_predicted_labels.tsv", encoding="utf-8") as f:
        predicted = [row[1] for row in csv.reader(f, delimiter="\t")][1:]
    assert predicted == [",".join(s for s, p, t in zip(SOURCES, row, thresholds) if p >= t) for row in probabilities]
