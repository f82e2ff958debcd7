"""Collects the runs of `bench/accuracy.sh` and writes the comparison tables.

For every run directory `RESULTS_DIR/<impl>/<task>/seed<N>/` (with the `job.json` that
accuracy.sh writes) it reads:

* the dev predictions (`dev_predictions.tsv`, the same layout for both implementations)
  and computes accuracy, F1 (class 1) and Matthews correlation with one piece of code
  for both; for run_classifier's runs it cross-checks them against `eval_results.txt`;
* training time and loss: for run_classifier from its TensorBoard event file (from the
  session's start, after the checkpoint is restored, to the last training step's
  summary), for the reference from its `results.json` (the training loop);
* the job's wall time (the whole process: start-up, features, training, eval) and the
  load average before and after it.

Writes `results.tsv` (one row per run), `results.json` and `summary.md` (Markdown tables
per task: each seed, the mean, the reference's seed spread and the verdict) to
`--results_dir`, and prints `summary.md`. Runs with the product's virtualenv (it reads
TF event files):

    .venv/bin/python bench/summarize_accuracy.py --results_dir runs/accuracy
"""

from __future__ import annotations

import argparse
import glob
import json
import math
import os
import re
import shlex
import statistics
import sys
from statistics import mean

if __name__ == "__main__":  # `python bench/NAME.py`: import from the project root
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
from bench import common  # noqa: E402
from bert_estimator.results import output_files  # noqa: E402

common.quiet_tensorflow()

TASK_ORDER = ["sst-2", "mrpc", "cola"]
TASK_TITLES = {"sst-2": "SST-2", "mrpc": "MRPC", "cola": "CoLA"}
# The metrics reported per task (the first is the one the verdict is about).
TASK_METRICS = {"sst-2": ["accuracy"], "mrpc": ["accuracy", "f1"], "cola": ["mcc"]}
METRIC_TITLES = {"accuracy": "accuracy", "f1": "F1", "mcc": "Matthews corr."}
IMPL_TITLES = {"tf": "ours: run_classifier.py (TF 2.15)", "hf": "reference: transformers + PyTorch",
               "hf-bertopt": "reference with BERT's optimizer (diagnostic)",
               "tf-biascorr": "ours with --adam_bias_correction (diagnostic)",
               "tf-stream": "ours before the epoch fix: the data repeated through a stream buffer as large as "
                            "the training set (diagnostic)",
               "tf-stream-biascorr": "ours before the epoch fix, with --adam_bias_correction (diagnostic)",
               "tf-buffer100": "ours with the original's shuffle buffer, --shuffle_buffer_size=100 (diagnostic)",
               "tf-buffer100-biascorr": "ours with --shuffle_buffer_size=100 --adam_bias_correction (diagnostic)",
               "tf-fullshuffle": "ours with --shuffle_buffer_size=10000 (diagnostic)",
               "tf-fullshuffle-biascorr": "ours with --shuffle_buffer_size=10000 --adam_bias_correction (diagnostic)"}
REFERENCE_IMPL = "hf"
# Verdicts are given against each of these references that has runs: the reference as a
# transformers user runs it (torch.optim.AdamW), and the same with a port of BERT's
# optimizer, i.e. the same algorithm as ours (so a gap there is the implementation's).
VERDICT_REFERENCES = [(REFERENCE_IMPL, "reference (torch AdamW)"),
                      ("hf-bertopt", "reference with BERT's optimizer")]
OURS_IMPL = "tf"
TOLERANCE = 0.01  # "within one point"
LOSS_EVERY = 10  # accuracy.sh runs run_classifier with --save_summary_steps=10
EVAL_RESULT_KEYS = {"accuracy": "eval_accuracy", "f1": "f1", "mcc": "mcc"}


def verdict_text(v: dict) -> str:
    """'yes', or '**NO** (above)' / '**NO** (below)': which side of the reference ours falls."""
    if v["ok"]:
        return "yes"
    return "**NO** (above)" if v["difference"] > 0 else "**NO** (below)"


# ------------------------------------------------------------------------------ metrics
def read_predictions(path: str) -> tuple[list[int], list[int]]:
    """(gold, predicted) class ids from a dev_predictions.tsv (run_classifier's layout)."""
    with open(path) as f:
        rows = [line.rstrip("\n").split("\t") for line in f if line.strip()]
    header, rows = rows[0], rows[1:]
    labels = [c[len("prob_"):] for c in header if c.startswith("prob_")]
    g, p = header.index("gold"), header.index("predicted")
    return [labels.index(r[g]) for r in rows], [labels.index(r[p]) for r in rows]


def binary_metrics(gold: list[int], predicted: list[int]) -> dict:
    """Accuracy, F1 and Matthews correlation: the metrics both implementations report."""
    metrics = common.binary_metrics(gold, predicted)
    return {key: metrics[key] for key in EVAL_RESULT_KEYS}


# ------------------------------------------------------------------------------ TF runs
def tf_training_events(output_dir: str) -> dict:
    """Training time and loss of a run_classifier output dir, from its event file(s)."""
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
    start, step_times, losses = None, {}, {}
    for path in sorted(glob.glob(os.path.join(output_dir, "events.out.tfevents.*"))):
        for event in tf.compat.v1.train.summary_iterator(path):
            if event.HasField("session_log") and event.session_log.status == event.session_log.START:
                start = event.wall_time if start is None else min(start, event.wall_time)
            for value in event.summary.value:
                step_times[event.step] = max(step_times.get(event.step, 0.0), event.wall_time)
                if re.fullmatch(r"loss(_\d+)?", value.tag):
                    number = value.simple_value if value.HasField("simple_value") else float(
                        tf.make_ndarray(value.tensor))
                    losses[event.step] = number
    if start is None or not step_times:
        raise ValueError(f"no training events in {output_dir}")
    last_step = max(step_times)
    return {"train_seconds": step_times[last_step] - start, "num_train_steps": last_step,
            "losses": sorted(losses.items())}


def flag_value(command: str, name: str) -> str | None:
    for arg in shlex.split(command):
        if arg.startswith(f"--{name}="):
            return arg.split("=", 1)[1]
    return None


def collect_run(run_dir: str) -> dict:
    with open(os.path.join(run_dir, "job.json")) as f:
        job = json.load(f)
    impl = job["implementation"]
    gold, predicted = read_predictions(os.path.join(run_dir, "dev_predictions.tsv"))
    run = {"implementation": impl, "task": job["task"], "seed": job["seed"], "dir": run_dir,
           "metrics": binary_metrics(gold, predicted), "dev_examples": len(gold),
           "wall_seconds": job["wall_seconds"], "loadavg_before": job["loadavg_before"],
           "loadavg_after": job["loadavg_after"], "command": job["command"]}
    if impl.startswith("tf"):
        events = tf_training_events(run_dir)
        batch = int(flag_value(job["command"], "train_batch_size") or 32)
        eval_results = output_files.read_eval_results(run_dir)
        run["eval_results_max_abs_diff"] = max(
            abs(eval_results[EVAL_RESULT_KEYS[k]] - run["metrics"][k]) for k in EVAL_RESULT_KEYS)
        run["eval_loss"] = eval_results.get("eval_loss")
        # Loss points every save_summary_steps (steps counted from 1).
        loss_points = events["losses"]
        run.update(train_seconds=events["train_seconds"], num_train_steps=events["num_train_steps"],
                   train_examples_per_sec=events["num_train_steps"] * batch / events["train_seconds"],
                   loss_points=loss_points)
    else:
        with open(os.path.join(run_dir, "results.json")) as f:
            result = json.load(f)
        run["eval_loss"] = result["metrics"]["eval_loss"]
        run["eval_results_max_abs_diff"] = max(
            abs(result["metrics"][k] - run["metrics"][k]) for k in EVAL_RESULT_KEYS)
        run.update(train_seconds=result["train_seconds"], num_train_steps=result["num_train_steps"],
                   train_examples_per_sec=result["train_examples_per_sec"],
                   loss_points=[(i + 1, loss) for i, loss in enumerate(result["losses"])],
                   tokenizer_agreement={s: {k: v for k, v in a.items() if k != "first_differences"}
                                        for s, a in result["tokenizer_agreement"].items()},
                   settings={k: result["settings"].get(k) for k in (
                       "optimizer", "schedule", "padding", "torch", "transformers", "torch_threads",
                       "attn_implementation", "tokenizer_class")})
    # Mean training loss over the first and the last fifth of the steps, at the steps
    # run_classifier logs (1, 11, 21, ... with --save_summary_steps=10) for both, so the
    # two means average the same batches' positions (the reference logs every step).
    steps = run["num_train_steps"]
    sampled = [(s, v) for s, v in run["loss_points"] if s % LOSS_EVERY == 1 % LOSS_EVERY]
    first = [v for s, v in sampled if s <= steps / 5]
    last = [v for s, v in sampled if s > steps * 4 / 5]
    run["loss_first_fifth"] = mean(first) if first else None
    run["loss_last_fifth"] = mean(last) if last else None
    return run


# ------------------------------------------------------------------------------- tables
def mean_of(values):
    """Mean of the values that are not None (None if there are none)."""
    values = [v for v in values if v is not None]
    return mean(values) if values else None


def fmt(x, digits=4):
    return "" if x is None else f"{x:.{digits}f}"


def summarize(runs: list[dict]) -> tuple[str, list[dict]]:
    lines, verdicts = [], []
    impls = sorted({r["implementation"] for r in runs}, key=lambda i: ({OURS_IMPL: 0, REFERENCE_IMPL: 1}.get(i, 2), i))
    tasks = [t for t in TASK_ORDER if any(r["task"] == t for r in runs)]
    tasks += sorted({r["task"] for r in runs} - set(tasks))
    seeds = sorted({r["seed"] for r in runs})
    for task in tasks:
        task_runs = [r for r in runs if r["task"] == task]
        lines.append(f"### {TASK_TITLES.get(task, task)} (dev, {task_runs[0]['dev_examples']} examples)\n")
        header = ["metric", "implementation", *(f"seed {s}" for s in seeds), "mean",
                  "train s (mean)", "train ex/s (mean)", "job wall s (mean)",
                  "train loss, first / last fifth", "dev loss"]
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "---|" * len(header))
        for metric in TASK_METRICS.get(task, ["accuracy"]):
            for impl in impls:
                by_seed = {r["seed"]: r for r in task_runs if r["implementation"] == impl}
                if not by_seed:
                    continue
                values = [by_seed[s]["metrics"][metric] for s in seeds if s in by_seed]
                rs = list(by_seed.values())
                lines.append("| " + " | ".join([
                    METRIC_TITLES[metric], IMPL_TITLES.get(impl, impl),
                    *(fmt(by_seed[s]["metrics"][metric]) if s in by_seed else "" for s in seeds),
                    f"**{fmt(mean(values))}**",
                    f"{mean(r['train_seconds'] for r in rs):.0f}",
                    f"{mean(r['train_examples_per_sec'] for r in rs):.1f}",
                    f"{mean(r['wall_seconds'] for r in rs):.0f}",
                    f"{fmt(mean_of(r['loss_first_fifth'] for r in rs), 3)} / "
                    f"{fmt(mean_of(r['loss_last_fifth'] for r in rs), 3)}",
                    fmt(mean_of(r["eval_loss"] for r in rs), 3),
                ]) + " |")
            for reference_impl, _ in VERDICT_REFERENCES:
                verdict = compare(task, metric, task_runs, reference_impl)
                if verdict:
                    verdicts.append(verdict)
        lines.append("")
    if verdicts:
        titles = dict(VERDICT_REFERENCES)
        lines.append("### Verdicts (ours vs each reference, per metric)\n")
        lines.append("| task | metric | against | ours mean (seeds) | reference mean (seeds) | ours - reference "
                     "| standard errors (Welch) | reference seeds min..max | ours seeds min..max "
                     "| within the reference's seed range or 1 point |")
        lines.append("|---|---|---|---|---|---|---|---|---|---|")
        for v in verdicts:
            lines.append(f"| {TASK_TITLES.get(v['task'], v['task'])} | {METRIC_TITLES[v['metric']]} | "
                         f"{titles[v['reference']]} | {fmt(v['ours_mean'])} ({v['ours_seeds']}) | "
                         f"{fmt(v['reference_mean'])} ({v['reference_seeds']}) | {v['difference']:+.4f} | "
                         f"{'' if v['standard_errors'] is None else format(v['standard_errors'], '.1f')} | "
                         f"{fmt(v['reference_min'])}..{fmt(v['reference_max'])} | "
                         f"{fmt(v['ours_min'])}..{fmt(v['ours_max'])} | {verdict_text(v)} |")
        lines.append("")
    return "\n".join(lines), verdicts


def difference_in_standard_errors(ours: list[float], ref: list[float]) -> float | None:
    """(mean(ours) - mean(ref)) / sqrt(var(ours)/n + var(ref)/m), sample variances
    (Welch's t statistic); None with fewer than 2 seeds on a side or no spread at all."""
    if len(ours) < 2 or len(ref) < 2:
        return None
    se = math.sqrt(statistics.variance(ours) / len(ours) + statistics.variance(ref) / len(ref))
    return None if se == 0 else (mean(ours) - mean(ref)) / se


def compare(task: str, metric: str, task_runs: list[dict], reference_impl: str = REFERENCE_IMPL) -> dict | None:
    """The verdict on one metric: is ours' mean inside the reference's seed range (or
    within TOLERANCE of its mean)? None when either side has no runs."""
    ours = [r["metrics"][metric] for r in task_runs if r["implementation"] == OURS_IMPL]
    ref = [r["metrics"][metric] for r in task_runs if r["implementation"] == reference_impl]
    if not ours or not ref:
        return None
    ours_mean, ref_mean = mean(ours), mean(ref)
    ok = min(ref) <= ours_mean <= max(ref) or abs(ours_mean - ref_mean) <= TOLERANCE
    return {"task": task, "metric": metric, "reference": reference_impl, "ours_mean": ours_mean,
            "reference_mean": ref_mean, "difference": ours_mean - ref_mean,
            "standard_errors": difference_in_standard_errors(ours, ref),
            "ours_seeds": len(ours), "reference_seeds": len(ref),
            "reference_min": min(ref), "reference_max": max(ref),
            "ours_min": min(ours), "ours_max": max(ours), "ok": ok}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results_dir", default=os.path.join(common.PROJECT_ROOT, "runs", "accuracy"))
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> list[dict]:
    """Every run under --results_dir, collected."""
    return [collect_run(os.path.dirname(p)) for p in
            sorted(glob.glob(os.path.join(args.results_dir, "*", "*", "seed*", "job.json")))]


def report(runs: list[dict], args: argparse.Namespace) -> int:
    """Writes results.tsv, results.json and summary.md to --results_dir, prints summary.md."""
    if not runs:
        print(f"summarize_accuracy: no runs under {args.results_dir}", file=sys.stderr)
        return 1
    table, verdicts = summarize(runs)
    columns = ["implementation", "task", "seed", "accuracy", "f1", "mcc", "eval_loss", "num_train_steps",
               "train_seconds", "train_examples_per_sec", "wall_seconds", "loss_first_fifth",
               "loss_last_fifth", "loadavg_before", "loadavg_after", "eval_results_max_abs_diff", "dir"]
    with open(os.path.join(args.results_dir, "results.tsv"), "w") as f:
        f.write("\t".join(columns) + "\n")
        for r in runs:
            row = dict(r, **r["metrics"])
            f.write("\t".join(str(row.get(c, "")) for c in columns) + "\n")
    with open(os.path.join(args.results_dir, "results.json"), "w") as f:
        json.dump({"runs": runs, "verdicts": verdicts}, f, indent=1)
    with open(os.path.join(args.results_dir, "summary.md"), "w") as f:
        f.write(table + "\n")
    print(table)
    agreement = [(r["task"], s, a) for r in runs if "tokenizer_agreement" in r
                 for s, a in r["tokenizer_agreement"].items()]
    seen = set()
    for task, split, a in agreement:
        if (task, split) not in seen:
            seen.add((task, split))
            print(f"tokenizer agreement {task} {split}: {a['full_ids_agree']}/{a['examples']} "
                  f"({100 * a['full_agreement']:.2f}%)")
    bad = [r for r in runs if r["eval_results_max_abs_diff"] > 1e-4]
    for r in bad:
        print(f"warning: {r['dir']}: metrics from dev_predictions.tsv differ from the run's own by "
              f"{r['eval_results_max_abs_diff']:.2g}", file=sys.stderr)
    return 0


main = common.entry_point(parse_args, run, report)


if __name__ == "__main__":
    sys.exit(main())
