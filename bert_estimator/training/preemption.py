"""Preemption-safe training: SIGTERM or SIGINT saves a checkpoint at the current step.

Preemptible cloud VMs and Cloud TPUs send SIGTERM before they stop a machine; Ctrl-C
sends SIGINT. During training, `PreemptionHook` catches either, lets the step in
flight finish (a whole update, with gradient accumulation), and stops training. The
Estimator's checkpoint saver then writes a checkpoint of that step as training ends,
so nothing since the last periodic checkpoint is lost, and `train` raises
`Preempted`: one line naming the step, exit status 128 + the signal's number.
Rerunning the same command resumes from that step. A second signal is not caught.
"""

from __future__ import annotations

import signal
import threading

import tensorflow.compat.v1 as tf

from bert_estimator.core.errors import UserError

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Preempted(UserError):
    """Training stopped on a signal after saving a checkpoint."""

    def __init__(self, message: str, signum: int):
        super().__init__(message)
        self.exit_code = 128 + signum


class PreemptionHook(tf.train.SessionRunHook):
    """Stops training at the next step boundary after SIGTERM or SIGINT."""

    def __init__(self, runs_per_step: int = 1):
        self.runs_per_step = runs_per_step  # session runs per global step (accumulation)
        self.signum = None
        self.step = None
        self._previous = {}

    def begin(self):
        self._global_step = tf.train.get_global_step()
        if threading.current_thread() is threading.main_thread():
            self._previous = {s: signal.signal(s, self._on_signal) for s in SIGNALS}
        self._runs = 0

    def _on_signal(self, signum, frame):
        self.signum = signum
        self.restore_handlers()  # a second signal acts at once
        tf.logging.warning("%s received: stopping after this step and saving a checkpoint",
                           signal.Signals(signum).name)

    def after_run(self, run_context, run_values):
        self._runs += 1
        if self.signum is not None and self._runs % self.runs_per_step == 0:
            run_context.request_stop()

    def end(self, session):
        self.restore_handlers()
        if self.signum is not None:
            self.step = int(session.run(self._global_step))

    def restore_handlers(self):
        """Puts back the handlers `begin` replaced. `end` calls it; so must the caller
        of `train` when training raises, because then no hook's `end` runs."""
        for s, handler in self._previous.items():
            signal.signal(s, handler)
        self._previous = {}

    def raise_if_preempted(self, output_dir: str) -> None:
        """Raises `Preempted` when training was stopped by a signal."""
        if self.signum is None:
            return
        raise Preempted(f"training stopped by {signal.Signals(self.signum).name} at step {self.step}; its "
                        f"checkpoint is saved in {output_dir}: rerun the same command to resume from step "
                        f"{self.step}", self.signum)
