"""bert_estimator/serving (saved_model, predictor, predict_cli) and predict.py: the
export of run_classifier.py --export_dir (numbered versions, TF Serving's layout; the
ids signature and the raw-text one), and predictions on raw sentences from it equal to
run_classifier.py --do_predict's, whichever the tokenizer path."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
import unicodedata

import numpy as np
import pytest

from bert_estimator.results import output_files
from tests.conftest import PROJECT_ROOT, edit_export_info, run_cli, write_tiny_checkpoint
from tests.real_data import all_texts, sst2_splits

RUN_CLASSIFIER = os.path.join(PROJECT_ROOT, "run_classifier.py")
PREDICT = os.path.join(PROJECT_ROOT, "predict.py")
MAX_SEQ_LENGTH = 32
LABELS = ["neg", "pos"]


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
    rows = [(sentence, LABELS[int(label)]) for sentence, label in sst2_splits()["train"][:64]]
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
    expected = np.array(output_files.read_test_results(out))
    assert expected.shape == (len(task["test_texts"]), 2)
    return {"out": out, "export": str(export), "version_dir": str(export / "1"), "expected": expected}


@pytest.fixture(scope="module")
def predictor(run):
    from bert_estimator.serving import predictor as predictor_lib

    with predictor_lib.load_predictor(run["export"], batch_size=4) as p:
        yield p


@pytest.fixture(scope="module")
def text_predictor(run):
    """The same export, predicting through its serving_text signature."""
    from bert_estimator.serving import predictor as predictor_lib

    with predictor_lib.load_predictor(run["export"], in_graph_tokenizer=True) as p:
        yield p


# ----------------------------------------------------------------------------- export
def test_export_dir_is_a_self_contained_saved_model(run, finetuned_dir):
    assert os.listdir(run["export"]) == ["1"]  # TF Serving's layout: numbered versions
    export = run["version_dir"]
    assert sorted(os.listdir(export)) == ["assets.extra", "saved_model.pb", "variables"]
    with open(os.path.join(export, "assets.extra", "export_info.json")) as f:
        info = json.load(f)
    assert info["do_lower_case"] is True
    assert info["max_seq_length"] == MAX_SEQ_LENGTH
    assert info["label_list"] == LABELS
    assert info["is_regression"] is False
    assert info["truncation"] == "head"
    assert info["checkpoint"].endswith("model.ckpt-8")  # the trained one, not the init
    assert info["text_signature"] == "serving_text" and info["text_outputs"] == ["probabilities", "label"]
    assert info["text_inputs"] == ["text"] and info["pair"] is False  # a task of single texts
    assert info["unicode_version"] == unicodedata.unidata_version
    with open(os.path.join(export, "assets.extra", "vocab.txt"), "rb") as a, \
            open(os.path.join(finetuned_dir, "vocab.txt"), "rb") as b:
        assert a.read() == b.read()
    # Staged beside the export and renamed: nothing left over.
    assert os.listdir(os.path.dirname(run["export"])) == ["sentiment"]


def test_export_alone_writes_the_same_saved_model(run, finetuned_dir, task, tmp_path):
    """--export_dir with no --do_train, --do_eval or --do_predict re-exports the last
    checkpoint of --output_dir (e.g. after an upgrade): the same variables, signatures
    and export_info as the export made right after training."""
    import tensorflow.compat.v1 as tf

    out = tmp_path / "out"
    shutil.copytree(run["out"], out)  # the checkpoint file lists them by name: the copy resumes alike
    export = tmp_path / "again"
    r = run_cli([RUN_CLASSIFIER, "--task_name=csv", f"--data_dir={task['dir']}", f"--output_dir={out}",
                 f"--vocab_file={finetuned_dir}/vocab.txt", f"--bert_config_file={finetuned_dir}/bert_config.json",
                 f"--init_checkpoint={finetuned_dir}/bert_model.ckpt", f"--max_seq_length={MAX_SEQ_LENGTH}",
                 f"--export_dir={export}"])
    assert r.returncode == 0, r.stderr[-3000:]
    assert f"Exported the model to {export / '1'}" in r.stderr

    def saved(version_dir):
        with tf.Graph().as_default(), tf.Session() as sess:
            meta = tf.saved_model.loader.load(sess, ["serve"], str(version_dir))
            values = {v.op.name: sess.run(v) for v in tf.global_variables()}
        with open(os.path.join(version_dir, "assets.extra", "export_info.json")) as f:
            info = json.load(f)
        return meta.signature_def, values, info

    expected_signatures, expected_values, expected_info = saved(run["version_dir"])
    signatures, values, info = saved(export / "1")
    assert signatures == expected_signatures
    assert sorted(values) == sorted(expected_values) and "output_weights" in values
    for name, value in expected_values.items():
        np.testing.assert_array_equal(values[name], value, err_msg=name)
    assert info["checkpoint"] == str(out / "model.ckpt-8")
    assert expected_info["checkpoint"] == str(run["out"] / "model.ckpt-8")
    ignored = ("checkpoint", "exported_at")
    assert {k: v for k, v in info.items() if k not in ignored} == \
        {k: v for k, v in expected_info.items() if k not in ignored}
    for name in ("vocab.txt",):
        assert (export / "1" / "assets.extra" / name).read_bytes() == \
            open(os.path.join(run["version_dir"], "assets.extra", name), "rb").read()
    # Nothing was trained, evaluated or predicted: the checkpoints are the training's.
    assert sorted(p for p in os.listdir(out) if p.startswith("model.ckpt")) == \
        sorted(p for p in os.listdir(run["out"]) if p.startswith("model.ckpt"))


def test_signature_takes_dynamic_batch_and_length(run):
    import tensorflow.compat.v1 as tf

    with tf.Graph().as_default(), tf.Session() as sess:
        meta = tf.saved_model.loader.load(sess, ["serve"], run["version_dir"])
    assert sorted(meta.signature_def) == ["serving_default", "serving_text"]
    sig = meta.signature_def["serving_default"]
    assert sorted(sig.inputs) == ["input_ids", "input_mask", "segment_ids"]  # no label_ids
    for spec in sig.inputs.values():
        assert spec.dtype == tf.int32.as_datatype_enum
        assert [d.size for d in spec.tensor_shape.dim] == [-1, -1]
    assert list(sig.outputs) == ["probabilities"]
    assert [d.size for d in sig.outputs["probabilities"].tensor_shape.dim] == [-1, 2]
    assert sig.method_name == "tensorflow/serving/predict"
    text = meta.signature_def["serving_text"]
    assert sorted(text.inputs) == ["text"]
    for spec in text.inputs.values():
        assert spec.dtype == tf.string.as_datatype_enum and [d.size for d in spec.tensor_shape.dim] == [-1]
    assert sorted(text.outputs) == ["label", "probabilities"]
    assert text.outputs["label"].dtype == tf.string.as_datatype_enum
    assert text.method_name == "tensorflow/serving/predict"


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
    from bert_estimator.data.features import convert_single_example
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
    from bert_estimator.serving.predictor import _pad

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
    from bert_estimator.serving import predict_cli as predict

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
    from bert_estimator.data.features import convert_examples_to_features
    from bert_estimator.data.input_pipeline import input_fn_builder
    from bert_estimator.serving import predictor as predictor_lib
    from bert_estimator.serving import saved_model
    from processors import InputExample

    init = os.path.join(finetuned_dir, "bert_model.ckpt")
    estimator = _estimator(tmp_path / "model_dir", init, 2)
    export = tmp_path / "export"
    export.mkdir()  # an empty directory may be used
    kwargs = dict(max_seq_length=MAX_SEQ_LENGTH, vocab_file=os.path.join(finetuned_dir, "vocab.txt"),
                  do_lower_case=True, label_list=LABELS, is_regression=False)
    with pytest.raises(saved_model.ExportError, match="no checkpoint to export: nothing was trained"):
        saved_model.export_model(estimator, str(export), **kwargs)
    assert saved_model.export_model(estimator, str(export), init_checkpoint=init, pair=False, **kwargs) == \
        str(export / "1")
    assert not (tmp_path / "model_dir").exists()
    assert sorted(os.listdir(tmp_path)) == ["export"]

    texts = ["a gripping film", "a dull , lifeless and overlong mess", "wonderful"]
    with predictor_lib.load_predictor(str(export)) as p:
        got = p.predict(texts)
        tokenizer = p.tokenizer
    features = convert_examples_to_features([InputExample(str(i), t) for i, t in enumerate(texts)],
                                            LABELS, MAX_SEQ_LENGTH, tokenizer)
    want = np.array([x["probabilities"] for x in estimator.predict(input_fn_builder(features, MAX_SEQ_LENGTH,
                                                                                    False, False))])
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)

    # A single-text model's serving_text takes `text`; it gives the same probabilities.
    with predictor_lib.load_predictor(str(export), in_graph_tokenizer=True) as p:
        assert p.text_inputs == ("text",)
        np.testing.assert_allclose(p.predict(texts), got, atol=1e-6, rtol=0)
        with pytest.raises(ValueError, match="takes single texts, not pairs"):
            p.predict([("a", "b")])

    # Each export adds the next version; a given version is written, an existing one replaced.
    assert saved_model.export_model(estimator, str(export), init_checkpoint=init, pair=False, **kwargs) == \
        str(export / "2")
    assert saved_model.export_model(estimator, str(export), init_checkpoint=init, pair=False, version=7,
                                **kwargs) == str(export / "7")
    before = os.path.getmtime(export / "7" / "saved_model.pb")
    saved_model.export_model(estimator, str(export), init_checkpoint=init, pair=False, version=7, **kwargs)
    assert os.path.getmtime(export / "7" / "saved_model.pb") >= before
    assert sorted(os.listdir(export)) == ["1", "2", "7"] and sorted(os.listdir(tmp_path)) == ["export"]
    with predictor_lib.load_predictor(str(export)) as p:  # the base directory: the highest version
        assert p.export_dir == str(export / "7")
    with predictor_lib.load_predictor(str(export / "2")) as p:  # or a version directory
        np.testing.assert_allclose(p.predict(texts), got, atol=1e-6, rtol=0)
    with pytest.raises(saved_model.ExportError, match="must be a positive integer, got 0"):
        saved_model.export_model(estimator, str(export), init_checkpoint=init, version=0, **kwargs)

    # A model of another interface is refused (TF Serving would serve both under one
    # name); so is a directory holding anything but versions, untouched.
    with pytest.raises(saved_model.ExportError, match=r"cannot add this model to .*export: its version 1 has the "
                                                  r"labels neg, pos and serving_text inputs text, this model has "
                                                  r"the labels a, b and serving_text inputs text;"):
        saved_model.export_model(estimator, str(export), init_checkpoint=init, pair=False,
                             **dict(kwargs, label_list=["a", "b"]))
    with pytest.raises(saved_model.ExportError, match="its version 1 has the labels neg, pos and serving_text inputs "
                                                  "text, this model has the labels neg, pos and serving_text "
                                                  "inputs text_a, text_b"):
        saved_model.export_model(estimator, str(export), init_checkpoint=init, pair=True, **kwargs)
    assert sorted(os.listdir(export)) == ["1", "2", "7"]
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(saved_model.ExportError, match="is not empty and holds 'notes.txt', which is no earlier export"):
        saved_model.export_model(estimator, str(other), init_checkpoint=init, **kwargs)
    assert os.listdir(other) == ["notes.txt"]
    # An unversioned export (the layout before versions) is left alone.
    shutil.copytree(export / "1", tmp_path / "flat")
    with pytest.raises(saved_model.ExportError, match="holds an unversioned export"):
        saved_model.export_model(estimator, str(tmp_path / "flat"), init_checkpoint=init, **kwargs)
    assert sorted(os.listdir(tmp_path)) == ["export", "flat", "other"]


def test_export_refuses_a_pretrained_init_checkpoint(tmp_path):
    from bert_estimator.serving import saved_model

    init = write_tiny_checkpoint(str(tmp_path / "pretrained"))  # no classifier layer
    with pytest.raises(saved_model.ExportError, match="lacks output_weights, output_bias"):
        saved_model.export_model(_estimator(tmp_path / "m", init, 2), str(tmp_path / "export"),
                             MAX_SEQ_LENGTH, os.path.join(tmp_path, "pretrained", "vocab.txt"), True,
                             LABELS, False, init_checkpoint=init)
    assert not (tmp_path / "export").exists()


def test_regression_export_and_output(tmp_path, capsys, monkeypatch):
    from bert_estimator.serving import predictor as predictor_lib
    from bert_estimator.serving import saved_model

    init = write_tiny_checkpoint(str(tmp_path / "sts"), seed=5, num_labels=1)
    export = str(tmp_path / "export")
    saved_model.export_model(_estimator(tmp_path / "m", init, 1, is_regression=True), export, MAX_SEQ_LENGTH,
                         os.path.join(tmp_path, "sts", "vocab.txt"), True, [], True, init_checkpoint=init)
    with predictor_lib.load_predictor(export) as p:
        values = p.predict(["a man is playing a guitar", ("a man plays", "a guitar is played")])
    assert values.shape == (2,) and np.isfinite(values).all()
    status, out, err = _run_predict([f"--export_dir={export}", "--output_format=tsv", "a man is playing a guitar"],
                                    capsys, monkeypatch)
    assert status == 0, err
    assert out.splitlines()[0] == "value\ttext"
    assert float(out.splitlines()[1].split("\t")[0]) == pytest.approx(float(values[0]), abs=1e-5)


# ------------------------------------------------------------- the raw-text signature
def test_text_signature_equals_the_ids_signature_on_every_snippet(text_predictor):
    """The 23,703 real texts: serving_text (in-graph tokenization) gives the
    probabilities of Python tokenization + serving_default, to 1e-6."""
    texts = [t.text for t in all_texts()]
    assert len(texts) == 23703
    in_graph = text_predictor.predict(texts, in_graph=True)
    python = text_predictor.predict(texts, in_graph=False)
    assert np.abs(in_graph - python).max() <= 1e-6
    assert (in_graph.argmax(axis=1) == python.argmax(axis=1)).all()
    assert np.ptp(python[:, 1]) > 1e-3  # a real function of the input


@pytest.mark.parametrize("pair, truncation", [(True, "head_tail"), (None, "tail")])
def test_text_signature_pairs_and_truncation(finetuned_dir, task, tmp_path, pair, truncation):
    """A pair model (text_a, text_b) and one that does not say (the same inputs; an
    empty text_b makes a single text): pairs, texts longer than max_seq_length, empty
    texts give the probabilities of the Python path."""
    from bert_estimator.serving import predictor as predictor_lib
    from bert_estimator.serving import saved_model

    init = os.path.join(finetuned_dir, "bert_model.ckpt")
    export = saved_model.export_model(_estimator(tmp_path / "m", init, 2), str(tmp_path / "export"), 16,
                                  os.path.join(finetuned_dir, "vocab.txt"), True, LABELS, False, truncation=truncation,
                                  init_checkpoint=init, pair=pair)
    long_text = task["test_texts"][10]
    texts = [long_text, ("the premise , long " * 9, "a hypothesis"), ("a premise", long_text), "", ("", ""),
             ("wonderful", ""), "½ café ΟΔΟΣ 中文 😀 " + "x" * 201, (long_text, long_text)]
    with predictor_lib.load_predictor(export, in_graph_tokenizer=True) as p:
        assert p.text_inputs == ("text_a", "text_b")
        python = p.predict(texts, in_graph=False)
        np.testing.assert_allclose(p.predict(texts), python, atol=1e-6, rtol=0)
        np.testing.assert_allclose(p.predict(texts, batch_size=1), python, atol=1e-6, rtol=0)


def test_predict_in_graph_tokenizer_benchmark(run, task, capsys, monkeypatch, tmp_path):
    """--in_graph_tokenizer: the output of the Python path (to 1e-6); --benchmark times
    both paths side by side and prints their largest difference."""
    input_file = tmp_path / "texts.txt"
    input_file.write_text("\n".join(task["test_texts"]) + "\n", encoding="utf-8")
    args = [f"--export_dir={run['export']}", f"--input_file={input_file}", "--output_format=json"]
    status, out, err = _run_predict([*args, "--in_graph_tokenizer", "--benchmark", "--batch_size=4"],
                                    capsys, monkeypatch)
    assert status == 0, err
    records = [json.loads(line) for line in out.splitlines()]
    got = np.array([[r["probabilities"][label] for label in LABELS] for r in records])
    np.testing.assert_allclose(got, run["expected"], atol=1e-5, rtol=0)
    status, python_out, _ = _run_predict(args, capsys, monkeypatch)
    assert status == 0
    python = np.array([[json.loads(line)["probabilities"][label] for label in LABELS]
                       for line in python_out.splitlines()])
    np.testing.assert_allclose(got, python, atol=1e-6, rtol=0)
    assert f"loaded {run['version_dir']}" in err
    for path in ("[Python tokenizer + serving_default]", "[in-graph tokenizer: serving_text]"):
        lines = [line for line in err.splitlines() if line.endswith(path)]
        assert len(lines) == 2 and " at batch 1 " in lines[0] and " at batch 4 " in lines[1], err
    n = len(task["test_texts"])
    assert f"serving_text vs Python tokenization + serving_default over {n} text(s): largest difference of " \
           "the probabilities" in err
    assert f"same label for {n} of {n}" in err


def test_saved_model_cli_shows_both_signatures_and_runs_the_text_one(run, capsys, monkeypatch):
    """What the README tells to check an export without a server: `saved_model_cli show`
    lists both signatures, `saved_model_cli run` on serving_text gives predict.py's label."""
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    text = "a gripping , funny and moving film"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    commands = [[cli, "show", "--dir", run["version_dir"], "--all"],
                [cli, "run", "--dir", run["version_dir"], "--tag_set", "serve", "--signature_def", "serving_text",
                 "--input_exprs", f"text=[{text!r}]"]]
    processes = [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
                 for c in commands]  # both at once: each spends its time starting TensorFlow
    (show, show_err), (result, result_err) = (p.communicate(timeout=300) for p in processes)
    assert processes[0].returncode == 0, show_err[-2000:]
    assert processes[1].returncode == 0, result_err[-2000:]
    for name in ("serving_default", "serving_text"):
        assert f"signature_def['{name}']" in show
    assert "inputs['text'] tensor_info:" in show and "outputs['label'] tensor_info:" in show
    label = result.split("Result for output key label:")[1].split()[0]  # [b'pos']
    status, out, err = _run_predict([f"--export_dir={run['export']}", "--output_format=tsv", text],
                                    capsys, monkeypatch)
    assert status == 0, err
    assert label == f"[b'{out.splitlines()[1].split(chr(9))[0]}']"


# ------------------------------------------------------------------------ versions
@pytest.fixture()
def versions(run, tmp_path) -> str:
    """A base directory holding versions 1 and 3 of the run's export."""
    base = tmp_path / "models" / "sentiment"
    for version in ("1", "3"):
        shutil.copytree(run["version_dir"], base / version)
    return str(base)


def test_predict_takes_the_highest_version_or_a_version_directory(versions, capsys, monkeypatch):
    from bert_estimator.serving import saved_model

    assert saved_model.export_versions(versions) == [1, 3]
    assert saved_model.resolve_export_dir(versions) == os.path.join(versions, "3")
    assert saved_model.resolve_export_dir(os.path.join(versions, "1")) == os.path.join(versions, "1")
    edit_export_info(os.path.join(versions, "3"), checkpoint="the newer one")
    for export_dir, loaded in ((versions, "3"), (os.path.join(versions, "1"), "1")):
        status, out, err = _run_predict([f"--export_dir={export_dir}", "wonderful"], capsys, monkeypatch)
        assert status == 0, err
        assert f"predict.py: loaded {os.path.join(versions, loaded)} in " in err


@pytest.mark.parametrize("breakage, message", [
    (lambda base: edit_export_info(os.path.join(base, "1"), label_list=["bad", "good"]),
     "{base} holds incompatible exports: version 1 has the labels bad, good and serving_text inputs text, "
     "version 3 has the labels neg, pos and serving_text inputs text; TF Serving serves every version of a "
     "directory as one model"),
    (lambda base: edit_export_info(os.path.join(base, "1"), is_regression=True, label_list=[]),
     "{base} holds incompatible exports: version 1 is a regression"),
    (lambda base: edit_export_info(os.path.join(base, "1"), text_inputs=["text_a", "text_b"]),
     "{base} holds incompatible exports: version 1 has the labels neg, pos and serving_text inputs text_a, text_b,"),
    (lambda base: shutil.copytree(os.path.join(base, "1"), base, dirs_exist_ok=True),
     "{base} holds two exports: an unversioned one at its top and the numbered version(s) 1, 3"),
    (lambda base: os.remove(os.path.join(base, "1", "saved_model.pb")),
     "{base}/1 is not a model exported by run_classifier.py --export_dir"),
])
def test_predict_refuses_a_directory_of_incompatible_exports(versions, breakage, message, capsys, monkeypatch):
    """Two exports that disagree on what a client sends or gets: one line, exit 1."""
    breakage(versions)
    for extra in ([], ["--in_graph_tokenizer"]):
        status, out, err = _run_predict([f"--export_dir={versions}", *extra, "wonderful"], capsys, monkeypatch)
        assert status == 1 and out == ""
        assert len(err.strip().splitlines()) == 1 and err.startswith("predict.py: error: ")
        assert message.format(base=versions) in err


def test_predict_cli_incompatible_versions_exit_status(versions):
    edit_export_info(os.path.join(versions, "3"), label_list=["a", "b", "c"])
    r = run_cli([PREDICT, f"--export_dir={versions}", "a sentence"])
    assert r.returncode == 1 and r.stdout == ""
    # One line of ours (TensorFlow's C++ start-up lines may come before it).
    assert "Traceback" not in r.stderr and r.stderr.count("predict.py:") == 1
    assert r.stderr.strip().splitlines()[-1:] == [
        f"predict.py: error: {versions} holds incompatible exports: version 1 has the labels neg, pos and "
        "serving_text inputs text, version 3 has the labels a, b, c and serving_text inputs text; TF Serving "
        "serves every version of a directory as one model, so keep one model per directory (remove the stale "
        "versions or export to a new directory)"]


def test_in_graph_tokenizer_needs_the_text_signature(run, tmp_path, capsys, monkeypatch):
    """An export from before serving_text: --in_graph_tokenizer says so; the Python path works."""
    export = str(tmp_path / "old")
    shutil.copytree(run["version_dir"], export)
    edit_export_info(export, text_inputs=None)
    status, out, err = _run_predict([f"--export_dir={export}", "--in_graph_tokenizer", "wonderful"],
                                    capsys, monkeypatch)
    assert status == 1 and f"{export} has no serving_text signature" in err
    assert _run_predict([f"--export_dir={export}", "wonderful"], capsys, monkeypatch)[0] == 0
