"""Decision thresholds of a multi-label model: 0.5 per label, or tuned on dev.

A multi-label head gives each label its own probability; the label is predicted when
that probability is at least the label's threshold. `--tune_thresholds` picks, for each
label on its own, the threshold of `CANDIDATES` (0.01, 0.02, ..., 0.99) that maximises
the label's F1 on the dev set; among equal F1s, the one nearest 0.5. Nothing else of the
model changes.

The thresholds live in `<output_dir>/thresholds.json` with the labels and the checkpoint
they were tuned for (`write`); prediction and export use them only for that checkpoint
(`for_checkpoint`), else 0.5. The dev metrics of `eval_results.txt` stay those at 0.5: a
threshold tuned on the dev set would flatter them there.
"""

from __future__ import annotations

import json
import os
from typing import Optional, Sequence

import numpy as np
import tensorflow.compat.v1 as tf

from bert_estimator.core import console
from bert_estimator.core.fileio import gfile, write_atomically
from bert_estimator.results.output_files import DEFAULT_THRESHOLD

CANDIDATES = np.round(np.arange(1, 100) / 100.0, 2)  # 0.01 ... 0.99
THRESHOLDS_FILE = "thresholds.json"


def f1_per_label(truth: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """F1 of each label (column); 0 where it has no true and no predicted positive.

    Args:
      truth, predicted: arrays of shape [examples, labels], 0/1.
    """
    tp = (truth * predicted).sum(axis=0)
    wrong = (truth != predicted).sum(axis=0)
    denominator = 2 * tp + wrong
    return np.divide(2 * tp, denominator, out=np.zeros(len(tp), dtype=np.float64), where=denominator > 0)


def micro_f1(truth: np.ndarray, predicted: np.ndarray) -> float:
    """F1 over all (example, label) pairs."""
    tp = float((truth * predicted).sum())
    wrong = float((truth != predicted).sum())
    return 2 * tp / (2 * tp + wrong) if tp + wrong else 0.0


def tune(probabilities: np.ndarray, truth: np.ndarray) -> list[float]:
    """Each label's threshold of `CANDIDATES` with the best F1 on these examples.

    Args:
      probabilities: float array [examples, labels], the model's sigmoid outputs.
      truth: 0/1 array [examples, labels], the gold label sets.

    Returns:
      list of one float per label.
    """
    probabilities, truth = np.asarray(probabilities, np.float64), np.asarray(truth, np.int64)
    scores = np.stack([f1_per_label(truth, (probabilities >= c).astype(np.int64)) for c in CANDIDATES])  # [C, L]
    distance = np.abs(CANDIDATES - DEFAULT_THRESHOLD)
    chosen = []
    for label in range(truth.shape[1]):
        best = scores[:, label].max()
        ties = np.flatnonzero(np.isclose(scores[:, label], best, rtol=0, atol=1e-12))
        chosen.append(float(CANDIDATES[ties[np.argmin(distance[ties])]]))
    return chosen


def tune_and_write(output_dir: str, label_list: Sequence[str], probabilities, truth, checkpoint: str) -> list[float]:
    """`tune`s the thresholds on dev `probabilities` of `checkpoint` and the gold multi-hot
    `truth`, `write`s them, and shows them on the console with the dev micro F1 at 0.5
    and with them; returns them."""
    probabilities, truth = np.asarray(probabilities, np.float64), np.asarray(truth, np.int64)
    tuned = tune(probabilities, truth)
    path = write(output_dir, label_list, tuned, checkpoint)
    console.show("Thresholds tuned on the dev set (dev micro F1 %.4f at 0.5, %.4f tuned; optimistic: tuned on the "
                 "same set): %s; written to %s", micro_f1(truth, probabilities >= DEFAULT_THRESHOLD),
                 micro_f1(truth, probabilities >= np.asarray(tuned)),
                 ", ".join(f"{label} {t:.2f}" for label, t in zip(label_list, tuned)), path)
    return tuned


def write(output_dir: str, label_list: Sequence[str], thresholds: Sequence[float], checkpoint: Optional[str]) -> str:
    """Writes `<output_dir>/thresholds.json`; returns its path."""
    path = os.path.join(output_dir, THRESHOLDS_FILE)
    document = {"labels": list(label_list), "thresholds": [float(t) for t in thresholds],
                "checkpoint": os.path.basename(checkpoint) if checkpoint else None,
                "tuned_on": "dev set, per label: the threshold of 0.01..0.99 with the best F1"}
    write_atomically(path, json.dumps(document, indent=2) + "\n")
    return path


def for_checkpoint(output_dir: str, label_list: Sequence[str], checkpoint: Optional[str]) -> list[float]:
    """The thresholds to predict with from `checkpoint`: those of thresholds.json when
    they were tuned for it and these labels, else 0.5 each (with a console warning when
    a thresholds.json of another checkpoint is there)."""
    path = os.path.join(output_dir, THRESHOLDS_FILE)
    default = [DEFAULT_THRESHOLD] * len(label_list)
    if not gfile().exists(path):
        return default
    with gfile().GFile(path) as f:
        document = json.load(f)
    wanted = os.path.basename(checkpoint) if checkpoint else None
    if document.get("labels") != list(label_list) or document.get("checkpoint") != wanted:
        tf.logging.warning("%s holds thresholds tuned for %s, not for %s: predicting with 0.5 for every label "
                     "(--do_eval --tune_thresholds tunes them again)", path, document.get("checkpoint"), wanted)
        return default
    return [float(t) for t in document["thresholds"]]
