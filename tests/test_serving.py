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


# ------------------------------------------------------------------------ multi-label
ML_LABELS = ["comedy", "drama", "drôle", "sci-fi"]


def _fake_multi_label_estimator(model_dir, num_labels: int, seed: int = 11):
    """An Estimator whose model_fn has run_classifier's multi-label contract (int32
    multi-hot `label_ids` [batch, num_labels] in, a sigmoid `probabilities` per label
    out) on a mean of random word embeddings, with a checkpoint of it in `model_dir`;
    so that the export can be checked without training a BERT."""
    import tensorflow.compat.v1 as tf

    def model_fn(features, labels, mode, params):
        label_ids = features["label_ids"]
        assert label_ids.dtype == tf.int32 and label_ids.shape.as_list() == [None, num_labels], label_ids
        embeddings = tf.get_variable("embeddings", [30522, 8], initializer=tf.random_normal_initializer(stddev=2.0))
        mask = tf.cast(features["input_mask"], tf.float32)[:, :, None]
        pooled = tf.reduce_sum(tf.gather(embeddings, features["input_ids"]) * mask, axis=1) / tf.reduce_sum(mask, 1)
        weights = tf.get_variable("output_weights", [num_labels, 8], initializer=tf.random_normal_initializer())
        bias = tf.get_variable("output_bias", [num_labels], initializer=tf.random_normal_initializer())
        logits = tf.nn.bias_add(tf.matmul(pooled, weights, transpose_b=True), bias)
        return tf.estimator.EstimatorSpec(mode, predictions={"probabilities": tf.sigmoid(logits)})

    with tf.Graph().as_default():
        tf.set_random_seed(seed)
        step = tf.train.get_or_create_global_step()
        ids = tf.zeros([1, 4], tf.int32)
        model_fn({"input_ids": ids, "input_mask": ids + 1, "segment_ids": ids,
                  "label_ids": tf.placeholder(tf.int32, [None, num_labels])}, None, "infer", None)
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            tf.train.Saver().save(sess, os.path.join(str(model_dir), "model.ckpt"), global_step=step)
    return tf.estimator.Estimator(model_fn, model_dir=str(model_dir))


def _by_hand(probabilities, labels, thresholds):
    """The label set of each row: the labels whose probability is >= their threshold, in
    float64 (the thresholds as export_info.json holds them)."""
    hits = np.asarray(probabilities, np.float64) >= np.asarray(thresholds, np.float64)
    return [tuple(label for label, hit in zip(labels, row) if hit) for row in hits]


def _run_text_signature(version_dir, texts):
    """The serving_text outputs of `texts`, through the SavedModel's signature."""
    import tensorflow.compat.v1 as tf

    with tf.Graph().as_default() as graph, tf.Session() as sess:
        meta = tf.saved_model.loader.load(sess, ["serve"], version_dir)
        sig = meta.signature_def["serving_text"]
        fetches = {k: graph.get_tensor_by_name(v.name) for k, v in sig.outputs.items()}
        return meta.signature_def, sess.run(fetches, {sig.inputs["text"].name: texts})


def _unknown_ops(version_dir) -> list:
    """The ops of an export's graph that are not core TensorFlow ops."""
    import tensorflow.compat.v1 as tf
    from tensorflow.python.framework import op_def_registry

    with tf.Graph().as_default(), tf.Session() as sess:
        graph_def = tf.saved_model.loader.load(sess, ["serve"], version_dir).graph_def
    ops = {node.op for node in graph_def.node}
    ops |= {node.op for function in graph_def.library.function for node in function.node_def}
    assert "UnsortedSegmentJoin" in ops
    functions = {function.signature.name for function in graph_def.library.function}
    return sorted(op for op in ops - functions if op_def_registry.get(op) is None)


def test_multi_label_output_lines():
    """predict.py's lines for a multi-label model: the label set joined by the export's
    separator ("(none)" in the text format, "" in tsv, [] in json), every label's
    probability, the text."""
    from bert_estimator.serving.predict_cli import format_results

    labels = ["a", "b c", "d"]
    texts = ["first text", ("premise", "hypothesis")]
    outputs = np.array([[0.75, 0.5, 0.125], [0.25, 0.0625, 0.375]], np.float32)
    sets = [("a", "b c"), ()]
    assert format_results(texts, outputs, labels, False, "text", sets, "; ") == [
        "a; b c  a=0.7500 b c=0.5000 d=0.1250  first text",
        "(none)  a=0.2500 b c=0.0625 d=0.3750  premise  |||  hypothesis"]
    assert format_results(texts, outputs, labels, False, "tsv", sets, "; ") == [
        "labels\tp_a\tp_b c\tp_d\ttext\ttext_b",
        "a; b c\t0.75\t0.5\t0.125\tfirst text\t",
        "\t0.25\t0.0625\t0.375\tpremise\thypothesis"]
    assert [json.loads(line) for line in format_results(texts, outputs, labels, False, "json", sets, "; ")] == [
        {"text": "first text", "labels": ["a", "b c"], "probabilities": {"a": 0.75, "b c": 0.5, "d": 0.125}},
        {"text": "premise", "text_b": "hypothesis", "labels": [],
         "probabilities": {"a": 0.25, "b c": 0.0625, "d": 0.375}}]


def test_multi_label_outputs_by_hand():
    """`multi_label_outputs` in a graph: >= per label's threshold, exactly as in float64
    (a threshold between two float32s included), labels joined in label-list order by a
    separator of several characters, "" for none."""
    import tensorflow.compat.v1 as tf

    from bert_estimator.serving import saved_model

    p = np.array([[0.5, 0.2, 0.9], [0.49999997, 0.3, 0.1], [0.7, 0.3, 0.95], [0.0, 1.0, 0.0]], np.float32)
    thresholds = [0.5, float(np.float32(0.3)) + 1e-12, 0.0]  # the second: just above p[1, 1] and p[2, 1]
    assert np.float32(thresholds[1]) == p[1, 1]  # a float32 threshold would take them
    labels = ["α", "b", "c"]
    with tf.Graph().as_default(), tf.Session() as sess:
        predicted, joined = saved_model.multi_label_outputs(tf.constant(p), labels, thresholds, " | ")
        assert predicted.name == "predicted:0" and joined.name == "labels:0"
        assert predicted.shape.as_list() == [4, 3] and joined.shape.as_list() == [4]
        got_predicted, got_joined = sess.run([predicted, joined])
        empty = sess.run(saved_model.multi_label_outputs(tf.zeros([0, 3]), labels, thresholds, ","))
    want = _by_hand(p, labels, thresholds)
    assert want == [("α", "c"), ("c",), ("α", "c"), ("b", "c")]
    assert got_predicted.dtype == np.int32
    assert got_predicted.tolist() == [[int(label in row) for label in labels] for row in want]
    assert [s.decode("utf-8") for s in got_joined] == [" | ".join(row) for row in want]
    assert empty[0].shape == (0, 3) and empty[1].shape == (0,)
    with tf.Graph().as_default(), tf.Session() as sess:  # nothing over its threshold: ""
        none = sess.run(saved_model.multi_label_outputs(tf.constant(p), labels, [1.0, 1.0, 1.0], ","))
    assert none[0].tolist() == [[0, 0, 0], [0, 0, 0], [0, 0, 0], [0, 1, 0]]
    assert none[1].tolist() == [b"", b"", b"", b"b"]


@pytest.mark.parametrize("kwargs, message", [
    (dict(thresholds=[0.5, 0.5]), r"2 threshold\(s\) for 4 labels \(comedy, drama, drôle, sci-fi\): give one per label"),
    (dict(thresholds=[0.5, 0.5, 1.5, 0.5]), "the threshold of label 'drôle' must be a probability in \\[0, 1\\], got 1.5"),
    (dict(thresholds=[0.5, float("nan"), 0.5, 0.5]), "the threshold of label 'drama' must be a probability"),
    (dict(label_separator="-"), "the label 'sci-fi' holds the label separator '-'"),
    (dict(label_separator=""), "the label separator must be a non-empty string"),
    (dict(is_regression=True), "either a regression or a multi-label classifier"),
    (dict(is_multi_label=False, thresholds=[0.5] * 4), "thresholds are for multi-label models only"),
])
def test_multi_label_export_refuses_bad_settings(kwargs, message, tmp_path, finetuned_dir):
    from bert_estimator.serving import saved_model

    estimator = _fake_multi_label_estimator(tmp_path / "m", len(ML_LABELS))
    args = dict(max_seq_length=16, vocab_file=os.path.join(finetuned_dir, "vocab.txt"), do_lower_case=True,
                label_list=ML_LABELS, is_regression=False, is_multi_label=True)
    with pytest.raises(saved_model.ExportError, match=message):
        saved_model.export_model(estimator, str(tmp_path / "export"), **{**args, **kwargs})
    assert not (tmp_path / "export").exists()


def test_multi_label_export_predictor_and_cli(finetuned_dir, tmp_path, capsys, monkeypatch):
    """A multi-label export (fake model_fn): its signatures, export_info, the label sets
    of serving_text, the predictor and predict.py equal the thresholded probabilities
    computed by hand; re-tuned thresholds are a new version of the same model."""
    import tensorflow.compat.v1 as tf

    from bert_estimator.serving import predictor as predictor_lib
    from bert_estimator.serving import saved_model
    from tests.real_data import movie_snippets

    texts = [t.text for t in movie_snippets()[:40]]
    estimator = _fake_multi_label_estimator(tmp_path / "m", len(ML_LABELS))
    export = tmp_path / "models" / "genres"
    args = dict(max_seq_length=16, vocab_file=os.path.join(finetuned_dir, "vocab.txt"), do_lower_case=True,
                label_list=ML_LABELS, is_regression=False, pair=False)
    assert saved_model.export_model(estimator, str(export), is_multi_label=True, **args) == str(export / "1")
    info = saved_model.read_export_info(str(export / "1"))
    assert info["is_multi_label"] is True and info["thresholds"] == [0.5] * 4 and info["label_separator"] == ","
    assert info["label_list"] == ML_LABELS and info["is_regression"] is False
    assert info["outputs"] == ["probabilities", "predicted"]
    assert info["text_outputs"] == ["probabilities", "predicted", "labels"]

    with predictor_lib.load_predictor(str(export)) as p:
        probabilities = p.predict(texts)
    assert probabilities.shape == (40, 4) and probabilities.dtype == np.float32
    assert np.ptp(probabilities, axis=0).min() > 0.05  # each label a real function of the text
    # Tuned thresholds: an exact probability (>= takes it), one just above another
    # probability (not taken, although it rounds to it in float32), a median, zero.
    thresholds = [float(probabilities[3, 0]), float(probabilities[5, 1]) + 1e-12,
                  float(np.median(probabilities[:, 2])), 0.0]
    assert np.float32(thresholds[1]) == probabilities[5, 1]
    version = saved_model.export_model(estimator, str(export), is_multi_label=True, thresholds=thresholds, **args)
    assert version == str(export / "2")  # same labels and separator: the same model for TF Serving
    assert saved_model.read_export_info(version)["thresholds"] == thresholds
    want = _by_hand(probabilities, ML_LABELS, thresholds)
    assert "comedy" in want[3] and "drama" not in want[5] and all("sci-fi" in s for s in want)
    assert len(set(want)) > 3

    signatures, outputs = _run_text_signature(version, texts)
    default = signatures["serving_default"]
    assert sorted(default.inputs) == ["input_ids", "input_mask", "segment_ids"]
    assert sorted(default.outputs) == ["predicted", "probabilities"]
    assert sorted(signatures["serving_text"].outputs) == ["labels", "predicted", "probabilities"]
    for sig in (default, signatures["serving_text"]):
        assert [d.size for d in sig.outputs["probabilities"].tensor_shape.dim] == [-1, 4]
        assert [d.size for d in sig.outputs["predicted"].tensor_shape.dim] == [-1, 4]
        assert sig.outputs["predicted"].dtype == tf.int32.as_datatype_enum
    assert signatures["serving_text"].outputs["labels"].dtype == tf.string.as_datatype_enum
    assert _unknown_ops(version) == []  # the label sets too are core ops: a stock TF Serving runs them
    np.testing.assert_allclose(outputs["probabilities"], probabilities, atol=1e-6, rtol=0)
    assert [s.decode("utf-8") for s in outputs["labels"]] == [",".join(s) for s in want]
    assert outputs["predicted"].tolist() == [[int(label in s) for label in ML_LABELS] for s in want]

    for in_graph in (False, True):
        with predictor_lib.load_predictor(str(export), in_graph_tokenizer=in_graph) as p:
            assert p.is_multi_label and p.thresholds == tuple(thresholds) and p.label_separator == ","
            assert p.predict_label_sets(texts, batch_size=7) == want
            np.testing.assert_allclose(p.predict(texts), probabilities, atol=1e-6, rtol=0)
            assert p.predict_label_sets([]) == []

    input_file = tmp_path / "texts.txt"
    input_file.write_text("\n".join(texts) + "\n", encoding="utf-8")
    status, out, err = _run_predict([f"--export_dir={export}", f"--input_file={input_file}", "--output_format=tsv"],
                                    capsys, monkeypatch)
    assert status == 0, err
    lines = out.splitlines()
    assert lines[0] == "labels\tp_comedy\tp_drama\tp_drôle\tp_sci-fi\ttext"
    rows = [line.split("\t") for line in lines[1:]]
    assert [row[0] for row in rows] == [",".join(s) for s in want]
    np.testing.assert_allclose(np.array([[float(x) for x in row[1:5]] for row in rows]), probabilities,
                               atol=1e-6, rtol=0)
    assert [row[5] for row in rows] == texts
    status, out, err = _run_predict([f"--export_dir={export}", f"--input_file={input_file}", "--output_format=json",
                                     "--in_graph_tokenizer", "--benchmark", "--batch_size=8"], capsys, monkeypatch)
    assert status == 0, err
    records = [json.loads(line) for line in out.splitlines()]
    assert [tuple(r["labels"]) for r in records] == want and [r["text"] for r in records] == texts
    assert "same label set for 40 of 40" in err
    status, out, err = _run_predict([f"--export_dir={export}", texts[0], texts[5]], capsys, monkeypatch)
    assert status == 0, err
    for line, chosen, text in zip(out.splitlines(), [want[0], want[5]], [texts[0], texts[5]]):
        shown, probs, rest = line.split("  ", 2)
        assert shown == (",".join(chosen) or "(none)") and rest == text
        assert [item.split("=")[0] for item in probs.split(" ")] == ML_LABELS


def test_multi_label_versions_and_old_exports(finetuned_dir, tmp_path):
    """The label separator and multi-label-ness are part of a model's interface (a
    version of another is refused); an export_info.json from before multi-label reads as
    single-label; a multi-label one without its thresholds is refused."""
    from bert_estimator.serving import predictor as predictor_lib
    from bert_estimator.serving import saved_model

    estimator = _fake_multi_label_estimator(tmp_path / "m", len(ML_LABELS))
    export = tmp_path / "export"
    args = dict(max_seq_length=16, vocab_file=os.path.join(finetuned_dir, "vocab.txt"), do_lower_case=True,
                label_list=ML_LABELS, is_regression=False, pair=False, is_multi_label=True)
    saved_model.export_model(estimator, str(export), **args)
    with pytest.raises(saved_model.ExportError, match=r"its version 1 has the labels comedy, drama, drôle, sci-fi "
                                                      r"\(multi-label, joined by ','\) and serving_text inputs text, "
                                                      r"this model has the labels comedy, drama, drôle, sci-fi "
                                                      r"\(multi-label, joined by '; '\)"):
        saved_model.export_model(estimator, str(export), **{**args, "label_separator": "; "})
    assert os.listdir(export) == ["1"]

    shutil.copytree(export / "1", export / "2")
    edit_export_info(str(export / "2"), is_multi_label=False)
    with pytest.raises(saved_model.ExportError, match=r"holds incompatible exports: version 1 has the labels comedy, "
                                                      r"drama, drôle, sci-fi \(multi-label, joined by ','\) and "
                                                      r"serving_text inputs text, version 2 has the labels comedy, "
                                                      r"drama, drôle, sci-fi and serving_text"):
        saved_model.resolve_export_dir(str(export))
    shutil.rmtree(export / "2")

    old = tmp_path / "old"
    shutil.copytree(export / "1", old)
    path = old / "assets.extra" / "export_info.json"
    info = json.loads(path.read_text())
    for key in ("is_multi_label", "thresholds", "label_separator", "outputs"):
        del info[key]
    path.write_text(json.dumps(info))
    assert saved_model.read_export_info(str(old))["is_multi_label"] is False
    assert "thresholds" not in saved_model.read_export_info(str(old))
    with predictor_lib.load_predictor(str(old)) as p:  # a single-label model of the same labels, to its reader
        assert not p.is_multi_label and p.thresholds is None
        with pytest.raises(ValueError, match="is not a multi-label model: it predicts one label per text"):
            p.predict_label_sets(["a text"])
    info.update(is_multi_label=True, label_separator=",")
    path.write_text(json.dumps(info))
    with pytest.raises(saved_model.ExportError, match="is of a multi-label model and lacks thresholds"):
        saved_model.read_export_info(str(old))
    info.update(thresholds=[0.5, 0.5, 0.5])
    path.write_text(json.dumps(info))
    with pytest.raises(saved_model.ExportError, match=r"export_info.json: 3 threshold\(s\) for 4 labels"):
        saved_model.read_export_info(str(old))


def _mood_labels(text) -> str:
    """A real label set of a text of tests/real_data.py, from its mean human rating and
    its length: pos / neg (|rating| >= 1), strong (|rating| >= 2.5), long (over 20
    words); possibly none."""
    labels = (["pos"] if text.score >= 1 else []) + (["neg"] if text.score <= -1 else [])
    labels += ["strong"] if abs(text.score) >= 2.5 else []
    labels += ["long"] if len(text.text.split()) > 20 else []
    return ",".join(labels)


@pytest.fixture(scope="module")
def multi_label_run(tmp_path_factory) -> dict:
    """run_classifier.py --problem_type=multi_label_classification on a CSV of real
    tweets with a `labels` column ("pos,strong"): 12 training steps from a tiny BERT with
    a 4-label head (so that the probabilities spread from the start), evaluation with
    --tune_thresholds, prediction, export."""
    from tests.conftest import write_csv
    from tests.real_data import ground_truth

    rows = [(t.text, _mood_labels(t)) for t in ground_truth("tweets")[:144]]
    assert not any("\t" in text for text, _ in rows)  # predict.py would take a TAB for a pair
    model_dir = str(tmp_path_factory.mktemp("multi_label_model") / "tiny")
    write_tiny_checkpoint(model_dir, seed=9, num_labels=4)
    d = tmp_path_factory.mktemp("multi_label_task")
    write_csv(d / "train.csv", rows[:96], ("text", "labels"))
    write_csv(d / "dev.csv", rows[96:120], ("text", "labels"))
    write_csv(d / "test.csv", rows[120:], ("text", "labels"))
    base = tmp_path_factory.mktemp("multi_label_run")
    out, export = base / "out", base / "models" / "moods"
    r = run_cli([RUN_CLASSIFIER, "--task_name=csv", f"--data_dir={d}", "--label_column=labels",
                 "--problem_type=multi_label_classification", f"--output_dir={out}",
                 f"--vocab_file={model_dir}/vocab.txt", f"--bert_config_file={model_dir}/bert_config.json",
                 f"--init_checkpoint={model_dir}/bert_model.ckpt", f"--max_seq_length={MAX_SEQ_LENGTH}",
                 "--do_train", "--do_eval", "--do_predict", "--tune_thresholds", "--train_batch_size=16",
                 "--num_train_epochs=6", "--learning_rate=2e-3", "--predict_batch_size=5", "--seed=4",
                 f"--export_dir={export}"])
    assert r.returncode == 0, r.stderr[-3000:]
    with open(out / "thresholds.json") as f:
        tuned = json.load(f)
    return {"out": out, "export": str(export), "version_dir": str(export / "1"), "texts": [t for t, _ in rows[120:]],
            "expected": np.array(output_files.read_test_results(out)), "tuned": tuned}


def test_multi_label_end_to_end(multi_label_run, capsys, monkeypatch):
    """A multi-label model of run_classifier.py: the export's probabilities are the
    estimator's (test_results.tsv) to 1e-6; its serving_text `labels`, the predictor's
    label sets and predict.py's are those probabilities thresholded by hand with the
    tuned thresholds (thresholds.json), and run_classifier.py's own label sets."""
    run = multi_label_run
    texts, expected, tuned = run["texts"], run["expected"], run["tuned"]
    with open(os.path.join(run["version_dir"], "assets.extra", "export_info.json")) as f:
        info = json.load(f)
    labels, thresholds = info["label_list"], info["thresholds"]
    assert sorted(labels) == ["long", "neg", "pos", "strong"] and labels == tuned["labels"]
    assert info["is_multi_label"] is True and info["is_regression"] is False and info["label_separator"] == ","
    assert thresholds == tuned["thresholds"] and thresholds != [0.5] * 4  # the tuned ones
    assert expected.shape == (len(texts), 4) and np.ptp(expected, axis=0).min() > 1e-3

    signatures, outputs = _run_text_signature(run["version_dir"], texts)
    assert sorted(signatures["serving_default"].outputs) == ["predicted", "probabilities"]
    assert sorted(signatures["serving_text"].outputs) == ["labels", "predicted", "probabilities"]
    np.testing.assert_allclose(outputs["probabilities"], expected, atol=1e-6, rtol=0)
    want = _by_hand(outputs["probabilities"], labels, thresholds)
    assert len(set(want)) > 1
    assert [s.decode("utf-8") for s in outputs["labels"]] == [",".join(s) for s in want]
    assert want == _by_hand(expected, labels, thresholds)
    with open(run["out"] / "test_predicted_labels.tsv", encoding="utf-8") as f:  # run_classifier.py's sets
        assert [line.rstrip("\n").split("\t")[1] for line in f][1:] == [",".join(s) for s in want]

    from bert_estimator.serving import predictor as predictor_lib

    with predictor_lib.load_predictor(run["export"], batch_size=4) as p:
        np.testing.assert_allclose(p.predict(texts), expected, atol=1e-6, rtol=0)
        assert p.predict_label_sets(texts) == want

    r = run_cli([PREDICT, f"--export_dir={run['export']}", "--output_format=tsv", *texts])
    assert r.returncode == 0, r.stderr[-3000:]
    lines = r.stdout.splitlines()
    assert lines[0] == "\t".join(["labels", *(f"p_{label}" for label in labels), "text"])
    rows = [line.split("\t") for line in lines[1:]]
    assert [row[0] for row in rows] == [",".join(s) for s in want]
    np.testing.assert_allclose(np.array([[float(x) for x in row[1:5]] for row in rows]), expected, atol=1e-6, rtol=0)
    status, out, err = _run_predict([f"--export_dir={run['export']}", "--in_graph_tokenizer", *texts],
                                    capsys, monkeypatch)
    assert status == 0, err
    assert [line.split("  ")[0] for line in out.splitlines()] == [",".join(s) or "(none)" for s in want]


def test_single_label_and_regression_signatures_unchanged(finetuned_dir, tmp_path):
    """Single-label and regression exports keep their signatures: serving_default
    `probabilities` only, serving_text `probabilities` and `label` (regression: no
    `label`), no `predicted` nor `labels`; export_info says is_multi_label false and
    holds no thresholds."""
    import tensorflow.compat.v1 as tf

    from bert_estimator.serving import saved_model

    init = os.path.join(finetuned_dir, "bert_model.ckpt")
    reg_init = write_tiny_checkpoint(str(tmp_path / "sts"), seed=5, num_labels=1)
    cases = [(_estimator(tmp_path / "m", init, 2), init, LABELS, False, ["label", "probabilities"], [-1, 2]),
             (_estimator(tmp_path / "r", reg_init, 1, is_regression=True), reg_init, [], True, ["probabilities"],
              [-1])]
    for estimator, checkpoint, labels, is_regression, text_outputs, shape in cases:
        version = saved_model.export_model(estimator, str(tmp_path / f"export_{is_regression}"), MAX_SEQ_LENGTH,
                                           os.path.join(finetuned_dir, "vocab.txt"), True, labels, is_regression,
                                           init_checkpoint=checkpoint, pair=False, label_separator=None)
        with tf.Graph().as_default(), tf.Session() as sess:
            signatures = tf.saved_model.loader.load(sess, ["serve"], version).signature_def
        assert sorted(signatures) == ["serving_default", "serving_text"]
        assert sorted(signatures["serving_default"].outputs) == ["probabilities"]
        assert sorted(signatures["serving_text"].outputs) == text_outputs
        for sig in signatures.values():
            assert [d.size for d in sig.outputs["probabilities"].tensor_shape.dim] == shape
        if not is_regression:
            assert signatures["serving_text"].outputs["label"].name == "label:0"
        info = saved_model.read_export_info(version)
        assert info["is_multi_label"] is False and "thresholds" not in info and "label_separator" not in info
        assert "outputs" not in info and info["text_outputs"] == ["probabilities"] + (["label"] if labels else [])
