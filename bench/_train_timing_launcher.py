"""Runs a `run_classifier` program with a step timer injected into its training (for
`bench/bench_training.py`).

    python bench/_train_timing_launcher.py {ours,original} TIMING_JSON [program flags ...]

`ours` runs the project's `run_classifier.py`, `original` Google's (bert-tensorflow 1.0.4,
through `python -m tests.support.reference`), each exactly as its own command line would,
as `__main__`, with the flags that follow. Before that, `Estimator.train` (the base class
of TPUEstimator, so every estimator either program makes) is patched to append one more
`SessionRunHook`, the same for both programs. Neither program's code is changed.

The hook records, for each `session.run` of the training loop, `time.perf_counter()` and
the process CPU time right after it, the global step, and the shape [batch, length] of
the `input_ids` batch the run consumed (found in the graph: the first rank-2 integer
output of the input iterator's `IteratorGetNext`; fetched in the same run, so it costs
no extra read). The time origin is the moment the training session exists (graph built,
variables initialised, checkpoint restored). The JSON (written when `train` returns or
fails) has:

    {"program", "argv", "t_train_called", "t_session_created", "step_end_times": [...],
     "cpu_times": [...], "global_steps": [...], "batch_shapes": [[B, L], ...] or null,
     "t_train_returned", "error"}

All times are perf_counter seconds of this process; only differences mean anything.
"""

from __future__ import annotations

import os
import runpy
import sys
import time

if __name__ == "__main__":  # `python bench/NAME.py`: import from the project root
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
from bench import common  # noqa: E402

# program -> how to run it as `__main__`: a script's path, or a module's name (`python -m`)
PROGRAMS = {
    "ours": ("path", os.path.join(common.PROJECT_ROOT, "run_classifier.py")),
    "original": ("module", "tests.support.reference"),  # its run_original_classifier()
}


def install_step_timer(record: dict, timing_file: str) -> None:
    """Patches `Estimator.train` so every training call runs with a `StepTimer` hook."""
    import tensorflow.compat.v1 as tf
    from tensorflow_estimator.python.estimator import estimator as estimator_lib

    class StepTimer(tf.train.SessionRunHook):
        def begin(self):
            self._global_step = tf.train.get_global_step()
            self._shape = None
            for op in tf.get_default_graph().get_operations():
                if op.type not in ("IteratorGetNext", "IteratorGetNextSync"):
                    continue
                for out in op.outputs:
                    if out.dtype.is_integer and out.shape.rank == 2:
                        self._shape = tf.shape(out)
                        break
                if self._shape is not None:
                    break

        def after_create_session(self, session, coord):
            record["t_session_created"] = time.perf_counter()
            record["cpu_session_created"] = common.cpu_seconds()

        def before_run(self, run_context):
            fetches = {"global_step": self._global_step}
            if self._shape is not None:
                fetches["shape"] = self._shape
            return tf.train.SessionRunArgs(fetches)

        def after_run(self, run_context, run_values):
            record["step_end_times"].append(time.perf_counter())
            record["cpu_times"].append(common.cpu_seconds())
            results = run_values.results
            record["global_steps"].append(int(results["global_step"]))
            if "shape" in results:
                record["batch_shapes"].append([int(x) for x in results["shape"]])

    original_train = estimator_lib.Estimator.train

    def train(self, input_fn, hooks=None, steps=None, max_steps=None, saving_listeners=None):
        record.update(t_train_called=time.perf_counter(), step_end_times=[], cpu_times=[],
                      global_steps=[], batch_shapes=[])
        try:
            return original_train(self, input_fn, hooks=list(hooks or []) + [StepTimer()], steps=steps,
                                  max_steps=max_steps, saving_listeners=saving_listeners)
        except BaseException as e:
            record["error"] = f"{type(e).__name__}: {e}"
            raise
        finally:
            record["t_train_returned"] = time.perf_counter()
            if not record["batch_shapes"]:
                record["batch_shapes"] = None
            common.write_json(timing_file, record)

    estimator_lib.Estimator.train = train


def parse_args(argv: list[str]) -> tuple[str, str, list[str]]:
    """(program, timing file, the program's flags) of `argv` (sys.argv); the program's
    flags are its own, so no argparse here."""
    usage = f"usage: {argv[0]} {{{','.join(PROGRAMS)}}} TIMING_JSON [program flags ...]"
    if argv[1:] in (["-h"], ["--help"]):
        print(f"{usage}\n\n{__doc__}")
        sys.exit(0)
    if len(argv) < 3 or argv[1] not in PROGRAMS:
        sys.exit(usage)
    return argv[1], os.path.abspath(argv[2]), argv[3:]


def run(program: str, timing_file: str, flags: list[str]) -> None:
    """Runs `program` with `flags` as `__main__`, the step timer installed (it writes the
    timing file when training returns or fails). sys.path[0] is the project root, as
    when either program is started itself from there."""
    record = {"program": program, "argv": flags, "error": None}
    install_step_timer(record, timing_file)
    kind, target = PROGRAMS[program]
    sys.argv = [target, *flags]
    if kind == "path":
        runpy.run_path(target, run_name="__main__")
    else:
        runpy.run_module(target, run_name="__main__", alter_sys=True)


def main() -> None:
    program, timing_file, flags = parse_args(sys.argv)
    run(program, timing_file, flags)  # the report is the timing file


if __name__ == "__main__":
    main()
