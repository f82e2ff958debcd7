"""Evaluation during training: every N steps and/or at each epoch's end, a history,
the best checkpoint, and early stopping.

The trainer saves a checkpoint at each evaluation point (besides the periodic ones),
and a checkpoint listener evaluates it on the dev set, in the same process, while
training waits: the training session, its input pipeline and its random state go on
untouched, so the training trajectory is the one without evaluation. Each evaluation

* goes to TensorBoard, in the `eval` subdirectory of the model dir (Estimator's own);
* adds a row to `eval_history.tsv` (`step`, then every metric);
* when it improves `--best_metric`, copies that checkpoint's weights (without the
  optimizer's state: nothing resumes training from there) to `best/` (with its
  `eval_results.txt`), where `keep_checkpoint_max` never deletes it;
* counts toward early stopping: after `patience` evaluations in a row without
  improvement, training stops (at a saved checkpoint).
"""

from __future__ import annotations

import math
import os
from typing import Callable, Optional, Sequence

import tensorflow.compat.v1 as tf

from bert_estimator.core import console
from bert_estimator.core.errors import UsageError
from bert_estimator.core.fileio import write_atomically
from bert_estimator.results import output_files
from bert_estimator.training import checkpoint_pruning, metrics

HISTORY = "eval_history.tsv"
BEST_DIR = checkpoint_pruning.BEST_DIR  # best/: defined there, which this module imports
PEARSON_SPEARMAN_MEAN = "pearson_spearman_mean"
# The task's main metric, as GLUE reports it; accuracy for the others.
MAIN_METRICS = {"mrpc": "f1", "qqp": "f1", "cola": "mcc", "sts-b": PEARSON_SPEARMAN_MEAN}
LOWER_IS_BETTER = ("eval_loss", "loss", "mse", "hamming_loss")


def main_metric(task_name: str, is_regression: bool, is_multi_label: bool = False) -> str:
    if is_multi_label:
        return "micro_f1"
    if is_regression:
        return MAIN_METRICS.get(task_name.lower(), PEARSON_SPEARMAN_MEAN)
    return MAIN_METRICS.get(task_name.lower(), "eval_accuracy")


def metric_names(num_labels: int, is_regression: bool, multi_labels: Optional[Sequence[str]] = None) -> list[str]:
    """The metrics an evaluation reports (see `metrics.py`), plus derived ones;
    `multi_labels`: the label list of a multi-label task."""
    if multi_labels is not None:
        return [*metrics.multi_label_metric_names(multi_labels), "loss"]
    if is_regression:
        return ["eval_loss", "loss", "mse", "pearson", "spearman", PEARSON_SPEARMAN_MEAN]
    names = ["eval_accuracy", "eval_loss", "loss"]
    if num_labels == 2:
        names += ["precision", "recall", "f1", "mcc", "auc"]
    return names


def check_best_metric(best_metric: str, task_name: str, num_labels: int, is_regression: bool,
                      multi_labels: Optional[Sequence[str]] = None) -> None:
    known = metric_names(num_labels, is_regression, multi_labels)
    if best_metric not in known:
        raise UsageError(f"--best_metric {best_metric!r} is not a metric of task {task_name!r}; "
                         f"it reports: {', '.join(known)}")


def evaluation_steps(num_train_steps: int, every_n_steps: int, steps_per_epoch: Optional[int]) -> set[int]:
    """The global steps at which to evaluate (the last step is left to --do_eval)."""
    steps = set()
    if every_n_steps:
        steps.update(range(every_n_steps, num_train_steps, every_n_steps))
    if steps_per_epoch:
        steps.update(range(steps_per_epoch, num_train_steps, steps_per_epoch))
    return steps


class EvaluationTracker:
    """Records evaluations: the history file, the best checkpoint, early stopping."""

    def __init__(self, model_dir: str, best_metric: str, patience: int = 0):
        self.model_dir = model_dir
        self.best_metric = best_metric
        self.patience = patience
        self.lower_is_better = best_metric in LOWER_IS_BETTER
        self.history = _read_history(os.path.join(model_dir, HISTORY))
        self.best_value = self._best_in(self.history)
        self.evaluations_without_improvement = 0

    def _best_in(self, rows: list[dict]) -> Optional[float]:
        values = [row[self.best_metric] for row in rows if self.best_metric in row]
        if not values:
            return None
        return min(values) if self.lower_is_better else max(values)

    def _improves(self, value: float) -> bool:
        if math.isnan(value):
            return False
        if self.best_value is None:
            return True
        return value < self.best_value if self.lower_is_better else value > self.best_value

    def record(self, step: int, result: dict, checkpoint_path: str) -> bool:
        """Adds an evaluation; returns True when early stopping asks training to stop."""
        result = with_derived_metrics(result)
        row = {"step": int(step), **{k: float(v) for k, v in result.items() if k != "global_step"}}
        self.history = [r for r in self.history if r["step"] != row["step"]] + [row]
        _write_history(os.path.join(self.model_dir, HISTORY), self.history)
        value = row[self.best_metric]
        if self._improves(value):
            self.best_value = value
            self.evaluations_without_improvement = 0
            copy_checkpoint(checkpoint_path, os.path.join(self.model_dir, BEST_DIR))
            output_files.write_eval_results(os.path.join(self.model_dir, BEST_DIR), result, checkpoint_path)
            console.show("New best %s = %s at step %d: checkpoint kept in %s", self.best_metric, value, step,
                         os.path.join(self.model_dir, BEST_DIR))
            return False
        self.evaluations_without_improvement += 1
        if self.patience and self.evaluations_without_improvement >= self.patience:
            console.show("Early stopping at step %d: %s has not improved on %s for %d evaluations", step,
                         self.best_metric, self.best_value, self.patience)
            return True
        return False


def with_derived_metrics(result: dict) -> dict:
    """`result` plus the mean of Pearson and Spearman correlations when both are there."""
    if "pearson" in result and "spearman" in result:
        return dict(result, **{PEARSON_SPEARMAN_MEAN: (float(result["pearson"]) + float(result["spearman"])) / 2})
    return dict(result)


class EvaluateOnSaveListener(tf.train.CheckpointSaverListener):
    """Evaluates the checkpoints saved at the evaluation steps, and stops training when
    the tracker says so."""

    def __init__(self, evaluate: Callable[[str], dict], eval_steps: set[int], tracker: EvaluationTracker,
                 model_dir: str):
        self.evaluate = evaluate  # checkpoint path -> metrics
        self.eval_steps = eval_steps
        self.tracker = tracker
        self.model_dir = model_dir

    def after_save(self, session, global_step_value):
        if global_step_value not in self.eval_steps:
            return False
        checkpoint_path = os.path.join(self.model_dir, f"model.ckpt-{global_step_value}")
        tf.logging.info("***** Evaluating step %d during training *****", global_step_value)
        return self.tracker.record(global_step_value, self.evaluate(checkpoint_path), checkpoint_path)


class _EvaluationPointTimer(tf.train.SecondOrStepTimer):
    """Triggers every `every_steps` steps as the saver's own timer does, and at each
    evaluation step too."""

    def __init__(self, every_steps: int, eval_steps: set[int]):
        super().__init__(every_steps=every_steps)
        self.eval_steps = eval_steps

    def should_trigger_for_step(self, step):
        if step in self.eval_steps and step != self.last_triggered_step():
            return True
        return super().should_trigger_for_step(step)


def evaluating_saver_hook(model_dir: str, save_checkpoints_steps: int, listener: EvaluateOnSaveListener):
    """The checkpoint saver of training (it replaces Estimator's default one), saving
    at the periodic steps and at the evaluation steps, with `listener` attached."""
    hook = tf.train.CheckpointSaverHook(model_dir, save_steps=save_checkpoints_steps, listeners=[listener])
    hook._timer = _EvaluationPointTimer(save_checkpoints_steps, listener.eval_steps)  # noqa: SLF001
    return hook


def copy_checkpoint(checkpoint_path: str, target_dir: str) -> str:
    """Copies the weights of `checkpoint_path`, without the optimizer's state, into
    `target_dir` (replacing the previous checkpoint there) and points
    `target_dir/checkpoint` at it; returns the new path. Nothing resumes training from
    best/ (a resume reads the latest checkpoint of the model dir), so its Adam moments,
    two thirds of a checkpoint, are left out (`checkpoint_pruning.write_weights_only`)."""
    return checkpoint_pruning.write_weights_only(checkpoint_path, target_dir)


def best_checkpoint(model_dir: str) -> Optional[str]:
    """The checkpoint kept in `model_dir/best/`, or None."""
    return tf.train.latest_checkpoint(os.path.join(model_dir, BEST_DIR))


def _read_history(path: str) -> list[dict]:
    if not tf.io.gfile.exists(path):
        return []
    with tf.io.gfile.GFile(path) as f:
        lines = f.read().splitlines()
    header = lines[0].split("\t")
    return [{k: (int(v) if k == "step" else float(v)) for k, v in zip(header, line.split("\t"))}
            for line in lines[1:] if line]


def _write_history(path: str, rows: list[dict]) -> None:
    keys = sorted({k for row in rows for k in row if k != "step"})
    lines = ["\t".join(["step", *keys])]
    for row in sorted(rows, key=lambda r: r["step"]):
        lines.append("\t".join([str(row["step"]), *(repr(row.get(k, float("nan"))) for k in keys)]))
    write_atomically(path, "\n".join(lines) + "\n")
