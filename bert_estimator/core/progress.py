"""One progress line format for long work: done/total, examples/sec and an ETA.

    Writing train.tf_record: 4096/10605 examples (5210 examples/sec, ETA 1s)
    train step 120/251 (48%), 31.0 examples/sec, loss 0.4127, ETA 1m05s

`Progress` reports data preparation (any loop over examples); `ProgressHook` reports
training steps from inside `Estimator.train`. Both log at most every `every_seconds`.
"""

from __future__ import annotations

import time
from typing import Optional

import tensorflow.compat.v1 as tf

from bert_estimator.core import console

# The graph collection of the training loss that `ProgressHook` reports.
TRAIN_LOSS = "progress_train_loss"


def format_duration(seconds: float) -> str:
    """`45s`, `1m05s`, `2h03m`; `?` when unknown (infinite)."""
    if seconds != seconds or seconds == float("inf"):
        return "?"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def eta(done: float, total: float, rate: float) -> str:
    """The formatted time left to reach `total` at `rate` units per second."""
    return format_duration((total - done) / rate if rate > 0 else float("inf"))


class Progress:
    """Logs `done/total` examples, examples/sec and an ETA at most every `every_seconds`."""

    def __init__(self, what: str, total: Optional[int], every_seconds: float = 5.0):
        self.what, self.total, self.every = what, total, every_seconds
        self.start = self.last = time.time()

    def update(self, done: int, force: bool = False) -> None:
        now = time.time()
        if not force and now - self.last < self.every:
            return
        self.last = now
        rate = done / max(now - self.start, 1e-9)
        if self.total:
            console.show("%s: %d/%d examples (%.0f examples/sec, ETA %s)",
                         self.what, done, self.total, rate, eta(done, self.total, rate))
        else:
            console.show("%s: %d examples (%.0f examples/sec)", self.what, done, rate)


class ProgressHook(tf.train.SessionRunHook):
    """Logs the step, examples/sec, the training loss and the ETA every `every_seconds`
    during training. The loss is the mean of the tensors in the graph collection
    `TRAIN_LOSS` (the model_fn adds its loss there); with none, the line has no loss."""

    def __init__(self, num_train_steps: int, batch_size: int, every_seconds: float = 10.0,
                 runs_per_step: int = 1):
        self.num_train_steps = num_train_steps
        self.batch_size = batch_size  # examples per global step (all micro-batches)
        self.every_seconds = every_seconds
        self.runs_per_step = runs_per_step  # session runs per global step (accumulation)

    def begin(self):
        self._global_step = tf.train.get_global_step()
        losses = tf.get_collection(TRAIN_LOSS)
        self._loss = tf.reduce_mean(tf.stack([tf.cast(loss, tf.float32) for loss in losses])) if losses else None

    def after_create_session(self, session, coord):
        self._start_step = self._last_step = session.run(self._global_step)
        self._start_time = self._last_time = time.time()
        self._runs = 0

    def _due(self, step: int) -> bool:
        """Whether a line is due after the step `step` completes."""
        return time.time() - self._last_time >= self.every_seconds or step >= self.num_train_steps

    def before_run(self, run_context):
        # The loss of every completed step (a scalar the step computes anyway; the
        # Estimator fetches it each step too): whether a line is due is known only after.
        if self._loss is None or (self._runs + 1) % self.runs_per_step:
            return None
        return tf.train.SessionRunArgs(self._loss)

    def after_run(self, run_context, run_values):
        self._runs += 1
        if self._runs % self.runs_per_step:
            return  # in the middle of an accumulated update
        step = self._start_step + self._runs // self.runs_per_step  # the step just completed
        if not self._due(step):
            return
        now = time.time()
        rate = (step - self._last_step) * self.batch_size / max(now - self._last_time, 1e-9)
        steps_per_second = (step - self._start_step) / max(now - self._start_time, 1e-9)
        loss = "" if run_values.results is None else f", loss {run_values.results:.4f}"
        console.show("train step %d/%d (%.0f%%), %.1f examples/sec%s, ETA %s",
                     step, self.num_train_steps, 100.0 * step / self.num_train_steps, rate, loss,
                     eta(step, self.num_train_steps, steps_per_second))
        self._last_step, self._last_time = step, now
