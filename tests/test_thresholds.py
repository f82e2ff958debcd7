"""Per-label decision thresholds: tuning against a brute-force search with scikit-learn,
and which thresholds a prediction uses."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn import metrics as skm

from bert_estimator.training import thresholds


def test_tune_picks_each_labels_best_f1_nearest_one_half():
    rng = np.random.RandomState(4)
    truth = (rng.rand(300, 3) < [0.2, 0.5, 0.05]).astype(int)
    probs = np.clip(0.35 * truth + 0.6 * rng.rand(300, 3), 0, 1)
    chosen = thresholds.tune(probs, truth)
    for label in range(3):
        scores = [skm.f1_score(truth[:, label], probs[:, label] >= c, zero_division=0) for c in thresholds.CANDIDATES]
        best = max(scores)
        assert skm.f1_score(truth[:, label], probs[:, label] >= chosen[label]) == pytest.approx(best, abs=1e-12)
        ties = [c for c, s in zip(thresholds.CANDIDATES, scores) if abs(s - best) < 1e-12]
        assert abs(chosen[label] - 0.5) == pytest.approx(min(abs(c - 0.5) for c in ties))
    tuned = (probs >= np.array(chosen)).astype(int)
    assert thresholds.micro_f1(truth, tuned) == pytest.approx(skm.f1_score(truth, tuned, average="micro"))
    assert thresholds.micro_f1(truth, tuned) >= thresholds.micro_f1(truth, (probs >= 0.5).astype(int))


def test_thresholds_apply_to_their_checkpoint_only(tmp_path):
    labels = ["a", "b"]
    assert thresholds.for_checkpoint(str(tmp_path), labels, "/x/model.ckpt-10") == [0.5, 0.5]  # none tuned
    path = thresholds.write(str(tmp_path), labels, [0.3, 0.72], "/x/model.ckpt-10")
    assert json.load(open(path))["checkpoint"] == "model.ckpt-10"
    assert thresholds.for_checkpoint(str(tmp_path), labels, "/y/best/model.ckpt-10") == [0.3, 0.72]
    assert thresholds.for_checkpoint(str(tmp_path), labels, "/x/model.ckpt-20") == [0.5, 0.5]  # retrained
    assert thresholds.for_checkpoint(str(tmp_path), ["a", "c"], "/x/model.ckpt-10") == [0.5, 0.5]
