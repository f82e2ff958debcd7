"""`bert_estimator.data.features`: the faithful conversion and the TFRecord writer, checked
against the original run_classifier (bert-tensorflow)."""

from __future__ import annotations

import os
import random

import pytest

import tokenization
from bert_estimator.data import features
from processors import DataError, InputExample, PaddingInputExample
from tests.real_data import glue_dir, uncased_vocab
from tests.support import reference

pytestmark = pytest.mark.skipif(not reference.available(), reason="bert-tensorflow reference not installed")


@pytest.fixture(scope="module")
def tokenizers():
    vocab = uncased_vocab()
    orig = reference.load("tokenization").FullTokenizer(vocab, do_lower_case=True)
    ours = tokenization.FullTokenizer(vocab, do_lower_case=True)
    return ours, orig


@pytest.fixture(scope="module")
def mrpc_examples():
    orig_rc = reference.load("run_classifier")
    processor = orig_rc.MrpcProcessor()
    examples = processor.get_train_examples(glue_dir("MRPC"))[:300]
    ours = [InputExample(e.guid, e.text_a, e.text_b, e.label) for e in examples]
    return ours, examples


def _as_tuple(f):
    return (list(f.input_ids), list(f.input_mask), list(f.segment_ids), f.label_id, bool(f.is_real_example))


@pytest.mark.parametrize("max_seq_length", [16, 48, 128])
def test_pairs_equal_original(tokenizers, mrpc_examples, max_seq_length):
    ours_tok, orig_tok = tokenizers
    ours_ex, orig_ex = mrpc_examples
    orig_rc = reference.load("run_classifier")
    for i, (a, b) in enumerate(zip(ours_ex, orig_ex)):
        mine = features.convert_single_example(i + 10, a, ["0", "1"], max_seq_length, ours_tok)
        theirs = orig_rc.convert_single_example(i + 10, b, ["0", "1"], max_seq_length, orig_tok)
        assert _as_tuple(mine) == _as_tuple(theirs), a.guid


def test_single_texts_equal_original_with_head_truncation(tokenizers):
    ours_tok, orig_tok = tokenizers
    orig_rc = reference.load("run_classifier")
    rows = reference.load("run_classifier").ColaProcessor().get_train_examples(glue_dir("CoLA"))
    for i, e in enumerate(rows[:400]):
        ex = InputExample(e.guid, e.text_a, None, e.label)
        for max_len in (3, 8, 64):
            mine = features.convert_single_example(i + 10, ex, ["0", "1"], max_len, ours_tok)
            theirs = orig_rc.convert_single_example(i + 10, e, ["0", "1"], max_len, orig_tok)
            assert _as_tuple(mine) == _as_tuple(theirs)


def test_layout_of_a_pair(tokenizers):
    tok, _ = tokenizers
    ex = InputExample("g-1", "is this jacksonville ?", "no it is not .", "1")
    f = features.convert_single_example(0, ex, ["0", "1"], 16, tok)
    tokens = tok.convert_ids_to_tokens(f.input_ids[: sum(f.input_mask)])
    assert tokens == ["[CLS]", "is", "this", "jacksonville", "?", "[SEP]", "no", "it", "is", "not", ".", "[SEP]"]
    assert f.segment_ids == [0] * 6 + [1] * 6 + [0] * 4
    assert f.input_mask == [1] * 12 + [0] * 4
    assert f.input_ids[12:] == [0] * 4
    assert f.label_id == 1 and f.is_real_example


def test_truncate_seq_pair_equals_original():
    orig_rc = reference.load("run_classifier")
    rng = random.Random(0)
    for _ in range(500):
        a = list(range(rng.randint(0, 30)))
        b = list(range(100, 100 + rng.randint(0, 30)))
        budget = rng.randint(0, 40)
        a1, b1, a2, b2 = list(a), list(b), list(a), list(b)
        features._truncate_seq_pair(a1, b1, budget)
        orig_rc._truncate_seq_pair(a2, b2, budget)
        assert (a1, b1) == (a2, b2)


def test_truncation_strategies():
    tokens = [f"t{i}" for i in range(1000)]
    assert features.truncate_single(tokens, 510, "head") == tokens[:510]
    assert features.truncate_single(tokens, 510, "tail") == tokens[-510:]
    head_tail = features.truncate_single(tokens, 510, "head_tail")
    # Sun et al. 2019: the first 128 and the last 382 tokens.
    assert head_tail == tokens[:128] + tokens[-382:]
    short = tokens[:5]
    for strategy in features.TRUNCATION_STRATEGIES:
        assert features.truncate_single(short, 10, strategy) == short
        assert len(features.truncate_single(tokens, 1, strategy)) == 1
    with pytest.raises(ValueError, match="unknown truncation strategy 'middle'"):
        features.truncate_single(tokens, 10, "middle")


def test_tail_truncation_keeps_the_end_of_a_review(tokenizers):
    tok, _ = tokenizers
    text = "bad " * 200 + "but the ending was wonderful"
    ex = InputExample("r-1", text, None, "pos")
    f = features.convert_single_example(0, ex, ["neg", "pos"], 12, tok, truncation="tail")
    tokens = tok.convert_ids_to_tokens(f.input_ids)
    assert tokens == ["[CLS]", "bad", "bad", "bad", "bad", "bad", "but", "the", "ending", "was", "wonderful", "[SEP]"]


def test_padding_example_and_labels(tokenizers):
    tok, _ = tokenizers
    f = features.convert_single_example(0, PaddingInputExample(), ["0", "1"], 8, tok)
    assert f.input_ids == [0] * 8 and f.input_mask == [0] * 8 and f.segment_ids == [0] * 8
    assert f.label_id == 0 and f.is_real_example is False
    with pytest.raises(DataError, match="label .maybe. is not one of"):
        features.convert_single_example(0, InputExample("g-7", "x", None, "maybe"), ["0", "1"], 8, tok)
    reg = features.convert_single_example(0, InputExample("s", "x", "y", "3.8"), [], 8, tok)
    assert reg.label_id == pytest.approx(3.8) and isinstance(reg.label_id, float)


def test_tfrecords_are_byte_identical_to_the_original(tmp_path, tokenizers, mrpc_examples):
    ours_tok, orig_tok = tokenizers
    ours_ex, orig_ex = mrpc_examples
    orig_rc = reference.load("run_classifier")
    mine, theirs = str(tmp_path / "ours.tf_record"), str(tmp_path / "orig.tf_record")
    orig_padded = orig_ex[:37] + [orig_rc.PaddingInputExample()] * 3
    ours_padded = ours_ex[:37] + [PaddingInputExample()] * 3
    count = features.file_based_convert_examples_to_features(ours_padded, ["0", "1"], 64, ours_tok, mine)
    orig_rc.file_based_convert_examples_to_features(orig_padded, ["0", "1"], 64, orig_tok, theirs)
    assert count == 40
    with open(mine, "rb") as a, open(theirs, "rb") as b:
        assert a.read() == b.read()
    assert sorted(os.listdir(tmp_path)) == ["orig.tf_record", "ours.tf_record"]  # no temp file left


def test_failed_write_leaves_nothing(tmp_path, tokenizers):
    tok, _ = tokenizers
    examples = [InputExample("a", "good", None, "1"), InputExample("b", "bad", None, "oops")]
    path = str(tmp_path / "train.tf_record")
    with pytest.raises(DataError):
        features.file_based_convert_examples_to_features(examples, ["0", "1"], 16, tok, path)
    assert os.listdir(tmp_path) == []


def test_multi_label_records_fast_equal_faithful_and_parse_as_multi_hot(tmp_path, tokenizers):
    import numpy as np
    import tensorflow.compat.v1 as tf

    from bert_estimator.data import input_pipeline
    from processors import MultiLabelList
    from tests.real_data import movie_snippets

    tok, _ = tokenizers
    labels = MultiLabelList(["amazon", "movies", "nyt", "tweets"])
    rng = random.Random(3)
    texts = movie_snippets()[:60]
    examples = [InputExample(f"train-{i}", t.text, None, tuple(rng.sample(labels, rng.randint(0, 3))))
                for i, t in enumerate(texts)]
    examples += [PaddingInputExample()] * 4
    f = features.convert_single_example(0, examples[1], labels, 32, tok)
    assert f.label_id == [int(name in examples[1].label) for name in labels]
    assert features.convert_single_example(0, PaddingInputExample(), labels, 8, tok).label_id == [0, 0, 0, 0]

    fast, faithful = str(tmp_path / "fast.tf_record"), str(tmp_path / "faithful.tf_record")
    features.file_based_convert_examples_to_features(examples, labels, 32, tok, fast, backend="fast", num_workers=2)
    features.file_based_convert_examples_to_features(examples, labels, 32, tok, faithful, backend="faithful")
    with open(fast, "rb") as a, open(faithful, "rb") as b:
        assert a.read() == b.read()

    input_fn = input_pipeline.file_based_input_fn_builder(fast, 32, is_training=False, drop_remainder=False,
                                                          multi_label_count=len(labels))
    with tf.Graph().as_default():
        batch = tf.data.make_one_shot_iterator(input_fn({"batch_size": 64})).get_next()
        with tf.Session() as sess:
            got = sess.run(batch)
    expected = [[int(name in e.label) for name in labels] for e in examples[:60]] + [[0, 0, 0, 0]] * 4
    np.testing.assert_array_equal(got["label_ids"], expected)
    assert got["label_ids"].shape == (64, 4)
