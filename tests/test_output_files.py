"""bert_estimator/results/output_files.py: eval_results.txt and test_results.tsv are
written in the original's formats and read back, typed, by the one reader of each."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bert_estimator.results import output_files

# What estimator.evaluate returns: numpy scalars, float32 metrics and an int64 step.
RESULT = {
    "global_step": np.int64(343),
    "eval_loss": np.float32(0.31617647),
    "eval_accuracy": np.float32(0.8602941),
    "auc": np.float32(1.0),
    "mcc": np.float32("nan"),
    "loss": np.float32(-np.inf),
}


def test_eval_results_round_trip_through_a_file(tmp_path):
    path = output_files.write_eval_results(str(tmp_path), RESULT)
    assert path == str(tmp_path / "eval_results.txt")
    text = (tmp_path / "eval_results.txt").read_text()
    # The original's lines: sorted keys, str() of the numpy values.
    assert text.splitlines() == ["auc = 1.0", "eval_accuracy = 0.8602941", "eval_loss = 0.31617647",
                                 "global_step = 343", "loss = -inf", "mcc = nan"]
    for where in (path, tmp_path, str(tmp_path)):  # the file, or the directory holding it
        read = output_files.read_eval_results(where)
        assert list(read) == sorted(RESULT)  # the file's order
        assert read["global_step"] == 343 and type(read["global_step"]) is int
        for key in ("eval_loss", "eval_accuracy", "auc", "loss"):
            assert type(read[key]) is float and read[key] == float(str(RESULT[key])), key
        assert read["eval_loss"] == pytest.approx(float(RESULT["eval_loss"]), rel=1e-7)
        assert math.isnan(read["mcc"]) and read["loss"] == -math.inf


def test_eval_results_name_the_checkpoint_evaluated(tmp_path):
    output_files.write_eval_results(str(tmp_path), RESULT, checkpoint=str(tmp_path / "out" / "model.ckpt-343"))
    lines = (tmp_path / "eval_results.txt").read_text().splitlines()
    # the basename, sorted among the original's lines, which stay as they were
    assert lines == ["auc = 1.0", "checkpoint = model.ckpt-343", "eval_accuracy = 0.8602941",
                     "eval_loss = 0.31617647", "global_step = 343", "loss = -inf", "mcc = nan"]
    read = output_files.read_eval_results(tmp_path)
    assert read[output_files.CHECKPOINT_KEY] == "model.ckpt-343" and read["global_step"] == 343
    assert "checkpoint" not in RESULT  # the caller's metrics are left as they were


def test_eval_results_parse_is_the_inverse_of_format():
    result = {"b_count": 7, "a_metric": 0.25, "c_note": "not a number", "d_negative": -3}
    parsed = output_files.parse_eval_results(output_files.format_eval_results(result))
    assert parsed == result
    assert [type(v) for v in parsed.values()] == [float, int, str, int]


def test_the_original_programs_file_reads_the_same():
    # As Google's run_classifier.py writes it ("%s = %s\n" of str(result[key]), sorted).
    text = "eval_accuracy = 0.6838235\neval_loss = 0.6191354\nglobal_step = 343\nloss = 0.6191354\n"
    assert output_files.parse_eval_results(text) == {
        "eval_accuracy": 0.6838235, "eval_loss": 0.6191354, "global_step": 343, "loss": 0.6191354}


def test_a_malformed_eval_results_line_is_named(tmp_path):
    path = tmp_path / "eval_results.txt"
    path.write_text("eval_accuracy = 0.5\neval_loss: 0.7\n")
    with pytest.raises(ValueError, match=r"eval_results.txt line 2: expected 'key = value'"):
        output_files.read_eval_results(path)


def test_test_results_round_trip_through_a_file(tmp_path):
    rows = np.array([[0.25, 0.75], [0.9999, 1e-4], [1 / 3, 2 / 3]], dtype=np.float32)
    path = output_files.write_test_results(str(tmp_path), rows)
    assert path == str(tmp_path / "test_results.tsv")
    assert (tmp_path / "test_results.tsv").read_text().splitlines()[0] == "0.25\t0.75"
    for where in (path, tmp_path):
        read = output_files.read_test_results(where)
        assert read == [[float(str(p)) for p in row] for row in rows]
        np.testing.assert_allclose(read, rows, rtol=1e-7)
    # Regression: one predicted value per row.
    output_files.write_test_results(str(tmp_path), [[np.float32(3.25)], [np.float32(-0.5)]])
    assert output_files.read_test_results(tmp_path) == [[3.25], [-0.5]]


def test_a_malformed_test_results_line_is_named():
    with pytest.raises(ValueError, match=r"test_results.tsv line 2: expected tab-separated numbers"):
        output_files.parse_test_results("0.5\t0.5\n0.5 0.5\n")
