"""Benchmarks our `tokenization.FullTokenizer` against Google's original, same run.

Tokenizes the 10,605 real movie-review snippets (`assets.fetch_movie_snippets()`) with
the uncased vocabulary, lower-cased and cased, several repetitions each, and prints a
Markdown table of median sentences/second:

* the original (`bert-tensorflow` 1.0.4, loaded by `bert_estimator/reference.py`);
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
import statistics
import sys

if __name__ == "__main__":  # `python bench/NAME.py`: import from the project root
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
from bench import common  # noqa: E402

common.quiet_tensorflow()

import tokenization  # noqa: E402
from bert_estimator import reference  # noqa: E402


def bench_casing(texts: list[str], vocab: str, lower: bool, reps: int, orig_module) -> tuple[list[list[str]], bool]:
    """Benchmarks one casing; returns (table rows, outputs identical)."""
    orig = orig_module.FullTokenizer(vocab, do_lower_case=lower)
    times: dict[str, list[float]] = {"original": [], "cold": [], "warm": [], "hf": []}
    differing: set[int] = set()
    reference_output = None
    for _ in range(reps):
        # Alternate the implementations inside each repetition so that machine load
        # affects all of them alike.
        seconds, orig_out = common.timed(lambda: [orig.tokenize(t) for t in texts])
        times["original"].append(seconds)
        reference_output = orig_out
        ours = tokenization.FullTokenizer(vocab, do_lower_case=lower)
        seconds, cold_out = common.timed(lambda: [ours.tokenize(t) for t in texts])  # noqa: B023
        times["cold"].append(seconds)
        seconds, warm_out = common.timed(lambda: [ours.tokenize(t) for t in texts])  # noqa: B023
        times["warm"].append(seconds)
        differing.update(i for i, (a, b, c) in enumerate(zip(orig_out, cold_out, warm_out)) if not a == b == c)

    hf = common.hugging_face_tokenizer(vocab, lower)
    hf_agree = None
    if hf is not None:
        for _ in range(reps):
            seconds, encodings = common.timed(lambda: hf.encode_batch(texts, add_special_tokens=False))
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


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5, help="repetitions per implementation (median reported)")
    parser.add_argument("--casing", nargs="+", choices=["uncased", "cased"], default=["uncased", "cased"])
    parser.add_argument("--vocab", default=common.DEFAULT_VOCAB, help="WordPiece vocabulary file")
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> dict:
    """Every casing's table rows and whether all outputs were identical to the original's."""
    texts = common.require_original_and_snippets(args.vocab)
    orig_module = reference.load("tokenization")
    rows: list[list[str]] = []
    all_identical = True
    for casing in args.casing:
        casing_rows, identical = bench_casing(texts, args.vocab, casing == "uncased", args.reps, orig_module)
        rows += casing_rows
        all_identical = all_identical and identical
    return {"texts": len(texts), "words": sum(len(t.split()) for t in texts), "rows": rows,
            "identical": all_identical}


def report(results: dict, args: argparse.Namespace) -> int:
    """Prints the Markdown table; returns the exit status (1 if any output differed)."""
    print(f"{results['texts']:,} movie-review snippets ({results['words']:,} words), median of {args.reps} "
          f"repetitions; {common.python_and_cpus()}\n")
    print(common.markdown_row(["tokenizer", "casing", "sentences/s", "vs original", "output identical to original"]))
    print("|" + "|".join(["---", "---", "---:", "---:", "---"]) + "|")
    for row in results["rows"]:
        print(common.markdown_row(row))
    if not results["identical"]:
        print("\nerror: our output differs from the original's", file=sys.stderr)
        return 1
    return 0


main = common.entry_point(parse_args, run, report)


if __name__ == "__main__":
    sys.exit(main())
