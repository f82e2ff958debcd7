"""--bert_hub_module_handle: fine-tuning a TF-Hub BERT module exported from a tiny BertModel."""

from __future__ import annotations

import csv
import os

import numpy as np
import tensorflow.compat.v1 as tf

import modeling
from tests.conftest import PROJECT_ROOT, TINY_CONFIG, run_cli
from tests.real_data import sst2_splits

RUN_CLASSIFIER = os.path.join(PROJECT_ROOT, "run_classifier.py")


def export_tf1_hub_module(model_dir: str, export_path: str) -> None:
    """Exports the tiny checkpoint in `model_dir` as a TF1 Hub module in Google's BERT
    layout: a "tokens" signature (input_ids, input_mask, segment_ids -> pooled_output,
    sequence_output) and a "tokenization_info" signature (vocab_file, do_lower_case)."""
    import tensorflow_hub as hub

    config = modeling.BertConfig.from_json_file(os.path.join(model_dir, "bert_config.json"))
    vocab_file = os.path.join(model_dir, "vocab.txt")

    def module_fn(is_training):
        inputs = {name: tf.placeholder(tf.int32, [None, None], name=name)
                  for name in ("input_ids", "input_mask", "segment_ids")}
        model = modeling.BertModel(config, is_training, inputs["input_ids"], inputs["input_mask"],
                                   inputs["segment_ids"])
        hub.add_signature("tokens", inputs, {"pooled_output": model.get_pooled_output(),
                                             "sequence_output": model.get_sequence_output()})
        vocab = tf.constant(vocab_file)
        tf.add_to_collection(tf.GraphKeys.ASSET_FILEPATHS, vocab)
        hub.add_signature("tokenization_info", {}, {"vocab_file": vocab,
                                                    "do_lower_case": tf.constant(True)})

    spec = hub.create_module_spec(module_fn, tags_and_args=[
        ({"train"}, {"is_training": True}), (set(), {"is_training": False})])
    with tf.Graph().as_default():
        module = hub.Module(spec, trainable=True)
        # The module's variables live under "module/": restore them by their checkpoint names.
        saver = tf.train.Saver({v.op.name[len("module/"):]: v for v in tf.global_variables()})
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            saver.restore(sess, os.path.join(model_dir, "bert_model.ckpt"))
            module.export(export_path, sess)


def test_tokenization_info_comes_from_the_module(hub_module, tiny_bert_dir):
    from bert_estimator.training import tfhub

    vocab_file, do_lower_case = tfhub.tokenization_info(hub_module)
    assert do_lower_case is True
    with open(vocab_file) as a, open(os.path.join(tiny_bert_dir, "vocab.txt")) as b:
        assert a.read() == b.read()


def test_module_pooled_output_equals_bert_model(hub_module, tiny_bert_dir):
    from bert_estimator.training import tfhub

    ids = np.array([[101, 7592, 2088, 102, 0, 0]], np.int32)
    mask = (ids > 0).astype(np.int32)
    seg = np.zeros_like(ids)
    with tf.Graph().as_default():
        pooled = tfhub.pooled_output(hub_module, False, tf.constant(ids), tf.constant(mask),
                                       tf.constant(seg))
        with tf.Session() as sess:
            sess.run([tf.global_variables_initializer(), tf.tables_initializer()])
            from_hub = sess.run(pooled)
    with tf.Graph().as_default():
        model = modeling.BertModel(modeling.BertConfig.from_dict(TINY_CONFIG), False, tf.constant(ids),
                                   tf.constant(mask), tf.constant(seg))
        saver = tf.train.Saver()
        with tf.Session() as sess:
            saver.restore(sess, os.path.join(tiny_bert_dir, "bert_model.ckpt"))
            direct = sess.run(model.get_pooled_output())
    np.testing.assert_allclose(from_hub, direct, atol=1e-6)


def test_fine_tune_through_the_hub_flag(hub_module, tmp_path):
    rows = list(sst2_splits()["train"][:24])  # real SST-2 rows (tests/real_data.py)
    data = tmp_path / "data"
    data.mkdir()
    for split in ("train", "dev", "test"):
        with open(data / f"{split}.csv", "w", newline="") as f:
            csv.writer(f).writerows([("text", "label"), *rows])
    out = tmp_path / "out"
    r = run_cli([RUN_CLASSIFIER, "--task_name=csv", f"--data_dir={data}", f"--output_dir={out}",
                 f"--bert_hub_module_handle={hub_module}", "--do_train", "--do_eval", "--do_predict",
                 "--max_seq_length=32", "--train_batch_size=8", "--num_train_epochs=1",
                 "--write_reports=false"])
    assert r.returncode == 0, r.stderr[-3000:]
    assert "global_step = 3" in (out / "eval_results.txt").read_text()
    assert len((out / "test_results.tsv").read_text().splitlines()) == 24
