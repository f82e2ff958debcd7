"""Evaluation and prediction pad each batch to its longest member by default (off TPU):
the same eval_results.txt and test_results.tsv as the original's fixed padding."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import run_cli, run_log, write_tiny_checkpoint
from tests.test_run_classifier import RUN_CLASSIFIER, model_flags, read_eval_results


@pytest.fixture(scope="module")
def finetuned_dir(tmp_path_factory) -> str:
    model_dir = str(tmp_path_factory.mktemp("finetuned") / "uncased_L-2_H-32_A-4")
    write_tiny_checkpoint(model_dir, seed=11, num_labels=2)  # a classifier layer too
    return model_dir


def _run(data_dir, model_dir, out, *extra):
    r = run_cli([RUN_CLASSIFIER, "--task_name=csv", f"--data_dir={data_dir}", "--do_eval", "--do_predict",
                 "--max_seq_length=64", "--eval_batch_size=5", "--predict_batch_size=3", "--write_reports=false",
                 *model_flags(model_dir), f"--output_dir={out}", *extra])
    assert r.returncode == 0, r.stderr[-3000:]
    return r


def test_dynamic_padding_gives_the_fixed_padding_results(sentiment_dir, finetuned_dir, tmp_path):
    _run(sentiment_dir, finetuned_dir, tmp_path / "dynamic")
    _run(sentiment_dir, finetuned_dir, tmp_path / "fixed", "--fixed_padding")
    # The batches really differ in shape: dynamic ones are cut to their longest member.
    assert "input_ids, shape = (None, None)" in run_log(tmp_path / "dynamic")
    assert "input_ids, shape = (None, 64)" in run_log(tmp_path / "fixed")

    ours, theirs = read_eval_results(tmp_path / "dynamic" / "eval_results.txt"), \
        read_eval_results(tmp_path / "fixed" / "eval_results.txt")
    assert ours.keys() == theirs.keys()
    for key in ours:
        assert abs(ours[key] - theirs[key]) <= 1e-6, (key, ours[key], theirs[key])
    a = np.loadtxt(tmp_path / "dynamic" / "test_results.tsv")
    b = np.loadtxt(tmp_path / "fixed" / "test_results.tsv")
    assert a.shape == b.shape == (10, 2)
    np.testing.assert_allclose(a, b, atol=1e-6, rtol=0)
