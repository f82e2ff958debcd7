"""Tests of the speed flags of run_classifier.py: --bucket_by_length, --use_xla,
--use_amp and --num_accumulation_steps (docs/BENCHMARKS.md measures their speed).

* bucketing: the trimmed batch gives the same loss and gradients as the padded one
  (same examples), predictions and eval metrics equal fixed padding, training batches
  hold examples of one length bucket cut to their longest member;
* accumulation through the CLI: k=2 micro-batches of 4 end at the weights of batches
  of 8 (dropout off), in the same number of global steps;
* --use_xla and --use_amp (oneDNN bfloat16 on this CPU) train and evaluate; XLA
  matches the default to float rounding, bfloat16 to bfloat16's precision;
* the unsupported combinations are refused with one line.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

import modeling
import run_classifier
from bert_estimator.data import features, input_pipeline
from bert_estimator.data.input_features import InputFeatures
from bert_estimator.results import output_files
from processors import InputExample
from tests.conftest import TINY_CONFIG, run_cli, run_log, write_tiny_checkpoint
from tests.test_run_classifier import RUN_CLASSIFIER, model_flags, read_eval_results

NO_DROPOUT = dict(TINY_CONFIG, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)


@pytest.fixture(scope="module")
def no_dropout_bert_dir(tmp_path_factory) -> str:
    model_dir = str(tmp_path_factory.mktemp("tiny_bert_no_dropout") / "uncased_L-2_H-32_A-4")
    write_tiny_checkpoint(model_dir, config=NO_DROPOUT)
    return model_dir


def _cli(model_dir, data_dir, out, *extra):
    r = run_cli([RUN_CLASSIFIER, "--task_name=csv", f"--data_dir={data_dir}", f"--output_dir={out}",
                 "--max_seq_length=64", "--seed=3", "--write_reports=false", *model_flags(model_dir), *extra])
    assert r.returncode == 0, r.stderr[-3000:]
    return r


def _read_tsv(path) -> np.ndarray:
    return np.array(output_files.read_test_results(path))


# ------------------------------------------------------------------------- bucketing
def test_trimmed_batch_gives_the_padded_batch_loss_and_gradients():
    config = modeling.BertConfig.from_dict(NO_DROPOUT)
    rng = np.random.RandomState(0)
    lengths = np.array([5, 9, 12, 7])
    seq, longest = 32, 12
    mask = (np.arange(seq)[None, :] < lengths[:, None]).astype(np.int32)
    ids = rng.randint(1000, 3000, size=(4, seq)) * mask
    segments = ((np.arange(seq)[None, :] >= 3) * mask).astype(np.int32)
    labels = np.array([0, 1, 1, 0])
    with tf.Graph().as_default():
        tf.set_random_seed(1)
        ph = [tf.placeholder(tf.int32, [None, None]) for _ in range(3)]
        # is_training=False: the classifier's dropout (0.1, fixed as in the original) would
        # draw new masks on every run.
        loss, _, logits, _ = run_classifier.create_model(config, False, *ph, tf.constant(labels), 2, False)
        grads = tf.gradients(loss, tf.trainable_variables())
        dense = [tf.convert_to_tensor(g) for g in grads]
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            full = sess.run([loss, logits, dense], dict(zip(ph, (ids, mask, segments))))
            cut = sess.run([loss, logits, dense], dict(zip(ph, (ids[:, :longest], mask[:, :longest],
                                                                segments[:, :longest]))))
    assert abs(full[0] - cut[0]) < 1e-6
    assert np.abs(full[1] - cut[1]).max() < 1e-5
    # Position embeddings beyond the longest example get no gradient in either case.
    assert max(float(np.abs(a - b).max()) for a, b in zip(full[2], cut[2])) < 1e-5


def test_training_batches_group_lengths_and_cut_padding(sentiment_dir, tiny_bert_dir, tmp_path):
    import processors
    import tokenization

    processor = processors.get_processor("csv", data_dir=str(sentiment_dir))
    examples = processor.get_train_examples(str(sentiment_dir))
    tokenizer = tokenization.FullTokenizer(os.path.join(tiny_bert_dir, "vocab.txt"), do_lower_case=True)
    record = str(tmp_path / "train.tf_record")
    features.file_based_convert_examples_to_features(examples, processor.get_labels(), 64, tokenizer, record)
    input_fn = input_pipeline.file_based_input_fn_builder(record, 64, is_training=True, drop_remainder=True,
                                                          shuffle_seed=1, bucket_by_length=True)
    bounds = [0, *input_pipeline.bucket_boundaries(64), 65]
    with tf.Graph().as_default():
        batch = tf.data.make_one_shot_iterator(input_fn({"batch_size": 4})).get_next()
        with tf.Session() as sess:
            batches = [sess.run(batch) for _ in range(20)]
    for b in batches:
        lengths = b["input_mask"].sum(axis=1)
        assert b["input_ids"].shape == (4, lengths.max())  # cut to the longest member
        bucket = [sum(length >= x for x in bounds) for length in lengths]
        assert len(set(bucket)) == 1, lengths  # one length bucket per batch
    assert len({b["input_ids"].shape[1] for b in batches}) > 2


def test_bucketed_predictions_and_eval_equal_fixed_padding(sentiment_dir, no_dropout_bert_dir, tmp_path):
    runs = {}
    for name, extra in (("fixed", []), ("bucketed", ["--bucket_by_length"])):
        out = tmp_path / name
        _cli(no_dropout_bert_dir, sentiment_dir, out, "--do_eval", "--do_predict", "--eval_batch_size=5",
             "--predict_batch_size=3", "--allow_untrained_head", *extra)  # the same (random) head both ways
        runs[name] = (read_eval_results(out / "eval_results.txt"), _read_tsv(out / "test_results.tsv"))
    (fixed_eval, fixed_probs), (bucketed_eval, bucketed_probs) = runs["fixed"], runs["bucketed"]
    assert fixed_probs.shape == bucketed_probs.shape == (10, 2)
    assert np.abs(fixed_probs - bucketed_probs).max() < 1e-5
    assert fixed_eval["eval_accuracy"] == bucketed_eval["eval_accuracy"]
    assert abs(fixed_eval["eval_loss"] - bucketed_eval["eval_loss"]) < 1e-5


# ---------------------------------------------------------------------- accumulation
def test_cli_accumulation_counts_updates(sentiment_dir, no_dropout_bert_dir, tmp_path):
    # The exact equality with one big batch is tested on the graph (tests/test_accumulation.py):
    # here the classifier's fixed dropout draws different masks for 2 x 4 and 8 examples.
    out = tmp_path / "k2"
    r = _cli(no_dropout_bert_dir, sentiment_dir, out, "--do_train", "--do_eval", "--train_batch_size=8",
             "--num_train_epochs=2", "--learning_rate=1e-3", "--num_accumulation_steps=2")
    reader = tf.train.load_checkpoint(str(out))
    assert reader.get_tensor("global_step") == 2 * 64 // 8
    assert reader.get_tensor("gradient_accumulation/micro_step") == 0
    assert "Gradient accumulation: 2 micro-batches of 4 per step" in run_log(out)
    assert "train step 16/16 (100%)" in r.stderr
    initial = tf.train.load_checkpoint(os.path.join(no_dropout_bert_dir, "bert_model.ckpt"))
    moved = np.abs(reader.get_tensor("bert/pooler/dense/kernel") - initial.get_tensor("bert/pooler/dense/kernel"))
    assert moved.max() > 1e-4
    assert read_eval_results(out / "eval_results.txt")["global_step"] == 16


# ------------------------------------------------------------------------ XLA and AMP
def test_xla_and_amp_train_and_match_the_default(sentiment_dir, no_dropout_bert_dir, tmp_path):
    results = {}
    for name, extra in (("default", []), ("xla", ["--use_xla"]), ("amp", ["--use_amp"])):
        out = tmp_path / name
        _cli(no_dropout_bert_dir, sentiment_dir, out, "--do_train", "--do_predict", "--train_batch_size=8",
             "--num_train_epochs=1", "--learning_rate=1e-3", *extra)
        results[name] = _read_tsv(out / "test_results.tsv")
    assert np.abs(results["default"] - results["xla"]).max() < 1e-4
    # bfloat16 keeps 8 bits of mantissa: close, not equal.
    amp_diff = np.abs(results["default"] - results["amp"]).max()
    assert amp_diff < 0.05, amp_diff
    assert np.isfinite(results["amp"]).all()


def test_session_config_sets_the_rewrites():
    from bert_estimator.training import estimator_setup

    config = estimator_setup.session_config(use_xla=True, use_amp=True)
    assert config.graph_options.optimizer_options.global_jit_level == tf.OptimizerOptions.ON_1
    rewrites = config.graph_options.rewrite_options
    assert rewrites.auto_mixed_precision_onednn_bfloat16 == 1  # no GPU here
    assert estimator_setup.session_config(use_xla=False, use_amp=False) is None


# ------------------------------------------------------------------------------ errors
@pytest.mark.parametrize("extra, message", [
    (["--num_accumulation_steps=3"], "--train_batch_size 8 is not divisible by --num_accumulation_steps 3"),
    (["--num_accumulation_steps=0"], "--num_accumulation_steps must be at least 1, got 0"),
    (["--shuffle_buffer_size=-1"], "--shuffle_buffer_size must be 0 (shuffled epochs) or positive, got -1"),
    (["--use_amp", "--num_accumulation_steps=2"], "--use_amp and --num_accumulation_steps > 1 cannot be combined"),
    (["--use_amp", "--use_tpu", "--tpu_name=x"], "--use_amp is not supported with --use_tpu"),
    (["--bucket_by_length", "--use_tpu", "--tpu_name=x"], "--bucket_by_length is not supported with --use_tpu"),
    (["--num_accumulation_steps=2", "--distribution_strategy=mirrored"],
     "--num_accumulation_steps=2 is not supported with --distribution_strategy=mirrored"),
])
def test_unsupported_combinations_are_refused(sentiment_dir, tiny_bert_dir, tmp_path, extra, message):
    out = tmp_path / "out"
    r = run_cli([RUN_CLASSIFIER, "--task_name=csv", f"--data_dir={sentiment_dir}", f"--output_dir={out}",
                 "--do_train", "--train_batch_size=8", *model_flags(tiny_bert_dir), *extra])
    assert r.returncode == 1
    last = r.stderr.strip().splitlines()[-1]
    assert last == f"run_classifier.py: error: {message}" or last.startswith(f"run_classifier.py: error: {message}"), last
    assert not out.exists()


@pytest.fixture(scope="module")
def ordered_records(tmp_path_factory) -> str:
    """1,000 training records whose first input id is 1 + their row in the file."""
    record = str(tmp_path_factory.mktemp("ordered") / "ordered.tf_record")
    with tf.io.TFRecordWriter(record) as writer:
        for i in range(1000):
            f = InputFeatures([i + 1, 2, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0], i % 2)
            writer.write(features.features_to_tf_example(f).SerializeToString())
    return record


def _training_rows(record: str, num_records: int, **kwargs) -> np.ndarray:
    """The file rows of the first `num_records` training records the input_fn yields."""
    input_fn = input_pipeline.file_based_input_fn_builder(record, 4, is_training=True, drop_remainder=True,
                                                          shuffle_seed=2, **kwargs)
    with tf.Graph().as_default():
        batch = tf.data.make_one_shot_iterator(input_fn({"batch_size": 10})).get_next()
        with tf.Session() as sess:
            rows = [sess.run(batch)["input_ids"][:, 0] - 1 for _ in range(num_records // 10)]
    return np.concatenate(rows)


def test_shuffle_buffer_size_sets_how_far_examples_travel(ordered_records):
    """The original's buffer of 100 keeps each record within ~100 of its place in the
    file; a stream buffer as large as the data reaches all of it but, drawing from the
    next pass early, leaves part of the first pass unseen."""
    small = _training_rows(ordered_records, 50, shuffle_buffer_size=100)
    assert small.max() < 150
    stream = _training_rows(ordered_records, 1000, shuffle_buffer_size=1000)
    assert stream[:50].max() > 300
    unseen = 1 - len(np.unique(stream)) / 1000
    assert unseen > 0.15, unseen  # about 1/e of the first pass, minus what the second pass fills in


def test_default_order_is_shuffled_epochs(ordered_records):
    """shuffle_buffer_size=0: every record exactly once per epoch, each epoch in a new
    order drawn from the whole file."""
    rows = _training_rows(ordered_records, 3000, shuffle_buffer_size=0, num_examples=1000)
    epochs = rows.reshape(3, 1000)
    for epoch in epochs:
        assert sorted(epoch) == list(range(1000))
        assert epoch[:50].max() > 300  # not the file's order, nor a window of it
    assert not np.array_equal(epochs[0], epochs[1]) and not np.array_equal(epochs[1], epochs[2])
    with pytest.raises(ValueError, match="needs num_examples"):
        input_pipeline.file_based_input_fn_builder(ordered_records, 4, is_training=True, drop_remainder=True,
                                                   shuffle_buffer_size=0)


def test_training_shuffles_by_epoch_unless_told(monkeypatch, tmp_path):
    """--shuffle_buffer_size=0 (the default) trains on shuffled epochs of the training
    set; a positive value (100: the original's) is passed through."""
    built = []
    monkeypatch.setattr(run_classifier, "write_records", lambda *args: None)
    monkeypatch.setattr(run_classifier, "file_based_input_fn_builder", lambda **kwargs: built.append(kwargs))

    class Estimator:
        def train(self, input_fn, max_steps, hooks):
            pass

    examples = [InputExample(f"train-{i}", "a b", label="0") for i in range(37)]
    from absl import flags

    settings = run_classifier.RecordSettings(str(tmp_path), 64, "head", "csv", False, False, False)
    for argv, expected in (([], 0), (["--shuffle_buffer_size=100"], 100)):
        flags.FLAGS(["prog", f"--output_dir={tmp_path}", *argv])
        try:  # the step takes the flag's value as main passes it
            run_classifier.train(Estimator(), examples, ["0", "1"], None, settings,
                                 record_file=str(tmp_path / "train.tf_record"), num_train_steps=5,
                                 batch_size=8, shuffle_buffer_size=flags.FLAGS.shuffle_buffer_size)
        finally:
            flags.FLAGS.unparse_flags()
        assert built[-1]["shuffle_buffer_size"] == expected
        assert built[-1]["num_examples"] == 37
        assert built[-1]["is_training"]
