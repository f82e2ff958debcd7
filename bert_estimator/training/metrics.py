"""Streaming eval metrics for `run_classifier`, weighted by `is_real_example`.

Every metric is a `(value, update_op)` pair as `tf.compat.v1.metrics` returns, so they
accumulate over all eval batches and work inside `TPUEstimatorSpec(eval_metrics=...)`
(the metric function runs on the host CPU there). Padding examples added for TPUs carry
weight 0 and never count.

* all classification tasks: `eval_accuracy`, `eval_loss` (the original's two);
* two-class tasks add `precision`, `recall`, `f1`, `auc` (ROC, from the probability of
  class 1, not from hard labels), `true_positives`, `true_negatives`,
  `false_positives`, `false_negatives` and `mcc` (Matthews correlation, GLUE's CoLA
  metric); class 1 is the positive class (label_list[1]);
* regression (STS-B, csv with --problem_type=regression): `eval_loss` (the mean squared
  error, as the loss), `mse` (the same, computed from the predictions and labels:
  the name a user looks for), `pearson`, `spearman`;
* multi-label classification (`multi_label_metrics`): a label is predicted when its
  probability is at least its threshold (0.5): `micro_precision`, `micro_recall`,
  `micro_f1` (over all example-label pairs), `macro_f1` (the mean of the labels' F1),
  `hamming_loss` (the share of example-label pairs predicted wrong), `subset_accuracy`
  (examples whose whole label set is right), `eval_loss`, and per label
  `precision_<label>`, `recall_<label>`, `f1_<label>` and the exact ROC AUC
  `auc_<label>` (from the probabilities; NaN when the label has no positive or no
  negative example). A ratio with a zero denominator is 0, as scikit-learn's
  `zero_division` default gives.
"""

from __future__ import annotations

import re

import tensorflow.compat.v1 as tf

from bert_estimator.results import output_files

# Enough thresholds that the streaming ROC AUC matches the exact one to ~1e-3.
AUC_THRESHOLDS = 2000


def _safe_div(numerator, denominator):
    return tf.math.divide_no_nan(tf.cast(numerator, tf.float64), tf.cast(denominator, tf.float64))


def _derived(value, *metric_pairs):
    """A metric computed from others: `value` with the update ops of its inputs."""
    return value, tf.group(*[update for _, update in metric_pairs])


def classification_metrics(per_example_loss, label_ids, logits, is_real_example, num_labels):
    """Returns the metric dict for a classification head.

    Args:
      per_example_loss: float32 Tensor of shape [batch_size].
      label_ids: int32 Tensor of shape [batch_size].
      logits: float32 Tensor of shape [batch_size, num_labels].
      is_real_example: float32 Tensor of shape [batch_size], 1.0 or 0.0.
      num_labels: int.
    """
    predictions = tf.argmax(logits, axis=-1, output_type=tf.int32)
    metrics = {
        "eval_accuracy": tf.metrics.accuracy(labels=label_ids, predictions=predictions,
                                             weights=is_real_example),
        "eval_loss": tf.metrics.mean(values=per_example_loss, weights=is_real_example),
    }
    if num_labels != 2:
        return metrics

    labels_bool = tf.equal(label_ids, 1)
    preds_bool = tf.equal(predictions, 1)
    counts = {
        "true_positives": tf.metrics.true_positives(labels_bool, preds_bool, weights=is_real_example),
        "true_negatives": tf.metrics.true_negatives(labels_bool, preds_bool, weights=is_real_example),
        "false_positives": tf.metrics.false_positives(labels_bool, preds_bool, weights=is_real_example),
        "false_negatives": tf.metrics.false_negatives(labels_bool, preds_bool, weights=is_real_example),
    }
    tp, tn, fp, fn = (tf.cast(counts[k][0], tf.float64) for k in
                      ("true_positives", "true_negatives", "false_positives", "false_negatives"))
    precision = _safe_div(tp, tp + fp)
    recall = _safe_div(tp, tp + fn)
    f1 = _safe_div(2.0 * precision * recall, precision + recall)
    mcc = _safe_div(tp * tn - fp * fn, tf.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn)))
    all_counts = list(counts.values())

    positive_probability = tf.nn.softmax(logits, axis=-1)[:, 1]
    metrics.update(counts)
    metrics.update({
        "precision": _derived(tf.cast(precision, tf.float32), *all_counts),
        "recall": _derived(tf.cast(recall, tf.float32), *all_counts),
        "f1": _derived(tf.cast(f1, tf.float32), *all_counts),
        "mcc": _derived(tf.cast(mcc, tf.float32), *all_counts),
        "auc": tf.metrics.auc(labels=labels_bool, predictions=positive_probability,
                              weights=is_real_example, num_thresholds=AUC_THRESHOLDS,
                              summation_method="careful_interpolation"),
    })
    return metrics


def _streaming_concat(values, name):
    """Accumulates a [batch, ...] tensor (e.g. [batch] or [batch, num_labels]) over all
    eval batches into a growing local variable."""
    with tf.variable_scope(None, default_name=name):
        row_shape = values.shape[1:].as_list()
        # shape [None, ...]: the variable grows by one batch per update.
        store = tf.Variable(
            tf.zeros([0, *row_shape], dtype=values.dtype), shape=tf.TensorShape([None, *row_shape]), name="values",
            trainable=False, collections=[tf.GraphKeys.LOCAL_VARIABLES, tf.GraphKeys.METRIC_VARIABLES])
        update = store.assign(tf.concat([store, values], axis=0))
    return store.read_value(), update


def _pearson(x, y):
    x = x - tf.reduce_mean(x)
    y = y - tf.reduce_mean(y)
    return _safe_div(tf.reduce_sum(x * y), tf.sqrt(tf.reduce_sum(x * x) * tf.reduce_sum(y * y)))


def _average_ranks(x):
    """Ranks of x (1-based), ties given their average rank, as scipy's rankdata."""
    order = tf.argsort(x, stable=True)
    sorted_x = tf.gather(x, order)
    n = tf.shape(x)[0]
    # Group equal values: each run of ties gets the mean of its positions.
    new_group = tf.concat([[True], tf.not_equal(sorted_x[1:], sorted_x[:-1])], axis=0)
    group_id = tf.cumsum(tf.cast(new_group, tf.int32)) - 1
    positions = tf.cast(tf.range(1, n + 1), tf.float64)
    num_groups = tf.reduce_max(group_id) + 1
    mean_pos = tf.math.unsorted_segment_mean(positions, group_id, num_groups)
    sorted_ranks = tf.gather(mean_pos, group_id)
    return tf.scatter_nd(tf.expand_dims(order, 1), sorted_ranks, [n])


def regression_metrics(per_example_loss, labels, predictions, is_real_example):
    """Returns the metric dict for a one-output regression head (STS-B, csv regression).

    Args:
      per_example_loss: float32 Tensor of shape [batch_size], squared errors.
      labels: float32 Tensor of shape [batch_size].
      predictions: float32 Tensor of shape [batch_size].
      is_real_example: float32 Tensor of shape [batch_size].
    """
    real = tf.greater(is_real_example, 0.0)
    labels_real = tf.cast(tf.boolean_mask(labels, real), tf.float64)
    preds_real = tf.cast(tf.boolean_mask(predictions, real), tf.float64)
    all_labels, update_labels = _streaming_concat(labels_real, "all_labels")
    all_preds, update_preds = _streaming_concat(preds_real, "all_predictions")
    updates = tf.group(update_labels, update_preds)
    return {
        "eval_loss": tf.metrics.mean(values=per_example_loss, weights=is_real_example),
        "mse": tf.metrics.mean_squared_error(labels=tf.cast(labels, tf.float32), predictions=predictions,
                                            weights=is_real_example),
        "pearson": (tf.cast(_pearson(all_preds, all_labels), tf.float32), updates),
        "spearman": (tf.cast(_pearson(_average_ranks(all_preds), _average_ranks(all_labels)),
                             tf.float32), updates),
    }


def metric_label(label: str) -> str:
    """`label` as it appears in metric names (`f1_<label>`): characters other than
    letters, digits, `-`, `.` and `_` become `_` (TensorBoard tags, `key = value` lines)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", str(label))


def per_label_metric_names(label_list) -> list[str]:
    """The per-label names of `multi_label_metrics` (`f1_<label>`...), in label order."""
    return [f"{kind}_{metric_label(label)}" for label in label_list for kind in ("auc", "f1", "precision", "recall")]


def multi_label_metric_names(label_list) -> list[str]:
    """The names `multi_label_metrics` returns for `label_list`, sorted."""
    names = ["eval_loss", "hamming_loss", "macro_f1", "micro_f1", "micro_precision", "micro_recall",
             "subset_accuracy"]
    return sorted(names + per_label_metric_names(label_list))


def _streaming_sum(values, name):
    """Sums a [num_labels] tensor over all eval batches (a local variable, as tf.metrics)."""
    with tf.variable_scope(None, default_name=name):
        total = tf.Variable(tf.zeros_like(values), name="total", trainable=False,
                            collections=[tf.GraphKeys.LOCAL_VARIABLES, tf.GraphKeys.METRIC_VARIABLES])
        update = total.assign_add(values)
    return total.read_value(), update


def _roc_auc(scores, labels):
    """Exact ROC AUC of one label: the Mann-Whitney U statistic from average ranks (ties
    count one half, as scikit-learn's roc_auc_score); NaN without positives or negatives.

    Args:
      scores: float64 Tensor of shape [N].
      labels: float64 Tensor of shape [N], 0 or 1.
    """
    ranks = _average_ranks(scores)  # [N]
    positives = tf.reduce_sum(labels)
    negatives = tf.cast(tf.shape(labels)[0], tf.float64) - positives
    u = tf.reduce_sum(ranks * labels) - positives * (positives + 1.0) / 2.0
    defined = tf.logical_and(positives > 0, negatives > 0)
    return tf.where(defined, u / tf.maximum(positives * negatives, 1.0), tf.constant(float("nan"), tf.float64))


def multi_label_metrics(per_example_loss, label_ids, probabilities, is_real_example, label_list,
                        threshold=output_files.DEFAULT_THRESHOLD):
    """Returns the metric dict of a multi-label head (module docstring).

    Args:
      per_example_loss: float32 Tensor of shape [batch_size].
      label_ids: int32 Tensor of shape [batch_size, num_labels], multi-hot.
      probabilities: float32 Tensor of shape [batch_size, num_labels], sigmoid outputs.
      is_real_example: float32 Tensor of shape [batch_size].
      label_list: the labels, in output order (for the per-label names).
      threshold: float, or float Tensor of shape [num_labels]: a label is predicted
        when its probability is at least this.
    """
    # B = batch size, L = number of labels
    weights = tf.cast(tf.expand_dims(is_real_example, 1), tf.float64)  # [B, 1]
    truth = tf.cast(label_ids, tf.float64)  # [B, L]
    predicted = tf.cast(probabilities >= threshold, tf.float64)  # [B, L]
    counts = {}
    for name, value in (("tp", truth * predicted), ("fp", (1 - truth) * predicted),
                        ("fn", truth * (1 - predicted))):
        counts[name] = _streaming_sum(tf.reduce_sum(weights * value, axis=0), f"multi_label_{name}")  # [L]
    (tp, _), (fp, _), (fn, _) = counts["tp"], counts["fp"], counts["fn"]
    examples = _streaming_sum(tf.reduce_sum(weights), "multi_label_examples")
    all_counts = (*counts.values(), examples)

    precision = _safe_div(tp, tp + fp)  # [L]
    recall = _safe_div(tp, tp + fn)
    f1 = _safe_div(2 * tp, 2 * tp + fp + fn)
    micro_tp, micro_fp, micro_fn = tf.reduce_sum(tp), tf.reduce_sum(fp), tf.reduce_sum(fn)
    num_labels = len(label_list)

    real = tf.greater(is_real_example, 0.0)
    all_scores, update_scores = _streaming_concat(
        tf.cast(tf.boolean_mask(probabilities, real), tf.float64), "multi_label_scores")  # [N, L]
    all_truth, update_truth = _streaming_concat(tf.boolean_mask(truth, real), "multi_label_truth")  # [N, L]
    auc_updates = tf.group(update_scores, update_truth)

    def value(tensor, *pairs):
        return _derived(tf.cast(tensor, tf.float32), *pairs)

    exact = tf.cast(tf.reduce_all(tf.equal(truth, predicted), axis=1), tf.float32)  # [B]
    metrics = {
        "eval_loss": tf.metrics.mean(values=per_example_loss, weights=is_real_example),
        "subset_accuracy": tf.metrics.mean(values=exact, weights=is_real_example),
        "micro_precision": value(_safe_div(micro_tp, micro_tp + micro_fp), *all_counts),
        "micro_recall": value(_safe_div(micro_tp, micro_tp + micro_fn), *all_counts),
        "micro_f1": value(_safe_div(2 * micro_tp, 2 * micro_tp + micro_fp + micro_fn), *all_counts),
        "macro_f1": value(tf.reduce_mean(f1), *all_counts),
        "hamming_loss": value(_safe_div(micro_fp + micro_fn, examples[0] * num_labels), *all_counts),
    }
    for i, label in enumerate(label_list):
        name = metric_label(label)
        metrics[f"precision_{name}"] = value(precision[i], *all_counts)
        metrics[f"recall_{name}"] = value(recall[i], *all_counts)
        metrics[f"f1_{name}"] = value(f1[i], *all_counts)
        metrics[f"auc_{name}"] = (tf.cast(_roc_auc(all_scores[:, i], all_truth[:, i]), tf.float32), auc_updates)
    return metrics
