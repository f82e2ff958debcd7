"""Benchmarks data preparation (tokenize + features + TFRecord) against its peers, same run.

Two workloads, each with the uncased vocabulary:

* `snippets`: the 10,605 real movie-review snippets (`assets.fetch_movie_snippets()`)
  at max_seq_length 128;
* `docs`: 10,000 IMDB-length documents (snippets joined, seeded, to >= 1,300
  characters) at max_seq_length 512, ours with head+tail truncation (Sun et al. 2019);
  the original can only keep the head, so it runs with head truncation.

Implementations, interleaved within every repetition (medians reported), each with a
fresh tokenizer (cold caches), writing a TFRecord file:

* the original: `bert-tensorflow` 1.0.4's `file_based_convert_examples_to_features`
  with its own `FullTokenizer`;
* ours, `backend="faithful"`: one example at a time through `InputFeatures` and protobuf;
* ours, `backend="auto"` (the default: the fast backend, on every core);
* Hugging Face `tokenizers` (Rust, multi-threaded `encode_batch` of a
  `BertWordPieceTokenizer`), tokenization only: no features, no file;
* an experiment: Rust `encode_batch_fast` ids serialized by our fast record encoder.

Checks (exit status 1 when one fails): every record of ours (fast and faithful) is byte
identical to the original's (docs: with head truncation, the only one it has; head+tail:
fast against faithful). Records carry the ids, mask, segments and label, so identical
records mean identical ids on every example.

Memory: `--memory` (on by default) converts N and 4N examples in child processes, the
examples produced lazily by a generator, and reports their peak RSS (this process and its
forked workers): the fast backend streams, so the peak does not grow with N.

    .venv/bin/python bench/bench_data_prep.py [--reps 3] [--workloads snippets docs]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Callable, Iterator

if __name__ == "__main__":  # `python bench/NAME.py`: import from the project root
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
from bench import common  # noqa: E402

common.quiet_tensorflow()
# The Rust peer runs threads before our workers fork; they never use it, so the warning
# `tokenizers` prints in a forked child is noise.
os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")

import tokenization  # noqa: E402
from bert_estimator.data import fast_records, features, parallel  # noqa: E402
from processors import InputExample  # noqa: E402
from tests.support import reference  # noqa: E402

LABELS = ["0", "1"]
WORKLOADS = {
    # name: (max_seq_length, our truncation, description)
    "snippets": (128, "head", "10,605 movie-review snippets, max_seq_length 128"),
    "docs": (512, "head_tail", "10,000 IMDB-length documents (~1,300 chars), max_seq_length 512"),
}


# ------------------------------------------------------------------------------- data
def build_documents(texts: list[str], count: int, min_chars: int = 1300, seed: int = 0) -> Iterator[str]:
    """`count` documents of random snippets joined until at least `min_chars` long."""
    rng = random.Random(seed)
    for _ in range(count):
        parts, length = [], 0
        while length < min_chars:
            part = texts[rng.randrange(len(texts))]
            parts.append(part)
            length += len(part) + 1
        yield " ".join(parts)


def workload_texts(name: str, texts: list[str], scale: int = 1) -> Iterator[str]:
    if name == "snippets":
        for _ in range(scale):
            yield from texts
    else:
        yield from build_documents(texts, 10_000 * scale)


def examples_of(texts, cls=InputExample) -> Iterator:
    for i, text in enumerate(texts):
        yield cls(f"{i}", text, None, LABELS[i % 2])


# ---------------------------------------------------------------------------- timings
def read_records(path: str) -> list[bytes]:
    """The records of a TFRecord file (framing: u64 length, crc, data, crc)."""
    with open(path, "rb") as f:
        data = f.read()
    records, offset = [], 0
    while offset < len(data):
        length = int.from_bytes(data[offset:offset + 8], "little")
        records.append(data[offset + 12:offset + 12 + length])
        offset += 12 + length + 4
    return records


def compare(path: str, reference_path: str) -> tuple[int, int]:
    """(records equal, records in the reference file)."""
    mine, theirs = read_records(path), read_records(reference_path)
    same = sum(a == b for a, b in zip(mine, theirs)) if len(mine) == len(theirs) else 0
    return same, len(theirs)


def rust_records(hf_fast, texts: list[str], vocab: str, max_seq_length: int, truncation: str, path: str) -> None:
    """The experiment: Rust word-piece ids, serialized by our record encoder."""
    import tensorflow.compat.v1 as tf

    tok = tokenization.FullTokenizer(vocab, do_lower_case=True)
    encoder, _ = features.fast_encoder(LABELS, max_seq_length, tok, truncation)
    table = fast_records.varint_table(len(tok.vocab))
    with tf.io.TFRecordWriter(path) as writer:
        for start in range(0, len(texts), 2000):
            batch = texts[start:start + 2000]
            for i, encoding in enumerate(hf_fast.encode_batch_fast(batch, add_special_tokens=False), start):
                ids = b"".join(map(table.__getitem__, encoding.ids))
                writer.write(encoder.record_from_ids(ids, b"", i % 2))


def rust_fast_tokenizer(vocab: str, vocab_map: dict):
    """A bare `tokenizers.Tokenizer` with BERT's normalizer and pre-tokenizer and no
    added tokens (so a literal "[SEP]" is text, as in BERT)."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers

    tok = Tokenizer(models.WordPiece(dict(vocab_map), unk_token="[UNK]", max_input_chars_per_word=200))
    tok.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=None,
                                                lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    return tok


def bench_workload(name: str, snippets: list[str], vocab: str, reps: int, workdir: str, experiment: bool) -> dict:
    import tensorflow.compat.v1 as tf

    max_seq_length, truncation, _ = WORKLOADS[name]
    orig_rc = reference.load("run_classifier")
    orig_tokenization = reference.load("tokenization")
    texts = list(workload_texts(name, snippets))
    ours = list(examples_of(texts))
    theirs = list(examples_of(texts, orig_rc.InputExample))
    hf = common.hugging_face_tokenizer(vocab, True)
    hf_fast = rust_fast_tokenizer(vocab, tokenization.load_vocab(vocab)) if (hf and experiment) else None
    path = {key: os.path.join(workdir, f"{name}-{key}.tf_record")
            for key in ("original", "faithful", "fast", "fast_head", "rust_records")}

    def ours_run(backend: str, trunc: str, out: str) -> None:
        tok = tokenization.FullTokenizer(vocab, do_lower_case=True)
        features.file_based_convert_examples_to_features(
            ours, LABELS, max_seq_length, tok, out, trunc, backend=backend)

    runs: dict[str, Callable[[], object]] = {
        "original": lambda: orig_rc.file_based_convert_examples_to_features(
            theirs, LABELS, max_seq_length, orig_tokenization.FullTokenizer(vocab, do_lower_case=True),
            path["original"]),
        "faithful": lambda: ours_run("faithful", truncation, path["faithful"]),
        "fast": lambda: ours_run("auto", truncation, path["fast"]),
    }
    if hf is not None:
        runs["rust"] = lambda: hf.encode_batch(texts, add_special_tokens=False)
    if hf_fast is not None:
        runs["rust_records"] = lambda: rust_records(hf_fast, texts, vocab, max_seq_length, truncation,
                                                    path["rust_records"])
    times: dict[str, list[float]] = {key: [] for key in runs}
    verbosity = tf.logging.get_verbosity()
    tf.logging.set_verbosity(tf.logging.ERROR)  # neither program's progress lines
    try:
        for rep in range(reps):
            for key, fn in runs.items():
                times[key].append(common.timed(fn)[0])
            print(f"  {name} rep {rep + 1}/{reps}: " + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in times.items()),
                  file=sys.stderr, flush=True)
        # Identity: with head truncation against the original, head+tail against faithful.
        if truncation == "head":
            path["fast_head"] = path["fast"]
        else:
            ours_run("auto", "head", path["fast_head"])
    finally:
        tf.logging.set_verbosity(verbosity)
    checks = {
        "faithful": compare(path["faithful"], path["original"]) if truncation == "head" else None,
        "fast_head": compare(path["fast_head"], path["original"]),
        "fast": compare(path["fast"], path["faithful"]),
    }
    if hf_fast is not None:
        checks["rust_records"] = compare(path["rust_records"], path["faithful"])
    rates = {key: len(texts) / statistics.median(ts) for key, ts in times.items()}
    return {"name": name, "n": len(texts), "rates": rates, "times": times, "checks": checks,
            "max_seq_length": max_seq_length, "truncation": truncation}


# ----------------------------------------------------------------------------- memory
def _status_kib(field: str) -> int:
    """A memory figure of /proc/self/status (Linux), in KiB."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(f"{field}:"))


def _reset_peak_rss() -> None:
    """Resets VmHWM (the peak RSS) to the current RSS (Linux >= 4.0)."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def memory_child(name: str, scale: int, vocab: str, backend: str) -> None:
    """Runs in a subprocess: converts a lazily generated workload, prints JSON."""
    import tensorflow.compat.v1 as tf

    tf.logging.set_verbosity(tf.logging.ERROR)
    max_seq_length, truncation, _ = WORKLOADS[name]
    snippets = common.load_snippets()
    tok = tokenization.FullTokenizer(vocab, do_lower_case=True)
    with tempfile.TemporaryDirectory() as tmp:
        # Warm-up: TensorFlow's runtime (file system, record writer) starts on first use.
        features.file_based_convert_examples_to_features(
            examples_of(snippets[:1]), LABELS, max_seq_length, tok, os.path.join(tmp, "warm.tf_record"))
        before = _status_kib("VmRSS")
        _reset_peak_rss()  # the peak so far is TensorFlow's import, not ours
        start = time.perf_counter()
        count = features.file_based_convert_examples_to_features(
            examples_of(workload_texts(name, snippets, scale)), LABELS, max_seq_length, tok,
            os.path.join(tmp, "out.tf_record"), truncation, backend=backend)
        seconds = time.perf_counter() - start
    print(json.dumps({
        "examples": count, "seconds": seconds, "rss_before_kib": before,
        "peak_rss_kib": _status_kib("VmHWM"),
        "peak_worker_rss_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
    }))


def measure_memory(name: str, scales: list[int], vocab: str, backend: str) -> list[dict]:
    results = []
    for scale in scales:
        cmd = [sys.executable, os.path.abspath(__file__), "--vocab", vocab, "--memory-child", name,
               str(scale), backend]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


# ----------------------------------------------------------------------------- report
def _mark(check, against: str) -> tuple[str, bool]:
    same, total = check
    return f"{'yes' if same == total else '**NO**'}: {same:,}/{total:,} vs {against}", same == total


def print_speed_table(results: list[dict]) -> bool:
    """Prints the Markdown table of speeds; returns whether every identity check passed."""
    ok = True
    print("| workload | implementation | examples/s | vs original | vs Rust tokenize-only | records identical |")
    print("|---|---|---:|---:|---:|---|")
    for r in results:
        rates, checks, trunc = r["rates"], r["checks"], r["truncation"]
        workload = f"{r['name']} ({r['n']:,}) @ {r['max_seq_length']}"
        marks = []
        if trunc == "head":
            faithful_mark, good = _mark(checks["faithful"], "original")
            ok &= good
            fast_mark, good = _mark(checks["fast_head"], "original")
            ok &= good
        else:
            faithful_mark = "(the reference for head_tail)"
            for check, against in ((checks["fast_head"], "original, with head truncation"),
                                   (checks["fast"], "faithful, head_tail")):
                mark, good = _mark(check, against)
                marks.append(mark)
                ok &= good
            fast_mark = "; ".join(marks)
        rows = [
            ("original (bert-tensorflow 1.0.4), head", "original", "reference"),
            (f"ours, faithful, {trunc}", "faithful", faithful_mark),
            (f"**ours, fast (auto, {parallel.default_num_workers()} processes), {trunc}**", "fast",
             fast_mark),
        ]
        if "rust" in rates:
            rows.append(("HF tokenizers encode_batch (Rust, threads), tokenize only", "rust", "n/a (tokens only)"))
        if "rust_records" in rates:
            same, total = checks["rust_records"]
            rows.append((f"experiment: Rust ids + our fast records, {trunc} (1 process)", "rust_records",
                         f"{same:,}/{total:,} vs faithful (not used: see the docs)"))
        for label, key, identical in rows:
            vs_original = f"{rates[key] / rates['original']:.2f}x"
            vs_rust = f"{rates[key] / rates['rust']:.2f}x" if "rust" in rates else "n/a"
            print(f"| {workload} | {label} | {rates[key]:,.0f} | {vs_original} | {vs_rust} | {identical} |")
    print()
    for r in results:
        rates = r["rates"]
        goals = [f"{rates['fast'] / rates['original']:.1f}x the original (goal >= 10x)"]
        if "rust" in rates:
            goals.append(f"{rates['fast'] / rates['rust']:.2f}x the Rust tokenizer (goal >= 0.8x)")
        print(f"- {r['name']}: fast backend at " + ", ".join(goals))
    return ok


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3, help="repetitions per implementation (median reported)")
    parser.add_argument("--workloads", nargs="+", choices=sorted(WORKLOADS), default=["snippets", "docs"])
    parser.add_argument("--vocab", default=common.DEFAULT_VOCAB, help="WordPiece vocabulary file")
    parser.add_argument("--no-memory", dest="memory", action="store_false", help="skip the peak-RSS runs")
    parser.add_argument("--no-experiment", dest="experiment", action="store_false",
                        help="skip the Rust-ids + our-records experiment")
    parser.add_argument("--memory-child", nargs=3, metavar=("WORKLOAD", "SCALE", "BACKEND"), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> dict:
    """The speed of every workload, the load average around those runs, then (with
    --memory) the peak memory of the fast backend per workload."""
    snippets = common.require_original_and_snippets(args.vocab)
    load_before = common.format_load()
    workloads = []
    with tempfile.TemporaryDirectory() as workdir:
        for name in args.workloads:
            workloads.append(bench_workload(name, snippets, args.vocab, args.reps, workdir, args.experiment))
    load_after = common.format_load()
    memory = [(name, measure_memory(name, [1, 4], args.vocab, "auto")) for name in args.workloads] \
        if args.memory else None
    return {"workloads": workloads, "load_before": load_before, "load_after": load_after, "memory": memory}


def report(results: dict, args: argparse.Namespace) -> int:
    """Prints the tables; returns the exit status (1 if some records differ)."""
    print(f"Data preparation, median of {args.reps} interleaved repetitions; {common.python_and_cpus()}; "
          f"load average (1/5/15 min) {results['load_before']} before, {results['load_after']} after.\n")
    ok = print_speed_table(results["workloads"])
    if results["memory"] is not None:
        print("\nPeak memory of the fast backend, examples generated lazily (RSS in MiB; the peak counted "
              "from the start of the conversion, after imports and a warm-up; workers are forked copies, "
              "so their RSS includes the pages they share with the parent):\n")
        print("| workload | examples | seconds | RSS before conversion | peak RSS | peak worker RSS |")
        print("|---|---:|---:|---:|---:|---:|")
        for name, measures in results["memory"]:
            for m in measures:
                print(f"| {name} | {m['examples']:,} | {m['seconds']:.1f} | {m['rss_before_kib'] / 1024:,.0f} | "
                      f"{m['peak_rss_kib'] / 1024:,.0f} | {m['peak_worker_rss_kib'] / 1024:,.0f} |")
    if not ok:
        print("\nerror: some records differ", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.memory_child:  # a subprocess of measure_memory
        name, scale, backend = args.memory_child
        memory_child(name, int(scale), args.vocab, backend)
        return 0
    results = run(args)
    return report(results, args)


if __name__ == "__main__":
    sys.exit(main())
