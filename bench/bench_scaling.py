"""Measures how time and memory grow with the amount of data, step by step, on real sentences.

The data are the 10,605 real movie-review snippets (Hutto & Gilbert 2014, fetched by
`assets.fetch_movie_snippets`), repeated and shuffled (seeded) to reach each size;
label 1 when a snippet's mean human score is positive, else 0. Sizes: `--sizes`
(10k, 100k and 1M examples by default), max_seq_length `--max_seq_length` (64).

Four steps, each size of each step in a child process of its own (this script with a
hidden `--child STEP SIZE`, printing one JSON line), so that every peak is that of the
one step:

1. `prep`: texts -> TFRecords as run_classifier.py writes them: the examples read into a
   list of `InputExample`s (as a processor does), then
   `feature_cache.cached_convert_examples_to_features` (fingerprint + the fast backend
   on every core: the step process and its forked workers), the record file removed
   first so that it is really built; then once more, a cache hit (fingerprint + the
   check of the file).
2. `pipeline`: one epoch of the training input with the epoch shuffle
   (`input_pipeline.file_based_input_fn_builder(is_training=True, shuffle_buffer_size=0,
   num_examples=N)`, run_classifier.py's default), batches of 32, in graph mode
   (`make_one_shot_iterator` in a Session), no model. The shuffle holds the N serialized
   records: the RSS growth per example, the slope over the sizes (least squares), is
   what an N-record shuffle costs, from which the report works out what 10M examples
   would need and the stream buffer (`--shuffle_buffer_size=B`) that fits
   `--shuffle_budget_mib`.
3. `eval`: `estimator.evaluate` of TPUEstimator (use_tpu=False) with
   `run_classifier.model_fn_builder`, on the real all-MiniLM-L6-v2 weights
   (`common.minilm_checkpoint`) plus a seeded 2-label classifier head, batch 32, each
   batch cut to its longest member (run_classifier's default off TPU). Evaluating 1M
   examples is not feasible on a small CPU machine (~200 examples/s), so only the first
   `--eval_examples` (4096) records of the size-N file are evaluated: the question is
   whether the RSS depends on N (it should not: the eval input streams).
4. `predict`: `predict.py --input_file` (a file of one text a line, `--output_format
   tsv` into a file) on `--predict_lines / 10` and `--predict_lines` lines (10k and
   100k), with an export built once by `run_classifier.py --do_predict --export_dir`
   (as bench/bench_inference.py builds it, at --max_seq_length).

Memory: "peak RSS" is the step process's VmHWM, reset (`/proc/self/clear_refs`) once
imports and set-up are done, so it is the peak of the measured work, baseline included;
for `predict`, the whole predict.py process (its `ru_maxrss`, read by the step process
with `getrusage(RUSAGE_CHILDREN)`). For `prep`, the forked workers are reported apart:
the largest one's peak (`RUSAGE_CHILDREN.ru_maxrss` of the step process) and the sum
over the process tree, RSS and PSS (pages shared with the parent counted once), sampled
every 0.25 s by this process from /proc (a shorter spike may be missed). Each step gets
a verdict: "flat" when the peak RSS grows less than 10% from the smallest size to the
largest, else the growth in bytes per example. The load average is recorded before and
after each run (another job on the machine shows there, and in a warning).

Everything generated (data, records, checkpoint, export, logs) lives in `--work_dir`
(.cache/bench_scaling) and is reused; the results go to `--out` (runs/bench/scaling.json).

    .venv/bin/python bench/bench_scaling.py [--sizes 10000,100000,1000000] [--eval_examples 4096]
        [--predict_lines 100000] [--steps prep,pipeline,eval,predict]
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import math
import os
import random
import re
import resource
import subprocess
import sys
import tempfile
import time

if __name__ == "__main__":  # `python bench/NAME.py`: import from the project root
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
from bench import common  # noqa: E402

STEPS = ("prep", "pipeline", "eval", "predict")
LABELS = ["0", "1"]
BATCH = 32
DATA_SEED = 0
HEAD_SEED, HEAD_STDDEV = 0, 0.2  # the classifier head, as bench_inference.py's
FLAT = 0.10  # peak RSS growing less than this share from the smallest size to the largest: "flat"
SAMPLE_SECONDS = 0.25
TEN_MILLION = 10_000_000
MIB = 1024 * 1024


# ========================================================================= the layout
def layout(work_dir: str, max_seq_length: int) -> dict:
    """The paths of everything generated in `work_dir`."""
    model = os.path.join(work_dir, "model")
    return {"work_dir": work_dir, "tf_dir": os.path.join(work_dir, "minilm_tf"),
            "finetuned": os.path.join(model, "finetuned", "bert_model.ckpt"),
            "model_data": os.path.join(model, "data"), "model_output": os.path.join(model, f"output-seq{max_seq_length}"),
            "export_dir": os.path.join(model, f"export-seq{max_seq_length}"),
            "data": os.path.join(work_dir, "data"), "records": os.path.join(work_dir, "records"),
            "logs": os.path.join(work_dir, "logs"), "predict": os.path.join(work_dir, "predict")}


def data_file(paths: dict, n: int) -> str:
    return os.path.join(paths["data"], f"snippets-{n}.tsv")


def lines_file(paths: dict, n: int) -> str:
    return os.path.join(paths["data"], f"lines-{n}.txt")


def record_file(paths: dict, n: int, max_seq_length: int) -> str:
    return os.path.join(paths["records"], f"train-{n}.seq{max_seq_length}.tf_record")


# ============================================================================ the data
def labeled_snippets() -> list[tuple[str, str]]:
    """(label, text) of the 10,605 movie-review snippets (`id<TAB>score<TAB>text`, CRLF):
    label "1" when the mean score is positive."""
    from bert_estimator.data import assets

    with open(assets.fetch_movie_snippets(), "rb") as f:
        lines = f.read().decode("utf-8").split("\n")
    rows = []
    for line in lines:
        if line.strip():
            _, score, text = line.rstrip("\r").split("\t", 2)
            rows.append((LABELS[float(score) > 0], " ".join(text.split())))
    return rows


def repeated_and_shuffled(count: int, n: int, seed: int = DATA_SEED) -> list[int]:
    """`n` indices into `count` items: every item ceil(n / count) times, shuffled, cut to n."""
    order = list(range(count)) * -(-n // count)
    random.Random(seed).shuffle(order)
    return order[:n]


def write_lines(path: str, lines) -> None:
    """Writes `lines` (each ending in a newline) to `path`, under its name only when whole."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.writelines(lines)
    os.replace(tmp, path)


def ensure_data(paths: dict, snippets: list[tuple[str, str]], n: int) -> str:
    """The `label<TAB>text` file of `n` examples (made once)."""
    path = data_file(paths, n)
    if not os.path.exists(path):
        common.log(f"writing {n:,} examples to {path} ...")
        write_lines(path, (f"{snippets[i][0]}\t{snippets[i][1]}\n"
                           for i in repeated_and_shuffled(len(snippets), n)))
    return path


def ensure_lines(paths: dict, snippets: list[tuple[str, str]], n: int) -> str:
    """predict.py's input: `n` texts, one a line (made once)."""
    path = lines_file(paths, n)
    if not os.path.exists(path):
        common.log(f"writing {n:,} lines to {path} ...")
        write_lines(path, (f"{snippets[i][1]}\n" for i in repeated_and_shuffled(len(snippets), n, DATA_SEED + 1)))
    return path


def records_whole(path: str) -> bool:
    """Whether the record file is there with the size its fingerprint sidecar records."""
    try:
        with open(f"{path}.fingerprint") as f:
            summary = json.load(f)
        return os.path.getsize(path) == summary["bytes"]
    except (OSError, ValueError, KeyError, TypeError):
        return False


# ================================================================ memory (this process)
def status_kib(field: str, pid: str = "self") -> int:
    """A memory figure of /proc/PID/status (VmRSS, VmHWM), in KiB."""
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(f"{field}:"))


def reset_peak_rss() -> None:
    """Resets VmHWM (the peak RSS) to the current RSS (Linux >= 4.0)."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def workers_peak_kib() -> int:
    """The largest peak RSS of this process's waited-for children (0 when none)."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss


# ======================================================================== the children
def child_setup(args: argparse.Namespace, paths: dict) -> dict:
    """The fine-tuned-looking checkpoint (MiniLM + a seeded 2-label head) and the export
    of `run_classifier.py --do_predict --export_dir`, unless there already."""
    from bert_estimator.serving import saved_model

    done = {}
    if not os.path.exists(paths["finetuned"] + ".index"):
        common.write_classifier_checkpoint(paths["tf_dir"], paths["finetuned"], HEAD_SEED, HEAD_STDDEV)
        done["finetuned"] = paths["finetuned"]
    if not saved_model.export_versions(paths["export_dir"]):
        common.export_classifier(paths["tf_dir"], paths["finetuned"], labeled_snippets()[:64], paths["model_data"],
                                 paths["model_output"], paths["export_dir"], args.max_seq_length, BATCH,
                                 os.path.join(paths["logs"], "export.log"))
        done["export_dir"] = paths["export_dir"]
    return {"made": done}


def child_prep(args: argparse.Namespace, paths: dict, n: int) -> dict:
    """Reads the N examples into a list, converts them as run_classifier does (records
    removed first), then once more: a cache hit."""
    import tensorflow.compat.v1 as tf

    import tokenization
    from bert_estimator.data import feature_cache, features, parallel
    from processors import InputExample

    tokenizer = tokenization.FullTokenizer(os.path.join(paths["tf_dir"], "vocab.txt"), do_lower_case=True)
    out = record_file(paths, n, args.max_seq_length)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    for path in (out, f"{out}.fingerprint"):
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)
    with tempfile.TemporaryDirectory(dir=paths["work_dir"]) as tmp:  # TF's file system and writer started
        features.file_based_convert_examples_to_features(
            [InputExample("warm", "warm up", None, "0")], LABELS, args.max_seq_length, tokenizer,
            os.path.join(tmp, "warm.tf_record"))
    rss_before = status_kib("VmRSS")
    reset_peak_rss()
    cpu_start, start = common.cpu_seconds(), time.perf_counter()
    examples = []
    with open(data_file(paths, n), encoding="utf-8") as f:
        for i, line in enumerate(f):
            label, text = line.rstrip("\n").split("\t", 1)
            examples.append(InputExample(f"train-{i}", text, None, label))
    read_seconds = time.perf_counter() - start
    rss_after_read = status_kib("VmRSS")
    convert = functools.partial(feature_cache.cached_convert_examples_to_features, examples, LABELS,
                                args.max_seq_length, tokenizer, out, extra_fingerprint={"task": "bench_scaling"})
    seconds, reused = common.timed(convert)
    cpu = common.cpu_seconds() - cpu_start
    peak = status_kib("VmHWM")
    hit_seconds, hit = common.timed(convert)  # now a cache hit
    with open(f"{out}.fingerprint") as f:
        summary = json.load(f)
    return {"examples": len(examples), "seconds": seconds, "read_seconds": read_seconds, "cpu_seconds": cpu,
            "rss_before_kib": rss_before, "rss_after_read_kib": rss_after_read, "peak_rss_kib": peak,
            "workers_peak_rss_kib": workers_peak_kib(), "processes": parallel.default_num_workers(),
            "built": not reused, "cache_hit": hit, "cache_hit_seconds": hit_seconds,
            "records": summary["records"], "file_bytes": summary["bytes"], "tensorflow": tf.__version__}


def child_pipeline(args: argparse.Namespace, paths: dict, n: int) -> dict:
    """One epoch of the training input (epoch shuffle), batches of 32, no model."""
    import tensorflow.compat.v1 as tf

    from bert_estimator.data import input_pipeline

    path = record_file(paths, n, args.max_seq_length)
    batches = n // BATCH
    graph = tf.Graph()
    with graph.as_default():
        input_fn = input_pipeline.file_based_input_fn_builder(
            path, args.max_seq_length, is_training=True, drop_remainder=True, shuffle_seed=DATA_SEED,
            shuffle_buffer_size=0, num_examples=n)
        batch = tf.data.make_one_shot_iterator(input_fn({"batch_size": BATCH})).get_next()
        with tf.Session(graph=graph) as sess:
            rss_before = status_kib("VmRSS")
            reset_peak_rss()
            start = time.perf_counter()
            seen = len(sess.run(batch)["label_ids"])  # the shuffle buffer fills first
            first = time.perf_counter()
            for _ in range(batches - 1):
                seen += len(sess.run(batch)["label_ids"])
            end = time.perf_counter()
    record_bytes = os.path.getsize(path) / n - 16  # a record's data, its framing left out
    return {"examples": seen, "batches": batches, "seconds": end - start, "first_batch_seconds": first - start,
            "rss_before_kib": rss_before, "peak_rss_kib": status_kib("VmHWM"), "record_bytes": record_bytes,
            "tensorflow": tf.__version__}


def child_eval(args: argparse.Namespace, paths: dict, n: int) -> dict:
    """`estimator.evaluate` over the first `--eval_examples` records of the size-N file."""
    import tensorflow.compat.v1 as tf

    import modeling
    import run_classifier
    from bert_estimator.data import input_pipeline

    tf.logging.set_verbosity(tf.logging.WARN)
    evaluated = min(args.eval_examples, n)
    steps = math.ceil(evaluated / BATCH)
    bert_config = modeling.BertConfig.from_json_file(os.path.join(paths["tf_dir"], "bert_config.json"))
    model_fn = run_classifier.model_fn_builder(
        bert_config=bert_config, num_labels=len(LABELS), init_checkpoint=paths["finetuned"],
        learning_rate=5e-5, num_train_steps=None, num_warmup_steps=None, use_tpu=False,
        use_one_hot_embeddings=False)
    input_fn = input_pipeline.file_based_input_fn_builder(
        record_file(paths, n, args.max_seq_length), args.max_seq_length, is_training=False,
        drop_remainder=False, bucket_by_length=True)

    class BatchTimes(tf.train.SessionRunHook):
        def __init__(self):
            self.times = []

        def after_run(self, run_context, run_values):
            self.times.append(time.perf_counter())

    hook = BatchTimes()
    with tempfile.TemporaryDirectory(dir=paths["work_dir"]) as model_dir:
        config = tf.estimator.tpu.RunConfig(model_dir=model_dir)
        estimator = tf.estimator.tpu.TPUEstimator(
            use_tpu=False, model_fn=model_fn, config=config, train_batch_size=BATCH,
            eval_batch_size=BATCH, predict_batch_size=BATCH)
        rss_before = status_kib("VmRSS")
        reset_peak_rss()
        start = time.perf_counter()
        result = estimator.evaluate(input_fn=input_fn, steps=steps, hooks=[hook])
        seconds = time.perf_counter() - start
    # The hook also sees the runs that update the metrics' final values: the batches are
    # the first `steps` runs.
    times = hook.times[:steps]
    steady = (len(times) - 1) * BATCH / (times[-1] - times[0]) if len(times) > 1 else None
    return {"examples": min(steps * BATCH, n), "steps": steps, "seconds": seconds, "steady_rate": steady,
            "first_batch_seconds": times[0] - start if times else None, "rss_before_kib": rss_before,
            "peak_rss_kib": status_kib("VmHWM"), "accuracy": float(result.get("eval_accuracy", float("nan"))),
            "tensorflow": tf.__version__}


_LOADED = re.compile(r"loaded .* in ([\d.]+) s")
_RATE = re.compile(r"(\d+) sentence\(s\) at batch (\d+) in ([\d.]+) ms: (\d+) sentences/sec")


def child_predict(args: argparse.Namespace, paths: dict, n: int) -> dict:
    """predict.py on `n` lines; its peak RSS is this process's only child's."""
    os.makedirs(paths["predict"], exist_ok=True)
    out = os.path.join(paths["predict"], f"out-{n}.tsv")
    cmd = [sys.executable, os.path.join(common.PROJECT_ROOT, "predict.py"), f"--export_dir={paths['export_dir']}",
           f"--input_file={lines_file(paths, n)}", "--output_format=tsv", f"--batch_size={BATCH}"]
    start = time.perf_counter()
    with open(out, "w") as stdout:
        result = subprocess.run(cmd, stdout=stdout, stderr=subprocess.PIPE, text=True, cwd=common.PROJECT_ROOT,
                                env=common.subprocess_env())
    seconds = time.perf_counter() - start
    sys.stderr.write(result.stderr)
    if result.returncode != 0:
        raise SystemExit(f"predict.py failed (exit {result.returncode})")
    with open(out, "rb") as f:
        written = sum(1 for _ in f) - 1  # the header
    loaded, rate = _LOADED.search(result.stderr), _RATE.search(result.stderr)
    return {"examples": n, "written": written, "seconds": seconds, "peak_rss_kib": workers_peak_kib(),
            "load_seconds": float(loaded.group(1)) if loaded else None,
            "predict_seconds": float(rate.group(3)) / 1000 if rate else None,
            "sentences_per_second": float(rate.group(4)) if rate else None}


CHILDREN = {"setup": child_setup, "prep": child_prep, "pipeline": child_pipeline, "eval": child_eval,
            "predict": child_predict}


def run_child(args: argparse.Namespace) -> int:
    """`--child STEP SIZE`: runs the step, prints its JSON line (the last line of stdout)."""
    step, n = args.child[0], int(args.child[1])
    common.quiet_tensorflow()
    paths = layout(args.work_dir, args.max_seq_length)
    result = CHILDREN[step](args, paths) if step == "setup" else CHILDREN[step](args, paths, n)
    print(json.dumps(result), flush=True)
    return 0


# ========================================================== the parent: process trees
def _parents() -> dict[int, int]:
    """pid -> parent pid of every process (from /proc/PID/stat)."""
    parents = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as f:
                    stat = f.read()
            except OSError:
                continue
            parents[int(name)] = int(stat.rsplit(")", 1)[1].split()[1])
    return parents


def _tree(root: int) -> list[int]:
    parents = _parents()
    tree, frontier = [root], [root]
    while frontier:
        frontier = [pid for pid, parent in parents.items() if parent in frontier]
        tree += frontier
    return tree


def _rss_and_pss_kib(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of a process in KiB; (0, 0) once it is gone."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            fields = {parts[0]: int(parts[1]) for parts in map(str.split, f) if parts[0] in ("Rss:", "Pss:")}
        return fields["Rss:"], fields["Pss:"]
    except (OSError, KeyError, ValueError):
        return 0, 0


def run_measured(args: argparse.Namespace, step: str, n: int, paths: dict) -> dict:
    """Runs `--child step n`, sampling its process tree's memory; returns its JSON plus
    the samples' peaks, the load and the CPUs' busy share before."""
    os.makedirs(paths["logs"], exist_ok=True)
    log_file, out_file = (os.path.join(paths["logs"], f"{step}-{n}.{ext}") for ext in ("log", "out"))
    cmd = [sys.executable, os.path.abspath(__file__), "--child", step, str(n), f"--work_dir={args.work_dir}",
           f"--max_seq_length={args.max_seq_length}", f"--eval_examples={args.eval_examples}"]
    busy = common.busy_share(1.0) if step != "setup" else None
    load_before = common.load_average()
    common.log(f"{step} {n:,} ... (log: {log_file})")
    tree_rss = tree_pss = processes = 0
    with open(log_file, "w") as err, open(out_file, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, cwd=common.PROJECT_ROOT, env=common.subprocess_env())
        while proc.poll() is None:
            pids = _tree(proc.pid)
            sizes = [_rss_and_pss_kib(pid) for pid in pids]
            tree_rss = max(tree_rss, sum(r for r, _ in sizes))
            tree_pss = max(tree_pss, sum(p for _, p in sizes))
            processes = max(processes, sum(1 for r, _ in sizes if r))
            time.sleep(SAMPLE_SECONDS)
    if proc.returncode != 0:
        raise SystemExit(f"{step} {n}: the child failed (exit {proc.returncode}); last lines of {log_file}:\n"
                         + common.tail(log_file))
    with open(out_file) as f:
        lines = [line for line in f.read().splitlines() if line.startswith("{")]
    if not lines:
        raise SystemExit(f"{step} {n}: no result line in {out_file}; last lines of {log_file}:\n"
                         + common.tail(log_file))
    result = json.loads(lines[-1])
    result.update(size=n, tree_peak_rss_kib=tree_rss, tree_peak_pss_kib=tree_pss, tree_processes=processes,
                  busy_before=busy, load_before=load_before, load_after=common.load_average())
    if step != "setup":
        common.log(f"{step} {n:,}: {result['seconds']:.1f} s, peak RSS {result['peak_rss_kib'] / 1024:,.0f} MiB")
    return result


# ====================================================================== the analysis
def slope(points: list[tuple[float, float]]) -> float | None:
    """The least-squares slope of (x, y) points (None for fewer than two distinct x)."""
    if len({x for x, _ in points}) < 2:
        return None
    mx = sum(x for x, _ in points) / len(points)
    my = sum(y for _, y in points) / len(points)
    return sum((x - mx) * (y - my) for x, y in points) / sum((x - mx) ** 2 for x, _ in points)


def growth(rows: list[dict], key: str = "peak_rss_kib", size: str = "size") -> dict:
    """How `key` (KiB) grows over the rows: the share from the smallest size to the
    largest, the slope in bytes per example (least squares), the verdict."""
    first, last = rows[0], rows[-1]
    share = (last[key] - first[key]) / first[key] if first[key] else 0.0
    per_example = slope([(r[size], r[key] * 1024) for r in rows])
    if len(rows) < 2:
        verdict = "one size only: no growth to measure"
    elif share < FLAT:
        verdict = (f"flat: peak RSS {share:+.1%} from {first[size]:,} to {last[size]:,} "
                   f"({first[key] / 1024:,.0f} -> {last[key] / 1024:,.0f} MiB)")
    else:
        verdict = (f"grows ~{per_example:,.0f} bytes/example (least squares over the sizes): peak RSS "
                   f"{share:+.1%} from {first[size]:,} to {last[size]:,} "
                   f"({first[key] / 1024:,.0f} -> {last[key] / 1024:,.0f} MiB)")
    return {"share": share, "bytes_per_example": per_example, "flat": len(rows) > 1 and share < FLAT,
            "verdict": verdict}


def nice_round_down(value: float) -> int:
    """The largest 1, 2 or 5 times a power of ten not above `value` (at least 1)."""
    if value < 1:
        return 1
    power = 10 ** int(math.floor(math.log10(value)))
    return max(m * power for m in (1, 2, 5) if m * power <= value)


def shuffle_advice(rows: list[dict], budget_mib: float) -> dict | None:
    """What 10M examples cost with the epoch shuffle, and the stream buffer that fits
    `budget_mib`, from the pipeline's measured RSS per example."""
    per_example = slope([(r["size"], r["peak_rss_kib"] * 1024) for r in rows])
    if per_example is None:
        return None
    record_bytes = sum(r["record_bytes"] for r in rows) / len(rows)
    advice = {"bytes_per_example": per_example, "record_bytes": record_bytes, "budget_mib": budget_mib}
    if per_example <= 0:
        advice["text"] = (f"The peak RSS did not grow with the size ({per_example:,.0f} bytes/example): the sizes "
                          "are too small to tell what the epoch shuffle costs per example; measure larger sizes")
        return advice
    intercept = sum(r["peak_rss_kib"] * 1024 - per_example * r["size"] for r in rows) / len(rows)
    first, last = rows[0], rows[-1]
    grew_mib = (last["peak_rss_kib"] - first["peak_rss_kib"]) / 1024
    caution = (f". Uncertain: between the smallest and the largest size the peak grew by {grew_mib:,.1f} MiB only, "
               "within the noise of a process's RSS: measure larger sizes" if grew_mib < 64 else "")
    buffer = nice_round_down(budget_mib * MIB / per_example)
    advice.update(epoch_shuffle_bytes_10m=per_example * TEN_MILLION,
                  process_peak_bytes_10m=intercept + per_example * TEN_MILLION,
                  stream_buffer=buffer, stream_buffer_bytes=buffer * per_example)
    advice["text"] = (
        f"The epoch shuffle costs ~{per_example:,.0f} bytes of RSS per example (the serialized record itself: "
        f"{record_bytes:,.0f} bytes, {record_bytes + 16:,.0f} in the file with its framing, at max_seq_length "
        f"{rows[0].get('max_seq_length', '?')}). With 10,000,000 "
        f"examples it would hold ~{per_example * TEN_MILLION / 2**30:,.1f} GiB (the input process's peak "
        f"~{(intercept + per_example * TEN_MILLION) / 2**30:,.1f} GiB): keep the default "
        f"(--shuffle_buffer_size=0, clean epochs) where that fits; else --shuffle_buffer_size={buffer:,} "
        f"(a stream buffer of {buffer / TEN_MILLION:.0%} of the data, ~{buffer * per_example / MIB:,.0f} MiB, "
        f"the largest round size within --shuffle_budget_mib {budget_mib:,.0f}), on a file shuffled once "
        "beforehand: a stream buffer only mixes neighbouring records and gives no clean epochs (docs/RESULTS.md)"
        + caution)
    return advice


# ======================================================================== the report
def _mib(kib) -> str:
    return "—" if kib is None else f"{kib / 1024:,.0f}"


def _rate(n, seconds) -> str:
    return f"{n / seconds:,.0f}" if seconds else "—"


def _growth_cell(row: dict, first: dict, key: str = "peak_rss_kib") -> str:
    if row is first:
        return "—"
    per_100k = (row[key] - first[key]) / 1024 / (row["size"] - first["size"]) * 100_000
    return f"{per_100k:+,.1f}"


def print_table(header: list[str], rows: list[list]) -> None:
    print(common.markdown_row(header))
    print(common.markdown_row("---:" for _ in header))
    for row in rows:
        print(common.markdown_row(row))


def report(results: dict, args: argparse.Namespace) -> int:
    steps, info = results["steps"], results["data"]
    print(f"# Scaling: time and peak memory against the amount of data\n\n{common.python_and_cpus()}, "
          f"{results['machine']['cpu_model']}, TensorFlow {results['machine']['tensorflow']}; load average "
          f"(1/5/15 min) {common.format_load(results['load_before'])} before, "
          f"{common.format_load(results['load_after'])} after.\n")
    print(f"Data: the {info['snippets']:,} real movie-review snippets (Hutto & Gilbert 2014), repeated and "
          f"shuffled (seed {DATA_SEED}) to reach each size (1M = {1_000_000 / info['snippets']:.1f} copies of "
          f"each); label 1 for a positive mean score. max_seq_length {args.max_seq_length}, batch {BATCH}. "
          "Peak RSS: of the process doing the step, from the start of the measured work (its baseline "
          "included); growth: of the peak RSS, per 100k examples, against the smallest size.\n")
    if "prep" in steps:
        rows = steps["prep"]
        print(f"## 1. Data preparation (texts -> TFRecords: a list of InputExamples, then "
              f"`cached_convert_examples_to_features`, fast backend on {rows[0]['processes']} processes)\n")
        print_table(["examples", "seconds", "examples/s", "peak RSS MiB", "growth MiB/100k", "RSS after reading MiB",
                     "largest worker peak MiB", "tree peak RSS / PSS MiB (sampled)", "cache hit s"],
                    [[f"{r['size']:,}", f"{r['seconds']:.1f}", _rate(r["size"], r["seconds"]),
                      _mib(r["peak_rss_kib"]), _growth_cell(r, rows[0]), _mib(r["rss_after_read_kib"]),
                      _mib(r["workers_peak_rss_kib"]), f"{_mib(r['tree_peak_rss_kib'])} / {_mib(r['tree_peak_pss_kib'])} ({r['tree_processes']} seen)",
                      f"{r['cache_hit_seconds']:.1f}"] for r in rows])
        g = results["verdicts"]["prep"]
        convert = growth([{**r, "peak": r["peak_rss_kib"] - r["rss_after_read_kib"]} for r in rows], "peak")
        print(f"\n**Verdict (prep):** {g['verdict']}. Of which the conversion itself (peak minus the RSS once "
              f"the examples are read): {convert['bytes_per_example'] or 0:,.0f} bytes/example; the rest is the "
              "list of examples that run_classifier.py holds. Seconds: the conversion with its fingerprint (the "
              "reading of the examples not included); workers: `RUSAGE_CHILDREN.ru_maxrss` of the step process "
              "(forked copies: their RSS includes pages shared with it); tree: sums over the step process and its "
              "workers sampled every 0.25 s (\"1 seen\": the workers lived between two samples).\n")
    if "pipeline" in steps:
        rows = steps["pipeline"]
        print("## 2. First-epoch training input (epoch shuffle: `shuffle_buffer_size=0, num_examples=N`), "
              "graph mode, no model\n")
        print_table(["examples", "seconds", "examples/s", "batches/s", "peak RSS MiB", "growth MiB/100k",
                     "RSS before MiB", "first batch s (buffer fill)", "record bytes (in file)"],
                    [[f"{r['size']:,}", f"{r['seconds']:.1f}", _rate(r["examples"], r["seconds"]),
                      _rate(r["batches"], r["seconds"]), _mib(r["peak_rss_kib"]), _growth_cell(r, rows[0]),
                      _mib(r["rss_before_kib"]), f"{r['first_batch_seconds']:.1f}", f"{r['record_bytes']:.0f} ({r['record_bytes'] + 16:.0f})"]
                     for r in rows])
        print(f"\n**Verdict (pipeline):** {results['verdicts']['pipeline']['verdict']}.")
        advice = results.get("shuffle_advice")
        if advice:
            print(f"\n**10M examples:** {advice['text']}.")
        print()
    if "eval" in steps:
        rows = steps["eval"]
        rates = [r["steady_rate"] for r in rows if r["steady_rate"]]
        whole = "evaluating every record is not feasible on a small CPU machine"
        if rates:
            minutes = rows[-1]["size"] / min(rates) / 60
            took = f"{minutes / 60:,.1f} h" if minutes >= 60 else f"{minutes:,.0f} min"
            whole = f"all {rows[-1]['size']:,} would take ~{took} at the measured rate"
        print(f"## 3. Eval (`estimator.evaluate`, all-MiniLM-L6-v2 + 2-label head, batch {BATCH}, dynamic "
              f"padding): only the first {args.eval_examples:,} records of each size-N file are evaluated "
              f"({whole})\n")
        print_table(["records in file", "evaluated", "seconds (graph + restore included)", "examples/s steady",
                     "peak RSS MiB", "growth MiB/100k of file", "RSS before MiB"],
                    [[f"{r['size']:,}", f"{r['examples']:,}", f"{r['seconds']:.1f}",
                      f"{r['steady_rate']:,.1f}" if r["steady_rate"] else "—", _mib(r["peak_rss_kib"]),
                      _growth_cell(r, rows[0]), _mib(r["rss_before_kib"])] for r in rows])
        print(f"\n**Verdict (eval):** {results['verdicts']['eval']['verdict']} (same number of examples "
              "evaluated at every size: what varies is the size of the file the input streams from).\n")
    if "predict" in steps:
        rows = steps["predict"]
        print(f"## 4. predict.py --input_file (one text a line, --output_format=tsv into a file, batch {BATCH})\n")
        print_table(["lines", "seconds (end to end)", "lines/s end to end", "sentences/s (predict.py's line)",
                     "load s", "peak RSS MiB (whole predict.py)", "growth MiB/100k"],
                    [[f"{r['size']:,}", f"{r['seconds']:.1f}", _rate(r["size"], r["seconds"]),
                      f"{r['sentences_per_second']:,.0f}" if r["sentences_per_second"] else "—",
                      f"{r['load_seconds']:.1f}" if r["load_seconds"] is not None else "—",
                      _mib(r["peak_rss_kib"]), _growth_cell(r, rows[0])] for r in rows])
        g = results["verdicts"]["predict"]
        per_line = f"{g['bytes_per_example']:,.0f}" if g["bytes_per_example"] is not None else "?"
        print(f"\n**Verdict (predict):** {g['verdict']}. predict.py keeps every line, its features and its "
              f"output until it writes them all at the end (it sorts all the texts by length): measured "
              f"{per_line} bytes/line of peak RSS between these sizes.\n")
    warning = common.busy_warning({f"{step} {r['size']:,}": [r["busy_before"]] for step, rows in steps.items()
                                   for r in rows})
    if warning:
        print(warning + "\n")
    print(f"(JSON: {args.out}; logs: {os.path.join(args.work_dir, 'logs')})")
    bad = [f"predict {r['size']}: {r['written']} lines written" for r in steps.get("predict", [])
           if r["written"] != r["size"]]
    if bad:
        print("error: " + "; ".join(bad), file=sys.stderr)
        return 1
    return 0


# ============================================================================= the run
def run(args: argparse.Namespace) -> dict:
    """Prepares what the steps need (reused from --work_dir), runs every step at every
    size in a child process, writes the JSON."""
    paths = layout(args.work_dir, args.max_seq_length)
    for key in ("data", "records", "logs"):
        os.makedirs(paths[key], exist_ok=True)
    machine = common.machine_info()
    snippets = labeled_snippets()
    common.minilm_checkpoint(paths["tf_dir"])
    if {"eval", "predict"} & set(args.steps):
        run_measured(args, "setup", 0, paths)
    for n in args.sizes:
        if {"prep", "pipeline", "eval"} & set(args.steps):
            ensure_data(paths, snippets, n)
    predict_sizes = sorted({max(1, args.predict_lines // 10), args.predict_lines})
    for n in predict_sizes if "predict" in args.steps else ():
        ensure_lines(paths, snippets, n)

    load_before = common.load_average()
    steps: dict[str, list[dict]] = {}
    if "prep" in args.steps:
        steps["prep"] = [run_measured(args, "prep", n, paths) for n in args.sizes]
    for n in args.sizes:  # the records of the later steps, built (not measured) when missing
        if {"pipeline", "eval"} & set(args.steps) and not records_whole(record_file(paths, n, args.max_seq_length)):
            run_measured(args, "prep", n, paths)
    for step in ("pipeline", "eval"):
        if step in args.steps:
            steps[step] = [{**run_measured(args, step, n, paths), "max_seq_length": args.max_seq_length}
                           for n in args.sizes]
    if "predict" in args.steps:
        steps["predict"] = [run_measured(args, "predict", n, paths) for n in predict_sizes]
    results = {"machine": machine, "load_before": load_before, "load_after": common.load_average(),
               "data": {"snippets": len(snippets), "seed": DATA_SEED, "sizes": args.sizes,
                        "predict_sizes": predict_sizes if "predict" in args.steps else []},
               "settings": {"max_seq_length": args.max_seq_length, "batch_size": BATCH,
                            "eval_examples": args.eval_examples, "predict_lines": args.predict_lines,
                            "work_dir": args.work_dir, "steps": args.steps},
               "steps": steps, "verdicts": {step: growth(rows) for step, rows in steps.items()}}
    if "pipeline" in steps:
        results["shuffle_advice"] = shuffle_advice(steps["pipeline"], args.shuffle_budget_mib)
    common.write_json(args.out, results, indent=1)
    return results


def _sizes(text: str) -> list[int]:
    try:
        sizes = sorted({int(s) for s in text.split(",") if s.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected sizes like 10000,100000: {text!r}") from None
    if not sizes or sizes[0] < BATCH:
        raise argparse.ArgumentTypeError(f"sizes must be at least {BATCH} (one batch): {text!r}")
    return sizes


def _steps(text: str) -> list[str]:
    steps = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [s for s in steps if s not in STEPS]
    if unknown or not steps:
        raise argparse.ArgumentTypeError(f"unknown step(s) {', '.join(unknown) or '(none)'}; use {','.join(STEPS)}")
    return [s for s in STEPS if s in steps]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=_sizes, default=_sizes("10000,100000,1000000"),
                        help="examples per size, comma separated (default 10000,100000,1000000)")
    parser.add_argument("--steps", type=_steps, default=list(STEPS),
                        help=f"which steps to run, comma separated (default {','.join(STEPS)})")
    parser.add_argument("--eval_examples", type=int, default=4096,
                        help="records evaluated from each size's file (default 4096)")
    parser.add_argument("--predict_lines", type=int, default=100_000,
                        help="lines of predict.py's input; it also runs on a tenth of them (default 100000)")
    parser.add_argument("--max_seq_length", type=int, default=64, help="of the records and the export (default 64)")
    parser.add_argument("--shuffle_budget_mib", type=float, default=1024,
                        help="memory a stream shuffle buffer may take, for the 10M-example advice (default 1024)")
    parser.add_argument("--work_dir", default=os.path.join(common.PROJECT_ROOT, ".cache", "bench_scaling"),
                        help="generated data, records, checkpoint, export and logs (reused)")
    parser.add_argument("--out", default=os.path.join(common.PROJECT_ROOT, "runs", "bench", "scaling.json"),
                        help="the JSON of the results")
    parser.add_argument("--child", nargs=2, metavar=("STEP", "SIZE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.eval_examples < 1 or args.predict_lines < 1:
        parser.error("--eval_examples and --predict_lines must be positive")
    args.work_dir = os.path.abspath(args.work_dir)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:  # a step, in a child process of run_measured
        return run_child(args)
    return common.entry_point(lambda _: args, run, report)(argv)


if __name__ == "__main__":
    sys.exit(main())
