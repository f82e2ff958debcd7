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
  the name a user looks for), `pearson`, `spearman`.
"""

from __future__ import annotations

import tensorflow.compat.v1 as tf

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
    """Accumulates a [batch] tensor over all eval batches into a growing local variable."""
    with tf.variable_scope(None, default_name=name):
        # shape [None]: the variable grows by one batch per update.
        store = tf.Variable(
            tf.zeros([0], dtype=values.dtype), shape=tf.TensorShape([None]), name="values",
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
