"""reports.py: eval reports against scikit-learn, golden TSVs, PNGs and event-file loss plots."""

from __future__ import annotations

import itertools
import os
import re

import matplotlib.image
import numpy as np
import pytest
import tensorflow.compat.v1 as tf
from sklearn import metrics as skm

from bert_estimator.results import reports

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _softmax(logits: np.ndarray) -> np.ndarray:
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


def _random_predictions(num_labels: int, n: int, seed: int = 0) -> tuple[list[int], list[np.ndarray]]:
    """Gold ids and float32 probability rows that are right about 70% of the time."""
    rng = np.random.RandomState(seed)
    gold = rng.randint(0, num_labels, n)
    logits = rng.randn(n, num_labels) + 1.5 * np.eye(num_labels)[gold]
    return [int(g) for g in gold], list(_softmax(logits).astype(np.float32))


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


def _assert_valid_png(path: str) -> None:
    assert os.path.getsize(path) > 0
    with open(path, "rb") as f:
        assert f.read(8) == PNG_SIGNATURE
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100


def _parse_report(text: str, label_names: list[str]) -> tuple[dict[str, list[float]], dict[str, str]]:
    """(label -> [precision, recall, f1, support], key -> value of the `key = value` lines)."""
    rows, summary = {}, {}
    for line in text.splitlines():
        if " = " in line:
            key, value = line.split(" = ", 1)
            summary[key] = value
            continue
        for name in label_names:
            if line.strip().startswith(f"{name} "):
                rows[name] = [float(x) for x in line.split()[-4:]]
    return rows, summary


# ------------------------------------------------------------------------ eval reports
@pytest.mark.parametrize("label_list", [["0", "1"], ["contradiction", "entailment", "neutral"]])
def test_report_metrics_equal_sklearn(tmp_path, label_list):
    gold, probabilities = _random_predictions(len(label_list), 157)
    paths = reports.write_eval_reports(str(tmp_path), label_list, gold, probabilities)

    predicted = np.argmax(np.stack(probabilities), axis=1)
    rows, summary = _parse_report(_read(paths["classification_report"]), label_list)
    precision, recall, f1, support = skm.precision_recall_fscore_support(
        gold, predicted, labels=list(range(len(label_list))), zero_division=0)
    for i, name in enumerate(label_list):
        np.testing.assert_allclose(rows[name][:3], [precision[i], recall[i], f1[i]], atol=5e-5)
        assert rows[name][3] == support[i]
    assert float(summary["accuracy"]) == pytest.approx(skm.accuracy_score(gold, predicted), abs=5e-5)
    if len(label_list) == 2:
        positive = np.stack(probabilities)[:, 1]
        assert float(summary["mcc"]) == pytest.approx(skm.matthews_corrcoef(gold, predicted), abs=5e-5)
        assert float(summary["roc_auc"]) == pytest.approx(skm.roc_auc_score(gold, positive), abs=5e-5)
        assert summary["positive class (mcc, roc_auc)"] == "1"
    else:
        assert "mcc" not in summary and "roc_auc" not in summary


def test_golden_confusion_matrix_and_predictions(tmp_path):
    labels = ["neg", "neu", "pos"]
    gold = [0, 0, 0, 1, 2, 2]
    # Predictions: neg, pos, neg, neg, pos, pos.
    probabilities = [np.array(p, dtype=np.float32) for p in [
        [0.7, 0.2, 0.1], [0.1, 0.2, 0.7], [0.5, 0.3, 0.2],
        [0.6, 0.3, 0.1], [0.0, 0.25, 0.75], [0.2, 0.2, 0.6]]]
    paths = reports.write_eval_reports(str(tmp_path), labels, gold, probabilities)

    assert set(paths) == {"classification_report", "confusion_matrix_tsv",
                          "confusion_matrix_png", "dev_predictions"}
    assert all(os.path.dirname(p) == str(tmp_path) for p in paths.values())
    assert _read(paths["confusion_matrix_tsv"]) == (
        "gold\\predicted\tneg\tneu\tpos\n"
        "neg\t2\t0\t1\n"
        "neu\t1\t0\t0\n"
        "pos\t0\t0\t2\n")
    assert _read(paths["dev_predictions"]) == (
        "index\tgold\tpredicted\tcorrect\tprob_neg\tprob_neu\tprob_pos\n"
        "0\tneg\tneg\t1\t0.700000\t0.200000\t0.100000\n"
        "1\tneg\tpos\t0\t0.100000\t0.200000\t0.700000\n"
        "2\tneg\tneg\t1\t0.500000\t0.300000\t0.200000\n"
        "3\tneu\tneg\t0\t0.600000\t0.300000\t0.100000\n"
        "4\tpos\tpos\t1\t0.000000\t0.250000\t0.750000\n"
        "5\tpos\tpos\t1\t0.200000\t0.200000\t0.600000\n")
    _assert_valid_png(paths["confusion_matrix_png"])
    assert not [name for name in os.listdir(tmp_path) if ".tmp-" in name]

    # The never-predicted class is in the report with zeros rather than missing.
    rows, summary = _parse_report(_read(paths["classification_report"]), labels)
    assert rows["neu"] == [0.0, 0.0, 0.0, 1.0]
    assert summary["accuracy"] == "0.6667"


def test_read_dev_predictions_round_trips(tmp_path):
    labels = ["a b", "c"]
    gold, probabilities = _random_predictions(2, 30, seed=3)
    paths = reports.write_eval_reports(str(tmp_path), labels, gold, probabilities)
    names, gold_read, predicted_read = reports.read_dev_predictions(paths["dev_predictions"])
    assert names == labels
    np.testing.assert_array_equal(gold_read, gold)
    np.testing.assert_array_equal(predicted_read, np.argmax(np.stack(probabilities), axis=1))
    # the probabilities, written with 6 decimals
    np.testing.assert_allclose(reports.read_dev_probabilities(paths["dev_predictions"]), np.stack(probabilities),
                               atol=5e-7, rtol=0)


def test_confusion_figure_annotates_every_cell():
    matrix = np.array([[5, 1], [0, 7]])
    fig = reports.confusion_matrix_figure(["no", "yes"], matrix)
    ax = fig.axes[0]
    assert sorted(t.get_text() for t in ax.texts) == ["0", "1", "5", "7"]
    assert ax.get_xlabel() == "Predicted label" and ax.get_ylabel() == "Gold label"
    assert "accuracy 0.9231" in ax.get_title()


def test_roc_auc_undefined_with_one_gold_class(tmp_path):
    probabilities = [np.array([0.2, 0.8]), np.array([0.9, 0.1])]
    paths = reports.write_eval_reports(str(tmp_path), ["0", "1"], [1, 1], probabilities)
    _, summary = _parse_report(_read(paths["classification_report"]), ["0", "1"])
    assert summary["roc_auc"].startswith("undefined")
    assert summary["accuracy"] == "0.5000"


def test_bad_inputs_raise_and_empty_writes_nothing(tmp_path):
    with pytest.raises(ValueError, match="label ids"):
        reports.write_eval_reports(str(tmp_path), ["0", "1"], [0, 1], [np.array([0.5, 0.5])])
    with pytest.raises(ValueError, match="3 entries"):
        reports.write_eval_reports(str(tmp_path), ["0", "1"], [0], [np.array([0.2, 0.3, 0.5])])
    with pytest.raises(ValueError, match="must lie in"):
        reports.write_eval_reports(str(tmp_path), ["0", "1"], [2], [np.array([0.5, 0.5])])
    assert reports.write_eval_reports(str(tmp_path), ["0", "1"], [], []) == {}
    assert os.listdir(tmp_path) == []


# ------------------------------------------------------------------------ training loss
_EVENT_FILE_IDS = itertools.count()


def _write_tf1_scalars(log_dir: str, tag: str, points: list[tuple[int, float]]) -> None:
    """Writes `simple_value` scalars the way the Estimator's summary hook does, to a new
    event file (the suffix keeps two writers in the same second apart)."""
    with tf.Graph().as_default():
        writer = tf.summary.FileWriter(log_dir, filename_suffix=f".{next(_EVENT_FILE_IDS)}")
        for step, value in points:
            summary = tf.Summary(value=[tf.Summary.Value(tag=tag, simple_value=value)])
            writer.add_summary(summary, step)
        writer.close()


LOSS_POINTS = [(1, 0.75), (100, 0.5), (200, 0.375), (300, 0.25)]  # exact in float32


def test_read_scalar_events_returns_written_points_and_skips_eval(tmp_path):
    _write_tf1_scalars(str(tmp_path), "loss", LOSS_POINTS)
    _write_tf1_scalars(str(tmp_path), "global_step/sec", [(100, 9.0)])
    _write_tf1_scalars(str(tmp_path / "eval"), "loss", [(300, 99.0)])

    assert reports.read_scalar_events(str(tmp_path), "loss") == LOSS_POINTS
    assert reports.read_scalar_events(str(tmp_path / "eval"), "loss") == [(300, 99.0)]
    assert reports.read_scalar_events(str(tmp_path), "missing") == []


def test_read_scalar_events_reads_tf2_tensor_scalars(tmp_path):
    writer = tf.compat.v2.summary.create_file_writer(str(tmp_path))
    with writer.as_default():
        for step, value in LOSS_POINTS:
            tf.compat.v2.summary.scalar("loss", value, step=step)
    writer.close()
    assert reports.read_scalar_events(str(tmp_path), "loss") == LOSS_POINTS


def test_plot_training_loss_plots_the_written_points(tmp_path):
    _write_tf1_scalars(str(tmp_path), "loss", LOSS_POINTS)
    path = reports.plot_training_loss(str(tmp_path))
    assert path == str(tmp_path / reports.TRAINING_LOSS_PNG)
    _assert_valid_png(path)

    fig = reports.training_loss_figure(reports.read_scalar_events(str(tmp_path), "loss"))
    (line,) = fig.axes[0].lines  # few points: no smoothed line
    np.testing.assert_array_equal(line.get_xydata(), np.array(LOSS_POINTS))
    assert fig.axes[0].get_xlabel() == "Global step"


def test_many_points_add_a_smoothed_line():
    points = [(100 * i, 2.0 / (i + 1)) for i in range(50)]
    fig = reports.training_loss_figure(points)
    raw, smoothed = fig.axes[0].lines
    np.testing.assert_array_equal(raw.get_xydata(), np.array(points))
    assert smoothed.get_xdata().tolist() == [step for step, _ in points]
    assert smoothed.get_ydata()[0] == pytest.approx(2.0)  # debiased: starts at the first point


def test_smooth_is_debiased_and_skips_nan():
    assert reports.smooth([3.0, 3.0, 3.0], 0.9) == pytest.approx([3.0, 3.0, 3.0])
    smoothed = reports.smooth([1.0, float("nan"), 2.0], 0.5)
    assert smoothed == pytest.approx([1.0, 1.0, (0.25 + 1.0) / 0.75])


def test_loss_tag_choice():
    assert reports.choose_loss_tag(["loss", "loss_1", "global_step/sec"]) == "loss"
    assert reports.choose_loss_tag(["loss_10", "loss_2"]) == "loss_2"
    assert reports.choose_loss_tag(["train/loss", "lossy"]) == "train/loss"
    assert reports.choose_loss_tag(["global_step/sec", "learning_rate"]) is None


def test_resumed_training_keeps_latest_value_per_step(tmp_path):
    _write_tf1_scalars(str(tmp_path), "loss_1", [(1, 1.0), (100, 0.5)])
    _write_tf1_scalars(str(tmp_path), "loss_1", [(100, 0.25), (200, 0.125)])
    assert len(os.listdir(tmp_path)) == 2
    assert reports.read_scalar_events(str(tmp_path), "loss_1") == [(1, 1.0), (100, 0.25), (200, 0.125)]
    assert reports.plot_training_loss(str(tmp_path)) is not None


def test_truncated_event_file_keeps_complete_records(tmp_path):
    _write_tf1_scalars(str(tmp_path), "loss", LOSS_POINTS)
    (path,) = tmp_path.iterdir()
    data = path.read_bytes()
    path.write_bytes(data[:-5])  # a run still writing its last record
    assert reports.read_scalar_events(str(tmp_path), "loss") == LOSS_POINTS[:-1]


def test_no_loss_events_returns_none(tmp_path):
    assert reports.plot_training_loss(str(tmp_path)) is None
    _write_tf1_scalars(str(tmp_path / "eval"), "loss", LOSS_POINTS)  # eval-only run
    _write_tf1_scalars(str(tmp_path / "eval"), "eval_accuracy", [(300, 0.5)])
    assert reports.plot_training_loss(str(tmp_path)) is None
    assert reports.plot_training_loss(str(tmp_path / "eval")) is None  # eval, not training, loss
    assert reports.plot_training_loss(str(tmp_path / "absent")) is None
    assert not (tmp_path / reports.TRAINING_LOSS_PNG).exists()


# ---------------------------------------------------------------------------------- CLI
def test_cli_regenerates_plots(tmp_path, capsys):
    _write_tf1_scalars(str(tmp_path), "loss", LOSS_POINTS)
    gold, probabilities = _random_predictions(2, 20)
    paths = reports.write_eval_reports(str(tmp_path), ["0", "1"], gold, probabilities)
    os.remove(paths["confusion_matrix_png"])

    assert reports.main(["--output_dir", str(tmp_path)]) == 0
    printed = capsys.readouterr().out.split()
    assert printed == [str(tmp_path / reports.TRAINING_LOSS_PNG), paths["confusion_matrix_png"]]
    for path in printed:
        _assert_valid_png(path)


def test_cli_missing_dir_fails(tmp_path, capsys):
    assert reports.main(["--output_dir", str(tmp_path / "absent")]) == 1
    assert re.search("no such directory", capsys.readouterr().err)
