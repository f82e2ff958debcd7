"""Tests of bench/class_weights.py's pure parts (docs/RESULTS.md, "Class weights on an
imbalanced set"): the imbalanced movie-snippet splits (real file, read independently
by tests/real_data.py) and the metrics against scikit-learn on replicated data and hand
computation."""

from __future__ import annotations

import csv
import statistics

import numpy as np
import pytest
from sklearn import metrics

from bench import class_weights as cw
from bert_estimator.data import assets
from tests import real_data


@pytest.fixture(scope="module")
def by_label() -> dict[str, list[tuple[str, str]]]:
    return cw.labelled_snippets(assets.read_snippets(assets.fetch_movie_snippets()))


@pytest.fixture(scope="module")
def splits(by_label) -> dict[str, list[tuple[str, str, str]]]:
    return cw.build_splits(by_label)


def test_labels_are_the_sign_of_the_rating(by_label):
    first = {}  # text -> the rating of its first occurrence
    for t in real_data.movie_snippets():
        first.setdefault(t.text.strip(), t.score)
    assert len(by_label["pos"]) == sum(score > 0 for score in first.values())
    assert len(by_label["neg"]) == sum(score < 0 for score in first.values())
    for label, rows in by_label.items():
        assert all((first[text] > 0) == (label == "pos") and first[text] != 0 for _, text in rows)
    texts = [text for rows in by_label.values() for _, text in rows]
    assert len(texts) == len(set(texts))


def test_splits_are_imbalanced_as_said_and_disjoint(splits):
    for split, (neg, pos) in cw.SIZES.items():
        labels = [label for _, _, label in splits[split]]
        assert (labels.count("neg"), labels.count("pos")) == (neg, pos)
    assert cw.SIZES["train"][1] / sum(cw.SIZES["train"]) == pytest.approx(0.05)
    assert cw.SIZES["dev"][1] / sum(cw.SIZES["dev"]) == pytest.approx(0.05)
    assert cw.SIZES["test"][0] == cw.SIZES["test"][1]
    ids = [i for rows in splits.values() for i, _, _ in rows]
    texts = [t for rows in splits.values() for _, t, _ in rows]
    assert len(set(ids)) == len(ids) and len(set(texts)) == len(texts)
    # the rows of a split are mixed, not all negatives then all positives
    first_pos = [label for _, _, label in splits["train"]].index("pos")
    assert first_pos < 200


def test_splits_are_seeded_and_the_pools_checked(by_label):
    small = {"train": (19, 1), "dev": (19, 1), "test": (5, 5)}
    assert cw.build_splits(by_label, small, seed=1) == cw.build_splits(by_label, small, seed=1)
    assert cw.build_splits(by_label, small, seed=1) != cw.build_splits(by_label, small, seed=2)
    with pytest.raises(ValueError, match="5 pos snippets, the splits need 7"):
        cw.build_splits({"neg": by_label["neg"], "pos": by_label["pos"][:5]}, small)


def test_written_csv_reads_back(splits, tmp_path):
    small = {k: v[:30] for k, v in splits.items()}
    cw.write_task(str(tmp_path), small)
    for split, rows in small.items():
        with open(tmp_path / f"{split}.csv", encoding="utf-8", newline="") as f:
            reader = csv.reader(f)
            assert tuple(next(reader)) == cw.HEADER
            assert [tuple(r) for r in reader] == rows


def test_metrics_against_scikit_learn_on_replicated_data():
    gold = [0, 0, 0, 0, 1, 1, 1, 1]
    predicted = [0, 0, 0, 1, 1, 1, 0, 0]
    scores = [0.1, 0.2, 0.3, 0.7, 0.9, 0.6, 0.4, 0.25]
    m = cw.classification_metrics(gold, predicted, scores)
    assert m["minority_recall"] == pytest.approx(2 / 4) and m["majority_recall"] == pytest.approx(3 / 4)
    # macro F1: neg p=3/5 r=3/4, pos p=2/3 r=2/4
    f_neg, f_pos = 2 * (3 / 5) * (3 / 4) / (3 / 5 + 3 / 4), 2 * (2 / 3) * (1 / 2) / (2 / 3 + 1 / 2)
    assert m["macro_f1"] == pytest.approx((f_neg + f_pos) / 2)
    # at the 95/5 prior: as if each negative were there 19 times per positive
    replicated_gold = [g for g in gold for _ in range(19 if g == 0 else 1)]
    replicated_pred = [p for g, p in zip(gold, predicted) for _ in range(19 if g == 0 else 1)]
    assert m["macro_f1_at_train_prior"] == pytest.approx(
        metrics.f1_score(replicated_gold, replicated_pred, average="macro"))
    # AUC: (neg, pos) pairs ranked right, of 16: 0.9 beats 4 negatives, 0.6 and 0.4 beat 3, 0.25 beats 2
    assert m["auc"] == pytest.approx((4 + 3 + 3 + 2) / 16)


def test_prior_weights_give_the_prior_shares():
    gold = [0] * 30 + [1] * 10
    w = np.array(cw.prior_weights(gold))
    assert w.sum() == pytest.approx(40)
    assert w[:30].sum() / w.sum() == pytest.approx(0.95) and w[30:].sum() / w.sum() == pytest.approx(0.05)


def test_mean_sd_is_the_sample_standard_deviation():
    assert cw.mean_sd([0.2, 0.5, 0.6]) == pytest.approx((statistics.mean([0.2, 0.5, 0.6]),
                                                         float(np.std([0.2, 0.5, 0.6], ddof=1))))
    assert cw.mean_sd([0.3]) == (0.3, 0.0)


def test_arguments():
    args = cw.parse_args(["--seeds", "3,4", "--weights", "balanced"])
    assert args.seeds == [3, 4] and args.weights == ["balanced"]
    with pytest.raises(SystemExit):
        cw.parse_args(["--weights", "inverse"])
    with pytest.raises(SystemExit):
        cw.parse_args(["--seeds", "a"])
