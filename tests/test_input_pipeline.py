"""`bert_estimator.data.input_pipeline`: the input_fns read back what the writer wrote.

(The training orders, bucketing and trimming are tested with the speed flags, in
tests/test_speed_flags.py.)
"""

from __future__ import annotations

import numpy as np
import tensorflow.compat.v1 as tf

import processors
import tokenization
from bert_estimator.data import features, input_pipeline
from processors import InputExample, PaddingInputExample
from tests.real_data import glue_dir, uncased_vocab


def _read_all(input_fn, batch_size: int) -> list[dict]:
    with tf.Graph().as_default():
        batch = tf.data.make_one_shot_iterator(input_fn({"batch_size": batch_size})).get_next()
        got = []
        with tf.Session() as sess:
            while True:
                try:
                    got.append(sess.run(batch))
                except tf.errors.OutOfRangeError:
                    return got


def test_pad_to_batch_multiple():
    padded = input_pipeline.pad_to_batch_multiple([InputExample("a", "x", None, "0")] * 5, 4)
    assert len(padded) == 8 and sum(isinstance(e, PaddingInputExample) for e in padded) == 3
    assert len(input_pipeline.pad_to_batch_multiple(padded, 4)) == 8


def test_input_fns_read_back_what_was_written(tmp_path):
    tok = tokenization.FullTokenizer(uncased_vocab(), do_lower_case=True)
    mrpc = processors.get_processor("mrpc").get_train_examples(glue_dir("MRPC"))[:13]
    examples = input_pipeline.pad_to_batch_multiple(mrpc, 8)
    path = str(tmp_path / "eval.tf_record")
    features.file_based_convert_examples_to_features(examples, ["0", "1"], 32, tok, path)
    expected = features.convert_examples_to_features(examples, ["0", "1"], 32, tok)
    got = _read_all(input_pipeline.file_based_input_fn_builder(path, 32, False, drop_remainder=True), 8)
    assert len(got) == 2
    ids = np.concatenate([b["input_ids"] for b in got])
    assert ids.dtype == np.int32 and ids.shape == (16, 32)
    np.testing.assert_array_equal(ids, [f.input_ids for f in expected])
    np.testing.assert_array_equal(np.concatenate([b["is_real_example"] for b in got]), [1] * 13 + [0] * 3)
    np.testing.assert_array_equal(np.concatenate([b["label_ids"] for b in got]), [f.label_id for f in expected])
    in_memory = _read_all(input_pipeline.input_fn_builder(expected, 32, False, drop_remainder=False), 8)
    np.testing.assert_array_equal(np.concatenate([b["input_ids"] for b in in_memory]), ids)
