"""One progress line format for long work: done/total, examples/sec and an ETA.

    Writing train.tf_record: 4096/10605 examples (5210 examples/sec, ETA 1s)
    train step 120/251 (48%), 31.0 examples/sec, ETA 1m05s

`Progress` reports data preparation (any loop over examples); `ProgressHook` reports
training steps from inside `Estimator.train`. Both log at most every `every_seconds`.
"""

from __future__ import annotations

import time
from typing import Optional

import tensorflow.compat.v1 as tf


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
            tf.logging.info("%s: %d/%d examples (%.0f examples/sec, ETA %s)",
                            self.what, done, self.total, rate, eta(done, self.total, rate))
        else:
            tf.logging.info("%s: %d examples (%.0f examples/sec)", self.what, done, rate)


class ProgressHook(tf.train.SessionRunHook):
    """Logs the step, examples/sec and ETA every `every_seconds` during training."""

    def __init__(self, num_train_steps: int, batch_size: int, every_seconds: float = 10.0,
                 runs_per_step: int = 1):
        self.num_train_steps = num_train_steps
        self.batch_size = batch_size  # examples per global step (all micro-batches)
        self.every_seconds = every_seconds
        self.runs_per_step = runs_per_step  # session runs per global step (accumulation)

    def begin(self):
        self._global_step = tf.train.get_global_step()

    def after_create_session(self, session, coord):
        self._start_step = self._last_step = session.run(self._global_step)
        self._start_time = self._last_time = time.time()
        self._runs = 0

    def after_run(self, run_context, run_values):
        self._runs += 1
        if self._runs % self.runs_per_step:
            return  # in the middle of an accumulated update
        step = self._start_step + self._runs // self.runs_per_step  # the step just completed
        now = time.time()
        if now - self._last_time < self.every_seconds and step < self.num_train_steps:
            return
        rate = (step - self._last_step) * self.batch_size / max(now - self._last_time, 1e-9)
        steps_per_second = (step - self._start_step) / max(now - self._start_time, 1e-9)
        tf.logging.info("train step %d/%d (%.0f%%), %.1f examples/sec, ETA %s",
                        step, self.num_train_steps, 100.0 * step / self.num_train_steps, rate,
                        eta(step, self.num_train_steps, steps_per_second))
        self._last_step, self._last_time = step, now
