#!/usr/bin/env python3
"""Class weights on an imbalanced set: minority-class recall with and without
`run_classifier.py --class_weights=balanced`.

The 10,605 Rotten Tomatoes snippets of VADER's ground truth (`assets.fetch_movie_snippets`)
carry the mean rating of human raters in [-4, 4]: rating > 0 is `pos`, < 0 is `neg`,
0 is dropped (37 snippets), as is the second copy of a repeated text (2). This script

1. makes the task imbalanced, negatives the majority (`build_splits`): the negatives
   and the positives are each shuffled with a fixed seed, then train takes the first
   3,420 negatives and 180 positives (95/5), dev the next 760 and 40 (95/5), test the
   next 1,000 and 1,000 (balanced); each split's rows are shuffled together. Test is
   balanced because minority recall is the point: recall is measured within the class,
   so the class prior does not change what it estimates, and 1,000 positives measure
   it to about +-1.6 points (one standard error) where the 5 % of a 95/5 test would
   hold ~50. The prior does change precision, so macro F1 is reported twice: on the
   balanced test, and with the test examples weighted to the training prior (95/5,
   scikit-learn's `sample_weight`), what a 95/5 test set would give in expectation;
2. fetches all-MiniLM-L6-v2 and converts it (`common.minilm_checkpoint`);
3. fine-tunes it for one epoch with `run_classifier.py --task_name=csv --labels=neg,pos`
   for each seed (`--seed`) and each weighting (`--class_weights` absent, or `balanced`:
   n_examples / (n_labels * count), as scikit-learn, i.e. 0.526 for neg and 10 for pos);
4. reports, per run and as mean +- sample standard deviation over the seeds, the test
   set's minority (`pos`) recall, majority recall and macro F1, computed with
   scikit-learn from test_results.tsv (argmax of the two probabilities), beside dev's
   `recall` (of `pos`) from eval_results.txt, and the ROC AUC of the `pos`
   probability (threshold-free: whether weighting changed the ranking, or only where
   argmax cuts it).

    .venv/bin/python bench/class_weights.py [--work_dir DIR] [--seeds 0,1,2] [--weights none,balanced]

The report (Markdown tables) goes to stdout and `<work_dir>/class_weights.json`; the
runs' files stay in `<work_dir>` (default `.cache/bench/class_weights`). docs/RESULTS.md
("Class weights on an imbalanced set") holds a run of it.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import os
import random
import shutil
import statistics
import sys
import time

if __name__ == "__main__":  # `python bench/class_weights.py`: import from the project root
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
from bench import common  # noqa: E402

DEFAULT_WORK_DIR = os.path.join(common.PROJECT_ROOT, ".cache", "bench", "class_weights")
LABELS = ("neg", "pos")  # label-list order: class 1 (`pos`) is the minority
MINORITY = "pos"
SPLIT_SEED = 20141006
# split -> (negatives, positives)
SIZES = {"train": (3420, 180), "dev": (760, 40), "test": (1000, 1000)}
TRAIN_PRIOR = {"neg": 0.95, "pos": 0.05}  # the prior the weighted macro F1 assumes
HEADER = ("id", "text", "label")
WEIGHTINGS = ("none", "balanced")
# One epoch at max_seq_length 64 (the snippets average 25 tokens; 99% fit), demo.py's recipe.
RECIPE = {
    "max_seq_length": 64,
    "train_batch_size": 32,
    "learning_rate": 5e-5,
    "warmup_proportion": 0.1,
    "eval_batch_size": 64,
    "predict_batch_size": 64,
}


def _int_list(value: str) -> list[int]:
    try:
        return [int(v) for v in value.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {value!r}") from None


def _weightings(value: str) -> list[str]:
    names = value.split(",")
    bad = [n for n in names if n not in WEIGHTINGS]
    if bad:
        raise argparse.ArgumentTypeError(f"unknown weighting {bad[0]!r} (known: {', '.join(WEIGHTINGS)})")
    return names


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/class_weights.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--work_dir", default=DEFAULT_WORK_DIR, help="data, model and run directory")
    parser.add_argument("--seeds", type=_int_list, default=[0, 1, 2], help="run_classifier.py --seed values")
    parser.add_argument("--weights", type=_weightings, default=list(WEIGHTINGS),
                        help="weightings to run: none (no --class_weights), balanced (--class_weights=balanced)")
    parser.add_argument("--num_train_epochs", type=float, default=1.0)
    return parser.parse_args(argv)


# ============================================================================ the data
def labelled_snippets(rows: list[tuple[str, float, str]]) -> dict[str, list[tuple[str, str]]]:
    """Label -> (id, text) of the snippets with that sign of rating (> 0: pos, < 0: neg;
    0 dropped), in file order; a text seen before is dropped."""
    by_label: dict[str, list[tuple[str, str]]] = {label: [] for label in LABELS}
    seen = set()
    for text_id, score, text in rows:
        if score == 0 or text in seen:
            continue
        seen.add(text)
        by_label["pos" if score > 0 else "neg"].append((text_id, text))
    return by_label


def build_splits(by_label: dict[str, list[tuple[str, str]]], sizes: dict[str, tuple[int, int]] | None = None,
                 seed: int = SPLIT_SEED) -> dict[str, list[tuple[str, str, str]]]:
    """Train, dev and test of (id, text, label) rows.

    Each label's snippets are shuffled (seeded) and cut into consecutive slices, one
    per split, of the sizes asked; then each split's rows are shuffled together.

    Args:
      by_label: label -> (id, text) pairs (`labelled_snippets`).
      sizes: split -> (negatives, positives), default `SIZES`.
      seed: fixes the shuffles.

    Raises:
      ValueError: when a label has too few snippets for the sizes.
    """
    sizes = dict(SIZES if sizes is None else sizes)
    rng = random.Random(seed)
    pools = {}
    for i, label in enumerate(LABELS):
        shuffled = list(by_label[label])
        rng.shuffle(shuffled)
        needed = sum(n[i] for n in sizes.values())
        if needed > len(shuffled):
            raise ValueError(f"{len(shuffled)} {label} snippets, the splits need {needed}")
        pools[label] = shuffled
    splits, start = {}, {label: 0 for label in LABELS}
    for split, counts in sizes.items():
        rows = []
        for label, n in zip(LABELS, counts):
            rows += [(text_id, text, label) for text_id, text in pools[label][start[label]:start[label] + n]]
            start[label] += n
        rng.shuffle(rows)
        splits[split] = rows
    return splits


def write_task(data_dir: str, splits: dict[str, list[tuple[str, str, str]]]) -> None:
    """train.csv, dev.csv, test.csv: `id,text,label` with standard CSV quoting."""
    os.makedirs(data_dir, exist_ok=True)
    for name, rows in splits.items():
        with open(os.path.join(data_dir, f"{name}.csv"), "w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(HEADER)
            writer.writerows(rows)


# ========================================================================= the metrics
def prior_weights(gold: list[int], prior: dict[str, float] = TRAIN_PRIOR) -> list[float]:
    """Per-example weights that give each class its share of `prior` (class ids index
    `LABELS`), the weights summing to the number of examples."""
    counts = [gold.count(i) for i in range(len(LABELS))]
    return [prior[LABELS[g]] * len(gold) / counts[g] for g in gold]


def classification_metrics(gold: list[int], predicted: list[int], minority_scores: list[float]) -> dict:
    """scikit-learn's recall of each class, macro F1, macro F1 with the examples weighted
    to `TRAIN_PRIOR`, and the ROC AUC of `minority_scores` (the minority's probability:
    threshold-free, so unchanged by a shift of the decision boundary). Class ids index
    `LABELS`."""
    from sklearn import metrics

    recall = metrics.recall_score(gold, predicted, average=None, labels=[0, 1], zero_division=0)
    minority = LABELS.index(MINORITY)
    return {"minority_recall": float(recall[minority]),
            "majority_recall": float(recall[1 - LABELS.index(MINORITY)]),
            "macro_f1": float(metrics.f1_score(gold, predicted, average="macro", zero_division=0)),
            "macro_f1_at_train_prior": float(metrics.f1_score(gold, predicted, average="macro", zero_division=0,
                                                              sample_weight=prior_weights(gold))),
            "auc": float(metrics.roc_auc_score([int(g == minority) for g in gold], minority_scores))}


def mean_sd(values: list[float]) -> tuple[float, float]:
    """The mean and the sample standard deviation (0 for one value)."""
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


# ======================================================================== fine-tuning
def fine_tune(tf_dir: str, data_dir: str, output_dir: str, seed: int, weighting: str, epochs: float) -> tuple[float, float]:
    """run_classifier.py: train, eval (dev), predict (test); returns its (wall, CPU)
    seconds (CPU: user + system of the subprocess, which a shared machine does not
    inflate as it does the wall time)."""
    if os.path.exists(output_dir):
        shutil.rmtree(output_dir)
    cmd = [sys.executable, "run_classifier.py", "--task_name=csv", f"--data_dir={data_dir}",
           "--text_column=text", "--label_column=label", f"--labels={','.join(LABELS)}",
           *([] if weighting == "none" else [f"--class_weights={weighting}"]),
           f"--vocab_file={tf_dir}/vocab.txt", f"--bert_config_file={tf_dir}/bert_config.json",
           f"--init_checkpoint={tf_dir}/bert_model.ckpt", "--do_lower_case=true", f"--output_dir={output_dir}",
           "--do_train", "--do_eval", "--do_predict", "--bucket_by_length", f"--num_train_epochs={epochs:g}",
           f"--seed={seed}", *(f"--{k}={v}" for k, v in RECIPE.items())]
    common.log("running " + " ".join(cmd[1:]))
    start, cpu_start = time.time(), common.cpu_seconds()
    os.makedirs(os.path.dirname(output_dir), exist_ok=True)
    common.run_logged(cmd, f"fine-tuning (seed {seed}, weights {weighting})", output_dir + ".console.log")
    return time.time() - start, common.cpu_seconds() - cpu_start


def test_metrics(output_dir: str, test_rows: list[tuple[str, str, str]]) -> dict:
    """`classification_metrics` of test_results.tsv's argmax against the test labels."""
    import numpy as np  # with scikit-learn and the product: only once the run is done

    from bert_estimator.results import output_files

    probabilities = np.array(output_files.read_test_results(output_dir))
    if probabilities.shape != (len(test_rows), len(LABELS)):
        raise SystemExit(f"test_results.tsv has shape {probabilities.shape}, expected ({len(test_rows)}, {len(LABELS)})")
    gold = [LABELS.index(label) for _, _, label in test_rows]
    return classification_metrics(gold, [int(i) for i in probabilities.argmax(axis=1)],
                                  [float(p) for p in probabilities[:, LABELS.index(MINORITY)]])


def run(args: argparse.Namespace) -> dict:
    from bert_estimator.data import assets
    from bert_estimator.results import output_files

    common.quiet_tensorflow()
    splits = build_splits(labelled_snippets(assets.read_snippets(assets.fetch_movie_snippets())))
    data_dir = os.path.join(args.work_dir, "data")
    write_task(data_dir, splits)
    common.log(f"wrote {data_dir}: " + ", ".join(f"{len(v)} {k}" for k, v in splits.items()))
    _, tf_dir = common.minilm_checkpoint(os.path.join(args.work_dir, "minilm_tf"))
    runs = []
    for weighting in args.weights:
        for seed in args.seeds:
            output_dir = os.path.join(args.work_dir, f"output_{weighting}_seed{seed}")
            seconds, cpu = fine_tune(tf_dir, data_dir, output_dir, seed, weighting, args.num_train_epochs)
            dev = output_files.read_eval_results(os.path.join(output_dir, output_files.EVAL_RESULTS))
            runs.append({"weights": weighting, "seed": seed, "seconds": round(seconds), "cpu_seconds": round(cpu),
                         "load_average": common.load_average(),
                         "test": test_metrics(output_dir, splits["test"]),
                         "dev": {k: float(v) for k, v in dev.items() if not isinstance(v, str)}, "output_dir": output_dir})
            common.log(f"  {weighting} seed {seed}: {runs[-1]['test']} ({runs[-1]['seconds']} s)")
    summary = {}
    for weighting in args.weights:
        mine = [r for r in runs if r["weights"] == weighting]
        summary[weighting] = {k: mean_sd([r["test"][k] for r in mine]) for k in mine[0]["test"]}
        summary[weighting]["dev_recall"] = mean_sd([r["dev"].get("recall", float("nan")) for r in mine])
    return {
        "date": datetime.date.today().isoformat(),
        "machine": common.python_and_cpus(),
        "rows": {k: {label: sum(r[2] == label for r in v) for label in LABELS} for k, v in splits.items()},
        "recipe": dict(RECIPE, num_train_epochs=args.num_train_epochs),
        "runs": runs,
        "summary": summary,
    }


# ============================================================================ reports
METRICS = (("minority_recall", "pos recall"), ("majority_recall", "neg recall"), ("macro_f1", "macro F1"),
           ("macro_f1_at_train_prior", "macro F1 at 95/5"), ("auc", "ROC AUC"))


def report(results: dict, args: argparse.Namespace) -> int:
    common.write_json(os.path.join(args.work_dir, "class_weights.json"), results, indent=2)
    names = {"none": "none", "balanced": "`balanced`"}
    print(common.markdown_row(["--class_weights", "seed", *(t for _, t in METRICS), "dev pos recall", "wall s", "CPU s"]))
    print(common.markdown_row(["---"] * (len(METRICS) + 5)))
    for r in results["runs"]:
        print(common.markdown_row([names[r["weights"]], r["seed"], *(f"{r['test'][k]:.4f}" for k, _ in METRICS),
                                   f"{r['dev'].get('recall', float('nan')):.4f}", r["seconds"],
                                   r["cpu_seconds"]]))
    print()
    print(common.markdown_row(["--class_weights", "runs", *(f"{t} (mean +- sd)" for _, t in METRICS)]))
    print(common.markdown_row(["---"] * (len(METRICS) + 2)))
    for weighting, s in results["summary"].items():
        n = sum(r["weights"] == weighting for r in results["runs"])
        print(common.markdown_row([names[weighting], n, *(f"{s[k][0]:.4f} +- {s[k][1]:.4f}" for k, _ in METRICS)]))
    rows = results["rows"]
    print("\nRows (neg/pos): " + ", ".join(f"{k} {v['neg']}/{v['pos']}" for k, v in rows.items())
          + f"; {results['machine']} ({results['date']}).")
    return 0


main = common.entry_point(parse_args, run, report)

if __name__ == "__main__":
    sys.exit(main())
