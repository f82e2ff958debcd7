"""The results of a sweep: each run's dev metric, mean and sample standard deviation
per configuration, the selection (on dev only), the disk the runs use, and `summary.md` /
`summary.csv`."""

from __future__ import annotations

import csv
import io
import math
import os
import statistics
from dataclasses import dataclass
from typing import Optional, Sequence

import tensorflow.compat.v1 as tf

from bert_estimator.core.errors import UserError
from bert_estimator.core.fileio import write_atomically
from bert_estimator.results.output_files import EVAL_RESULTS, read_eval_results
from bert_estimator.training import checkpoint_pruning, evaluation

SUMMARY_MD, SUMMARY_CSV = "summary.md", "summary.csv"
DISPLAY = {"cola": "CoLA", "sst-2": "SST-2", "mrpc": "MRPC", "sts-b": "STS-B", "qqp": "QQP", "mnli": "MNLI",
           "mnli-mm": "MNLI-mm", "qnli": "QNLI", "rte": "RTE", "wnli": "WNLI"}


def number(x: float) -> str:
    """A learning rate or epoch count as short as it reads back exactly: 3e-05, 3, 2.5."""
    short = f"{x:g}"
    return short if float(short) == x else repr(float(x))


def dev_metric(run, metric: str, read_best: bool) -> float:
    """The dev `metric` of a finished run: of best/ (when it predicts from it), else of
    the last checkpoint (its eval_results.txt)."""
    best = os.path.join(run.output_dir, evaluation.BEST_DIR, EVAL_RESULTS)
    path = best if read_best and tf.io.gfile.exists(best) else os.path.join(run.output_dir, EVAL_RESULTS)
    if not tf.io.gfile.exists(path):
        raise UserError(f"{path} not found: run {run.name} ended without dev results")
    try:
        results = read_eval_results(path)
    except ValueError as e:
        raise UserError(str(e)) from None
    values = evaluation.with_derived_metrics(
        {key: float(value) for key, value in results.items() if not isinstance(value, str)})
    if metric not in values:
        raise UserError(f"{path} has no {metric!r} (it has {', '.join(sorted(values)) or 'nothing'})")
    return values[metric]


def better(a: float, b: Optional[float], metric: str) -> bool:
    """Whether dev value `a` beats `b` (None: nothing yet); NaN never does."""
    if math.isnan(a) or b is None:
        return not math.isnan(a)
    return a < b if metric in evaluation.LOWER_IS_BETTER else a > b


def mean_sd(values: Sequence[float]) -> tuple[Optional[float], Optional[float]]:
    """(mean, sample sd with n-1); None where undefined (no value; sd of one value)."""
    if not values:
        return None, None
    return statistics.mean(values), (statistics.stdev(values) if len(values) > 1 else None)


@dataclass
class TaskResults:
    task: str
    metric: str
    seeds: list
    configs: dict  # config -> {seed: (run, dev value or None)}, in grid order
    best_run: Optional[object] = None  # a sweep.Run
    best_config: Optional[tuple] = None

    def values(self, config: tuple) -> list[float]:
        return [v for _, v in self.configs[config].values() if v is not None]


def task_results(plan, task: str, values: dict) -> TaskResults:
    """The runs of `task` by configuration, its best run and best configuration (by mean)."""
    runs = [r for r in plan.runs if r.task == task]
    r = TaskResults(task, plan.metrics[task], list(dict.fromkeys(run.seed for run in runs)), {})
    for run in runs:
        r.configs.setdefault(run.config, {})[run.seed] = (run, values.get(run))
        if values.get(run) is not None and better(values[run], values.get(r.best_run), r.metric):
            r.best_run = run
    best_mean = None
    for config in r.configs:
        mean, _ = mean_sd(r.values(config))
        if mean is not None and better(mean, best_mean, r.metric):
            r.best_config, best_mean = config, mean
    return r


def size_text(num_bytes: int) -> str:
    """A byte count for people: 1.4 GB (1,412,345,678 bytes); decimal units, as `ls -lh --si`."""
    value, unit = float(num_bytes), "bytes"
    for name in ("kB", "MB", "GB", "TB"):
        if value < 1000:
            break
        value, unit = value / 1000, name
    return f"{num_bytes:,} bytes" if unit == "bytes" else f"{value:.1f} {unit} ({num_bytes:,} bytes)"


def disk_use(plan) -> dict:
    """task -> (the number of its run directories on disk, their bytes)."""
    use = {}
    for run in plan.runs:
        count, total = use.get(run.task, (0, 0))
        if os.path.isdir(run.output_dir):
            count, total = count + 1, total + checkpoint_pruning.directory_bytes(run.output_dir)
        use[run.task] = (count, total)
    return use


def summary_markdown(results: Sequence[TaskResults], disk: Optional[dict] = None) -> str:
    """summary.md: per task, the table of dev values and the selection; with `disk`
    (`disk_use`), the disk its runs use, and the total."""
    lines = ["# GLUE dev results", "", "Selection on dev only. Per configuration: the dev metric of each seed, then "
             "mean ± sd (sample sd, n-1; n/a for one seed). **(best)** marks the best single run of each task, "
             "whose test predictions go into submission.zip, and the best configuration by mean. -: not finished."]
    if disk:
        lines += ["", f"Disk: the runs use {size_text(sum(b for _, b in disk.values()))} in all."]
    for r in results:
        lines += ["", f"## {DISPLAY[r.task]} (dev {r.metric})", "", "| learning rate | epochs | batch size | "
                  + "".join(f"seed {s} | " for s in r.seeds) + "mean ± sd |", "|---" * (4 + len(r.seeds)) + "|"]
        for config, by_seed in r.configs.items():
            cells = [number(config[0]), number(config[1]), str(config[2])]
            for seed in r.seeds:
                run, value = by_seed.get(seed, (None, None))
                text = "-" if value is None else f"{value:.4f}"
                cells.append(f"**{text}** (best)" if run == r.best_run else text)
            got = r.values(config)
            mean = mean_text(got) + (f" (n={len(got)})" if got and len(got) < len(r.seeds) else "")
            cells.append(f"**{mean}** (best)" if config == r.best_config else mean)
            lines.append("| " + " | ".join(cells) + " |")
        if r.best_run:
            value = r.configs[r.best_run.config][r.best_run.seed][1]
            lines += ["", f"Selected: {r.best_run.name}, dev {r.metric} {value:.4f} ({r.best_run.output_dir})."]
        if disk and r.task in disk:
            count, total = disk[r.task]
            lines += ["", f"Disk: {count} run director{'y' if count == 1 else 'ies'}, {size_text(total)}."]
    return "\n".join(lines) + "\n"


def mean_text(values: Sequence[float]) -> str:
    mean, sd = mean_sd(values)
    return "-" if mean is None else f"{mean:.4f} ± {'n/a' if sd is None else f'{sd:.4f}'}"


CSV_FIELDS = ["task", "metric", "learning_rate", "num_train_epochs", "train_batch_size", "seed", "dev", "mean", "sd",
              "n", "best_run", "best_config", "output_dir"]


def summary_csv(results: Sequence[TaskResults]) -> str:
    """One row per run: its dev metric; its configuration's mean, sd (n/a for one seed) and n;
    1/0: the best single run of its task (the selected one), the best configuration by mean."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_FIELDS)
    for r in results:
        for config, by_seed in r.configs.items():
            got = r.values(config)
            mean, sd = mean_sd(got)
            for run, value in by_seed.values():
                writer.writerow([DISPLAY[r.task], r.metric, number(run.learning_rate), number(run.epochs),
                                 run.batch_size, run.seed, "" if value is None else repr(value),
                                 "" if mean is None else repr(mean), "n/a" if sd is None else repr(sd), len(got),
                                 int(run == r.best_run), int(config == r.best_config), run.output_dir])
    return buffer.getvalue()


def write_summaries(plan, values: dict) -> list[TaskResults]:
    results = [task_results(plan, task, values) for task in plan.metrics]
    write_atomically(os.path.join(plan.output_dir, SUMMARY_MD), summary_markdown(results, disk_use(plan)))
    write_atomically(os.path.join(plan.output_dir, SUMMARY_CSV), summary_csv(results))
    return results
