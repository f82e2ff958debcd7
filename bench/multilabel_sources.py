#!/usr/bin/env python3
"""Multi-label classification on a CSV with real sentences: which sources a text mixes.

VADER's ground truth (`assets.fetch_ground_truth_files`) holds real English sentences
of four sources: Amazon product reviews (3,708), Rotten Tomatoes movie-review snippets
(10,605), New York Times editorials (5,190) and tweets (4,200). This script

1. builds a multi-label task from them (`build_splits`): each example joins 1 to 3
   snippets (the count uniform) of as many distinct sources, drawn at random (seeded),
   in a random order, with one space between them; its labels are the set of sources
   present. Every snippet (distinct texts only: a text repeated within a file is kept
   once) serves at most once, so no snippet is shared across train, dev and test. The
   CSVs are `id,text,labels`, the labels joined by "," in the order of `SOURCES`:
   4,000 train, 800 dev and 800 test rows;
2. trains the baseline: scikit-learn's TF-IDF (word 1-2 grams, `BASELINE_TFIDF`) and
   one-vs-rest LogisticRegression (liblinear), its C chosen on dev by micro F1 among
   `BASELINE_CS`, thresholds 0.5;
3. fetches all-MiniLM-L6-v2, converts it (`common.minilm_checkpoint`) and fine-tunes it
   with `run_classifier.py --task_name=csv --label_column=labels
   --problem_type=multi_label_classification --do_train --do_eval --do_predict`;
4. reports micro/macro F1, subset accuracy and Hamming loss of the test set, computed
   with scikit-learn from test_results.tsv (one sigmoid probability per label,
   threshold 0.5) against the test label sets, beside the baseline's and the dev
   metrics of eval_results.txt; with `--tune_thresholds`, also the test metrics at the
   per-label thresholds run_classifier.py tuned on dev (thresholds.json).

    .venv/bin/python bench/multilabel_sources.py [--work_dir DIR] [--num_train_epochs 2]

The report (Markdown tables) goes to stdout and `<work_dir>/multilabel_sources.json`;
the run's files stay in `<work_dir>` (default `.cache/bench/multilabel_sources`).
docs/RESULTS.md ("Multi-label classification on a CSV") holds a run of it.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import os
import random
import shutil
import sys
import time
from typing import NamedTuple

if __name__ == "__main__":  # `python bench/multilabel_sources.py`: import from the project root
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
from bench import common  # noqa: E402

DEFAULT_WORK_DIR = os.path.join(common.PROJECT_ROOT, ".cache", "bench", "multilabel_sources")
# The labels, in label-list order, and the ground-truth file of each.
SOURCES = ("amazon", "movie", "nyt", "tweets")
SOURCE_FILES = {
    "amazon": "amazonReviewSnippets_GroundTruth.txt",
    "movie": "movieReviewSnippets_GroundTruth.txt",
    "nyt": "nytEditorialSnippets_GroundTruth.txt",
    "tweets": "tweets_GroundTruth.txt",
}
SIZES = {"train": 4000, "dev": 800, "test": 800}
MAX_SNIPPETS = 3  # snippets (and sources) per example: 1 to this many
SPLIT_SEED = 20141006
HEADER = ("id", "text", "labels")
LABEL_SEPARATOR = ","
# The baseline: TfidfVectorizer options, and the LogisticRegression C values tried on dev.
BASELINE_TFIDF = {"ngram_range": (1, 2), "sublinear_tf": True, "min_df": 2, "lowercase": True}
BASELINE_CS = (0.1, 1.0, 10.0, 100.0)
# Up to 3 snippets of ~21-25 tokens each (p99 43-65 per source): 128 tokens hold all but
# a few examples whole (the report counts them). Two epochs at the regression's
# learning rate (a new head, 4 sigmoid outputs).
RECIPE = {
    "max_seq_length": 128,
    "train_batch_size": 32,
    "learning_rate": 1e-4,
    "warmup_proportion": 0.1,
    "eval_batch_size": 64,
    "predict_batch_size": 64,
    "seed": 0,
}
DEFAULT_EPOCHS = 2.0


class Example(NamedTuple):
    """One row of the task: its snippets ((source, text) pairs, in text order), the text
    they make, and its labels (the sources present, in `SOURCES` order)."""

    id: str
    text: str
    labels: tuple[str, ...]
    snippets: tuple[tuple[str, str], ...]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/multilabel_sources.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--work_dir", default=DEFAULT_WORK_DIR, help="data, model and run directory")
    parser.add_argument("--num_train_epochs", type=float, default=DEFAULT_EPOCHS)
    parser.add_argument("--tune_thresholds", action=argparse.BooleanOptionalAction, default=True,
                        help="pass --tune_thresholds to run_classifier.py and report the test metrics at the "
                             "thresholds it tuned on dev too (default: on)")
    return parser.parse_args(argv)


# ============================================================================ the data
def load_sources(paths: list[str] | None = None) -> dict[str, list[str]]:
    """Source name -> its distinct texts (stripped, first occurrence kept), in file order.

    Args:
      paths: the four ground-truth files (default: fetched), read as
        `assets.read_ground_truth_texts` reads them; recognised by their file names.
    """
    from bert_estimator.data import assets

    by_name = {os.path.basename(p): p for p in (paths if paths is not None else assets.fetch_ground_truth_files())}
    texts = {}
    for source, name in SOURCE_FILES.items():
        seen: dict[str, None] = {}
        for text in assets.read_ground_truth_texts([by_name[name]]):
            seen.setdefault(text.strip(), None)
        texts[source] = [t for t in seen if t]
    return texts


def plan_examples(sizes: dict[str, int], rng: random.Random,
                  max_snippets: int = MAX_SNIPPETS) -> dict[str, list[tuple[str, ...]]]:
    """Split -> the sources of each of its examples, in text order: a count uniform in
    1..`max_snippets`, then that many distinct sources at random."""
    return {split: [tuple(rng.sample(SOURCES, rng.randint(1, max_snippets))) for _ in range(n)]
            for split, n in sizes.items()}


def build_splits(texts: dict[str, list[str]], sizes: dict[str, int] | None = None, seed: int = SPLIT_SEED,
                 max_snippets: int = MAX_SNIPPETS) -> dict[str, list[Example]]:
    """The task's train, dev and test examples.

    Each source's texts are shuffled (seeded) and cut into one consecutive slice per
    split, as long as that split's examples need: a text serves at most once.

    Args:
      texts: source name -> distinct texts (`load_sources`).
      sizes: split name -> number of examples (default `SIZES`).
      seed: fixes the plan and the draws.
      max_snippets: the most snippets (and distinct sources) in one example.

    Returns:
      split name -> its examples, ids `<split>-<i>`.

    Raises:
      ValueError: when a source has too few texts for the plan.
    """
    sizes = dict(SIZES if sizes is None else sizes)
    rng = random.Random(seed)
    plan = plan_examples(sizes, rng, max_snippets)
    pools: dict[tuple[str, str], list[str]] = {}
    for source in SOURCES:
        shuffled = list(texts[source])
        rng.shuffle(shuffled)
        needed = {split: sum(source in sources for sources in plan[split]) for split in sizes}
        if sum(needed.values()) > len(shuffled):
            raise ValueError(f"source {source} has {len(shuffled)} texts, the plan needs {sum(needed.values())}")
        start = 0
        for split in sizes:
            pools[split, source] = shuffled[start:start + needed[split]]
            start += needed[split]
    splits = {}
    for split, plans in plan.items():
        examples = []
        for i, sources in enumerate(plans):
            snippets = tuple((source, pools[split, source].pop()) for source in sources)
            labels = tuple(s for s in SOURCES if s in sources)
            examples.append(Example(f"{split}-{i}", " ".join(t for _, t in snippets), labels, snippets))
        splits[split] = examples
    return splits


def write_task(data_dir: str, splits: dict[str, list[Example]]) -> None:
    """train.csv, dev.csv, test.csv: `id,text,labels` with standard CSV quoting, the
    labels joined by `LABEL_SEPARATOR`."""
    os.makedirs(data_dir, exist_ok=True)
    for name, examples in splits.items():
        with open(os.path.join(data_dir, f"{name}.csv"), "w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(HEADER)
            writer.writerows((e.id, e.text, LABEL_SEPARATOR.join(e.labels)) for e in examples)


def label_matrix(examples: list[Example]):
    """The examples' label sets as a 0/1 int array [len(examples), len(SOURCES)]."""
    import numpy as np

    return np.array([[int(s in e.labels) for s in SOURCES] for e in examples], dtype=np.int64)


def token_lengths(examples: list[Example], vocab_file: str) -> list[int]:
    """WordPiece tokens of each example's text (the project's tokenizer, lower-cased)."""
    import tokenization

    tokenizer = tokenization.FullTokenizer(vocab_file, do_lower_case=True)
    return [len(tokenizer.tokenize(e.text)) for e in examples]


def length_summary(lengths: list[int], max_seq_length: int) -> dict:
    """Mean, 50th/99th percentile and maximum of `lengths`, and how many exceed the
    `max_seq_length - 2` tokens a single text keeps beside [CLS] and [SEP]."""
    import numpy as np

    a = np.array(lengths)
    return {"mean": round(float(a.mean()), 1), "p50": int(np.percentile(a, 50)), "p99": int(np.percentile(a, 99)),
            "max": int(a.max()), "truncated": int((a > max_seq_length - 2).sum()), "of": len(lengths)}


# ========================================================================= the metrics
def multilabel_metrics(gold, predicted) -> dict:
    """scikit-learn's micro/macro F1, subset accuracy, Hamming loss and per-label F1 of
    0/1 arrays [examples, len(SOURCES)]."""
    from sklearn import metrics

    per_label = metrics.f1_score(gold, predicted, average=None, zero_division=0)
    return {"micro_f1": float(metrics.f1_score(gold, predicted, average="micro", zero_division=0)),
            "macro_f1": float(metrics.f1_score(gold, predicted, average="macro", zero_division=0)),
            "subset_accuracy": float(metrics.accuracy_score(gold, predicted)),
            "hamming_loss": float(metrics.hamming_loss(gold, predicted)),
            "f1": {s: float(v) for s, v in zip(SOURCES, per_label)}}


def baseline(splits: dict[str, list[Example]]) -> dict:
    """TF-IDF + one-vs-rest LogisticRegression fitted on train, C chosen on dev (micro
    F1, threshold 0.5); its dev and test metrics."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier

    vectorizer = TfidfVectorizer(**BASELINE_TFIDF)
    x = {"train": vectorizer.fit_transform([e.text for e in splits["train"]])}
    x.update({s: vectorizer.transform([e.text for e in splits[s]]) for s in ("dev", "test")})
    y = {s: label_matrix(splits[s]) for s in splits}
    best = None
    for c in BASELINE_CS:
        model = OneVsRestClassifier(LogisticRegression(C=c, solver="liblinear", max_iter=1000))
        model.fit(x["train"], y["train"])
        dev = multilabel_metrics(y["dev"], (model.predict_proba(x["dev"]) >= 0.5).astype(int))
        common.log(f"baseline C={c:g}: dev micro F1 {dev['micro_f1']:.4f}")
        if best is None or dev["micro_f1"] > best[1]["micro_f1"]:
            best = (c, dev, model)
    c, dev, model = best
    test = multilabel_metrics(y["test"], (model.predict_proba(x["test"]) >= 0.5).astype(int))
    return {"C": c, "features": x["train"].shape[1], "dev": dev, "test": test}


# ======================================================================== fine-tuning
def fine_tune(tf_dir: str, data_dir: str, output_dir: str, epochs: float, tune_thresholds: bool) -> tuple[float, float]:
    """run_classifier.py: train, eval (dev), predict (test); returns its (wall, CPU)
    seconds (CPU: user + system of the subprocess, which a shared machine does not
    inflate as it does the wall time)."""
    if os.path.exists(output_dir):
        shutil.rmtree(output_dir)
    cmd = [sys.executable, "run_classifier.py", "--task_name=csv", f"--data_dir={data_dir}",
           "--text_column=text", "--label_column=labels", "--problem_type=multi_label_classification",
           f"--labels={','.join(SOURCES)}", f"--label_separator={LABEL_SEPARATOR}",
           *(["--tune_thresholds"] if tune_thresholds else []),
           f"--vocab_file={tf_dir}/vocab.txt", f"--bert_config_file={tf_dir}/bert_config.json",
           f"--init_checkpoint={tf_dir}/bert_model.ckpt", "--do_lower_case=true", f"--output_dir={output_dir}",
           "--do_train", "--do_eval", "--do_predict", "--bucket_by_length", f"--num_train_epochs={epochs:g}",
           *(f"--{k}={v}" for k, v in RECIPE.items())]
    common.log("running " + " ".join(cmd[1:]))
    start, cpu_start = time.time(), common.cpu_seconds()
    os.makedirs(os.path.dirname(output_dir), exist_ok=True)
    common.run_logged(cmd, "fine-tuning", output_dir + ".console.log")
    return time.time() - start, common.cpu_seconds() - cpu_start


def read_thresholds(path: str) -> list[float]:
    """The per-label thresholds of run_classifier.py's thresholds.json
    (`{"labels": [...], "thresholds": [...], ...}`), in `SOURCES` order."""
    with open(path, encoding="utf-8") as f:
        document = json.load(f)
    labels, thresholds = document.get("labels"), document.get("thresholds")
    if not isinstance(labels, list) or not isinstance(thresholds, list) or sorted(labels) != sorted(SOURCES) \
            or len(thresholds) != len(labels):
        raise SystemExit(f"{path}: expected the thresholds of {', '.join(SOURCES)}, got {document!r}")
    by_label = dict(zip(labels, thresholds))
    return [float(by_label[s]) for s in SOURCES]


def model_test_metrics(output_dir: str, test: list[Example], thresholds: list[float] | None = None) -> dict:
    """The metrics of test_results.tsv (one probability per label) against the test
    label sets, at 0.5 or at the given per-label thresholds (a probability at or above
    its threshold is a label)."""
    import numpy as np  # with scikit-learn and the product: only once the run is done

    from bert_estimator.results import output_files

    probabilities = np.array(output_files.read_test_results(output_dir))
    if probabilities.shape != (len(test), len(SOURCES)):
        raise SystemExit(f"test_results.tsv has shape {probabilities.shape}, "
                         f"expected ({len(test)}, {len(SOURCES)})")
    cut = np.array(thresholds if thresholds is not None else [0.5] * len(SOURCES))
    return multilabel_metrics(label_matrix(test), (probabilities >= cut).astype(int))


def run(args: argparse.Namespace) -> dict:
    from bert_estimator.results import output_files

    common.quiet_tensorflow()
    splits = build_splits(load_sources())
    data_dir = os.path.join(args.work_dir, "data")
    write_task(data_dir, splits)
    common.log(f"wrote {data_dir}: " + ", ".join(f"{len(v)} {k}" for k, v in splits.items()))
    _, tf_dir = common.minilm_checkpoint(os.path.join(args.work_dir, "minilm_tf"))
    lengths = {s: length_summary(token_lengths(v, f"{tf_dir}/vocab.txt"), RECIPE["max_seq_length"])
               for s, v in splits.items()}
    common.log("baseline ...")
    base = baseline(splits)
    output_dir = os.path.join(args.work_dir, "output")
    seconds, cpu = fine_tune(tf_dir, data_dir, output_dir, args.num_train_epochs, args.tune_thresholds)
    dev = output_files.read_eval_results(os.path.join(output_dir, output_files.EVAL_RESULTS))
    results = {
        "date": datetime.date.today().isoformat(),
        "machine": common.python_and_cpus(),
        "rows": {k: len(v) for k, v in splits.items()},
        "label_counts": {k: {s: sum(s in e.labels for e in v) for s in SOURCES} for k, v in splits.items()},
        "snippets_per_example": {k: {n: sum(len(e.snippets) == n for e in v) for n in range(1, MAX_SNIPPETS + 1)}
                                 for k, v in splits.items()},
        "token_lengths": lengths,
        "recipe": dict(RECIPE, num_train_epochs=args.num_train_epochs),
        "seconds": round(seconds),
        "cpu_seconds": round(cpu),
        "load_average_end": common.load_average(),
        "baseline": {"tfidf": {k: list(v) if isinstance(v, tuple) else v for k, v in BASELINE_TFIDF.items()},
                     "Cs_tried": list(BASELINE_CS), **base},
        "test": model_test_metrics(output_dir, splits["test"]),
        "dev": {k: float(v) for k, v in dev.items() if not isinstance(v, str)},
        "output_dir": output_dir,
    }
    if args.tune_thresholds:
        thresholds = read_thresholds(os.path.join(output_dir, "thresholds.json"))
        results["thresholds"] = dict(zip(SOURCES, thresholds))
        results["test_tuned_thresholds"] = model_test_metrics(output_dir, splits["test"], thresholds)
    return results


# ============================================================================ reports
def _row(name: str, split: str, rows: int, m: dict) -> str:
    return common.markdown_row([name, split, rows, f"{m['micro_f1']:.4f}", f"{m['macro_f1']:.4f}",
                                f"{m['subset_accuracy']:.4f}", f"{m['hamming_loss']:.4f}"])


def report(results: dict, args: argparse.Namespace) -> int:
    common.write_json(os.path.join(args.work_dir, "multilabel_sources.json"), results, indent=2)
    rows, b, d = results["rows"], results["baseline"], results["dev"]
    print(common.markdown_row(["model", "split", "rows", "micro F1", "macro F1", "subset accuracy", "Hamming loss"]))
    print(common.markdown_row(["---"] * 7))
    print(_row(f"TF-IDF + one-vs-rest LogisticRegression (C={b['C']:g})", "dev", rows["dev"], b["dev"]))
    print(_row(f"TF-IDF + one-vs-rest LogisticRegression (C={b['C']:g})", "test", rows["test"], b["test"]))
    dev_keys = ("micro_f1", "macro_f1", "subset_accuracy", "hamming_loss")
    if all(k in d for k in dev_keys):
        print(_row("MiniLM fine-tuned (eval_results.txt)", "dev", rows["dev"], d))
    print(_row("MiniLM fine-tuned (test_results.tsv, threshold 0.5)", "test", rows["test"], results["test"]))
    if "test_tuned_thresholds" in results:
        print(_row("MiniLM fine-tuned (test_results.tsv, thresholds.json)", "test", rows["test"],
                   results["test_tuned_thresholds"]))
    print()
    labelled = [("TF-IDF baseline", b["test"]), ("MiniLM, 0.5", results["test"])]
    if "test_tuned_thresholds" in results:
        labelled.append(("MiniLM, thresholds.json", results["test_tuned_thresholds"]))
    print(common.markdown_row(["test F1 per label", *(s for s in SOURCES)]))
    print(common.markdown_row(["---"] * (len(SOURCES) + 1)))
    for name, m in labelled:
        print(common.markdown_row([name, *(f"{m['f1'][s]:.4f}" for s in SOURCES)]))
    if "thresholds" in results:
        print(common.markdown_row(["thresholds.json", *(f"{results['thresholds'][s]:.3f}" for s in SOURCES)]))
    t = results["token_lengths"]["train"]
    print(f"\nTrain texts: {t['mean']} WordPiece tokens on average, p99 {t['p99']}, max {t['max']}; "
          f"{t['truncated']} of {t['of']} longer than {results['recipe']['max_seq_length'] - 2} (truncated). "
          f"Fine-tuning took {results['seconds']} s ({results['cpu_seconds']} s of CPU) on "
          f"{results['machine']} ({results['date']}).")
    return 0


main = common.entry_point(parse_args, run, report)

if __name__ == "__main__":
    sys.exit(main())
