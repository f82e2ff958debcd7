"""Streaming eval metrics against scikit-learn and SciPy on the same predictions."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import scipy.stats
import tensorflow.compat.v1 as tf
from sklearn import metrics as skm

from bert_estimator.training import metrics as classifier_metrics


def _run_streaming(build, batches):
    """Feeds `batches` (lists of numpy arrays) through the metric ops; returns values."""
    with tf.Graph().as_default():
        placeholders = [tf.placeholder(tf.as_dtype(a.dtype), [None, *a.shape[1:]]) for a in batches[0]]
        metric_ops = build(*placeholders)
        with tf.Session() as sess:
            sess.run(tf.local_variables_initializer())
            updates = [update for _, update in metric_ops.values()]
            for batch in batches:
                sess.run(updates, dict(zip(placeholders, batch)))
            return sess.run({name: value for name, (value, _) in metric_ops.items()})


binary = functools.partial(classifier_metrics.classification_metrics, num_labels=2)


def _batches(arrays, size):
    n = len(arrays[0])
    return [[a[i:i + size] for a in arrays] for i in range(0, n, size)]


def test_binary_metrics_match_sklearn():
    rng = np.random.RandomState(0)
    n, n_pad = 203, 5
    labels = rng.randint(0, 2, n).astype(np.int32)
    logits = (rng.randn(n, 2) + np.stack([1 - labels, labels], 1) * 0.8).astype(np.float32)
    loss = rng.rand(n).astype(np.float32)
    # TPU-style padding: extra rows with weight 0 and garbage values must not count.
    labels_p = np.concatenate([labels, np.ones(n_pad, np.int32)])
    logits_p = np.concatenate([logits, np.full((n_pad, 2), [0.0, 9.0], np.float32)])
    loss_p = np.concatenate([loss, np.full(n_pad, 100.0, np.float32)])
    real = np.concatenate([np.ones(n), np.zeros(n_pad)]).astype(np.float32)

    got = _run_streaming(
        binary,
        _batches([loss_p, labels_p, logits_p, real], 16))

    pred = logits.argmax(-1)
    prob = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    tn, fp, fn, tp = skm.confusion_matrix(labels, pred).ravel()
    assert got["eval_accuracy"] == pytest.approx(skm.accuracy_score(labels, pred), abs=1e-6)
    assert got["eval_loss"] == pytest.approx(loss.mean(), abs=1e-5)
    assert got["precision"] == pytest.approx(skm.precision_score(labels, pred), abs=1e-6)
    assert got["recall"] == pytest.approx(skm.recall_score(labels, pred), abs=1e-6)
    assert got["f1"] == pytest.approx(skm.f1_score(labels, pred), abs=1e-6)
    assert got["mcc"] == pytest.approx(skm.matthews_corrcoef(labels, pred), abs=1e-6)
    assert (got["true_positives"], got["true_negatives"], got["false_positives"], got["false_negatives"]) == (
        tp, tn, fp, fn)
    # AUC from probabilities, not hard labels: differs from the hard-label AUC here.
    exact_auc = skm.roc_auc_score(labels, prob[:, 1])
    assert got["auc"] == pytest.approx(exact_auc, abs=2e-3)
    assert abs(skm.roc_auc_score(labels, pred) - exact_auc) > 0.02


def test_multiclass_has_accuracy_and_loss_only():
    rng = np.random.RandomState(1)
    labels = rng.randint(0, 3, 50).astype(np.int32)
    logits = rng.randn(50, 3).astype(np.float32)
    loss = rng.rand(50).astype(np.float32)
    got = _run_streaming(
        functools.partial(classifier_metrics.classification_metrics, num_labels=3),
        _batches([loss, labels, logits, np.ones(50, np.float32)], 8))
    assert set(got) == {"eval_accuracy", "eval_loss"}
    assert got["eval_accuracy"] == pytest.approx(skm.accuracy_score(labels, logits.argmax(-1)))


def test_degenerate_binary_counts_give_zero_not_nan():
    labels = np.zeros(6, np.int32)
    logits = np.tile(np.float32([[2.0, 0.0]]), (6, 1))
    got = _run_streaming(
        binary,
        _batches([np.zeros(6, np.float32), labels, logits, np.ones(6, np.float32)], 4))
    assert got["precision"] == 0 and got["recall"] == 0 and got["f1"] == 0 and got["mcc"] == 0


def test_regression_metrics_match_scipy():
    rng = np.random.RandomState(2)
    n = 97
    labels = np.round(rng.rand(n) * 5, 1).astype(np.float32)  # ties, as STS-B scores have
    preds = (labels + rng.randn(n)).astype(np.float32)
    preds[:10] = preds[10]  # ties in the predictions too
    labels_p = np.concatenate([labels, np.float32([9, 9, 9])])
    preds_p = np.concatenate([preds, np.float32([-9, -9, -9])])
    real = np.concatenate([np.ones(n), np.zeros(3)]).astype(np.float32)
    loss_p = (preds_p - labels_p) ** 2
    got = _run_streaming(classifier_metrics.regression_metrics, _batches([loss_p, labels_p, preds_p, real], 10))
    assert got["pearson"] == pytest.approx(scipy.stats.pearsonr(preds, labels)[0], abs=1e-5)
    assert got["spearman"] == pytest.approx(scipy.stats.spearmanr(preds, labels)[0], abs=1e-5)
    assert got["eval_loss"] == pytest.approx(np.mean((preds - labels) ** 2), rel=1e-5)
    assert got["mse"] == pytest.approx(np.mean((preds - labels) ** 2), rel=1e-5)


# ------------------------------------------------------------------------ multi-label
LABELS = ["sports", "politics", "tech news", "art"]  # "tech news": a name the metric names sanitize


def _multi_label_data(seed=1, n=157, n_pad=3):
    rng = np.random.RandomState(seed)
    truth = (rng.rand(n, len(LABELS)) < [0.5, 0.3, 0.1, 0.6]).astype(np.int32)
    truth[:, 3] = 1  # ... but one example without the label, below: AUC still defined
    truth[5, 3] = 0
    # probabilities that carry signal, with ties (rounded) to test the AUC's tie handling
    probs = np.clip(0.5 * truth + 0.5 * rng.rand(n, len(LABELS)), 0, 1).round(2).astype(np.float32)
    loss = rng.rand(n).astype(np.float32)
    truth_p = np.concatenate([truth, np.ones((n_pad, len(LABELS)), np.int32)])
    probs_p = np.concatenate([probs, np.full((n_pad, len(LABELS)), 0.9, np.float32)])
    loss_p = np.concatenate([loss, np.full(n_pad, 50.0, np.float32)])
    real = np.concatenate([np.ones(n), np.zeros(n_pad)]).astype(np.float32)
    return truth, probs, loss, [loss_p, truth_p, probs_p, real]


def test_multi_label_metrics_match_sklearn():
    truth, probs, loss, arrays = _multi_label_data()
    build = functools.partial(classifier_metrics.multi_label_metrics, label_list=LABELS)
    got = _run_streaming(build, _batches(arrays, 16))
    pred = (probs >= 0.5).astype(np.int32)

    assert sorted(got) == classifier_metrics.multi_label_metric_names(LABELS)
    assert got["eval_loss"] == pytest.approx(loss.mean(), abs=1e-5)
    assert got["micro_f1"] == pytest.approx(skm.f1_score(truth, pred, average="micro"), abs=1e-6)
    assert got["macro_f1"] == pytest.approx(skm.f1_score(truth, pred, average="macro", zero_division=0), abs=1e-6)
    assert got["micro_precision"] == pytest.approx(skm.precision_score(truth, pred, average="micro"), abs=1e-6)
    assert got["micro_recall"] == pytest.approx(skm.recall_score(truth, pred, average="micro"), abs=1e-6)
    assert got["hamming_loss"] == pytest.approx(skm.hamming_loss(truth, pred), abs=1e-6)
    assert got["subset_accuracy"] == pytest.approx(skm.accuracy_score(truth, pred), abs=1e-6)
    for i, label in enumerate(LABELS):
        name = classifier_metrics.metric_label(label)
        assert got[f"precision_{name}"] == pytest.approx(
            skm.precision_score(truth[:, i], pred[:, i], zero_division=0), abs=1e-6), label
        assert got[f"recall_{name}"] == pytest.approx(skm.recall_score(truth[:, i], pred[:, i]), abs=1e-6), label
        assert got[f"f1_{name}"] == pytest.approx(skm.f1_score(truth[:, i], pred[:, i]), abs=1e-6), label
        # exact, ties included (the probabilities are rounded to 2 decimals)
        assert got[f"auc_{name}"] == pytest.approx(skm.roc_auc_score(truth[:, i], probs[:, i]), abs=1e-6), label
    assert "f1_tech_news" in got


def test_multi_label_metrics_per_label_thresholds_and_degenerate_labels():
    truth, probs, _, arrays = _multi_label_data(seed=2)
    truth[:, 1] = 0  # a label no example carries: AUC undefined, F1 0 (scikit-learn's zero_division)
    arrays[1][: len(truth)] = truth
    thresholds = np.array([0.3, 0.5, 0.7, 0.9], np.float32)
    build = functools.partial(classifier_metrics.multi_label_metrics, label_list=LABELS, threshold=thresholds)
    got = _run_streaming(build, _batches(arrays, 10))
    pred = (probs >= thresholds).astype(np.int32)
    assert got["micro_f1"] == pytest.approx(skm.f1_score(truth, pred, average="micro"), abs=1e-6)
    assert got["macro_f1"] == pytest.approx(skm.f1_score(truth, pred, average="macro", zero_division=0), abs=1e-6)
    assert got["f1_politics"] == 0.0
    assert np.isnan(got["auc_politics"])
