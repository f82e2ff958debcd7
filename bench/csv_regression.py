#!/usr/bin/env python3
"""Regression on a CSV with real data: the movie snippets' mean human ratings.

The 10,605 Rotten Tomatoes snippets of VADER's ground truth (`assets.fetch_movie_snippets`)
each carry the mean rating of human raters in [-4, 4]. This script

1. writes them as a CSV task (`id,text,rating`, the rating exactly as the file gives
   it), split 80/10/10 (8,484 / 1,060 / 1,061 rows) after a shuffle with a fixed seed;
2. fetches all-MiniLM-L6-v2 and converts it to Google's layout (`common.minilm_checkpoint`);
3. fine-tunes it with `run_classifier.py --task_name=csv --label_column=rating
   --problem_type=regression` for one epoch, with --do_eval (dev) and --do_predict (test);
4. reports the test set's Pearson r, Spearman rho and mean squared error, computed with
   SciPy from test_results.tsv (one predicted value per row) against the test ratings,
   beside the dev metrics of eval_results.txt and the MSE of always predicting the
   train mean.

    .venv/bin/python bench/csv_regression.py [--work_dir DIR] [--num_train_epochs 1]

The report (a Markdown table) goes to stdout and `<work_dir>/csv_regression.json`; the
run's files stay in `<work_dir>` (default `.cache/bench/csv_regression`). docs/RESULTS.md
("Regression on a CSV") holds a run of it.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import os
import random
import shutil
import sys
import time

if __name__ == "__main__":  # `python bench/csv_regression.py`: import from the project root
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
from bench import common  # noqa: E402

DEFAULT_WORK_DIR = os.path.join(common.PROJECT_ROOT, ".cache", "bench", "csv_regression")
SPLIT_SEED = 20141006  # the shuffle before the 80/10/10 split
SPLITS = (("train", 0.8), ("dev", 0.1), ("test", 0.1))
HEADER = ("id", "text", "rating")
# One epoch at max_seq_length 64 (the snippets average 27 tokens; 99% fit), as demo.py;
# a higher learning rate than its classifier's: the regression head starts at 0 and must
# reach ratings of +-4.
RECIPE = {
    "max_seq_length": 64,
    "train_batch_size": 32,
    "learning_rate": 1e-4,
    "warmup_proportion": 0.1,
    "eval_batch_size": 64,
    "predict_batch_size": 64,
    "seed": 0,
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/csv_regression.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--work_dir", default=DEFAULT_WORK_DIR, help="data, model and run directory")
    parser.add_argument("--num_train_epochs", type=float, default=1.0)
    return parser.parse_args(argv)


def split_rows(rows: list[tuple[str, float, str]], seed: int = SPLIT_SEED) -> dict[str, list]:
    """`rows` shuffled with `seed` and cut 80/10/10 into train, dev and test."""
    shuffled = list(rows)
    random.Random(seed).shuffle(shuffled)
    n_train = int(len(shuffled) * SPLITS[0][1])
    n_dev = int(len(shuffled) * SPLITS[1][1])
    return {"train": shuffled[:n_train], "dev": shuffled[n_train:n_train + n_dev],
            "test": shuffled[n_train + n_dev:]}


def write_task(data_dir: str, splits: dict[str, list]) -> None:
    """train.csv, dev.csv, test.csv: `id,text,rating` with standard CSV quoting."""
    os.makedirs(data_dir, exist_ok=True)
    for name, rows in splits.items():
        with open(os.path.join(data_dir, f"{name}.csv"), "w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(HEADER)
            writer.writerows((text_id, text, repr(score)) for text_id, score, text in rows)


def fine_tune(tf_dir: str, data_dir: str, output_dir: str, epochs: float) -> float:
    """run_classifier.py: train, eval (dev), predict (test); returns its wall seconds."""
    if os.path.exists(output_dir):
        shutil.rmtree(output_dir)
    cmd = [sys.executable, "run_classifier.py", "--task_name=csv", f"--data_dir={data_dir}",
           "--text_column=text", "--label_column=rating", "--problem_type=regression",
           f"--vocab_file={tf_dir}/vocab.txt", f"--bert_config_file={tf_dir}/bert_config.json",
           f"--init_checkpoint={tf_dir}/bert_model.ckpt", "--do_lower_case=true", f"--output_dir={output_dir}",
           "--do_train", "--do_eval", "--do_predict", "--bucket_by_length", f"--num_train_epochs={epochs:g}",
           *(f"--{k}={v}" for k, v in RECIPE.items())]
    common.log("running " + " ".join(cmd[1:]))
    start = time.time()
    os.makedirs(os.path.dirname(output_dir), exist_ok=True)
    common.run_logged(cmd, "fine-tuning", output_dir + ".console.log")
    return time.time() - start


def test_metrics(output_dir: str, test_rows: list) -> dict:
    """Pearson r, Spearman rho and MSE of test_results.tsv against the test ratings."""
    import numpy as np  # with SciPy and the product: only once the run is done
    import scipy.stats

    from bert_estimator.results import output_files

    predicted = np.array(output_files.read_test_results(output_dir))
    if predicted.shape != (len(test_rows), 1):
        raise SystemExit(f"test_results.tsv has shape {predicted.shape}, expected ({len(test_rows)}, 1)")
    values = predicted[:, 0]
    gold = np.array([score for _, score, _ in test_rows])
    return {"pearson": float(scipy.stats.pearsonr(values, gold)[0]),
            "spearman": float(scipy.stats.spearmanr(values, gold)[0]),
            "mse": float(np.mean((values - gold) ** 2))}


def run(args: argparse.Namespace) -> dict:
    # The product: imported here, as every bench/ script does (bench/common.py)
    from bert_estimator.data import assets
    from bert_estimator.results import output_files

    common.quiet_tensorflow()
    rows = assets.read_snippets(assets.fetch_movie_snippets())
    splits = split_rows(rows)
    data_dir = os.path.join(args.work_dir, "data")
    write_task(data_dir, splits)
    common.log(f"wrote {data_dir}: " + ", ".join(f"{len(v)} {k}" for k, v in splits.items()))
    _, tf_dir = common.minilm_checkpoint(os.path.join(args.work_dir, "minilm_tf"))
    output_dir = os.path.join(args.work_dir, "output")
    seconds = fine_tune(tf_dir, data_dir, output_dir, args.num_train_epochs)
    dev = output_files.read_eval_results(os.path.join(output_dir, output_files.EVAL_RESULTS))
    train_mean = sum(score for _, score, _ in splits["train"]) / len(splits["train"])
    mean_mse = sum((score - train_mean) ** 2 for _, score, _ in splits["test"]) / len(splits["test"])
    return {
        "date": datetime.date.today().isoformat(),
        "machine": common.python_and_cpus(),
        "rows": {k: len(v) for k, v in splits.items()},
        "recipe": dict(RECIPE, num_train_epochs=args.num_train_epochs),
        "seconds": round(seconds),
        "test": test_metrics(output_dir, splits["test"]),
        "test_mse_of_the_train_mean": mean_mse,
        "dev": {k: float(dev[k]) for k in ("pearson", "spearman", "mse", "eval_loss") if k in dev},
        "output_dir": output_dir,
    }


def report(results: dict, args: argparse.Namespace) -> int:
    common.write_json(os.path.join(args.work_dir, "csv_regression.json"), results, indent=2)
    t, d = results["test"], results["dev"]
    print(common.markdown_row(["split", "rows", "Pearson r", "Spearman rho", "MSE"]))
    print(common.markdown_row(["---"] * 5))
    print(common.markdown_row(["dev (eval_results.txt)", results["rows"]["dev"], f"{d['pearson']:.4f}",
                               f"{d['spearman']:.4f}", f"{d['mse']:.4f}"]))
    print(common.markdown_row(["test (test_results.tsv, SciPy)", results["rows"]["test"], f"{t['pearson']:.4f}",
                               f"{t['spearman']:.4f}", f"{t['mse']:.4f}"]))
    print(f"\nMSE of predicting the train mean on test: {results['test_mse_of_the_train_mean']:.4f}; "
          f"fine-tuning took {results['seconds']} s on {results['machine']} ({results['date']}).")
    return 0


main = common.entry_point(parse_args, run, report)

if __name__ == "__main__":
    sys.exit(main())
