"""From `InputExample`s to model inputs: tokens, `InputFeatures`, TFRecord files, `input_fn`s.

The layout is the original's: `[CLS] a [SEP]` for single texts and `[CLS] a [SEP] b [SEP]`
for pairs, segment ids 0 then 1, a 1/0 input mask, zero padding to `max_seq_length`, and
an `is_real_example` flag that is 0 only for `PaddingInputExample`s. The record keys
(`input_ids`, `input_mask`, `segment_ids`, `label_ids`, `is_real_example`) are the
original's, so TFRecords written by either program can be read by the other.

Additions over the original, all off by default:

* `truncation`: how single texts longer than the budget are cut: "head" (the original:
  keep the start), "tail" (keep the end) or "head_tail" (keep the start and the end, as
  Sun et al. 2019 found best for long reviews: 128 + 382 tokens at max_seq_length 512).
* regression tasks (STS-B): a float `label_ids` and no label map.
* TFRecords are written to a temporary name and renamed, so a crash never leaves a
  half-written file that a later run would take as complete; progress is logged with
  examples/sec.
* `cached_convert_examples_to_features` reuses a TFRecord only when a fingerprint of
  everything that made it (the examples' text and labels, the vocabulary, casing,
  max_seq_length, label list, truncation, the task) matches, and rebuilds it otherwise.
"""

from __future__ import annotations

import collections
import hashlib
import json
import os
import time
from typing import Iterable, Optional, Sequence

import tensorflow.compat.v1 as tf

import tokenization
from processors.base import DataError, InputExample, InputFeatures, PaddingInputExample

TRUNCATION_STRATEGIES = ("head", "tail", "head_tail")
# Sun et al. 2019 ("How to Fine-Tune BERT for Text Classification?") keep the first 128
# and the last 382 tokens of a 510-token budget.
_HEAD_TAIL_HEAD_FRACTION = 128 / 510


def truncate_single(tokens: list, max_length: int, strategy: str = "head") -> list:
    """Returns `tokens` cut to at most `max_length` tokens by `strategy`.

    Args:
      tokens: list of str, the WordPiece tokens of one text.
      max_length: int, the token budget (max_seq_length - 2 for [CLS] and [SEP]).
      strategy: "head" keeps the first tokens (the original's behaviour), "tail" the
        last, "head_tail" the first ~25% and the last ~75% of the budget.
    """
    if strategy not in TRUNCATION_STRATEGIES:
        raise ValueError(
            f"unknown truncation strategy {strategy!r}; use one of {', '.join(TRUNCATION_STRATEGIES)}"
        )
    if len(tokens) <= max_length:
        return tokens
    if strategy == "head":
        return tokens[:max_length]
    if strategy == "tail":
        return tokens[len(tokens) - max_length:] if max_length > 0 else []
    head = int(round(max_length * _HEAD_TAIL_HEAD_FRACTION))
    tail = max_length - head
    return tokens[:head] + (tokens[len(tokens) - tail:] if tail > 0 else [])


def _truncate_seq_pair(tokens_a: list, tokens_b: list, max_length: int) -> None:
    """Shortens a pair of token lists in place until their total length is `max_length`.

    One token at a time is dropped from the end of whichever list is longer (from
    `tokens_b` on a tie): a short text loses nothing while the other is longer, since
    each of its tokens probably carries more information.
    """
    while len(tokens_a) + len(tokens_b) > max_length:
        if len(tokens_a) > len(tokens_b):
            tokens_a.pop()
        else:
            tokens_b.pop()


def _padding_features(max_seq_length: int) -> InputFeatures:
    zeros = [0] * max_seq_length
    return InputFeatures(
        input_ids=list(zeros),
        input_mask=list(zeros),
        segment_ids=list(zeros),
        label_id=0,
        is_real_example=False,
    )


def label_id_for(example: InputExample, label_map: Optional[dict]) -> int | float:
    """The label index of `example` (classification) or its float target (regression,
    `label_map` None). Unlabeled examples get 0 / 0.0: they are only predicted."""
    if label_map is None:
        return float(example.label) if example.label is not None else 0.0
    if example.label is None:
        return 0
    try:
        return label_map[example.label]
    except KeyError:
        known = ", ".join(repr(k) for k in label_map)
        raise DataError(
            f"example {example.guid}: label {example.label!r} is not in the label list ({known})"
        ) from None


def build_tokens(tokens_a: list, tokens_b: Optional[list]) -> tuple[list, list]:
    """Joins token lists into BERT's layout and returns (tokens, segment_ids).

    Single text: `[CLS] a [SEP]`, all segment 0. Pair: `[CLS] a [SEP] b [SEP]`, the
    `b` part and its `[SEP]` in segment 1. The segment (token type) embeddings were
    learned in pre-training; the `[CLS]` vector feeds the classifier.
    """
    tokens = ["[CLS]", *tokens_a, "[SEP]"]
    segment_ids = [0] * len(tokens)
    if tokens_b:
        tokens += [*tokens_b, "[SEP]"]
        segment_ids += [1] * (len(tokens_b) + 1)
    return tokens, segment_ids


def convert_single_example(
    ex_index: int,
    example,
    label_list: Sequence[str],
    max_seq_length: int,
    tokenizer,
    truncation: str = "head",
) -> InputFeatures:
    """Converts one `InputExample` (or `PaddingInputExample`) to `InputFeatures`.

    Args:
      ex_index: int, position of the example; the first five are logged in full.
      example: `InputExample` or `PaddingInputExample`.
      label_list: list of str labels (index = class id); empty for regression.
      max_seq_length: int, length every feature is padded or truncated to.
      tokenizer: an object with `tokenize` and `convert_tokens_to_ids`
        (`tokenization.FullTokenizer`).
      truncation: strategy for single texts, see `truncate_single`. Pairs are always
        cut longest-first, as the original.
    """
    if isinstance(example, PaddingInputExample):
        return _padding_features(max_seq_length)
    if max_seq_length < 3:
        raise ValueError(f"max_seq_length must be at least 3 ([CLS], a token, [SEP]); got {max_seq_length}")

    label_map = {label: i for i, label in enumerate(label_list)} if label_list else None

    tokens_a = tokenizer.tokenize(example.text_a)
    tokens_b = tokenizer.tokenize(example.text_b) if example.text_b else None
    if tokens_b:
        # Budget: max_seq_length minus [CLS], [SEP], [SEP].
        _truncate_seq_pair(tokens_a, tokens_b, max_seq_length - 3)
    else:
        # Budget: max_seq_length minus [CLS], [SEP].
        tokens_a = truncate_single(tokens_a, max_seq_length - 2, truncation)

    tokens, segment_ids = build_tokens(tokens_a, tokens_b)
    input_ids = tokenizer.convert_tokens_to_ids(tokens)
    input_mask = [1] * len(input_ids)
    padding = max_seq_length - len(input_ids)
    input_ids += [0] * padding
    input_mask += [0] * padding
    segment_ids += [0] * padding

    label_id = label_id_for(example, label_map)
    if ex_index < 5:
        tf.logging.info("*** Example ***")
        tf.logging.info("guid: %s", example.guid)
        tf.logging.info("tokens: %s", " ".join(tokenization.printable_text(t) for t in tokens))
        tf.logging.info("input_ids: %s", " ".join(str(x) for x in input_ids))
        tf.logging.info("input_mask: %s", " ".join(str(x) for x in input_mask))
        tf.logging.info("segment_ids: %s", " ".join(str(x) for x in segment_ids))
        tf.logging.info("label: %s (id = %s)", example.label, label_id)

    return InputFeatures(
        input_ids=input_ids,
        input_mask=input_mask,
        segment_ids=segment_ids,
        label_id=label_id,
        is_real_example=True,
    )


def convert_examples_to_features(
    examples, label_list, max_seq_length, tokenizer, truncation: str = "head"
) -> list[InputFeatures]:
    """Converts a list of examples to a list of `InputFeatures` (kept in memory: for
    small sets and callers of the original API; training uses TFRecord files)."""
    return [
        convert_single_example(i, ex, label_list, max_seq_length, tokenizer, truncation)
        for i, ex in enumerate(examples)
    ]


def features_to_tf_example(feature: InputFeatures) -> tf.train.Example:
    """Serialisable `tf.train.Example` with the original's keys."""

    def ints(values):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=list(values)))

    record = collections.OrderedDict()
    record["input_ids"] = ints(feature.input_ids)
    record["input_mask"] = ints(feature.input_mask)
    record["segment_ids"] = ints(feature.segment_ids)
    if isinstance(feature.label_id, float):
        record["label_ids"] = tf.train.Feature(float_list=tf.train.FloatList(value=[feature.label_id]))
    else:
        record["label_ids"] = ints([feature.label_id])
    record["is_real_example"] = ints([int(feature.is_real_example)])
    return tf.train.Example(features=tf.train.Features(feature=record))


class Progress:
    """Logs `done/total`, examples/sec and an ETA at most every `every_seconds`."""

    def __init__(self, what: str, total: Optional[int], every_seconds: float = 5.0):
        self.what, self.total, self.every = what, total, every_seconds
        self.start = self.last = time.time()

    def update(self, done: int, force: bool = False) -> None:
        now = time.time()
        if not force and now - self.last < self.every:
            return
        self.last = now
        rate = done / max(now - self.start, 1e-9)
        if self.total:
            eta = (self.total - done) / rate if rate > 0 else float("inf")
            tf.logging.info("%s: %d/%d examples (%.0f examples/sec, ETA %.0fs)",
                            self.what, done, self.total, rate, eta)
        else:
            tf.logging.info("%s: %d examples (%.0f examples/sec)", self.what, done, rate)


def file_based_convert_examples_to_features(
    examples: Iterable,
    label_list: Sequence[str],
    max_seq_length: int,
    tokenizer,
    output_file: str,
    truncation: str = "head",
) -> int:
    """Writes `examples` as a TFRecord file of serialized `tf.train.Example`s.

    Examples are converted and written one at a time (memory stays flat in the number
    of examples). The file appears under its final name only when complete.

    Returns:
      int, the number of records written.
    """
    total = len(examples) if hasattr(examples, "__len__") else None
    progress = Progress(f"Writing {os.path.basename(output_file)}", total)
    tmp_file = f"{output_file}.tmp-{os.getpid()}"
    count = 0
    try:
        with tf.io.TFRecordWriter(tmp_file) as writer:
            for ex_index, example in enumerate(examples):
                feature = convert_single_example(
                    ex_index, example, label_list, max_seq_length, tokenizer, truncation)
                writer.write(features_to_tf_example(feature).SerializeToString())
                count += 1
                progress.update(count)
        tf.io.gfile.rename(tmp_file, output_file, overwrite=True)
    finally:
        if tf.io.gfile.exists(tmp_file):
            tf.io.gfile.remove(tmp_file)
    progress.update(count, force=True)
    return count


FINGERPRINT_VERSION = 1


def features_fingerprint(examples: Iterable, label_list: Sequence[str], max_seq_length: int, tokenizer,
                         truncation: str = "head", extra: Optional[dict] = None) -> str:
    """SHA-256 over everything that determines the features of `examples`."""
    digest = hashlib.sha256()
    vocab = getattr(tokenizer, "vocab", {})
    digest.update(hashlib.sha256("\n".join(vocab).encode("utf-8")).digest())
    basic = getattr(tokenizer, "basic_tokenizer", None)
    settings = {
        "version": FINGERPRINT_VERSION,
        "do_lower_case": getattr(basic, "do_lower_case", None),
        "max_seq_length": max_seq_length,
        "label_list": list(label_list),
        "truncation": truncation,
        "extra": extra or {},
    }
    digest.update(json.dumps(settings, sort_keys=True).encode("utf-8"))
    for example in examples:
        if isinstance(example, PaddingInputExample):
            digest.update(b"\x00padding")
        else:
            row = [example.guid, example.text_a, example.text_b, example.label]
            digest.update(json.dumps(row, ensure_ascii=False).encode("utf-8"))
    return digest.hexdigest()


def cached_convert_examples_to_features(
    examples: Sequence,
    label_list: Sequence[str],
    max_seq_length: int,
    tokenizer,
    output_file: str,
    truncation: str = "head",
    extra_fingerprint: Optional[dict] = None,
) -> bool:
    """Writes `output_file` as `file_based_convert_examples_to_features` does, unless a
    complete file made from the same inputs is already there.

    The fingerprint is kept beside the records in `<output_file>.fingerprint`, written
    only after the records are complete. Returns True when the file was reused.
    """
    fingerprint = features_fingerprint(examples, label_list, max_seq_length, tokenizer, truncation,
                                       extra_fingerprint)
    sidecar = f"{output_file}.fingerprint"
    name = os.path.basename(output_file)
    if tf.io.gfile.exists(output_file) and tf.io.gfile.exists(sidecar):
        with tf.io.gfile.GFile(sidecar) as f:
            previous = f.read().strip()
        if previous == fingerprint:
            tf.logging.info("Reusing %s: its fingerprint %s matches the inputs", name, fingerprint[:12])
            return True
        tf.logging.info("Rebuilding %s: inputs changed (fingerprint %s, was %s)", name, fingerprint[:12],
                        previous[:12])
    else:
        tf.logging.info("Building %s (fingerprint %s)", name, fingerprint[:12])
    if tf.io.gfile.exists(sidecar):
        tf.io.gfile.remove(sidecar)
    file_based_convert_examples_to_features(examples, label_list, max_seq_length, tokenizer, output_file,
                                            truncation)
    tmp = f"{sidecar}.tmp-{os.getpid()}"
    with tf.io.gfile.GFile(tmp, "w") as f:
        f.write(fingerprint + "\n")
    tf.io.gfile.rename(tmp, sidecar, overwrite=True)
    return False


def name_to_features(seq_length: int, is_regression: bool = False) -> dict:
    """The parsing spec of the TFRecords written above."""
    return {
        "input_ids": tf.io.FixedLenFeature([seq_length], tf.int64),
        "input_mask": tf.io.FixedLenFeature([seq_length], tf.int64),
        "segment_ids": tf.io.FixedLenFeature([seq_length], tf.int64),
        "label_ids": tf.io.FixedLenFeature([], tf.float32 if is_regression else tf.int64),
        "is_real_example": tf.io.FixedLenFeature([], tf.int64),
    }


def decode_record(record, spec: dict) -> dict:
    """Parses one record; int64 becomes int32 (TPUs have no int64)."""
    example = tf.io.parse_single_example(record, spec)
    return {name: tf.cast(t, tf.int32) if t.dtype == tf.int64 else t for name, t in example.items()}


def file_based_input_fn_builder(
    input_file: str,
    seq_length: int,
    is_training: bool,
    drop_remainder: bool,
    is_regression: bool = False,
    shuffle_seed: Optional[int] = None,
):
    """Returns an `input_fn(params)` for TPUEstimator reading `input_file`.

    Training repeats forever and shuffles with a 100-record buffer, as the original;
    eval and predict read once, in order. `params["batch_size"]` is set by
    TPUEstimator (per shard on TPU).
    """
    spec = name_to_features(seq_length, is_regression)

    def input_fn(params):
        batch_size = params["batch_size"]
        d = tf.data.TFRecordDataset(input_file)
        if is_training:
            d = d.repeat()
            d = d.shuffle(buffer_size=100, seed=shuffle_seed)
        d = d.map(lambda record: decode_record(record, spec), num_parallel_calls=tf.data.AUTOTUNE)
        d = d.batch(batch_size, drop_remainder=drop_remainder)
        return d.prefetch(tf.data.AUTOTUNE)

    return input_fn


def input_fn_builder(features: Sequence[InputFeatures], seq_length: int, is_training: bool,
                     drop_remainder: bool):
    """Returns an `input_fn` over in-memory `InputFeatures` (small sets; no
    `is_real_example`, as the original). Prefer the file-based builder for real data."""
    columns = {
        "input_ids": [f.input_ids for f in features],
        "input_mask": [f.input_mask for f in features],
        "segment_ids": [f.segment_ids for f in features],
        "label_ids": [f.label_id for f in features],
    }
    num_examples = len(features)
    label_dtype = tf.float32 if features and isinstance(features[0].label_id, float) else tf.int32

    def input_fn(params):
        batch_size = params["batch_size"]
        d = tf.data.Dataset.from_tensor_slices({
            # [num_examples, seq_length]
            "input_ids": tf.constant(columns["input_ids"], shape=[num_examples, seq_length], dtype=tf.int32),
            "input_mask": tf.constant(columns["input_mask"], shape=[num_examples, seq_length], dtype=tf.int32),
            "segment_ids": tf.constant(columns["segment_ids"], shape=[num_examples, seq_length], dtype=tf.int32),
            # [num_examples]
            "label_ids": tf.constant(columns["label_ids"], shape=[num_examples], dtype=label_dtype),
        })
        if is_training:
            d = d.repeat()
            d = d.shuffle(buffer_size=100)
        return d.batch(batch_size, drop_remainder=drop_remainder)

    return input_fn


def pad_to_batch_multiple(examples: list, batch_size: int) -> list:
    """Appends `PaddingInputExample`s until len(examples) is a multiple of `batch_size`
    (TPUs need every batch full; padding gets weight 0 in metrics and is not written)."""
    padded = list(examples)
    while len(padded) % batch_size != 0:
        padded.append(PaddingInputExample())
    return padded
