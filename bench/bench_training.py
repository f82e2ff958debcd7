"""Benchmarks training throughput: ours vs Google's original run_classifier vs PyTorch.

The issue's measure: training examples/sec at steady state, all-MiniLM-L6-v2 (6 layers,
hidden 384, converted to Google's layout with
`bert_estimator.convert.convert_cli.convert_hf_to_tf`), max_seq_length 128, batch 32, on
CPU, side by side in one run. Goals: ours >= 1.2x the
original and >= 1.2x PyTorch at the same fixed padding; with `--bucket_by_length` >= 3x
the original on the snippets task.

The task is the demo's: the real movie-review snippets, near-neutral ones (|score| < 0.5)
dropped, shuffled with the demo's seed, label 1 if the mean score is positive. It is
written in CoLA's format (train.tsv: source, label 0/1, mark, sentence; no header), as
the original only knows cola/mnli/mrpc/xnli, and every TF program runs
`--task_name=cola --do_train` on that same file. `num_train_epochs` is chosen so that
int(N / batch * epochs) is exactly `--steps`.

Variants (`--variants`; default: original ours ours_xla ours_amp ours_bucket
ours_bucket_fast torch_fixed torch_longest):

* original: Google's run_classifier.py (bert-tensorflow 1.0.4, shimmed for TF 2.15:
  `python -m tests.support.reference`), every example padded to 128;
* ours, ours_xla, ours_amp, ours_xla_amp: our run_classifier.py with no new flag, with
  `--use_xla`, `--use_amp`, both; fixed padding 128;
* ours_bucket, ours_bucket_xla, ours_bucket_amp: with `--bucket_by_length` (batches of
  similar length padded to their longest member), alone or with a lever;
  ours_bucket_fast: `--bucket_by_length` plus every lever our run_classifier.py has;
* torch_fixed, torch_longest: `transformers` BertForSequenceClassification + PyTorch
  (in `.venv-bench`, `bench/_torch_train_worker.py`) on the very token ids our tokenizer
  made of the same train.tsv (`bench/prepare_features.py`), AdamW, clipping 1.0, dropout
  on, `--torch_threads` threads; padded to 128 or to each batch's longest member.

A variant whose flag our run_classifier.py lacks (checked with `--helpfull`) is listed as
"flag not available" and not run.

How it measures. Both TF programs run unchanged, each in its own process, through
`bench/_train_timing_launcher.py`, which appends the same `SessionRunHook` to their
`Estimator.train`: it records the wall time after every training `session.run`, the
global step and the shape of the batch that run consumed. The PyTorch worker records the
same per-step times. Step i's time is the interval between the ends of steps i-1 and i
(step 0 ends when the training session exists). The first `--measure_from` steps (graph
build, restore, first-run allocation, XLA compilation) are left out; over the rest:

* steady ex/s: examples in those steps / their total time (the throughput; unbiased when
  batches differ in length, as with bucketing). The ratios use it (`--statistic median`
  switches them to the next one);
* median ex/s: the median of the per-step examples/sec (robust to a stray slow step);
* CPU cores used: the process's CPU time over those steps / their wall time.

Checkpoints are saved at step 0 and after the last step only (`--save_checkpoints_steps`
and `--iterations_per_loop` 1,000,000); summaries every 100 steps (the original's
fixed Estimator default; ours is given the same). With `--reps` > 1 the variants run in
a round robin, each repetition starting one variant later; medians over repetitions are
reported. The load average (1/5/15 min) and the share of the CPUs busy in the second
before each variant (other processes: nothing of this benchmark runs then) are recorded.

    .venv/bin/python bench/bench_training.py                       # the full benchmark
    .venv/bin/python bench/bench_training.py --steps 14 --measure_from 4 \\
        --variants original ours torch_fixed --train_examples 512   # a quick try
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import time

if __name__ == "__main__":  # `python bench/NAME.py`: import from the project root
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
from bench import common  # noqa: E402
from bench.common import PROJECT_ROOT, log  # noqa: E402

LAUNCHER = os.path.join(common.BENCH_DIR, "_train_timing_launcher.py")
TORCH_WORKER = os.path.join(common.BENCH_DIR, "_torch_train_worker.py")
NEW_FLAGS = ("bucket_by_length", "use_xla", "use_amp", "num_accumulation_steps")
LEVERS = ("use_xla", "use_amp")

# name -> (program, padding, required flags of ours, optional flags of ours)
VARIANTS = {
    "original": ("original", "fixed", (), ()),
    "ours": ("ours", "fixed", (), ()),
    "ours_xla": ("ours", "fixed", ("use_xla",), ()),
    "ours_amp": ("ours", "fixed", ("use_amp",), ()),
    "ours_xla_amp": ("ours", "fixed", ("use_xla", "use_amp"), ()),
    "ours_bucket": ("ours", "bucket", ("bucket_by_length",), ()),
    "ours_bucket_xla": ("ours", "bucket", ("bucket_by_length", "use_xla"), ()),
    "ours_bucket_amp": ("ours", "bucket", ("bucket_by_length", "use_amp"), ()),
    "ours_bucket_fast": ("ours", "bucket", ("bucket_by_length",), LEVERS),
    "torch_fixed": ("torch", "fixed", (), ()),
    "torch_longest": ("torch", "longest", (), ()),
}
DEFAULT_VARIANTS = ["original", "ours", "ours_xla", "ours_amp", "ours_bucket", "ours_bucket_fast",
                    "torch_fixed", "torch_longest"]
FIXED_GOAL, BUCKET_GOAL = 1.2, 3.0


# =============================================================================== the data
def _clean(text: str) -> str:
    return " ".join(text.split())  # no tab or newline may reach a TSV cell


def write_task(data_dir: str, limit: int | None) -> int:
    """The demo's sentiment task, all of it a training set, in CoLA's format. Returns N."""
    from bert_estimator.data import assets
    from bert_estimator.tools import demo

    rows = [(i, s, t) for i, s, t in assets.read_snippets(assets.fetch_movie_snippets())
            if abs(s) >= demo.NEUTRAL_MARGIN]
    random.Random(demo.SPLIT_SEED).shuffle(rows)
    if limit:
        rows = rows[:limit]
    os.makedirs(data_dir, exist_ok=True)
    lines = [f"snippet-{sid}\t{int(score > 0)}\t\t{_clean(text)}\n" for sid, score, text in rows]
    for name, part in (("train.tsv", lines), ("dev.tsv", lines[:64])):  # dev: prepare_features reads one
        path = os.path.join(data_dir, name)
        content = "".join(part)
        if not os.path.exists(path) or open(path, encoding="utf-8").read() != content:
            with open(path + ".tmp", "w", encoding="utf-8", newline="") as f:
                f.write(content)
            os.replace(path + ".tmp", path)
    return len(lines)


def torch_features(work_dir: str, data_dir: str, vocab: str, max_seq_length: int) -> str:
    """Our token ids of train.tsv as a .npz (bench/prepare_features.py), cached by content."""
    h = hashlib.sha256()
    for path in (os.path.join(data_dir, "train.tsv"), vocab):
        with open(path, "rb") as f:
            h.update(f.read())
    h.update(str(max_seq_length).encode())
    out = os.path.join(work_dir, f"features_{h.hexdigest()[:16]}.npz")
    if not os.path.exists(out):
        log("tokenizing train.tsv for PyTorch (bench/prepare_features.py) ...")
        cmd = [sys.executable, os.path.join(common.BENCH_DIR, "prepare_features.py"), "--task", "cola",
               "--data_dir", data_dir, "--vocab_file", vocab, "--max_seq_length", str(max_seq_length),
               "--output", out]
        common.run_logged(cmd, "prepare_features.py", os.path.join(work_dir, "prepare_features.log"))
    return out


def available_flags() -> dict:
    """Which of the new flags our run_classifier.py defines (from its --helpfull)."""
    result = subprocess.run([sys.executable, os.path.join(PROJECT_ROOT, "run_classifier.py"), "--helpfull"],
                            capture_output=True, text=True, cwd=PROJECT_ROOT, env=common.subprocess_env())
    text = result.stdout + result.stderr
    return {name: bool(re.search(rf"--(\[no\])?{name}\b", text)) for name in NEW_FLAGS}


def resolve_flags(name: str, flags_available: dict) -> tuple[list[str] | None, list[str]]:
    """(our flags for variant `name`, or None if it cannot run; the missing flags, as `--name`)."""
    program, _, required, optional = VARIANTS[name]
    if program != "ours":
        return [], []
    missing = [f"--{f}" for f in required if not flags_available.get(f)]
    chosen = [f for f in required if flags_available.get(f)] + [f for f in optional if flags_available.get(f)]
    if optional and not any(flags_available.get(f) for f in optional):
        missing.append(" or ".join(f"--{f}" for f in optional))
    return (None if missing else chosen), missing


# ============================================================================== the runs
def run_tf(program: str, flags: list[str], common_flags: list[str], run_dir: str, timing_file: str,
           log_file: str, timeout: float) -> dict:
    if program == "ours" and os.path.isdir(run_dir):
        # A fresh model_dir (else training would resume), but our records cache may stay.
        for entry in os.listdir(run_dir):
            if not entry.startswith("train.tf_record"):
                path = os.path.join(run_dir, entry)
                shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
    else:
        shutil.rmtree(run_dir, ignore_errors=True)
    os.makedirs(run_dir, exist_ok=True)
    cmd = [sys.executable, LAUNCHER, program, timing_file, *common_flags, f"--output_dir={run_dir}",
           *(f"--{f}=true" for f in flags)]
    if program == "ours":
        cmd.append("--save_summary_steps=100")  # the original's (fixed) Estimator default
    return _run_timed(cmd, timing_file, log_file, timeout)


def run_torch(args, padding: str, features: str, hf_dir: str, timing_file: str, log_file: str) -> dict:
    cmd = [args.torch_python, TORCH_WORKER, "--features", features, "--model_dir", hf_dir,
           "--steps", str(args.steps), "--batch_size", str(args.batch_size), "--padding", padding,
           "--threads", str(args.torch_threads), "--output", timing_file]
    return _run_timed(cmd, timing_file, log_file, args.timeout)


def _run_timed(cmd: list[str], timing_file: str, log_file: str, timeout: float) -> dict:
    if os.path.exists(timing_file):
        os.remove(timing_file)
    start = time.perf_counter()
    with open(log_file, "w") as out:
        out.write(" ".join(cmd) + "\n\n")
        out.flush()
        try:
            rc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=PROJECT_ROOT,
                                env=common.subprocess_env(), timeout=timeout).returncode
        except subprocess.TimeoutExpired:
            rc = "timeout"
    wall = time.perf_counter() - start
    timing = None
    if os.path.exists(timing_file):
        with open(timing_file) as f:
            timing = json.load(f)
    return {"returncode": rc, "process_seconds": wall, "timing": timing, "log": log_file}


def summarize(timing: dict, batch_size: int, measure_from: int) -> dict:
    """The steady-state numbers of one run's per-step times (see the module docstring)."""
    ends = timing["step_end_times"]
    times = [timing["t_session_created"], *ends]
    durations = [b - a for a, b in zip(times, times[1:])]
    shapes = timing.get("batch_shapes") or [[batch_size, None]] * len(durations)
    examples = [s[0] for s in shapes]
    if len(durations) <= measure_from:
        raise ValueError(f"only {len(durations)} steps ran, not more than --measure_from {measure_from}")
    window, window_ex = durations[measure_from:], examples[measure_from:]
    rates = [b / d for b, d in zip(window_ex, window)]
    cpu = [timing["cpu_session_created"], *timing["cpu_times"]]
    lengths = [s[1] for s in shapes[measure_from:] if s[1] is not None]
    ms = sorted(1000 * d for d in window)
    out = {
        "steps": len(durations),
        "measured_steps": len(window),
        "steady_examples_per_sec": sum(window_ex) / sum(window),
        "median_examples_per_sec": statistics.median(rates),
        "median_step_ms": statistics.median(ms),
        "p10_step_ms": ms[int(0.1 * (len(ms) - 1))],
        "p90_step_ms": ms[int(round(0.9 * (len(ms) - 1)))],
        "total_examples_per_sec": sum(examples) / sum(durations),
        "first_step_seconds": durations[0],
        "warmup_seconds": sum(durations[:measure_from]),
        "cpu_cores_used": (cpu[-1] - cpu[measure_from]) / sum(window),
        "mean_padded_length": statistics.mean(lengths) if lengths else None,
        "batch_sizes": sorted(set(examples)),
        "step_seconds": [round(d, 5) for d in durations],
    }
    steps = timing.get("global_steps")
    if steps and len(steps) > 1:
        out["global_step_increments"] = sorted({b - a for a, b in zip(steps, steps[1:])})
    return out


# =============================================================================== reports
def _fmt(x, spec=",.1f", none="—"):
    return none if x is None else format(x, spec)


def print_table(results: dict, args, machine: dict, stat: str) -> list[dict]:
    """Prints the Markdown table and the goals; returns the goals."""
    rate = {name: r["summary"][stat] for name, r in results.items() if r.get("summary")}
    base_orig, base_torch = rate.get("original"), rate.get("torch_fixed")
    torch_info = next((r["torch_versions"] for r in results.values() if r.get("torch_versions")), None)
    print(f"\nTraining throughput, all-MiniLM-L6-v2 (6 layers, hidden 384) + 2-label classifier, "
          f"max_seq_length {args.max_seq_length}, batch {args.batch_size}, CPU; {results_n(results)} "
          f"movie-review snippets (CoLA format, --task_name=cola); {args.steps} steps per run, the first "
          f"{args.measure_from} left out; median of {args.reps} repetition(s).\n")
    print(f"Machine: {machine['cpu_model']}, {machine['cpu_count']} CPUs ({machine['usable_cpus']} usable), "
          f"flags {' '.join(machine['cpu_flags']) or 'n/a'}; Python {machine['python']}, TF "
          f"{machine['tensorflow']}, bert-tensorflow {machine['bert_tensorflow']}"
          + (f", torch {torch_info['torch']}, transformers {torch_info['transformers']} "
             f"({args.torch_threads} threads)" if torch_info else "")
          + f". Load average (1/5/15 min) at start {machine['load_average_start']}, at end "
            f"{machine.get('load_average_end')}.\n")
    print(f"Ratios use {'steady' if stat == 'steady_examples_per_sec' else 'median'} ex/s.\n")
    print("| variant | padding | flags | steady ex/s | median ex/s | median step ms (p10–p90) | mean length "
          "| CPU cores used | load avg before → after (CPUs busy before) | vs original | vs PyTorch fixed-128 |")
    print("|---|---|---|---:|---:|---:|---:|---:|---|---:|---:|")
    for name, r in results.items():
        program, padding, _, _ = VARIANTS[name]
        pad = {"fixed": f"fixed {args.max_seq_length}", "bucket": "bucketed by length",
               "longest": "longest in batch"}[padding]
        flags = " ".join(f"--{f}" for f in r.get("flags") or []) or "—"
        s = r.get("summary")
        if not s:
            print(f"| {name} | {pad} | {flags} | {r['status']} | | | | | | | |")
            continue
        last = r["reps"][-1]
        load = f"{_fmt(last['load_before'][0], '.2f')} → {_fmt(last['load_after'][0], '.2f')}" \
            if last.get("load_before") and last.get("load_after") else "—"
        if last.get("cpus_busy_before") is not None:
            load += f" ({100 * last['cpus_busy_before']:.0f}% busy)"
        vs_o = f"{rate[name] / base_orig:.2f}x" if base_orig else "—"
        vs_t = f"{rate[name] / base_torch:.2f}x" if base_torch else "—"
        print(f"| {name} | {pad} | {flags} | {s['steady_examples_per_sec']:,.1f} | "
              f"{s['median_examples_per_sec']:,.1f} | {s['median_step_ms']:,.0f} ({s['p10_step_ms']:,.0f}–"
              f"{s['p90_step_ms']:,.0f}) | {_fmt(s['mean_padded_length'])} | {_fmt(s['cpu_cores_used'], '.2f')} "
              f"| {load} | {vs_o} | {vs_t} |")

    warning = common.busy_warning({name: [e.get("cpus_busy_before") for e in r["reps"]]
                                   for name, r in results.items()})
    if warning:
        print(f"\n{warning}")

    goals = []

    def goal(what, name, base_name, base, target):
        if name is None or base is None:
            missing = base_name if base is None else "a variant of ours"
            goals.append({"goal": what, "status": "N/A", "why": f"{missing} not measured"})
            print(f"- {what}: N/A ({missing} not measured)")
            return
        ratio = rate[name] / base
        status = "PASS" if ratio >= target else "FAIL"
        goals.append({"goal": what, "variant": name, "against": base_name, "ratio": ratio,
                      "target": target, "status": status})
        print(f"- {what}: {name} {ratio:.2f}x {base_name} (goal ≥ {target}x): {status}")

    fixed = [n for n in rate if VARIANTS[n][0] == "ours" and VARIANTS[n][1] == "fixed"]
    bucket = [n for n in rate if VARIANTS[n][0] == "ours" and VARIANTS[n][1] == "bucket"]
    best_fixed = max(fixed, key=rate.__getitem__) if fixed else None
    best_bucket = max(bucket, key=rate.__getitem__) if bucket else None
    default = "ours" if "ours" in rate else None
    print("\nGoals:\n")
    goal("fixed padding, ours default ≥ 1.2x original", default, "original", base_orig, FIXED_GOAL)
    goal("fixed padding, ours default ≥ 1.2x PyTorch", default, "torch_fixed", base_torch, FIXED_GOAL)
    goal("fixed padding, best of ours ≥ 1.2x original", best_fixed, "original", base_orig, FIXED_GOAL)
    goal("fixed padding, best of ours ≥ 1.2x PyTorch", best_fixed, "torch_fixed", base_torch, FIXED_GOAL)
    goal("length bucketing, best of ours ≥ 3x original", best_bucket, "original", base_orig, BUCKET_GOAL)
    if best_bucket and "torch_longest" in rate:
        print(f"\n(For reference: {best_bucket} is {rate[best_bucket] / rate['torch_longest']:.2f}x PyTorch "
              "padded to each batch's longest member.)")
    return goals


def results_n(results: dict) -> str:
    n = next((r.get("train_examples") for r in results.values() if r.get("train_examples")), None)
    return f"{n:,}" if n else "?"


# ================================================================================== main
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=60, help="training steps per run")
    parser.add_argument("--measure_from", type=int, default=10, help="steps left out at the start of each run")
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=DEFAULT_VARIANTS)
    parser.add_argument("--reps", type=int, default=1, help="interleaved repetitions (medians reported)")
    parser.add_argument("--statistic", choices=["steady", "median"], default="steady",
                        help="the ex/s the ratios and goals use")
    parser.add_argument("--train_examples", type=int, default=0,
                        help="use the first N snippets of the task only (0: all of them)")
    parser.add_argument("--max_seq_length", type=int, default=128)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--torch_threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--torch_python", default=common.DEFAULT_TORCH_PYTHON,
                        help="python of a virtualenv with torch and transformers")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds allowed to one run")
    parser.add_argument("--work_dir", default=os.path.join(PROJECT_ROOT, ".cache", "bench_training"))
    parser.add_argument("--output", default=os.path.join(PROJECT_ROOT, "runs", "bench", "training.json"))
    args = parser.parse_args(argv)
    if args.measure_from < 0 or args.steps <= args.measure_from:
        parser.error("--steps must be larger than --measure_from (and both non-negative)")
    if any(VARIANTS[v][0] == "torch" for v in args.variants) and not os.path.exists(args.torch_python):
        parser.error(f"no PyTorch virtualenv at {args.torch_python}; pass --torch_python or leave the torch "
                     "variants out")
    return args


def run_once(name: str, rep: int, args, variant: dict, common_flags: list[str], features: str | None,
             hf_dir: str, runs_dir: str) -> dict:
    """One run of one variant: its steady-state numbers, or the error."""
    program = VARIANTS[name][0]
    tag = f"{name}.rep{rep}"
    timing_file = os.path.join(runs_dir, f"{tag}.timing.json")
    log_file = os.path.join(runs_dir, f"{tag}.log")
    busy = common.busy_share()
    load_before = common.load_average()
    log(f"rep {rep + 1}/{args.reps} {name}: load {load_before}, CPUs busy {busy} ...")
    if program == "torch":
        outcome = run_torch(args, VARIANTS[name][1], features, hf_dir, timing_file, log_file)
    else:
        outcome = run_tf(program, variant["flags"], common_flags, os.path.join(runs_dir, name),
                     timing_file, log_file, args.timeout)
    entry = {"rep": rep, "returncode": outcome["returncode"], "process_seconds": outcome["process_seconds"],
             "log": log_file, "load_before": load_before, "load_after": common.load_average(),
             "cpus_busy_before": busy}
    timing = outcome["timing"]
    try:
        if outcome["returncode"] != 0 or timing is None or timing.get("error"):
            raise ValueError((timing or {}).get("error") or f"exit status {outcome['returncode']}")
        entry.update(summarize(timing, args.batch_size, args.measure_from))
        if program == "torch":
            variant["torch_versions"] = {k: timing.get(k) for k in
                                         ("torch", "transformers", "threads", "attn_implementation")}
        if entry["steps"] != args.steps:
            entry["warning"] = f"{entry['steps']} training steps ran, not {args.steps}"
            log(f"  warning: {entry['warning']}")
        log(f"  {entry['steady_examples_per_sec']:.1f} ex/s steady, {entry['median_examples_per_sec']:.1f} "
            f"median, {entry['cpu_cores_used']:.2f} cores, first step {entry['first_step_seconds']:.1f}s, "
            f"process {outcome['process_seconds']:.0f}s")
    except (ValueError, KeyError, TypeError) as e:
        entry["error"] = str(e)
        log(f"  FAILED: {e}; last lines of {log_file}:\n{common.tail(log_file)}")
    return entry


def run(args: argparse.Namespace) -> dict:
    """Prepares the task and the model, runs every variant `--reps` times in a round robin;
    returns the document that `report` prints and saves (without its goals)."""
    variants = list(dict.fromkeys(args.variants))
    machine = common.machine_info()
    log(f"machine: {machine['cpu_model']}, {machine['cpu_count']} CPUs, load average {machine['load_average_start']}")
    os.makedirs(args.work_dir, exist_ok=True)
    data_dir = os.path.join(args.work_dir, "data")
    n = write_task(data_dir, args.train_examples or None)
    if n < args.batch_size:
        common.usage_error(f"{n} training examples make no batch of {args.batch_size}")
    hf_dir, tf_dir = common.minilm_checkpoint(os.path.join(args.work_dir, "minilm_tf"))
    features = None
    if any(VARIANTS[v][0] == "torch" for v in variants):
        features = torch_features(args.work_dir, data_dir, os.path.join(tf_dir, "vocab.txt"), args.max_seq_length)
    flags_available = available_flags() if any(VARIANTS[v][0] == "ours" for v in variants) else {}
    if flags_available:
        log("our run_classifier.py flags: " + ", ".join(f"--{k} {'yes' if v else 'NOT AVAILABLE'}"
                                                       for k, v in flags_available.items()))

    epochs = (args.steps + 0.5) * args.batch_size / n  # int(n / batch * epochs) == steps
    common_flags = ["--task_name=cola", "--do_train=true", f"--data_dir={data_dir}",
                    f"--vocab_file={tf_dir}/vocab.txt", f"--bert_config_file={tf_dir}/bert_config.json",
                    f"--init_checkpoint={tf_dir}/bert_model.ckpt", "--do_lower_case=true",
                    f"--max_seq_length={args.max_seq_length}", f"--train_batch_size={args.batch_size}",
                    "--learning_rate=5e-5", f"--num_train_epochs={epochs!r}", "--warmup_proportion=0.1",
                    "--save_checkpoints_steps=1000000", "--iterations_per_loop=1000000"]

    results: dict[str, dict] = {}
    runnable = []
    for name in variants:
        flags, missing = resolve_flags(name, flags_available)
        results[name] = {"program": VARIANTS[name][0], "padding": VARIANTS[name][1], "flags": flags,
                         "reps": [], "train_examples": n}
        if flags is None:
            results[name]["status"] = "flag not available: " + ", ".join(missing)
            results[name]["flags"] = list(VARIANTS[name][2])
            log(f"{name}: {results[name]['status']}")
        else:
            runnable.append(name)

    runs_dir = os.path.join(args.work_dir, "runs")
    os.makedirs(runs_dir, exist_ok=True)
    for rep in range(args.reps):
        order = runnable[rep % len(runnable):] + runnable[:rep % len(runnable)] if runnable else []
        for name in order:
            results[name]["reps"].append(run_once(name, rep, args, results[name], common_flags, features, hf_dir,
                                                  runs_dir))

    for r in results.values():
        good = [e for e in r["reps"] if "steady_examples_per_sec" in e]
        if good:
            r["status"] = "ok" if len(good) == len(r["reps"]) else f"ok in {len(good)}/{len(r['reps'])} reps"
            r["summary"] = {key: statistics.median(e[key] for e in good) for key in
                            ("steady_examples_per_sec", "median_examples_per_sec", "median_step_ms",
                             "p10_step_ms", "p90_step_ms", "total_examples_per_sec", "cpu_cores_used")}
            lengths = [e["mean_padded_length"] for e in good if e["mean_padded_length"] is not None]
            r["summary"]["mean_padded_length"] = statistics.median(lengths) if lengths else None
        elif r["reps"]:
            r["status"] = "failed (see its log)"
    machine["load_average_end"] = common.load_average()
    return {"benchmark": "training throughput", "machine": machine, "flags_available": flags_available,
            "settings": {k: v for k, v in vars(args).items()} | {"train_examples": n,
                                                                  "num_train_epochs": epochs,
                                                                  "common_flags": common_flags},
            "variants": results}


def report(document: dict, args: argparse.Namespace) -> int:
    """Prints the table and the goals, writes the JSON; returns the exit status (1 if a
    variant that could run has no result)."""
    results = document["variants"]
    document["goals"] = print_table(results, args, document["machine"], f"{args.statistic}_examples_per_sec")
    common.write_json(args.output, document, indent=1)
    log(f"wrote {args.output}")
    return 0 if all(r.get("summary") or r["status"].startswith("flag not available") for r in results.values()) \
        else 1


main = common.entry_point(parse_args, run, report)


if __name__ == "__main__":
    sys.exit(main())
