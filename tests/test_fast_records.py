"""`bert_estimator.data.fast_records`: the fast backend writes the very bytes of the faithful
one, on real data.

`file_based_convert_examples_to_features(..., backend="fast")` serializes records
directly, caches word-piece ids per word and converts chunks on forked workers
(`bert_estimator.data.parallel`); every
test here compares whole TFRecord files with `backend="faithful"` (one example at a
time through `InputFeatures` and protobuf) or with the original's TFRecords.
"""

from __future__ import annotations

import math
import os
import random
import struct

import pytest
import tensorflow.compat.v1 as tf

import processors
import tokenization
from bert_estimator.data import fast_records, features
from processors import DataError, InputExample, PaddingInputExample
from tests.real_data import glue_dir, movie_snippets, uncased_vocab
from tests.support import reference

STRATEGIES = features.TRUNCATION_STRATEGIES


# ------------------------------------------------------------------------------ helpers
def write(tmp_path, name, examples, max_seq_length, tokenizer, truncation="head", labels=("0", "1"),
          **kwargs) -> bytes:
    path = str(tmp_path / f"{name}.tf_record")
    count = features.file_based_convert_examples_to_features(
        examples, list(labels), max_seq_length, tokenizer, path, truncation, **kwargs)
    with open(path, "rb") as f:
        data = f.read()
    assert count == len(list(read_records(data)))
    return data


def read_records(data: bytes):
    """The records of a TFRecord file's bytes (framing: u64 length, crc, data, crc)."""
    offset = 0
    while offset < len(data):
        (length,) = struct.unpack_from("<Q", data, offset)
        yield data[offset + 12:offset + 12 + length]
        offset += 12 + length + 4


def assert_same_records(fast: bytes, faithful: bytes, examples) -> None:
    if fast == faithful:
        return
    for i, (a, b) in enumerate(zip(read_records(fast), read_records(faithful))):
        if a != b:
            mine, theirs = tf.train.Example.FromString(a), tf.train.Example.FromString(b)
            pytest.fail(f"record {i} ({examples[i]!r}) differs:\n fast: {mine}\n faithful: {theirs}")
    pytest.fail("the files differ in their number of records")


@pytest.fixture(scope="module")
def vocab():
    return uncased_vocab()


@pytest.fixture(scope="module")
def tokenizer(vocab):
    return tokenization.FullTokenizer(vocab, do_lower_case=True)


@pytest.fixture()
def small_chunks(monkeypatch):
    """Chunks of 7 examples: many chunks per worker, so that ordering is exercised."""
    monkeypatch.setattr(fast_records, "chunk_size", lambda max_seq_length: 7)


def glue(task, split="train", limit=None):
    processor = processors.get_processor(task)
    data_dir = glue_dir(task)  # real sentences in GLUE's layout (tests/real_data.py)
    examples = getattr(processor, f"get_{split}_examples")(data_dir)
    return (examples[:limit] if limit else examples), processor.get_labels()


def snippets():
    """The 10,605 movie-review snippets, labelled by the sign of their rating."""
    return [InputExample(f"snippet-{t.id}", t.text, None, "1" if t.score > 0 else "0") for t in movie_snippets()]


# --------------------------------------------------------------------------- real data
@pytest.mark.parametrize("truncation", STRATEGIES)
@pytest.mark.parametrize("max_seq_length", [5, 16, 128])
def test_single_texts_equal_faithful_on_sst2_and_cola(tmp_path, tokenizer, truncation, max_seq_length):
    for task in ("sst-2", "cola"):
        examples, labels = glue(task, limit=3000)
        faithful = write(tmp_path, "faithful", examples, max_seq_length, tokenizer, truncation, labels,
                         backend="faithful")
        fast = write(tmp_path, "fast", examples, max_seq_length, tokenizer, truncation, labels,
                     backend="fast", num_workers=1)
        assert_same_records(fast, faithful, examples)


@pytest.mark.parametrize("truncation", STRATEGIES)  # pairs are always cut longest-first
@pytest.mark.parametrize("max_seq_length", [3, 4, 9, 32, 128])
def test_pairs_equal_faithful_on_mrpc(tmp_path, tokenizer, truncation, max_seq_length):
    examples, labels = glue("mrpc")
    faithful = write(tmp_path, "faithful", examples, max_seq_length, tokenizer, truncation, labels,
                     backend="faithful")
    fast = write(tmp_path, "fast", examples, max_seq_length, tokenizer, truncation, labels,
                 backend="fast", num_workers=1)
    assert_same_records(fast, faithful, examples)


@pytest.mark.parametrize("truncation", STRATEGIES)
def test_snippets_and_long_documents_on_two_workers(tmp_path, tokenizer, truncation, small_chunks):
    texts = snippets()
    rng = random.Random(0)
    documents = []
    for i in range(300):  # IMDB-length reviews, ~1,300 characters
        parts = []
        while sum(len(p) + 1 for p in parts) < 1300:
            parts.append(texts[rng.randrange(len(texts))].text_a)
        documents.append(InputExample(f"doc-{i}", " ".join(parts), None, str(i % 2)))
    for examples, max_seq_length in ((texts, 128), (texts, 12), (documents, 512), (documents, 64)):
        faithful = write(tmp_path, "faithful", examples, max_seq_length, tokenizer, truncation,
                         backend="faithful")
        fast = write(tmp_path, "fast", examples, max_seq_length, tokenizer, truncation,
                     backend="fast", num_workers=2)
        assert_same_records(fast, faithful, examples)


def test_fast_records_are_byte_identical_to_the_original(tmp_path, vocab, small_chunks):
    """The fast backend on two workers against bert-tensorflow's own TFRecords."""
    if not reference.available():
        pytest.skip("bert-tensorflow reference not installed")
    orig_rc = reference.load("run_classifier")
    orig_tok = reference.load("tokenization").FullTokenizer(vocab, do_lower_case=True)
    ours_tok = tokenization.FullTokenizer(vocab, do_lower_case=True)
    for task, max_seq_length in (("mrpc", 64), ("sst-2", 32)):
        examples, labels = glue(task, limit=700)
        theirs = [orig_rc.InputExample(e.guid, e.text_a, e.text_b, e.label) for e in examples]
        theirs += [orig_rc.PaddingInputExample()] * 3
        ours = examples + [PaddingInputExample()] * 3
        orig_path = str(tmp_path / f"orig-{task}.tf_record")
        orig_rc.file_based_convert_examples_to_features(theirs, labels, max_seq_length, orig_tok, orig_path)
        fast = write(tmp_path, "fast", ours, max_seq_length, ours_tok, labels=labels, backend="fast", num_workers=2)
        with open(orig_path, "rb") as f:
            assert_same_records(fast, f.read(), ours)


# ---------------------------------------------------------------- inputs and tokenizers
# Inputs on which fast tokenizers (e.g. Hugging Face `tokenizers`) are known to differ
# from BERT's: the fast backend uses the faithful tokenizer, so they cannot diverge.
HARD_TEXTS = [
    "ΟΔΟΣ ΣΟΦΟΣ",  # final sigma: Python lower-cases by context
    "private \ue000 use \U000f0000 chars",
    "CJK ext E \U0002b820 and ext B \U00020000 and 中文",
    "literal [SEP] and [CLS] and [UNK] text [MASK]",
    "newer Unicode: \U0001faf6 \U0001fae0 \u0d81 \u08be",
    "control\x00chars\x01here\x7f and \ufffd replacement \u200b zero width \u00ad soft hyphen",
    "combining e\u0301 marks, caf\u00e9, na\u00efve, \u0130stanbul, \u1e9e, \ufb01ne",
    "whitespace\u00a0nbsp\u2028line\u3000ideographic\tab\r\nnew",
    "x" * 199 + " " + "y" * 201,  # max_input_chars_per_word is 200
    "emoji 👍🏽 and arabic مرحبا and thai สวัสดี and korean 안녕하세요",
    "",
    "   ",
]


@pytest.mark.parametrize("do_lower_case", [True, False])
@pytest.mark.parametrize("preserve_unused_tokens", [False, True])
def test_hard_inputs_and_tokenizer_settings(tmp_path, vocab, do_lower_case, preserve_unused_tokens):
    tok = tokenization.FullTokenizer(vocab, do_lower_case=do_lower_case,
                                     preserve_unused_tokens=preserve_unused_tokens)
    texts = HARD_TEXTS + ["[unused5] kept whole [unused99]"]
    # b texts that tokenize to nothing make single-text layouts, as in the original.
    pairs = [(t, None) for t in texts] + [(t, u) for t in texts for u in texts[:4] + ["   ", "\x00\x01"]]
    examples = [InputExample(f"h-{i}", a, b, str(i % 2)) for i, (a, b) in enumerate(pairs)]
    for max_seq_length in (3, 8, 64):
        for truncation in STRATEGIES:
            faithful = write(tmp_path, "faithful", examples, max_seq_length, tok, truncation, backend="faithful")
            fast = write(tmp_path, "fast", examples, max_seq_length, tok, truncation, backend="fast")
            assert_same_records(fast, faithful, examples)


def test_original_tokenizer_and_padding_and_regression(tmp_path, vocab):
    """Another tokenizer class (the original's): features are made faithfully, only their
    serialization is fast. Regression targets are floats, including extreme ones."""
    orig_tok = reference.load("tokenization").FullTokenizer(vocab, do_lower_case=True)
    ours = tokenization.FullTokenizer(vocab, do_lower_case=True)
    examples, _ = glue("mrpc", limit=40)
    scores = [0.0, -0.0, 2.5, 1e-45, 3.4e38, 1e39, -1e39, math.inf, 5.0, 1 / 3, "3.8", 4]
    regression = [InputExample(e.guid, e.text_a, e.text_b, scores[i % len(scores)]) for i, e in enumerate(examples)]
    regression = regression + [PaddingInputExample(), InputExample("unlabeled", "x", None, None)]
    for tok in (orig_tok, ours):
        faithful = write(tmp_path, "faithful", regression, 24, tok, labels=(), backend="faithful")
        fast = write(tmp_path, "fast", regression, 24, tok, labels=(), backend="fast")
        assert_same_records(fast, faithful, regression)


def test_iterables_without_length_stream_through_workers(tmp_path, tokenizer, small_chunks):
    examples, labels = glue("sst-2", limit=500)
    faithful = write(tmp_path, "faithful", examples, 32, tokenizer, labels=labels, backend="faithful")
    fast = write(tmp_path, "fast", (e for e in examples), 32, tokenizer, labels=labels, num_workers=2)
    assert fast == faithful
    assert write(tmp_path, "empty", iter([]), 32, tokenizer, num_workers=2) == b""


# ------------------------------------------------------------------- errors and checks
def test_a_bad_label_in_a_worker_is_raised_and_leaves_nothing(tmp_path, tokenizer, small_chunks):
    examples, labels = glue("sst-2", limit=300)
    examples = examples + [InputExample("bad-1", "fine text", None, "maybe")] + examples[:50]
    path = str(tmp_path / "train.tf_record")
    with pytest.raises(DataError, match="example bad-1: label .maybe. is not one of"):
        features.file_based_convert_examples_to_features(examples, labels, 32, tokenizer, path,
                                                         backend="fast", num_workers=2)
    assert os.listdir(tmp_path) == []
    with pytest.raises(ChildProcessError):  # every worker was reaped
        os.waitpid(-1, os.WNOHANG)


def test_a_difference_in_the_checked_examples_falls_back(tmp_path, tokenizer, monkeypatch, caplog):
    """The first examples are converted both ways; should the fast bytes ever differ
    (e.g. a protobuf that orders fields otherwise), "auto" writes the file faithfully
    and "fast" refuses."""
    examples, labels = glue("sst-2", limit=60)
    faithful = write(tmp_path, "faithful", examples, 32, tokenizer, labels=labels, backend="faithful")
    original = fast_records.RecordEncoder.encode_fields

    def corrupt(self, guid, *fields):
        record = original(self, guid, *fields)
        # flip a bit of the last byte (setting it to 0 would change nothing where it is 0 already)
        return record[:-1] + bytes([record[-1] ^ 1]) if guid == examples[3].guid else record

    monkeypatch.setattr(fast_records.RecordEncoder, "encode_fields", corrupt)
    assert write(tmp_path, "auto", examples, 32, tokenizer, labels=labels) == faithful
    with pytest.raises(RuntimeError, match="example 3 differs from the faithful conversion"):
        write(tmp_path, "fast", examples, 32, tokenizer, labels=labels, backend="fast")
    monkeypatch.setattr(fast_records.RecordEncoder, "encode_fields", original)
    monkeypatch.setattr(fast_records, "record_entry_order", lambda serialize: None)
    assert write(tmp_path, "auto", examples, 32, tokenizer, labels=labels) == faithful
    with pytest.raises(RuntimeError, match="protobuf writes records differently"):
        write(tmp_path, "fast", examples, 32, tokenizer, labels=labels, backend="fast")


def test_the_padding_record_is_checked_too(tmp_path, tokenizer, monkeypatch):
    examples, labels = glue("sst-2", limit=20)
    examples = examples + [PaddingInputExample()] * 4
    faithful = write(tmp_path, "faithful", examples, 16, tokenizer, labels=labels, backend="faithful")
    original = fast_records.RecordEncoder.encode

    def corrupt(self, example):
        record = original(self, example)
        return record + b"\x00" if isinstance(example, PaddingInputExample) else record

    monkeypatch.setattr(fast_records.RecordEncoder, "encode", corrupt)
    assert write(tmp_path, "auto", examples, 16, tokenizer, labels=labels) == faithful
    with pytest.raises(RuntimeError, match="the padding record differs from the faithful conversion"):
        write(tmp_path, "fast", examples, 16, tokenizer, labels=labels, backend="fast")


def test_bad_arguments(tmp_path, tokenizer):
    example = [InputExample("a", "text", None, "0")]
    with pytest.raises(ValueError, match="unknown backend 'rust'"):
        write(tmp_path, "x", example, 8, tokenizer, backend="rust")
    with pytest.raises(ValueError, match="num_workers must be at least 1"):
        write(tmp_path, "x", example, 8, tokenizer, num_workers=0)
    # Invalid settings fail as in the faithful path, whatever the backend.
    for backend in features.BACKENDS:
        with pytest.raises(ValueError, match="max_seq_length must be at least 3"):
            write(tmp_path, "x", example, 2, tokenizer, backend=backend)
        with pytest.raises(ValueError, match="unknown truncation strategy 'middle'"):
            write(tmp_path, "x", example, 8, tokenizer, "middle", backend=backend)
    assert not [name for name in os.listdir(tmp_path) if name.startswith("x")]


# ----------------------------------------------------------------------- the pieces
def test_pair_budget_equals_truncate_seq_pair():
    for len_a in range(0, 14):
        for len_b in range(0, 14):
            for budget in range(0, 30):
                a, b = list(range(len_a)), list(range(len_b))
                features._truncate_seq_pair(a, b, budget)
                assert fast_records._pair_budget(len_a, len_b, budget) == (len(a), len(b))


def test_truncating_varints_equals_truncate_single():
    rng = random.Random(1)
    for length in range(2, 40):
        ids = [rng.choice([0, 5, 127, 128, 300, 16383, 16384, 30521, 2**40]) for _ in range(length)]
        packed = b"".join(fast_records._varint(i) for i in ids)
        for budget in range(1, length):
            for strategy in STRATEGIES:
                expected = features.truncate_single(ids, budget, strategy)
                got = fast_records._truncate_varints(packed, length, *features.kept_head_and_tail(budget, strategy))
                assert got == b"".join(fast_records._varint(i) for i in expected), (length, budget, strategy)
            assert fast_records._varint_prefix(packed, budget) == b"".join(
                fast_records._varint(i) for i in ids[:budget])


def test_varints_and_labels_equal_protobuf():
    for value in [0, 1, 127, 128, 255, 16383, 16384, 2**21, 2**35, 2**63 - 1, -1, -2**63]:
        proto = tf.train.Int64List(value=[value]).SerializeToString()
        assert proto == b"\n" + fast_records._varint(len(fast_records._varint(value))) + \
            fast_records._varint(value)
    for label in [0, 1, 7, 300, 0.0, -0.0, 0.1, 1e-45, 3.4028235e38, 1e39, -1e39, math.inf, -math.inf, math.nan]:
        feature = (tf.train.Feature(float_list=tf.train.FloatList(value=[label])) if isinstance(label, float)
                   else tf.train.Feature(int64_list=tf.train.Int64List(value=[label])))
        expected = tf.train.Features(feature={"label_ids": feature}).SerializeToString()
        assert fast_records._label_entry(label) == expected, label


def test_any_features_serialize_as_protobuf_does(tokenizer):
    """`encode_features` (the fast serialization of features made by another tokenizer)
    on regular and irregular features alike."""
    from bert_estimator.data.input_features import InputFeatures

    assert fast_records.record_entry_order(features._serialize) is not None
    encoder, why = features.fast_encoder(["0", "1"], 8, tokenizer, "head")
    assert why is None
    rng = random.Random(3)
    cases = [
        InputFeatures([101, 7592, 102, 0, 0, 0, 0, 0], [1, 1, 1, 0, 0, 0, 0, 0], [0] * 8, 1, True),
        InputFeatures([101, 7592, 102, 2088, 102, 0, 0, 0], [1] * 5 + [0] * 3, [0, 0, 0, 1, 1, 0, 0, 0], 0, True),
        InputFeatures([0] * 8, [0] * 8, [0] * 8, 0, False),
        InputFeatures([101, 2**40, -5, 102, 7, 0, 0, 9], [1, -1, 1, 1, 0, 0, 0, 0], [0, 1, 0, 1, 0, 0, 0, 0], 2.5, True),
        InputFeatures([1, 2, 3], [1, 1, 1], [0, 0, 0], 0, True),  # not max_seq_length long
    ]
    for _ in range(200):
        length = rng.randint(0, 8)
        cases.append(InputFeatures([rng.randint(0, 40000) for _ in range(length)] + [0] * (8 - length),
                                   [1] * length + [0] * (8 - length),
                                   [rng.randint(0, 1) for _ in range(8)], rng.choice([0, 1, 0.5]),
                                   rng.random() < 0.9))
    for feature in cases:
        expected = features.features_to_tf_example(feature).SerializeToString()
        assert encoder.encode_features(feature) == expected, feature
