"""Tests of bench/summarize_accuracy.py's verdicts (docs/RESULTS.md): the seed-range rule,
which side of the reference ours falls, and the Welch statistic against SciPy's."""

from __future__ import annotations

import importlib.util
import os

import pytest
from scipy import stats

from tests.conftest import PROJECT_ROOT

_spec = importlib.util.spec_from_file_location(
    "summarize_accuracy", os.path.join(PROJECT_ROOT, "bench", "summarize_accuracy.py"))
summarize_accuracy = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(summarize_accuracy)


def _runs(impl: str, values: list[float]) -> list[dict]:
    return [{"implementation": impl, "task": "cola", "seed": s, "metrics": {"mcc": v}} for s, v in enumerate(values)]


def test_welch_statistic_equals_scipys():
    ours, ref = [0.2764, 0.3217, 0.3153, 0.2845, 0.2723], [0.3337, 0.3432, 0.2815, 0.2946, 0.3351]
    expected = stats.ttest_ind(ours, ref, equal_var=False).statistic
    assert summarize_accuracy.difference_in_standard_errors(ours, ref) == pytest.approx(expected, rel=1e-12)
    assert summarize_accuracy.difference_in_standard_errors([0.3], ref) is None
    assert summarize_accuracy.difference_in_standard_errors([0.3, 0.3], [0.2, 0.2]) is None


@pytest.mark.parametrize("ours, ref, ok, text", [
    ([0.29, 0.30], [0.28, 0.34], True, "yes"),                  # inside the reference's range
    ([0.355, 0.365], [0.28, 0.34], False, "**NO** (above)"),    # above it, 5 points from its mean
    ([0.20, 0.22], [0.28, 0.34], False, "**NO** (below)"),
    ([0.303, 0.303], [0.30, 0.30], True, "yes"),                # outside a zero-width range, within 1 point
])
def test_verdict_is_the_seed_range_or_one_point(ours, ref, ok, text):
    v = summarize_accuracy.compare("cola", "mcc", _runs("tf", ours) + _runs("hf", ref))
    assert v["ok"] is ok and summarize_accuracy.verdict_text(v) == text
    assert (v["ours_seeds"], v["reference_seeds"]) == (len(ours), len(ref))
    assert v["difference"] == pytest.approx(sum(ours) / len(ours) - sum(ref) / len(ref))


def test_verdicts_against_each_reference_that_ran():
    runs = _runs("tf", [0.29, 0.30]) + _runs("hf", [0.33, 0.34]) + _runs("hf-bertopt", [0.28, 0.31])
    for run in runs:
        run.update(dev_examples=527, train_seconds=1.0, train_examples_per_sec=1.0, wall_seconds=1.0,
                   loss_first_fifth=0.6, loss_last_fifth=0.4, eval_loss=0.6)
    table, verdicts = summarize_accuracy.summarize(runs)
    assert [(v["reference"], v["ok"]) for v in verdicts] == [("hf", False), ("hf-bertopt", True)]
    assert "| CoLA | Matthews corr. | reference with BERT's optimizer | 0.2950 (2) | 0.2950 (2) |" in table
    no_bertopt, verdicts = summarize_accuracy.summarize(runs[:4])
    assert [v["reference"] for v in verdicts] == ["hf"]
