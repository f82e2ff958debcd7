"""What the `bench/` scripts share: paths, logging, the machine's load and description,
timing, atomic JSON, logged subprocesses, the MiniLM checkpoint, the movie-review
snippets and the dev-set metrics.

Every script starts the same way, so that both `python bench/NAME.py` (from anywhere)
and `import bench.NAME` work:

    if __name__ == "__main__":  # `python bench/NAME.py`: import from the project root
        sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    from bench import common  # noqa: E402

(they cannot live here: they are what makes this module importable). Only
the standard library is imported at module level: the PyTorch side (`.venv-bench`,
without TensorFlow or the product) and the plain `python3` of
`compare_trajectories.py compare` import this module too. Anything of the product
(`bert_estimator`, `tokenization`) is imported inside the function that needs it.

    .venv/bin/python bench/common.py minilm TF_DIR   # fetch + convert all-MiniLM-L6-v2,
                                                     # print its Hugging Face directory
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import math
import os
import platform
import subprocess
import sys
import time
from typing import Callable, NoReturn

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH_DIR = os.path.join(PROJECT_ROOT, "bench")
# The PyTorch peers' virtualenv (torch + transformers; never the product's .venv).
DEFAULT_TORCH_PYTHON = os.path.join(PROJECT_ROOT, ".venv-bench", "bin", "python")
DEFAULT_VOCAB = os.path.join(PROJECT_ROOT, "..", "shared", "data", "vocab", "uncased_vocab.txt")
BUSY_WARNING = 0.1  # share of the CPUs busy before a run above which a report warns

if __name__ == "__main__":  # `python bench/common.py`: import from the project root
    sys.path[0] = PROJECT_ROOT


# ====================================================================== process set-up
def entry_point(parse_args: Callable, run: Callable, report: Callable) -> Callable[..., int]:
    """A script's `main(argv=None)`: parse the arguments, run, report (its exit status)."""

    def main(argv: list[str] | None = None) -> int:
        args = parse_args(argv)
        results = run(args)
        return report(results, args)

    return main


def quiet_tensorflow(level: str = "2") -> None:
    """TensorFlow's C++ start-up chatter off (unless the caller set the level already);
    call before TensorFlow is imported. Subprocesses inherit it."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", level)


def log(message: str) -> None:
    """A progress line on stderr (stdout is the report)."""
    print(message, file=sys.stderr, flush=True)


def usage_error(message: str) -> NoReturn:
    """Exits with status 2 and "PROG: error: message", as argparse's `parser.error` (for
    the checks that need more than the command line)."""
    print(f"{os.path.basename(sys.argv[0])}: error: {message}", file=sys.stderr)
    raise SystemExit(2)


# ============================================================================== timing
def timed(fn: Callable[[], object]) -> tuple[float, object]:
    """Runs `fn` once; returns (seconds, its result)."""
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def cpu_seconds() -> float:
    """CPU time of this process and its waited-for children (user + system)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


# ========================================================================= the machine
def load_average() -> list[float] | None:
    """The load average (1/5/15 min), rounded to 0.01, or None where there is none."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def format_load(load: list[float] | None = None) -> str:
    """`load` (now, if not given) as "0.52 / 0.61 / 0.40", or "n/a"."""
    load = load_average() if load is None else load
    return "n/a" if load is None else " / ".join(f"{x:.2f}" for x in load)


def _cpu_ticks() -> tuple[int, int] | None:
    try:
        with open("/proc/stat") as f:
            values = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    return sum(values), idle


def busy_share(seconds: float = 1.0) -> float | None:
    """The share of all CPUs busy over the next `seconds` (this process sleeps)."""
    first = _cpu_ticks()
    time.sleep(seconds)
    second = _cpu_ticks()
    if first is None or second is None or second[0] == first[0]:
        return None
    total, idle = second[0] - first[0], second[1] - first[1]
    return round(1.0 - idle / total, 3)


def busy_warning(busy_before: dict[str, list[float | None]], threshold: float = BUSY_WARNING) -> str | None:
    """The report's warning when other processes kept more than `threshold` of the CPUs
    busy just before a run: `busy_before` maps a run's name to its `busy_share`s."""
    busy = sorted(name for name, shares in busy_before.items() if any((s or 0) > threshold for s in shares))
    if not busy:
        return None
    return (f"WARNING: other processes kept more than {threshold:.0%} of the CPUs busy just before "
            f"{', '.join(busy)}: these are not a quiet machine's numbers (PyTorch's OpenMP threads, which "
            "spin at barriers, suffer most from a shared core).")


def _cpuinfo_field(name: str) -> str | None:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(name):
                    return line.split(":", 1)[1]
    except OSError:
        pass
    return None


def cpu_model() -> str:
    model = _cpuinfo_field("model name")
    return model.strip() if model else (platform.processor() or "unknown")


def cpu_flags() -> list[str]:
    """The CPU features that matter to oneDNN's bf16 (--use_amp) and to XLA's codegen."""
    flags = _cpuinfo_field("flags")
    have = set(flags.split()) if flags else set()
    return sorted(x for x in have if x.startswith(("avx512", "amx")) or x in ("avx2", "fma"))


def package_version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def machine_info() -> dict:
    """The machine and the software versions, for a report's header and its JSON."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return {"cpu_model": cpu_model(), "cpu_count": os.cpu_count(), "usable_cpus": usable,
            "cpu_flags": cpu_flags(), "platform": platform.platform(), "python": platform.python_version(),
            "tensorflow": package_version("tensorflow") or package_version("tensorflow-cpu"),
            "bert_tensorflow": package_version("bert-tensorflow"),
            "TF_ENABLE_ONEDNN_OPTS": os.environ.get("TF_ENABLE_ONEDNN_OPTS"),
            "load_average_start": load_average()}


def python_and_cpus() -> str:
    """"Python 3.11.9, 2 CPUs", the machine as the short reports name it."""
    return f"Python {platform.python_version()}, {os.cpu_count()} CPUs"


# ================================================================== files, subprocesses
def write_json(path: str, document, indent: int | None = None) -> None:
    """Writes `document` to `path` atomically (a reader never sees half of it)."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(document, f, indent=indent)
    os.replace(tmp, path)


def tail(path: str, lines: int = 25) -> str:
    """The last `lines` lines of a log file ("" if unreadable)."""
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


def subprocess_env() -> dict:
    """This process's environment, TensorFlow's C++ logging at WARNING unless set."""
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL=os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"))


def run_logged(cmd: list[str], what: str, log_file: str) -> None:
    """Runs `cmd` in the project root, its output into `log_file`; exits with the log's
    tail when it fails."""
    with open(log_file, "w") as out:
        result = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=PROJECT_ROOT,
                                env=subprocess_env())
    if result.returncode != 0:
        raise SystemExit(f"{what} failed (exit {result.returncode}); last lines of {log_file}:\n"
                         + tail(log_file))


# ========================================================================= the inputs
_CONVERT = ("import sys; from bert_estimator.convert import convert_cli; "
            "convert_cli.convert_hf_to_tf(sys.argv[1], sys.argv[2], overwrite=True, verbose=False)")


def minilm_checkpoint(tf_dir: str, refresh: bool = False) -> tuple[str, str]:
    """(Hugging Face dir, `tf_dir`): all-MiniLM-L6-v2 fetched (`assets.fetch_minilm`) and
    converted to Google's layout (bert_config.json, vocab.txt, bert_model.ckpt) in
    `tf_dir`, unless it is there already (and not `refresh`). The conversion runs in a
    subprocess, its output in `convert.log` beside `tf_dir`."""
    from bert_estimator.data import assets

    hf_dir = assets.fetch_minilm()
    if refresh or not os.path.exists(os.path.join(tf_dir, "bert_model.ckpt.index")):
        log(f"converting {hf_dir} to {tf_dir} ...")
        parent = os.path.dirname(os.path.abspath(tf_dir))
        os.makedirs(parent, exist_ok=True)
        run_logged([sys.executable, "-c", _CONVERT, hf_dir, tf_dir], "checkpoint conversion",
                   os.path.join(parent, "convert.log"))
    return hf_dir, tf_dir


def write_classifier_checkpoint(tf_dir: str, checkpoint: str, seed: int = 0, stddev: float = 0.2) -> dict:
    """Writes `checkpoint`: the converted weights of `tf_dir` plus a seeded 2-label
    classifier head (`output_weights` ~ N(0, stddev), `output_bias` [0.05, -0.05]), as a
    fine-tuned checkpoint would have; returns the head (name -> float32 array)."""
    import numpy as np
    import tensorflow.compat.v1 as tf

    from bert_estimator.convert import convert_cli

    reader = tf.train.load_checkpoint(os.path.join(tf_dir, "bert_model.ckpt"))
    weights = {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}
    hidden = weights["bert/pooler/dense/bias"].shape[0]
    rng = np.random.default_rng(seed)
    head = {"output_weights": (rng.standard_normal((2, hidden)) * stddev).astype(np.float32),
            "output_bias": np.array([0.05, -0.05], dtype=np.float32)}
    os.makedirs(os.path.dirname(checkpoint), exist_ok=True)
    convert_cli.write_tf_checkpoint({**weights, **head}, checkpoint)
    return head


def export_classifier(tf_dir: str, checkpoint: str, rows: list[tuple[str, str]], data_dir: str, output_dir: str,
                      export_dir: str, max_seq_length: int, batch_size: int, log_file: str) -> float:
    """`run_classifier.py --do_predict --export_dir` of the 2-label classifier `checkpoint`
    (vocab and config from `tf_dir`): writes `rows` ((label, text) pairs) to
    `data_dir/test.csv`, predicts them into `output_dir` and exports the SavedModel to
    `export_dir`; its output goes to `log_file`. Returns the command's wall seconds."""
    import csv

    os.makedirs(data_dir, exist_ok=True)
    with open(os.path.join(data_dir, "test.csv"), "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "text", "label"])
        writer.writerows([i, text, label] for i, (label, text) in enumerate(rows))
    cmd = [sys.executable, os.path.join(PROJECT_ROOT, "run_classifier.py"), "--task_name=csv",
           f"--data_dir={data_dir}", "--text_column=text", "--label_column=label", "--labels=0,1",
           f"--vocab_file={tf_dir}/vocab.txt", f"--bert_config_file={tf_dir}/bert_config.json",
           f"--init_checkpoint={checkpoint}", "--do_lower_case=true", f"--max_seq_length={max_seq_length}",
           f"--predict_batch_size={batch_size}", "--do_predict", f"--output_dir={output_dir}",
           f"--export_dir={export_dir}"]
    log("run_classifier.py --do_predict --export_dir ...")
    seconds, _ = timed(lambda: run_logged(cmd, "run_classifier.py --do_predict --export_dir", log_file))
    return seconds


def load_snippets() -> list[str]:
    """The texts of the movie-review snippets (`id<TAB>score<TAB>text`, CRLF)."""
    from bert_estimator.data import assets

    with open(assets.fetch_movie_snippets(), "rb") as f:
        lines = f.read().decode("utf-8").split("\n")
    return [line.rstrip("\r").split("\t", 2)[2] for line in lines if line.strip()]


def require_original_and_snippets(vocab: str) -> list[str]:
    """The snippets, once the original code, `vocab` and the snippets are all there; else
    exits with status 2 after a one-line error (the start-up check of the benchmarks
    that run the original beside ours)."""
    from bert_estimator.data import assets
    from tests.support import reference

    error = None
    if not reference.available():
        error = "the original code (bert-tensorflow) or tf_slim is not installed"
    elif not os.path.exists(vocab):
        error = f"vocab file not found: {vocab}"
    else:
        try:
            return load_snippets()
        except assets.AssetError as err:
            error = f"movie snippets not available: {err}"
    print(f"error: {error}", file=sys.stderr)
    raise SystemExit(2)


def hugging_face_tokenizer(vocab: str, lower: bool):
    """A `tokenizers` BertWordPieceTokenizer set up as BERT (200 chars per word), or None."""
    try:
        import tokenizers
        from tokenizers.implementations import BertWordPieceTokenizer
    except ImportError:
        return None
    hf = BertWordPieceTokenizer(vocab, clean_text=True, handle_chinese_chars=True, strip_accents=lower,
                                lowercase=lower, wordpieces_prefix="##")
    hf.model = tokenizers.models.WordPiece.from_file(vocab, unk_token="[UNK]", max_input_chars_per_word=200)
    return hf


# ============================================================================= reports
def markdown_row(cells) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def binary_metrics(gold, predicted) -> dict:
    """Accuracy, F1 (class 1), Matthews correlation, precision and recall of 0/1 labels
    (sequences of ints), one piece of code for every implementation's predictions."""
    pairs = list(zip((int(g) for g in gold), (int(p) for p in predicted)))
    tp = sum(1 for g, p in pairs if g == 1 and p == 1)
    tn = sum(1 for g, p in pairs if g == 0 and p == 0)
    fp = sum(1 for g, p in pairs if g == 0 and p == 1)
    fn = sum(1 for g, p in pairs if g == 1 and p == 0)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    denom = math.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    return {"accuracy": (tp + tn) / len(pairs), "f1": f1, "mcc": (tp * tn - fp * fn) / denom if denom else 0.0,
            "precision": precision, "recall": recall}


# ================================================================================= CLI
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/common.py", description="The bench/ scripts' shared helpers.")
    commands = parser.add_subparsers(dest="command", required=True)
    minilm = commands.add_parser("minilm", help="fetch all-MiniLM-L6-v2, convert it into TF_DIR (unless "
                                                "there already), print its Hugging Face directory")
    minilm.add_argument("tf_dir")
    minilm.add_argument("--refresh", action="store_true", help="convert again")
    args = parser.parse_args(argv)
    quiet_tensorflow()
    hf_dir, _ = minilm_checkpoint(args.tf_dir, args.refresh)
    print(hf_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
