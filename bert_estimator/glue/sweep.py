"""The BERT paper's GLUE protocol as one command: a grid of fine-tuning runs, selection
on dev, a summary and a submission. Run as `python scripts/reproduce_glue.py` (--help).

One `run_classifier.py --do_train --do_eval --do_predict` process per run (task x
learning rate x epochs x batch size x seed) in `OUT/<task>/lr<lr>_ep<ep>_bs<bs>/seed<seed>/`,
its output in `run.log` there; one at a time, or N at once (--parallel N), each with its
own CUDA_VISIBLE_DEVICES. A run that exits 0 with a dev metric gets a `.done` marker and
is skipped next time; a stopped one resumes from its last checkpoint. Ctrl-C or SIGTERM
sends the running runs one SIGTERM, on which each saves a checkpoint and exits.

Selection is on dev only: a run's dev metric is that of the checkpoint it predicts from
(`best/eval_results.txt` with evaluation during training, else `eval_results.txt`). Per
task the best single run is selected; its GLUE file(s) go into `OUT/submission.zip`
(checked by bert_estimator/glue/submission_zip.py). `OUT/summary.md` and `OUT/summary.csv` show
every run and, per configuration, the mean and sample sd of its seeds, and the disk the
runs use.

A finished run's directory is pruned (`checkpoint_pruning.prune_output_dir`, unless
--keep_checkpoints): it keeps the checkpoint it predicted from (best/ or the last one),
weights only, and its text files; the other checkpoints, the Adam moments and the
TFRecord files go, and a `.pruned` marker records the bytes before and after. Runs done
but not pruned yet (by an earlier sweep, or one stopped while pruning) are pruned when
the sweep starts.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import signal
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import tensorflow.compat.v1 as tf
from absl import flags as absl_flags

import processors
from bert_estimator.core.errors import UsageError, UserError, run_cli
from bert_estimator.core.fileio import write_atomically
from bert_estimator.core.progress import format_duration
from bert_estimator.glue import submission_zip
from bert_estimator.glue.sweep_summary import (
    DISPLAY,
    SUMMARY_CSV,
    SUMMARY_MD,
    dev_metric,
    number,
    size_text,
    task_results,
    write_summaries,
)
from bert_estimator.training import checkpoint_pruning, checks, evaluation

PROG = "reproduce_glue.py"
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# The paper's GLUE protocol (section 4.1): batch 32, 3 epochs, the best lr of 5e-5, 4e-5, 3e-5, 2e-5 on dev.
DEFAULT_LEARNING_RATES, DEFAULT_EPOCHS, DEFAULT_BATCH_SIZES = [5e-5, 4e-5, 3e-5, 2e-5], [3.0], [32]
# Random restarts on the small data sets (under 10k training examples), as the paper did.
SMALL_TASK_SEEDS, LARGE_TASK_SEEDS = [0, 1, 2, 3, 4], [0]
SMALL_TASKS = ("cola", "mrpc", "sts-b", "rte", "wnli")
ALIASES = {"sst2": "sst-2", "stsb": "sts-b", "mnli-m": "mnli", "mnlimm": "mnli-mm", "mnli_mm": "mnli-mm"}
# run_classifier.py flags the sweep sets per run -> the sweep's flag for them.
SET_PER_RUN = {"task_name": "--tasks", "data_dir": "--glue_dir", "output_dir": "--output_dir",
               "learning_rate": "--learning_rates", "num_train_epochs": "--epochs",
               "train_batch_size": "--batch_sizes", "seed": "--seeds", "max_seq_length": "--max_seq_length"}
DONE_FILE, LOG_FILE, PRUNED_FILE = submission_zip.DONE_FILE, "run.log", ".pruned"
SUBMISSION_ZIP = "submission.zip"
POLL_SECONDS = 0.1


@dataclass(frozen=True)
class Run:
    number: int
    task: str  # run_classifier's --task_name
    learning_rate: float
    epochs: float
    batch_size: int
    seed: int
    output_dir: str

    @property
    def config(self) -> tuple:
        return (self.learning_rate, self.epochs, self.batch_size)

    @property
    def name(self) -> str:
        return (f"{DISPLAY[self.task]} lr={number(self.learning_rate)} ep={number(self.epochs)} "
                f"bs={self.batch_size} seed={self.seed}")


@dataclass
class Plan:
    runs: list[Run]
    metrics: dict  # task -> the dev metric that selects
    read_best: bool  # the runs predict from best/ (when there is one): their dev metric is best/'s
    program: list[str]  # the run_classifier command, before its flags
    flags: list[str]  # the flags of every run, after each run's own
    devices: list[Optional[str]]  # one slot per parallel run: its CUDA_VISIBLE_DEVICES (None: inherited)
    output_dir: str
    glue_dir: str
    keep_going: bool = False
    submit: bool = True  # --do_predict in every run, and submission.zip
    keep_checkpoints: bool = False  # no pruning of finished runs


# ------------------------------------------------------------------------- the plan
def local(path: str) -> str:
    return path if "://" in path else os.path.abspath(path)


def parse_task(text: str) -> str:
    name = ALIASES.get(text.strip().lower(), text.strip().lower())
    if name not in DISPLAY:
        raise UsageError(f"--tasks: unknown task {text!r}; GLUE's tasks: {', '.join(DISPLAY.values())}")
    return name


def parse_grid(flag: str, value: Optional[str], env: str, convert: Callable, zero_ok: bool = False
               ) -> Optional[list]:
    """The values of a comma-separated grid from the flag, else from $env; None when
    neither is set. An empty grid, or a value that is not a number, not finite or not
    positive (not at least 0 with `zero_ok`) is a UsageError naming its source."""
    source = flag if value is not None else f"${env}"
    value = value if value is not None else os.environ.get(env)
    if value is None:
        return None
    items = [item for item in value.replace(" ", ",").split(",") if item]
    if not items:
        raise UsageError(f"{source} is empty: the grid needs at least one value")
    values = []
    for item in items:
        try:
            parsed = convert(item)
        except ValueError:
            raise UsageError(f"{source}: {item!r} is not {'an integer' if convert is int else 'a number'}") from None
        if not (math.isfinite(parsed) and (parsed >= 0 if zero_ok else parsed > 0)):
            raise UsageError(f"{source}: {item} must be {'0 or more' if zero_ok else 'positive'}")
        values += [parsed] if parsed not in values else []
    return values


def passed_flags(extras: Sequence[str]) -> dict:
    """The flags after `--`: name -> its last value ("true" for a bare boolean)."""
    values = {}
    for i, token in enumerate(extras):
        if not token.startswith("-"):
            continue
        name, equals, value = token.lstrip("-").partition("=")
        if not equals:
            following = extras[i + 1] if i + 1 < len(extras) else "-"
            value = following if not following.startswith("-") else "true"
            if name.startswith("no") and name[2:] in ("evaluate_every_epoch", "do_lower_case"):
                name, value = name[2:], "false"
        values[name] = value
    return values


def passed_value(flags: dict, name: str, parser: absl_flags.ArgumentParser, default):
    """The value of flag `name` after `--` as run_classifier.py parses it (absl's
    `parser`), or `default` when it is not there."""
    if name not in flags:
        return default
    try:
        return parser.parse(flags[name])
    except ValueError:
        raise UsageError(f"--{name} after --: {flags[name]!r} is not a valid value") from None


def evaluates_during_training(flags: dict) -> bool:
    """Whether the runs evaluate during training (`checks.evaluates_during_training`),
    from the flags after `--`."""
    return checks.evaluates_during_training(
        passed_value(flags, "evaluate_every_n_steps", absl_flags.IntegerParser(), 0),
        passed_value(flags, "evaluate_every_epoch", absl_flags.BooleanParser(), False))


def model_flags(args, flags: dict) -> list[str]:
    """--bert_dir DIR -> DIR's vocab.txt, bert_config.json, bert_model.ckpt (casing from
    DIR's record when converted, else lower case unless DIR is a cased Google model's, as
    scripts/run_glue.sh); or the Hub module; or the model flags after --."""
    if args.bert_hub_module_handle:
        return [f"--bert_hub_module_handle={args.bert_hub_module_handle}"]
    if not args.bert_dir:
        if "bert_config_file" in flags or "bert_hub_module_handle" in flags:
            return []
        raise UsageError("no model: give --bert_dir DIR (vocab.txt, bert_config.json, bert_model.ckpt), "
                         "--bert_hub_module_handle HANDLE, or run_classifier.py's model flags after --")
    bert_dir = local(args.bert_dir)
    if not tf.io.gfile.isdir(bert_dir):
        raise UsageError(f"--bert_dir not found: {args.bert_dir}")
    for name in ["vocab.txt", "bert_config.json"] + ([] if "init_checkpoint" in flags else ["bert_model.ckpt.index"]):
        if not tf.io.gfile.exists(os.path.join(bert_dir, name)):
            raise UsageError(f"--bert_dir {args.bert_dir} has no {name}")
    model = [f"--vocab_file={bert_dir}/vocab.txt", f"--bert_config_file={bert_dir}/bert_config.json",
             f"--init_checkpoint={bert_dir}/bert_model.ckpt"]
    if tf.io.gfile.exists(os.path.join(bert_dir, "tokenizer_config.json")):
        return model  # a converted model's casing record: run_classifier.py follows it
    cased = os.path.basename(bert_dir.rstrip("/")).startswith(("cased_", "multi_cased_", "wwm_cased_"))
    return [*model, f"--do_lower_case={not cased}"]


def check_data(glue_dir: str, tasks: Sequence[str], need_test: bool = True) -> None:
    if not tf.io.gfile.isdir(glue_dir):
        raise UsageError(f"--glue_dir not found: {glue_dir}")
    for task in tasks:
        data_dir = submission_zip.data_dir(glue_dir, task)
        if not tf.io.gfile.isdir(data_dir):
            raise UsageError(f"no {DISPLAY[task]} data: {data_dir} is not a directory (--glue_dir holds GLUE's "
                             "task folders, as download_glue_data.py writes them)")
        processor = processors.get_processor(task)
        names = (processor.TRAIN_FILE, processor.DEV_FILE) + ((processor.TEST_FILE,) if need_test else ())
        for name in names:
            if not tf.io.gfile.exists(os.path.join(data_dir, name)):
                raise UsageError(f"no {DISPLAY[task]} {name}: {os.path.join(data_dir, name)} not found")


def program(spec: Optional[str]) -> list[str]:
    """The run_classifier command: a .py file (run with this Python) or a command line."""
    parts = [sys.executable, "-m", "run_classifier"] if spec is None else shlex.split(spec)
    if not parts:
        raise UsageError("--run_classifier is empty")
    if len(parts) == 1 and parts[0].endswith(".py"):
        if not os.path.isfile(parts[0]):
            raise UsageError(f"--run_classifier not found: {parts[0]}")
        return [sys.executable, os.path.abspath(parts[0])]
    return parts


def device_slots(parallel: int) -> list[Optional[str]]:
    """The CUDA_VISIBLE_DEVICES of each of `parallel` slots: one device each, from those
    $CUDA_VISIBLE_DEVICES lists, else 0..N-1 (on a machine without GPUs: the CPU, shared)."""
    if parallel < 1:
        raise UsageError(f"--parallel must be at least 1, got {parallel}")
    if parallel == 1:
        return [None]
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    listed = [d for d in visible.split(",") if d] if visible else [str(i) for i in range(parallel)]
    if len(listed) < parallel:
        raise UsageError(f"--parallel {parallel} needs {parallel} devices; $CUDA_VISIBLE_DEVICES lists {len(listed)}")
    return listed[:parallel]


def plan_runs(tasks: Sequence[str], output_dir: str, rates, epochs, batches, seeds) -> list[Run]:
    """Every run, by task, then learning rate, epochs, batch size and seed."""
    runs = []
    for task in tasks:
        for lr in rates:
            for ep in epochs:
                for bs in batches:
                    for seed in seeds or (SMALL_TASK_SEEDS if task in SMALL_TASKS else LARGE_TASK_SEEDS):
                        config = f"lr{number(lr)}_ep{number(ep)}_bs{bs}"
                        path = os.path.join(output_dir, DISPLAY[task], config, f"seed{seed}")
                        runs.append(Run(len(runs) + 1, task, lr, ep, bs, seed, path))
    return runs


def make_plan(args, extras: Sequence[str]) -> Plan:
    tasks = list(dict.fromkeys(parse_task(t) for t in args.tasks))
    grid = (parse_grid("--learning_rates", args.learning_rates, "LEARNING_RATES", float) or DEFAULT_LEARNING_RATES,
            parse_grid("--epochs", args.epochs, "EPOCHS", float) or DEFAULT_EPOCHS,
            parse_grid("--batch_sizes", args.batch_sizes, "BATCH_SIZES", int) or DEFAULT_BATCH_SIZES,
            parse_grid("--seeds", args.seeds, "SEEDS", int, zero_ok=True))
    flags = passed_flags(extras)
    for name, instead in SET_PER_RUN.items():
        if name in flags:
            raise UsageError(f"--{name} after --: the sweep sets it for each run (use {instead})")
    if args.max_seq_length < 1:
        raise UsageError(f"--max_seq_length must be positive, got {args.max_seq_length}")
    devices, command = device_slots(args.parallel), program(args.run_classifier)
    glue_dir, output_dir = local(args.glue_dir), local(args.output_dir)
    if "://" in output_dir:
        raise UsageError(f"--output_dir must be a local directory (each run's log is written there): {output_dir}")
    check_data(glue_dir, tasks, need_test=not args.no_submission)
    common = model_flags(args, flags) + [f"--max_seq_length={args.max_seq_length}"]
    if evaluates_during_training(flags) and "predict_from" not in flags:
        common.append("--predict_from=best")  # predict from the checkpoint whose dev metric selects
    metrics = {t: flags.get("best_metric") or evaluation.main_metric(t, t == "sts-b") for t in tasks}
    return Plan(plan_runs(tasks, output_dir, *grid), metrics, flags.get("predict_from", "best") != "last", command,
                common + list(extras), devices, output_dir, glue_dir, args.keep_going, not args.no_submission,
                args.keep_checkpoints)


def run_command(plan: Plan, run: Run) -> list[str]:
    own = [f"--task_name={run.task}", "--do_train", "--do_eval", *(["--do_predict"] if plan.submit else []),
           f"--data_dir={submission_zip.data_dir(plan.glue_dir, run.task)}", f"--output_dir={run.output_dir}",
           f"--learning_rate={number(run.learning_rate)}", f"--num_train_epochs={number(run.epochs)}",
           f"--train_batch_size={run.batch_size}", f"--seed={run.seed}"]
    return plan.program + own + plan.flags


def is_done(run: Run) -> bool:
    return tf.io.gfile.exists(os.path.join(run.output_dir, DONE_FILE))


def is_pruned(run: Run) -> bool:
    return tf.io.gfile.exists(os.path.join(run.output_dir, PRUNED_FILE))


def prune(plan: Plan, run: Run) -> int:
    """Prunes a finished run's directory (`checkpoint_pruning.prune_output_dir`), keeping
    the checkpoint it predicted from, then writes its `.pruned` marker; returns the bytes
    freed. A failure is a UserError naming the run."""
    before = checkpoint_pruning.directory_bytes(run.output_dir)
    try:
        kept = checkpoint_pruning.prune_output_dir(run.output_dir, from_best=plan.read_best)
    except (OSError, tf.errors.OpError) as e:
        raise UserError(f"pruning {run.output_dir} (run {run.name}) failed: {getattr(e, 'message', e)}; "
                        "rerun to try again, or pass --keep_checkpoints") from None
    after = checkpoint_pruning.directory_bytes(run.output_dir)
    write_atomically(os.path.join(run.output_dir, PRUNED_FILE), json.dumps(
        {"kept_checkpoint": kept and os.path.relpath(kept, run.output_dir), "bytes_before": before,
         "bytes_after": after}, indent=1) + "\n")
    return before - after


# ----------------------------------------------------------------------- running
@dataclass
class Job:
    run: Run
    process: subprocess.Popen
    log: object
    device: Optional[str]
    start: float


class Runner:
    """Runs runs, `len(plan.devices)` at a time, with a progress line as each ends."""

    def __init__(self, plan: Plan):
        self.plan, self.total = plan, len(plan.runs)
        self.durations = {}  # task -> seconds of its runs finished here
        self.failed = []  # one line per failed run
        self.inline = len(plan.devices) == 1  # one at a time: a run's result ends the line naming it

    @staticmethod
    def say(text: str, end: str = "\n") -> None:
        print(text, end=end, flush=True)

    def start(self, run: Run, device: Optional[str]) -> Job:
        tf.io.gfile.makedirs(run.output_dir)
        command = run_command(self.plan, run)
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [REPO_ROOT, os.environ.get("PYTHONPATH")])))
        env.update({} if device is None else {"CUDA_VISIBLE_DEVICES": device})
        log = open(os.path.join(run.output_dir, LOG_FILE), "ab")  # a resumed run's log goes on
        log.write(f"==== {time.strftime('%Y-%m-%d %H:%M:%S')} {shlex.join(command)}\n".encode())
        log.flush()
        # A session of its own: Ctrl-C reaches the sweep alone, which then stops each run once.
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   env=env, start_new_session=True)
        where = f" (CUDA_VISIBLE_DEVICES={device})" if device is not None else ""
        self.say(f"run {run.number}/{self.total} {run.name} ..." + (" " if self.inline else f" started{where}"),
                 end="" if self.inline else "\n")
        return Job(run, process, log, device, time.time())

    def finish(self, job: Job, pending: Sequence[Run], running: Sequence[Job]) -> None:
        """Reports a run that ended; marks it done when it exited 0 with its dev metric."""
        job.log.close()
        run, seconds, code = job.run, time.time() - job.start, job.process.returncode
        head = "" if self.inline else f"run {run.number}/{self.total} {run.name} ... "
        metric, log = self.plan.metrics[run.task], os.path.join(run.output_dir, LOG_FILE)
        problem = f"exit status {code}" if code else None
        try:
            value = None if code else dev_metric(run, metric, self.plan.read_best)
        except UserError as e:
            problem = str(e)
        if problem:
            self.say(f"{head}failed ({'exit status ' + str(code) if code else 'no dev ' + metric}) after "
                     f"{format_duration(seconds)}; see {log}")
            self.failed.append(f"run {run.name} failed: {problem}; see {log}{last_line(log) if code else ''}")
            return
        write_atomically(os.path.join(run.output_dir, DONE_FILE), json.dumps(
            {"task": run.task, "learning_rate": run.learning_rate, "num_train_epochs": run.epochs,
             "train_batch_size": run.batch_size, "seed": run.seed, "seconds": round(seconds, 1),
             "finished": time.strftime("%Y-%m-%dT%H:%M:%S"), "command": run_command(self.plan, run)}, indent=1) + "\n")
        if not self.plan.keep_checkpoints:
            prune(self.plan, run)
        self.durations.setdefault(run.task, []).append(seconds)
        left = f"; ETA {self.eta(pending, running)}" if pending or running else ""
        self.say(f"{head}done in {format_duration(seconds)} (dev {metric} {value:.4f}){left}")

    def eta(self, pending: Sequence[Run], running: Sequence[Job]) -> str:
        """The time left, from the durations of the runs finished here (of the same task where known)."""
        every = [d for ds in self.durations.values() for d in ds]
        guess = {task: statistics.mean(self.durations.get(task) or every) for task in self.plan.metrics}
        now = time.time()
        left = sum(guess[r.task] for r in pending) + sum(max(guess[j.run.task] - (now - j.start), 0) for j in running)
        return format_duration(left / len(self.plan.devices))

    def run_all(self, todo: Sequence[Run]) -> None:
        pending, running, free = list(todo), [], list(self.plan.devices)
        try:
            while pending or running:
                while pending and free and not (self.failed and not self.plan.keep_going):
                    running.append(self.start(pending.pop(0), free.pop(0)))
                if not running:
                    break
                try:
                    running[0].process.wait(timeout=POLL_SECONDS)
                except subprocess.TimeoutExpired:
                    pass
                for job in [job for job in running if job.process.poll() is not None]:
                    running.remove(job)
                    free.append(job.device)
                    self.finish(job, pending, running)
                if self.failed and not self.plan.keep_going:
                    stop(running, self.say, "a run failed: ")
                    running = []
        except BaseException as e:
            interrupted = isinstance(e, KeyboardInterrupt)
            if self.inline and running:
                self.say("interrupted" if interrupted else "")
            stop(running, self.say, "interrupted: " if interrupted else "")
            raise


def stop(running: Sequence[Job], say: Callable, why: str) -> None:
    """SIGTERM to each running run (it saves a checkpoint and exits), then waits; a
    second interrupt kills them."""
    if running:
        say(f"{why}stopping {len(running)} running run(s); each saves a checkpoint (rerun the same command to "
            "resume)")
    try:
        for job in running:
            job.process.send_signal(signal.SIGTERM)
        for job in running:
            job.process.wait()
    except KeyboardInterrupt:
        for job in running:
            job.process.kill()
            job.process.wait()
        raise
    finally:
        for job in running:
            job.log.close()


def last_line(path: str) -> str:
    """"; last line: ..." of a log (its final words are usually the error), or ""."""
    try:
        with open(path, "rb") as f:
            f.seek(max(os.path.getsize(path) - 4096, 0))
            lines = [line.strip() for line in f.read().decode("utf-8", "replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return f"; last line: {lines[-1][:300]}" if lines else ""


# -------------------------------------------------------------------------- main
DESCRIPTION = ("The BERT paper's GLUE protocol as one command: a grid of run_classifier.py runs (one process "
               "each), selection on dev only, summary.md, summary.csv and submission.zip. Resumable.")
EPILOG = f"""\
Flags after -- go to every run_classifier.py run, after the sweep's own (so they win), e.g.
  -- --evaluate_every_epoch --early_stopping_patience=2 --use_amp
With evaluation during training the runs predict from their best checkpoint
(--predict_from=best unless given), and that checkpoint's dev metric selects. The dev
metric: --best_metric if given after --, else the task's main metric (f1 for MRPC and
QQP, mcc for CoLA, pearson_spearman_mean for STS-B, else eval_accuracy).

Environment (a flag wins over it): LEARNING_RATES, EPOCHS, BATCH_SIZES, SEEDS, e.g.
  SEEDS=0,1,2 LEARNING_RATES=2e-5,3e-5 python scripts/reproduce_glue.py ...
Seeds default to {','.join(map(str, SMALL_TASK_SEEDS))} on the small tasks ({', '.join(DISPLAY[t] for t in SMALL_TASKS)}: the paper's
random restarts), {','.join(map(str, LARGE_TASK_SEEDS))} on the others. --parallel N gives each run one device of
$CUDA_VISIBLE_DEVICES (else 0..N-1); without GPUs the N runs share the CPU.

Writes OUT/<task>/lr<lr>_ep<ep>_bs<bs>/seed<seed>/ (run.log; .done once finished; once
finished, pruned to the weights of the checkpoint it predicted from and its results,
unless --keep_checkpoints),
OUT/{SUMMARY_MD}, OUT/{SUMMARY_CSV} and OUT/{SUBMISSION_ZIP} (each task's best dev run).
Run the same command again to resume: finished runs are skipped, stopped ones resume."""


def build_parser():
    p = submission_zip.OneLineParser(
        prog=PROG, allow_abbrev=False, usage=f"{PROG} --tasks TASK [TASK ...] --glue_dir DIR (--bert_dir DIR | --bert_hub_module_handle "
        "HANDLE) --output_dir OUT [options] [-- run_classifier.py flags]", epilog=EPILOG,
        description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tasks", nargs="+", required=True, metavar="TASK", help=f"any case: {', '.join(DISPLAY.values())}")
    p.add_argument("--glue_dir", required=True, metavar="DIR", help="GLUE's data: one folder per task (MRPC/, CoLA/, ...)")
    p.add_argument("--output_dir", required=True, metavar="OUT", help="where the runs, summaries and submission go")
    model = p.add_mutually_exclusive_group()
    model.add_argument("--bert_dir", metavar="DIR", help="the model: vocab.txt, bert_config.json, bert_model.ckpt (Google's or "
                       "converted); cased_* models get --do_lower_case=False")
    model.add_argument("--bert_hub_module_handle", metavar="HANDLE", help="a TF-Hub BERT module instead")
    p.add_argument("--learning_rates", metavar="LIST", help="comma-separated (default: 5e-5,4e-5,3e-5,2e-5)")
    p.add_argument("--epochs", metavar="LIST", help="comma-separated numbers of epochs (default: 3)")
    p.add_argument("--batch_sizes", metavar="LIST", help="comma-separated train batch sizes (default: 32)")
    p.add_argument("--seeds", metavar="LIST", help="comma-separated seeds: each configuration's random restarts")
    p.add_argument("--parallel", type=int, default=1, metavar="N", help="runs at once (default: %(default)s)")
    p.add_argument("--max_seq_length", type=int, default=128, metavar="N", help="(default: %(default)s)")
    p.add_argument("--run_classifier", metavar="PATH", help="the program to run: a .py file or a command "
                   "(default: python -m run_classifier, from this repository)")
    p.add_argument("--no_submission", action="store_true", help="train and select on dev only: no --do_predict, "
                   "no test files needed, no submission.zip (e.g. for a GLUE copy without test sets)")
    p.add_argument("--keep_going", action="store_true", help="go on after a failed run (default: stop, the "
                   "running runs saving a checkpoint)")
    p.add_argument("--keep_checkpoints", action="store_true", help="keep every file of the finished runs (default: "
                   "prune each to the weights of the checkpoint it predicted from, without the optimizer's state, "
                   "and its results; give it on every invocation: a sweep without it prunes the finished runs)")
    return p


def sweep(plan: Plan) -> dict:
    """Runs what is not done yet, writes the summaries; returns {run: dev metric} of the finished runs."""
    runner = Runner(plan)
    done = [r for r in plan.runs if is_done(r)]
    runner.say(f"{len(plan.runs)} runs in {plan.output_dir}, {len(done)} already done; {len(plan.devices)} at a time")
    for run in done:
        runner.say(f"run {run.number}/{runner.total} {run.name} ... already done "
                   f"(dev {plan.metrics[run.task]} {dev_metric(run, plan.metrics[run.task], plan.read_best):.4f})")
    unpruned = [] if plan.keep_checkpoints else [r for r in done if not is_pruned(r)]
    if unpruned:
        freed = sum(prune(plan, r) for r in unpruned)
        runner.say(f"pruned {len(unpruned)} finished run(s) to their weights and results: {size_text(freed)} freed")
    runner.run_all([r for r in plan.runs if r not in done])
    values = {r: dev_metric(r, plan.metrics[r.task], plan.read_best) for r in plan.runs if is_done(r)}
    write_summaries(plan, values)
    runner.say(f"wrote {os.path.join(plan.output_dir, SUMMARY_MD)} and {SUMMARY_CSV}")
    if runner.failed:
        more = f" (and {len(runner.failed) - 1} more failed runs)" if len(runner.failed) > 1 else ""
        raise UserError(runner.failed[0] + more)
    return values


def run(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    own, extras = (argv[:argv.index("--")], argv[argv.index("--") + 1:]) if "--" in argv else (argv, [])
    plan = make_plan(build_parser().parse_args(own), extras)
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _interrupt) if main_thread else None
    try:
        values = sweep(plan)
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)
    if not plan.submit:
        return 0
    selected = []
    for results in (task_results(plan, t, values) for t in plan.metrics):
        if results.best_run is None:
            raise UserError(f"no run of {DISPLAY[results.task]} has a dev {results.metric}: nothing to select")
        selected.append((results.best_run.output_dir, results.task))
    output = os.path.join(plan.output_dir, SUBMISSION_ZIP)
    submission_zip.report(output, submission_zip.gather(selected, output, plan.glue_dir))
    return 0


def _interrupt(signum, frame):
    raise KeyboardInterrupt  # SIGTERM stops the sweep as Ctrl-C does


def main(argv: Optional[Sequence[str]] = None) -> int:
    """The command line (scripts/reproduce_glue.py): user errors as one line, exit status 1."""
    return run_cli(lambda: run(argv), PROG)
