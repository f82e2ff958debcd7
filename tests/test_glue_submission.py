"""GLUE submission files (bert_estimator/glue/submission_files.py): for every GLUE task of the
registry, on test files in GLUE's layout, the file name, header, ids and label strings;
then `run_classifier.py --do_predict` end to end on MNLI (with the diagnostic set: AX.tsv),
MRPC and a non-GLUE csv task."""

from __future__ import annotations

import os

import numpy as np
import pytest

import processors
from bert_estimator.core.errors import UserError
from bert_estimator.data import assets
from bert_estimator.glue import submission_files
from processors import glue
from tests.conftest import TINY_CONFIG, run_cli, write_tiny_checkpoint
from tests.test_run_classifier import RUN_CLASSIFIER, model_flags, read_probabilities

# What GLUE's server expects (https://gluebenchmark.com/faq): the file of each task and
# its label strings, in our class-id order.
GLUE_FILES = {
    "cola": "CoLA.tsv", "sst-2": "SST-2.tsv", "mrpc": "MRPC.tsv", "sts-b": "STS-B.tsv", "qqp": "QQP.tsv",
    "mnli": "MNLI-m.tsv", "mnli-mm": "MNLI-mm.tsv", "qnli": "QNLI.tsv", "rte": "RTE.tsv", "wnli": "WNLI.tsv",
}
GLUE_LABELS = {
    "cola": ["0", "1"], "sst-2": ["0", "1"], "mrpc": ["0", "1"], "qqp": ["0", "1"], "wnli": ["0", "1"],
    "mnli": ["contradiction", "entailment", "neutral"], "mnli-mm": ["contradiction", "entailment", "neutral"],
    "qnli": ["entailment", "not_entailment"], "rte": ["entailment", "not_entailment"], "sts-b": [],
}
MNLI_HEADER = ["index", "promptID", "pairID", "genre", "sentence1_binary_parse", "sentence2_binary_parse",
               "sentence1_parse", "sentence2_parse", "sentence1", "sentence2"]


def _mnli_row(i, a, b):
    return [i, f"{i}1", f"{i}1n", "fiction", f"( {a} )", f"( {b} )", f"(ROOT {a})", f"(ROOT {b})", a, b]


# GLUE's test files: (file name, header, row of (index, text_a, text_b)).
TEST_LAYOUTS = {
    "cola": ("test.tsv", ["index", "sentence"], lambda i, a, b: [i, a]),
    "sst-2": ("test.tsv", ["index", "sentence"], lambda i, a, b: [i, a]),
    "mrpc": ("test.tsv", ["index", "#1 ID", "#2 ID", "#1 String", "#2 String"],
             lambda i, a, b: [i, f"10{i}", f"20{i}", a, b]),
    "qqp": ("test.tsv", ["id", "question1", "question2"], lambda i, a, b: [i, a, b]),
    "qnli": ("test.tsv", ["index", "question", "sentence"], lambda i, a, b: [i, a, b]),
    "rte": ("test.tsv", ["index", "sentence1", "sentence2"], lambda i, a, b: [i, a, b]),
    "wnli": ("test.tsv", ["index", "sentence1", "sentence2"], lambda i, a, b: [i, a, b]),
    "mnli": ("test_matched.tsv", MNLI_HEADER, _mnli_row),
    "mnli-mm": ("test_mismatched.tsv", MNLI_HEADER, _mnli_row),
    "sts-b": ("test.tsv", ["index", "genre", "filename", "year", "old_index", "source1", "source2", "sentence1",
                           "sentence2"],
              lambda i, a, b: [i, "main-news", "2016", "2016test", "0042", "none", "none", a, b]),
}
IDS = ["0", "3", "4", "17", "105", "1000"]  # not contiguous, as after a filter


def snippets(n: int) -> list[str]:
    """`n` real movie-review snippets (text only)."""
    with open(assets.fetch_movie_snippets(), encoding="utf-8", newline="") as f:
        lines = [line for line in f.read().split("\r\n") if line]
    return [line.split("\t")[2] for line in lines[:n]]


def write_tsv(path, header, rows) -> None:
    os.makedirs(os.path.dirname(str(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write("".join("\t".join(row) + "\n" for row in [header, *rows]))


def write_test_file(data_dir, task: str, ids=IDS) -> list[tuple[str, str]]:
    """Writes the task's test file with `ids`; returns the (text_a, text_b) of each row."""
    name, header, make_row = TEST_LAYOUTS[task]
    texts = snippets(2 * len(ids))
    pairs = list(zip(texts[::2], texts[1::2]))
    write_tsv(os.path.join(str(data_dir), name), header, [make_row(i, a, b) for i, (a, b) in zip(ids, pairs)])
    return pairs


def fake_probabilities(n: int, num_labels: int) -> tuple[list[list[np.float32]], list[int]]:
    """`n` rows of class probabilities (float32 as the Estimator yields them) and the argmax
    of each; every class is the argmax of some row."""
    rows, argmax = [], []
    for k in range(n):
        winner = (k + k // num_labels) % num_labels  # 0 1 1 0 0 1 / 0 1 2 1 2 0
        rest = 0.4 / (num_labels - 1)
        rows.append([np.float32(0.6 if j == winner else rest) for j in range(num_labels)])
        argmax.append(winner)
    return rows, argmax


def read_lines(path) -> list[str]:
    with open(path, encoding="utf-8", newline="") as f:
        text = f.read()
    assert "\r" not in text and text.endswith("\n")
    return text.splitlines()


# ------------------------------------------------------------------ every GLUE task
GLUE_TASKS = sorted(name for name, cls in processors.PROCESSORS.items() if cls.__module__ == glue.__name__)


def test_every_glue_task_has_its_submission_file():
    assert GLUE_TASKS == sorted(GLUE_FILES)
    for task in GLUE_TASKS:
        assert submission_files.submission_file(task) == GLUE_FILES[task]
        assert submission_files.submission_file(task.upper()) == GLUE_FILES[task]
    for task in ("csv", "imdb", "xnli"):
        assert submission_files.submission_file(task) is None


@pytest.mark.parametrize("task", GLUE_TASKS)
def test_submission_of_each_task(tmp_path, task):
    processor = processors.get_processor(task)
    pairs = write_test_file(tmp_path / "data", task)
    # The ids are the test file's first column, in the order of the test examples.
    ids = processor.get_test_ids(str(tmp_path / "data"))
    assert ids == IDS
    examples = processor.get_test_examples(str(tmp_path / "data"))
    assert len(examples) == len(ids)
    single = task in ("cola", "sst-2")
    assert [(e.text_a, e.text_b) for e in examples] == [(a, None if single else b) for a, b in pairs]

    is_regression = processor.output_mode == processors.REGRESSION
    labels = processor.get_labels()
    assert labels == GLUE_LABELS[task]
    if is_regression:
        rows = [[np.float32(v)] for v in (-0.7, 0.0, 2.345, 5.0, 7.25, 4.9999)]
        expected = [0.0, 0.0, 2.345, 5.0, 5.0, 4.9999]
    else:
        rows, argmax = fake_probabilities(len(ids), len(labels))
        expected = [GLUE_LABELS[task][k] for k in argmax]
        assert set(expected) == set(GLUE_LABELS[task])
    out = tmp_path / "out"
    out.mkdir()
    path = submission_files.write_submission(str(out), submission_files.submission_file(task), ids, rows, labels,
                                            is_regression)
    assert path == str(out / GLUE_FILES[task])
    lines = read_lines(path)
    assert lines[0] == "index\tprediction"
    assert len(lines) == 1 + len(IDS)
    written = [line.split("\t") for line in lines[1:]]
    assert [i for i, _ in written] == IDS
    if is_regression:
        values = [float(v) for _, v in written]
        np.testing.assert_allclose(values, expected, atol=1e-6)
        assert all(0.0 <= v <= 5.0 for v in values)
    else:
        assert [label for _, label in written] == expected
    assert submission_files.read_submission(path) == [tuple(row) for row in written]


def test_rows_and_ids_must_match(tmp_path):
    with pytest.raises(UserError, match="3 rows but 2 predictions"):
        submission_files.write_submission(str(tmp_path), "RTE.tsv", ["1", "2", "3"], [[0.1, 0.9], [0.8, 0.2]],
                                         ["entailment", "not_entailment"], False)
    assert not (tmp_path / "RTE.tsv").exists()


def test_test_ids_ignore_trailing_blank_lines_and_crlf(tmp_path):
    text = "index\tsentence1\tsentence2\r\n7\ta\tb\r\n9\tc\td\r\n\r\n"
    (tmp_path / "test.tsv").write_bytes(text.encode())
    p = processors.get_processor("rte")
    assert p.get_test_ids(str(tmp_path)) == ["7", "9"]
    assert len(p.get_test_examples(str(tmp_path))) == 2


DIAGNOSTIC_HEADER = ["index", "sentence1", "sentence2"]


def test_diagnostic_file_is_found_in_the_data_dir_or_beside_it(tmp_path):
    p = glue.MnliProcessor()
    mnli = tmp_path / "glue_data" / "MNLI"
    mnli.mkdir(parents=True)
    assert p.diagnostic_file(str(mnli)) is None
    beside = tmp_path / "glue_data" / "diagnostic" / "diagnostic.tsv"
    write_tsv(beside, DIAGNOSTIC_HEADER, [["0", "a b", "c d"], ["1", "e", "f"], ["2", "g", "h"]])
    assert os.path.samefile(p.diagnostic_file(str(mnli)), beside)
    inside = mnli / "diagnostic.tsv"
    write_tsv(inside, DIAGNOSTIC_HEADER, [["5", "x", "y"]])
    assert p.diagnostic_file(str(mnli)) == str(inside)  # the data dir's own comes first
    examples = p.get_diagnostic_examples(str(beside))
    assert [(e.text_a, e.text_b) for e in examples] == [("a b", "c d"), ("e", "f"), ("g", "h")]
    assert all(e.label == "contradiction" for e in examples)  # a placeholder, as for test rows
    assert p.get_diagnostic_ids(str(beside)) == ["0", "1", "2"]


# ------------------------------------------------------------------------ end to end
def predict_args(task, data_dir, out, model_dir):
    return [RUN_CLASSIFIER, f"--task_name={task}", f"--data_dir={data_dir}", f"--output_dir={out}",
            *model_flags(model_dir), "--do_predict", "--max_seq_length=32", "--predict_batch_size=4"]


def argmax_labels(probabilities, labels):
    return [labels[int(np.argmax(row))] for row in probabilities]


def input_dependent_model(model_dir: str, num_labels: int, seed: int) -> str:
    """A tiny BERT with a classifier layer, initialised with a large range so that its
    predicted class changes with the input (at BERT's 0.02, [CLS] barely does)."""
    write_tiny_checkpoint(model_dir, config=dict(TINY_CONFIG, initializer_range=1.0), seed=seed,
                          num_labels=num_labels)
    return model_dir


def test_mnli_end_to_end_with_the_diagnostic_set(tmp_path):
    model = input_dependent_model(str(tmp_path / "uncased_L-2_H-32_A-4"), 3, seed=2)
    data = tmp_path / "glue_data" / "MNLI"
    test_ids = ["2", "11", "12", "30", "31", "77", "90"]
    pairs = write_test_file(data, "mnli", test_ids)
    # GLUE's layout: glue_data/diagnostic/diagnostic.tsv. Its rows are the test pairs in
    # another order, then a new pair: their predictions must be those of the test rows.
    order = [3, 0, 6, 1, 5, 2, 4]
    extra = snippets(40)[-2:]
    diagnostic_ids = [str(i) for i in range(len(order) + 1)]
    write_tsv(tmp_path / "glue_data" / "diagnostic" / "diagnostic.tsv", DIAGNOSTIC_HEADER,
              [[i, a, b] for i, (a, b) in zip(diagnostic_ids, [pairs[j] for j in order] + [tuple(extra)])])
    out = tmp_path / "out"
    r = run_cli(predict_args("MNLI", data, out, model))
    assert r.returncode == 0, r.stderr[-3000:]

    labels = GLUE_LABELS["mnli"]
    probabilities = read_probabilities(out / "test_results.tsv")
    assert probabilities.shape == (len(test_ids), 3)
    lines = read_lines(out / "MNLI-m.tsv")
    assert lines[0] == "index\tprediction"
    rows = [line.split("\t") for line in lines[1:]]
    assert [i for i, _ in rows] == test_ids
    test_labels = [label for _, label in rows]
    assert test_labels == argmax_labels(probabilities, labels)
    assert len(set(test_labels)) > 1, test_labels  # the model's class depends on the input

    ax = [line.split("\t") for line in read_lines(out / "AX.tsv")]
    assert ax[0] == ["index", "prediction"]
    assert [i for i, _ in ax[1:]] == diagnostic_ids
    assert {label for _, label in ax[1:]} <= set(labels)
    expected = [test_labels[j] for j in order]
    assert expected != test_labels  # so that the check below tells the two apart
    assert [label for _, label in ax[1:len(order) + 1]] == expected
    assert not (out / "MNLI-mm.tsv").exists()


def test_mrpc_end_to_end_beside_an_unchanged_test_results(tmp_path):
    model = input_dependent_model(str(tmp_path / "uncased_L-2_H-32_A-4"), 2, seed=4)
    data = tmp_path / "MRPC"
    write_test_file(data, "mrpc")
    out = tmp_path / "out"
    r = run_cli(predict_args("MRPC", data, out, model))
    assert r.returncode == 0, r.stderr[-3000:]
    # test_results.tsv as the original writes it: no header, one row of class
    # probabilities per test example.
    results = read_lines(out / "test_results.tsv")
    assert len(results) == len(IDS)
    assert all(len(line.split("\t")) == 2 for line in results)
    probabilities = read_probabilities(out / "test_results.tsv")
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    lines = read_lines(out / "MRPC.tsv")
    assert lines[0] == "index\tprediction"
    assert [line.split("\t") for line in lines[1:]] == [
        [i, label] for i, label in zip(IDS, argmax_labels(probabilities, ["0", "1"]))]
    assert len({line.split("\t")[1] for line in lines[1:]}) == 2  # both classes predicted
    assert sorted(f for f in os.listdir(out) if f.endswith(".tsv")) == ["MRPC.tsv", "test_results.tsv"]


def test_non_glue_task_writes_no_submission_file(tmp_path, tiny_bert_dir):
    import csv

    data = tmp_path / "data"
    data.mkdir()
    with open(data / "test.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        writer.writerows([(text, "1") for text in snippets(5)])
    out = tmp_path / "out"
    r = run_cli(predict_args("csv", data, out, tiny_bert_dir) + ["--labels=0,1", "--allow_untrained_head"])
    assert r.returncode == 0, r.stderr[-3000:]
    assert [f for f in os.listdir(out) if f.endswith(".tsv")] == ["test_results.tsv"]
    assert len(read_lines(out / "test_results.tsv")) == 5
    assert "GLUE submission file" not in r.stderr
