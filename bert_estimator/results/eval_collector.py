"""The evaluation's per-example probabilities, collected in its own session runs.

`run_classifier.py --do_eval` writes reports with one row per dev example
(`reports.write_eval_reports`); fetching the probabilities while `estimator.evaluate`
runs saves a second, prediction pass over the dev set.
"""

from __future__ import annotations

import tensorflow.compat.v1 as tf

# The graph collection where `run_classifier.model_fn_builder`'s EVAL graph puts its
# [batch, num_labels] probabilities, for `ProbabilitiesCollector`.
EVAL_PROBABILITIES = "bert_estimator_eval_probabilities"


class ProbabilitiesCollector(tf.train.SessionRunHook):
    """An `estimator.evaluate` hook keeping the probabilities of every evaluated batch.

    The reports need one row of probabilities per dev example; fetching them in the
    evaluation's own session runs saves a second (prediction) pass over the dev set. It
    works when the EVAL graph put exactly one tensor into the `EVAL_PROBABILITIES`
    collection (off TPU; evaluation runs on one device under a `tf.distribute` strategy too);
    otherwise (say, evaluation replicated on several devices) it collects nothing and
    `rows` returns None. On TPU it is not used: the evaluation loop runs on the device.
    """

    def __init__(self):
        self._tensor = None
        self._batches = []

    def begin(self):
        tensors = tf.get_collection(EVAL_PROBABILITIES)
        self._tensor = tensors[0] if len(tensors) == 1 else None
        self._batches = []

    def before_run(self, run_context):
        return tf.train.SessionRunArgs(self._tensor) if self._tensor is not None else None

    def after_run(self, run_context, run_values):
        if self._tensor is not None:
            self._batches.append(run_values.results)

    def rows(self, num_examples: int) -> list | None:
        """The first `num_examples` rows in input order, or None when none (or fewer) were
        collected."""
        if self._tensor is None:
            return None
        rows = [row for batch in self._batches for row in batch]
        return rows[:num_examples] if len(rows) >= num_examples else None
