"""serving.py and predict.py: the export of run_classifier.py --export_dir, and
predictions on raw sentences from it equal to run_classifier.py --do_predict's."""

from __future__ import annotations

import csv
import io
import json
import os
import sys

import numpy as np
import pytest

from tests.conftest import PROJECT_ROOT, run_cli, shared_path, write_tiny_checkpoint

RUN_CLASSIFIER = os.path.join(PROJECT_ROOT, "run_classifier.py")
PREDICT = os.path.join(PROJECT_ROOT, "predict.py")
MAX_SEQ_LENGTH = 32
LABELS = ["neg", "pos"]


def read_probabilities(path) -> np.ndarray:
    with open(path) as f:
        return np.array([[float(x) for x in line.rstrip("\n").split("\t")] for line in f])


def _write_csv(path, rows):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(("text", "label"))
        w.writerows(rows)


@pytest.fixture(scope="module")
def finetuned_dir(tmp_path_factory) -> str:
    """A tiny BERT with a 2-class classifier layer (a "fine-tuned" checkpoint), so that
    predictions depend on the input from the first step."""
    model_dir = str(tmp_path_factory.mktemp("serving") / "tiny_finetuned")
    write_tiny_checkpoint(model_dir, seed=7, num_labels=2)
    return model_dir


@pytest.fixture(scope="module")
def task(tmp_path_factory) -> dict:
    """A CSV sentiment task from real SST-2 rows; the test set adds a text longer than
    MAX_SEQ_LENGTH (truncated) and one of a single word."""
    rows = []
    with open(shared_path("glue", "SST-2", "train.tsv"), encoding="utf-8") as f:
        next(f)
        for line in f:
            sentence, label = line.rstrip("\n").split("\t")
            rows.append((sentence, LABELS[int(label)]))
            if len(rows) == 64:
                break
    test_texts = [r[0] for r in rows[:10]] + [" ".join(r[0] for r in rows[10:14]), "wonderful"]
    d = tmp_path_factory.mktemp("serving_task")
    _write_csv(d / "train.csv", rows)
    _write_csv(d / "dev.csv", rows[:8])
    _write_csv(d / "test.csv", [(t, "neg") for t in test_texts])
    return {"dir": str(d), "test_texts": test_texts}


@pytest.fixture(scope="module")
def run(finetuned_dir, task, tmp_path_factory) -> dict:
    """run_classifier.py: 8 training steps (enough to spread the predictions well beyond
    the 1e-5 tolerance), --do_predict, --export_dir."""
    base = tmp_path_factory.mktemp("serving_run")
    out, export = base / "out", base / "models" / "sentiment"
    r = run_cli([RUN_CLASSIFIER, "--task_name=csv", f"--data_dir={task['dir']}", f"--output_dir={out}",
                 f"--vocab_file={finetuned_dir}/vocab.txt", f"--bert_config_file={finetuned_dir}/bert_config.json",
                 f"--init_checkpoint={finetuned_dir}/bert_model.ckpt", f"--max_seq_length={MAX_SEQ_LENGTH}",
                 "--do_train", "--do_predict", "--train_batch_size=32", "--num_train_epochs=4",
                 "--learning_rate=1e-3", "--predict_batch_size=4", "--seed=3", f"--export_dir={export}"])
    assert r.returncode == 0, r.stderr[-3000:]
    expected = read_probabilities(out / "test_results.tsv")
    assert expected.shape == (len(task["test_texts"]), 2)
    return {"out": out, "export": str(export), "expected": expected}


@pytest.fixture(scope="module")
def predictor(run):
    from bert_estimator import serving

    with serving.load_predictor(run["export"], batch_size=4) as p:
        yield p


# ----------------------------------------------------------------------------- export
def test_export_dir_is_a_self_contained_saved_model(run, finetuned_dir):
    export = run["export"]
    assert sorted(os.listdir(export)) == ["assets.extra", "saved_model.pb", "variables"]
    with open(os.path.join(export, "assets.extra", "export_info.json")) as f:
        info = json.load(f)
    assert info["do_lower_case"] is True
    assert info["max_seq_length"] == MAX_SEQ_LENGTH
    assert info["label_list"] == LABELS
    assert info["is_regression"] is False
    assert info["truncation"] == "head"
    assert info["checkpoint"].endswith("model.ckpt-8")  # the trained one, not the init
    with open(os.path.join(export, "assets.extra", "vocab.txt"), "rb") as a, \
            open(os.path.join(finetuned_dir, "vocab.txt"), "rb") as b:
        assert a.read() == b.read()
    # Staged beside the export and renamed: nothing left over.
    assert os.listdir(os.path.dirname(export)) == ["sentiment"]


def test_signature_takes_dynamic_batch_and_length(run):
    import tensorflow.compat.v1 as tf

    with tf.Graph().as_default(), tf.Session() as sess:
        meta = tf.saved_model.loader.load(sess, ["serve"], run["export"])
    sig = meta.signature_def["serving_default"]
    assert sorted(sig.inputs) == ["input_ids", "input_mask", "segment_ids"]  # no label_ids
    for spec in sig.inputs.values():
        assert spec.dtype == tf.int32.as_datatype_enum
        assert [d.size for d in spec.tensor_shape.dim] == [-1, -1]
    assert list(sig.outputs) == ["probabilities"]
    assert [d.size for d in sig.outputs["probabilities"].tensor_shape.dim] == [-1, 2]


# ---------------------------------------------------------------------------- predict
def test_predictions_equal_do_predict_at_any_batch_size(predictor, run, task):
    expected = run["expected"]
    assert np.abs(expected - 0.5).max() > 0.02  # a real function of the input
    assert np.ptp(expected[:, 1]) > 1e-3
    for batch_size in (1, 3, 32):
        got = predictor.predict(task["test_texts"], batch_size=batch_size)
        assert got.shape == expected.shape and got.dtype == np.float32
        np.testing.assert_allclose(got, expected, atol=1e-5, rtol=0)
    assert predictor.predict([]).shape == (0, 2)


def test_features_are_the_training_features(predictor, task):
    import tokenization
    from bert_estimator.features import convert_single_example
    from processors import InputExample

    tokenizer = tokenization.FullTokenizer(os.path.join(predictor.export_dir, "assets.extra", "vocab.txt"))
    long_text = task["test_texts"][10]
    cases = [("single", long_text, None), ("pair", "the premise , long " * 9, "a hypothesis")]
    for guid, text_a, text_b in cases:
        want = convert_single_example(9, InputExample(guid, text_a, text_b), LABELS, MAX_SEQ_LENGTH, tokenizer)
        ids, segments = predictor.featurize(text_a if text_b is None else (text_a, text_b))
        assert len(ids) == sum(want.input_mask) == MAX_SEQ_LENGTH  # truncated as in training
        assert ids == want.input_ids and segments == want.segment_ids
    assert predictor.featurize("wonderful") == ([101, 6919, 102], [0, 0, 0])


def test_dynamic_length_equals_full_padding(predictor):
    """A batch padded to its longest member gives what max_seq_length padding gives."""
    from bert_estimator.serving import _pad

    features = [predictor.featurize(t) for t in ("wonderful", "a dull , lifeless and overlong mess")]
    short = _pad(features)
    assert short[0].shape == (2, max(len(f[0]) for f in features))
    full = [np.pad(x, [(0, 0), (0, MAX_SEQ_LENGTH - x.shape[1])]) for x in short]
    np.testing.assert_allclose(predictor._run(*short), predictor._run(*full), atol=1e-6, rtol=0)
    alone = np.concatenate([predictor._run(*_pad([f])) for f in features])
    np.testing.assert_allclose(predictor._run(*short), alone, atol=1e-6, rtol=0)


def test_predict_cli_input_file_tsv(run, task, tmp_path):
    input_file = tmp_path / "texts.txt"
    input_file.write_text("\n".join(task["test_texts"]) + "\n\n", encoding="utf-8")  # blank lines skipped
    r = run_cli([PREDICT, f"--export_dir={run['export']}", f"--input_file={input_file}",
                 "--output_format=tsv", "--batch_size=1"])
    assert r.returncode == 0, r.stderr[-3000:]
    lines = r.stdout.splitlines()
    assert lines[0] == "label\tp_neg\tp_pos\ttext"
    rows = [line.split("\t") for line in lines[1:]]
    assert [row[3] for row in rows] == task["test_texts"]
    got = np.array([[float(row[1]), float(row[2])] for row in rows])
    np.testing.assert_allclose(got, run["expected"], atol=1e-5, rtol=0)
    assert [row[0] for row in rows] == [LABELS[i] for i in run["expected"].argmax(axis=1)]
    assert "predict.py: loaded" in r.stderr
    assert "at batch 1" in r.stderr and "latency per sentence: mean" in r.stderr and "median" in r.stderr


def _run_predict(argv, capsys, monkeypatch, stdin: str | None = None):
    from bert_estimator import predict

    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin.encode("utf-8"))))
    status = predict.main(argv)
    out, err = capsys.readouterr()
    return status, out, err


def test_predict_stdin_json(run, task, capsys, monkeypatch):
    stdin = "".join(t + "\n" for t in task["test_texts"])
    status, out, err = _run_predict([f"--export_dir={run['export']}", "--output_format=json", "--benchmark"],
                                    capsys, monkeypatch, stdin=stdin)
    assert status == 0, err
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["text"] for r in records] == task["test_texts"]
    got = np.array([[r["probabilities"][label] for label in LABELS] for r in records])
    np.testing.assert_allclose(got, run["expected"], atol=1e-5, rtol=0)
    assert "at batch 1 " in err and "at batch 32 " in err and "sentences/sec" in err


def test_predict_arguments_text_format_and_pairs(run, capsys, monkeypatch):
    status, out, err = _run_predict([f"--export_dir={run['export']}", "a gripping film", "dull\tand long"],
                                    capsys, monkeypatch)
    assert status == 0, err
    first, second = out.splitlines()
    label, best, probs, text = first.split("  ")
    p = dict(item.split("=") for item in probs.split(" "))
    assert sorted(p) == LABELS and label == max(p, key=lambda k: float(p[k])) and best == p[label]
    assert abs(sum(float(v) for v in p.values()) - 1) < 1e-3 and text == "a gripping film"
    assert second.endswith("  dull  |||  and long")


@pytest.mark.parametrize("make, message", [
    (lambda tmp: str(tmp / "missing"), "--export_dir not found"),
    (lambda tmp: str(tmp), "is not a model exported by run_classifier.py --export_dir"),
])
def test_bad_export_dir(make, message, tmp_path, capsys, monkeypatch):
    (tmp_path / "something").write_text("x")
    status, out, err = _run_predict([f"--export_dir={make(tmp_path)}", "a sentence"], capsys, monkeypatch)
    assert status == 1 and out == ""
    assert len(err.strip().splitlines()) == 1 and err.startswith("predict.py: error: ")
    assert message in err


def test_empty_input_is_an_error(run, tmp_path, capsys, monkeypatch):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n")
    status, out, err = _run_predict([f"--export_dir={run['export']}", f"--input_file={empty}"],
                                    capsys, monkeypatch)
    assert status == 1 and "no text to classify" in err and len(err.strip().splitlines()) == 1
    status, out, err = _run_predict([f"--export_dir={run['export']}"], capsys, monkeypatch, stdin="")
    assert status == 1 and "no text to classify in stdin" in err


def test_predict_cli_bad_export_dir_exit_status(tmp_path):
    r = run_cli([PREDICT, f"--export_dir={tmp_path / 'nope'}", "a sentence"])
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr.strip().splitlines()[-1] == f"predict.py: error: --export_dir not found: {tmp_path / 'nope'}"


# ------------------------------------------------- export_model without a trained checkpoint
def _estimator(model_dir, init_checkpoint, num_labels, is_regression=False):
    import tensorflow.compat.v1 as tf

    import modeling
    import run_classifier

    config = modeling.BertConfig.from_json_file(os.path.join(os.path.dirname(init_checkpoint), "bert_config.json"))
    model_fn = run_classifier.model_fn_builder(config, num_labels, init_checkpoint, 1e-4, None, None,
                                               False, False, is_regression=is_regression)
    return tf.estimator.tpu.TPUEstimator(
        use_tpu=False, model_fn=model_fn, config=tf.estimator.tpu.RunConfig(model_dir=str(model_dir)),
        predict_batch_size=4)


def test_export_from_a_finetuned_init_checkpoint(finetuned_dir, run, tmp_path):
    """--do_predict only: nothing in model_dir, the fine-tuned init checkpoint is exported;
    its predictions equal the estimator's."""
    from bert_estimator import serving
    from bert_estimator.features import convert_examples_to_features
    from bert_estimator.input_pipeline import input_fn_builder
    from processors import InputExample

    init = os.path.join(finetuned_dir, "bert_model.ckpt")
    estimator = _estimator(tmp_path / "model_dir", init, 2)
    export = tmp_path / "export"
    export.mkdir()  # an empty directory may be used
    kwargs = dict(max_seq_length=MAX_SEQ_LENGTH, vocab_file=os.path.join(finetuned_dir, "vocab.txt"),
                  do_lower_case=True, label_list=LABELS, is_regression=False)
    with pytest.raises(serving.ExportError, match="no checkpoint to export: nothing was trained"):
        serving.export_model(estimator, str(export), **kwargs)
    serving.export_model(estimator, str(export), init_checkpoint=init, **kwargs)
    assert not (tmp_path / "model_dir").exists()
    assert sorted(os.listdir(tmp_path)) == ["export"]

    texts = ["a gripping film", "a dull , lifeless and overlong mess", "wonderful"]
    with serving.load_predictor(str(export)) as p:
        got = p.predict(texts)
        tokenizer = p.tokenizer
    features = convert_examples_to_features([InputExample(str(i), t) for i, t in enumerate(texts)],
                                            LABELS, MAX_SEQ_LENGTH, tokenizer)
    want = np.array([x["probabilities"] for x in estimator.predict(input_fn_builder(features, MAX_SEQ_LENGTH,
                                                                                    False, False))])
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)

    # An earlier export is replaced; a directory holding anything else is refused, untouched.
    before = os.path.getmtime(export / "saved_model.pb")
    serving.export_model(estimator, str(export), init_checkpoint=init, **dict(kwargs, label_list=["a", "b"]))
    assert json.loads((export / "assets.extra" / "export_info.json").read_text())["label_list"] == ["a", "b"]
    assert os.path.getmtime(export / "saved_model.pb") >= before
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(serving.ExportError, match="is not empty and holds no earlier export"):
        serving.export_model(estimator, str(other), init_checkpoint=init, **kwargs)
    assert os.listdir(other) == ["notes.txt"]
    assert sorted(os.listdir(tmp_path)) == ["export", "other"]


def test_export_refuses_a_pretrained_init_checkpoint(tmp_path):
    from bert_estimator import serving

    init = write_tiny_checkpoint(str(tmp_path / "pretrained"))  # no classifier layer
    with pytest.raises(serving.ExportError, match="lacks output_weights, output_bias"):
        serving.export_model(_estimator(tmp_path / "m", init, 2), str(tmp_path / "export"),
                             MAX_SEQ_LENGTH, os.path.join(tmp_path, "pretrained", "vocab.txt"), True,
                             LABELS, False, init_checkpoint=init)
    assert not (tmp_path / "export").exists()


def test_regression_export_and_output(tmp_path, capsys, monkeypatch):
    from bert_estimator import serving

    init = write_tiny_checkpoint(str(tmp_path / "sts"), seed=5, num_labels=1)
    export = str(tmp_path / "export")
    serving.export_model(_estimator(tmp_path / "m", init, 1, is_regression=True), export, MAX_SEQ_LENGTH,
                         os.path.join(tmp_path, "sts", "vocab.txt"), True, [], True, init_checkpoint=init)
    with serving.load_predictor(export) as p:
        values = p.predict(["a man is playing a guitar", ("a man plays", "a guitar is played")])
    assert values.shape == (2,) and np.isfinite(values).all()
    status, out, err = _run_predict([f"--export_dir={export}", "--output_format=tsv", "a man is playing a guitar"],
                                    capsys, monkeypatch)
    assert status == 0, err
    assert out.splitlines()[0] == "value\ttext"
    assert float(out.splitlines()[1].split("\t")[0]) == pytest.approx(float(values[0]), abs=1e-5)
