"""`--class_weights`: loss weights per label, for training sets whose labels are imbalanced.

Two kinds, one per head (`run_classifier.create_model`):

* single-label classification: a weight per class. The training loss is the weighted
  mean of the examples' cross-entropies, sum_i w[y_i] * ce_i / sum_i w[y_i], as
  `torch.nn.CrossEntropyLoss(weight=w)` computes it (so weights that are all equal
  change nothing, whatever their value).
* multi-label classification: a `pos_weight` per label, the factor on the loss of that
  label's positive examples, as `torch.nn.BCEWithLogitsLoss(pos_weight=p)` and
  `tf.nn.weighted_cross_entropy_with_logits`: per example and label,
  -(p * y * log sigmoid(x) + (1 - y) * log(1 - sigmoid(x))), averaged over both.

The flag's value (`parse`):

* `balanced`: from the train file's label counts (`balanced_weights`). Single-label:
  n_examples / (n_labels * count(label)), scikit-learn's `class_weight="balanced"`.
  Multi-label: negatives / positives of each label (each label's positives then weigh
  as much as its negatives), the `pos_weight` that torch's documentation suggests.
* explicit weights, one per label in label-list order (`1,5`), or `label:weight`
  pairs (`neg:1,pos:5`; a label left out weighs 1).

Weights apply to the training loss only: `eval_loss` stays the plain mean, comparable
between runs with and without weights. The run shows them on the console and writes
them, with the counts they came from, to `<output_dir>/class_weights.json` (`record`).
"""

from __future__ import annotations

import collections
import json
import math
import os
from typing import Optional, Sequence

from bert_estimator.core.errors import UsageError
from bert_estimator.core.fileio import write_atomically
from processors.base import MultiLabelList, example_labels

BALANCED = "balanced"
RECORD_FILE = "class_weights.json"


def label_counts(examples, label_list: Sequence[str]) -> list[int]:
    """How many of `examples` carry each label of `label_list` (a multi-label example
    counts once for each label of its set)."""
    multi_label = isinstance(label_list, MultiLabelList)
    counts = collections.Counter()
    for example in examples:
        counts.update(example_labels(example.label) if multi_label else [example.label])
    return [counts.get(label, 0) for label in label_list]


def balanced_weights(counts: Sequence[int], num_examples: int, label_list: Sequence[str],
                     multi_label: bool) -> list[float]:
    """`balanced` weights from the train file's label counts (module docstring).

    Raises:
      UsageError: a label without examples (single-label), or without positive or
        negative examples (multi-label): its weight would be infinite or zero.
    """
    weights = []
    for label, count in zip(label_list, counts):
        negatives = num_examples - count
        if count == 0 or (multi_label and negatives == 0):
            which = "no example" if count == 0 else "every example"
            raise UsageError(f"--class_weights=balanced: label {label!r} is on {which} of the training set, so its "
                             "weight is undefined; give the weights explicitly (--class_weights=1,5 or "
                             "label:weight,...)")
        weights.append(negatives / count if multi_label else num_examples / (len(label_list) * count))
    return weights


def parse_explicit(spec: str, label_list: Sequence[str]) -> list[float]:
    """Weights from `1,5` (label-list order) or `neg:1,pos:5` (unlisted labels: 1).

    Raises:
      UsageError: not numbers, not one per label, an unknown label, or a weight that is
        not finite and positive.
    """
    items = [item.strip() for item in spec.split(",")]
    flag = f"--class_weights={spec}"
    if any(":" in item for item in items):
        weights = dict.fromkeys(label_list, 1.0)
        for item in items:
            label, _, value = item.rpartition(":")
            label = label.strip()
            if label not in weights:
                raise UsageError(f"{flag}: {label!r} is not a label ({', '.join(label_list)}); write label:weight "
                                 "pairs, or one number per label")
            weights[label] = _weight(value, flag)
        return list(weights.values())
    if len(items) != len(label_list):
        raise UsageError(f"{flag}: {len(items)} weights for {len(label_list)} labels ({', '.join(label_list)}); "
                         "give one per label in that order, label:weight pairs, or 'balanced'")
    return [_weight(item, flag) for item in items]


def _weight(text: str, flag: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"{flag}: {text.strip()!r} is not a number") from None
    if not (math.isfinite(value) and value > 0):
        raise UsageError(f"{flag}: weights must be positive numbers, got {text.strip()}")
    return value


def parse(spec: Optional[str], label_list: Sequence[str], train_examples) -> Optional[list[float]]:
    """The weights `--class_weights` asks for, one per label of `label_list`, or None
    (no flag). `train_examples` are needed for `balanced` only.

    Raises:
      UsageError: a bad value (see `parse_explicit`, `balanced_weights`), or weights
        with no training set to use them on.
    """
    if spec is None or not spec.strip():
        return None
    if train_examples is None:
        raise UsageError("--class_weights weights the training loss: add --do_train (evaluation and prediction "
                         "do not use them)")
    if spec.strip().lower() == BALANCED:
        multi_label = isinstance(label_list, MultiLabelList)
        counts = label_counts(train_examples, label_list)
        return balanced_weights(counts, len(train_examples), label_list, multi_label)
    return parse_explicit(spec, label_list)


def describe(weights: Sequence[float], label_list: Sequence[str]) -> str:
    """"neg 0.53, pos 10.2": the weights for the console."""
    return ", ".join(f"{label} {weight:.4g}" for label, weight in zip(label_list, weights))


def record(output_dir: str, spec: str, weights: Sequence[float], label_list: Sequence[str],
           train_examples) -> str:
    """Writes `<output_dir>/class_weights.json` (the flag, the kind, each label's weight
    and train count); returns its path."""
    multi_label = isinstance(label_list, MultiLabelList)
    counts = label_counts(train_examples, label_list)
    document = {
        "class_weights": spec,
        "kind": "pos_weight (multi-label)" if multi_label else "class weight (single-label)",
        "num_train_examples": len(train_examples),
        "labels": [{"label": label, "weight": weight, "train_count": count}
                   for label, weight, count in zip(label_list, weights, counts)],
    }
    path = os.path.join(output_dir, RECORD_FILE)
    write_atomically(path, json.dumps(document, indent=2) + "\n")
    return path
