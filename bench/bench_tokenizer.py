"""Benchmarks our `tokenization.FullTokenizer` against Google's original, same run.

Tokenizes the 10,605 real movie-review snippets (`assets.fetch_movie_snippets()`) with
the uncased vocabulary, lower-cased and cased, several repetitions each, and prints a
Markdown table of median sentences/second:

* the original (`bert-tensorflow` 1.0.4, loaded by `tests/reference.py`);
* ours with a cold word-piece cache (a fresh tokenizer every repetition), the fair
  comparison, and ours with a warm cache (the same tokenizer, second pass);
* Hugging Face `tokenizers` (`encode_batch`, Rust, multi-threaded), for context.

Every repetition checks that our output is identical to the original's; the script
exits with status 1 if it is not (2 when the original or the data are missing).

    .venv/bin/python bench/bench_tokenizer.py [--reps 5] [--casing uncased cased]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from typing import Callable

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if PROJECT_ROOT not in sys.path:
    sys.path.insert(0, PROJECT_ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import assets  # noqa: E402
import tokenization  # noqa: E402
from tests import reference  # noqa: E402

DEFAULT_VOCAB = os.path.join(PROJECT_ROOT, "..", "shared", "data", "vocab", "uncased_vocab.txt")


def load_snippets() -> list[str]:
    """The texts of the movie-review snippets (`id<TAB>score<TAB>text`, CRLF)."""
    with open(assets.fetch_movie_snippets(), "rb") as f:
        lines = f.read().decode("utf-8").split("\n")
    return [line.rstrip("\r").split("\t", 2)[2] for line in lines if line.strip()]


def inputs_or_error(vocab: str) -> list[str] | None:
    """The snippets, once the original code, `vocab` and the snippets are all there; else
    None after a one-line error (the start-up check of this and bench_data_prep.py)."""
    if not reference.available():
        print("error: the original code (bert-tensorflow) or tf_slim is not installed", file=sys.stderr)
        return None
    if not os.path.exists(vocab):
        print(f"error: vocab file not found: {vocab}", file=sys.stderr)
        return None
    try:
        return load_snippets()
    except assets.AssetError as err:
        print(f"error: movie snippets not available: {err}", file=sys.stderr)
        return None


def timed(fn: Callable[[], list]) -> tuple[float, list]:
    """Runs `fn` once; returns (seconds, result)."""
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


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


def bench_casing(texts: list[str], vocab: str, lower: bool, reps: int, orig_module) -> tuple[list[list[str]], bool]:
    """Benchmarks one casing; returns (table rows, outputs identical)."""
    orig = orig_module.FullTokenizer(vocab, do_lower_case=lower)
    times: dict[str, list[float]] = {"original": [], "cold": [], "warm": [], "hf": []}
    differing: set[int] = set()
    reference_output = None
    for _ in range(reps):
        # Alternate the implementations inside each repetition so that machine load
        # affects all of them alike.
        seconds, orig_out = timed(lambda: [orig.tokenize(t) for t in texts])
        times["original"].append(seconds)
        reference_output = orig_out
        ours = tokenization.FullTokenizer(vocab, do_lower_case=lower)
        seconds, cold_out = timed(lambda: [ours.tokenize(t) for t in texts])  # noqa: B023
        times["cold"].append(seconds)
        seconds, warm_out = timed(lambda: [ours.tokenize(t) for t in texts])  # noqa: B023
        times["warm"].append(seconds)
        differing.update(i for i, (a, b, c) in enumerate(zip(orig_out, cold_out, warm_out)) if not a == b == c)

    hf = hugging_face_tokenizer(vocab, lower)
    hf_agree = None
    if hf is not None:
        for _ in range(reps):
            seconds, encodings = timed(lambda: hf.encode_batch(texts, add_special_tokens=False))
            times["hf"].append(seconds)
        hf_out = [e.tokens for e in encodings]
        hf_agree = sum(a == b for a, b in zip(hf_out, reference_output))

    casing = "uncased" if lower else "cased"
    rate = {name: len(texts) / statistics.median(ts) for name, ts in times.items() if ts}
    identical = not differing
    mark = "yes" if identical else f"**NO** ({len(differing)} sentences differ)"
    if differing:
        first = min(differing)
        print(f"{casing}: first differing sentence: {texts[first]!r}\n  original: {orig_out[first]}\n"
              f"  ours:     {cold_out[first]}", file=sys.stderr)
    rows = [
        ["original (bert-tensorflow 1.0.4)", casing, f"{rate['original']:,.0f}", "1.00x", "reference"],
        ["ours, cold cache (fresh tokenizer)", casing, f"{rate['cold']:,.0f}",
         f"{rate['cold'] / rate['original']:.2f}x", mark],
        ["ours, warm cache (second pass)", casing, f"{rate['warm']:,.0f}",
         f"{rate['warm'] / rate['original']:.2f}x", mark],
    ]
    if hf is not None:
        rows.append(["HF tokenizers encode_batch (Rust, threads)", casing, f"{rate['hf']:,.0f}",
                     f"{rate['hf'] / rate['original']:.2f}x", f"{hf_agree}/{len(texts)} sentences"])
    return rows, identical


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5, help="repetitions per implementation (median reported)")
    parser.add_argument("--casing", nargs="+", choices=["uncased", "cased"], default=["uncased", "cased"])
    parser.add_argument("--vocab", default=DEFAULT_VOCAB, help="WordPiece vocabulary file")
    args = parser.parse_args(argv)

    texts = inputs_or_error(args.vocab)
    if texts is None:
        return 2
    orig_module = reference.load("tokenization")

    rows: list[list[str]] = []
    all_identical = True
    for casing in args.casing:
        casing_rows, identical = bench_casing(texts, args.vocab, casing == "uncased", args.reps, orig_module)
        rows += casing_rows
        all_identical = all_identical and identical

    words = sum(len(t.split()) for t in texts)
    print(f"{len(texts):,} movie-review snippets ({words:,} words), median of {args.reps} repetitions; "
          f"Python {platform.python_version()}, {os.cpu_count()} CPUs\n")
    header = ["tokenizer", "casing", "sentences/s", "vs original", "output identical to original"]
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join(["---", "---", "---:", "---:", "---"]) + "|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    if not all_identical:
        print("\nerror: our output differs from the original's", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
