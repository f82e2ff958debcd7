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
* A fast backend (the default) writes the very same bytes many times faster: records
  are serialized directly, ids come from a per-word cache, and chunks of examples are
  converted on every CPU core by forked workers (see `_RecordEncoder`). Each file's
  first examples are checked against the faithful conversion;
  `backend="faithful"` keeps the one-example-at-a-time path of the original.
* `cached_convert_examples_to_features` reuses a TFRecord only when a fingerprint of
  everything that made it (the examples' text and labels, the vocabulary, casing,
  max_seq_length, label list, truncation, the task) matches, and rebuilds it otherwise.
"""

from __future__ import annotations

import collections
import hashlib
import itertools
import json
import math
import operator
import os
import pickle
import queue
import signal
import struct
import sys
import threading
import time
from typing import Callable, Iterable, Iterator, Optional, Sequence

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
    return _label_id(example.guid, example.label, label_map)


def _label_id(guid, label, label_map: Optional[dict]) -> int | float:
    """`label_id_for` on the guid and label of an example."""
    if label_map is None:
        return float(label) if label is not None else 0.0
    if label is None:
        return 0
    try:
        return label_map[label]
    except KeyError:
        known = ", ".join(repr(k) for k in label_map)
        raise DataError(f"example {guid}: label {label!r} is not in the label list ({known})") from None


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


# ----------------------------------------------------------------------------------------
# The fast path: the same records, serialized directly, on every core
# ----------------------------------------------------------------------------------------
#
# `features_to_tf_example(...).SerializeToString()` builds an `InputFeatures` of Python
# lists, then four protobuf messages per example; that costs far more than tokenizing a
# sentence. The fast path writes the very same bytes without them:
#
# * The protobuf wire format of a `tf.train.Example` holding five int64 (or float) lists
#   is simple: length-prefixed fields, ints as varints. `input_mask` and
#   `segment_ids` are runs of 0 and 1 whose fields are cached per length, `label_ids`
#   and `is_real_example` per value; only `input_ids` is built per example, from
#   the varint bytes of each word's word pieces, cached per word. The order of the five
#   map entries is the one protobuf itself writes, read off a probe record at start-up.
# * The token count of a text is the number of varint end bytes (< 0x80) in its bytes,
#   so truncation ("head", "tail", "head_tail", and the longest-first cut of pairs) is
#   computed on counts and applied by slicing at varint boundaries.
# * Examples are converted in chunks by this process and `num_workers - 1` forked
#   children (each with a copy of the tokenizer), which read their chunks from a pipe and
#   send back the serialized records; this process writes every record, in input order.
#   Memory stays flat: a bounded number of chunks is in flight.
#
# The first five examples (logged in full, as the original does) are also converted by
# the faithful path and compared byte for byte: a difference switches the file to the
# faithful path (backend "auto") or raises (backend "fast"). The tests compare whole files.

BACKENDS = ("auto", "fast", "faithful")

_CHECKED_EXAMPLES = 5  # logged in full, converted both ways and compared
_PARALLEL_MIN_EXAMPLES = 2000  # below this, forking costs more than it saves
_MAX_WORKERS = 8
_WORD_CACHE_LIMIT = 1 << 17  # words whose id bytes are remembered per conversion
_SEGMENT_CACHE_LIMIT = 1 << 14
_CONTINUATION_BYTES = bytes(range(0x80, 0x100))  # every byte of a varint but its last
_SMALL_BYTES = bytes(range(0x80))  # the one-byte varints


def _varint(value: int) -> bytes:
    """Protobuf varint of an int64 (negative values as their 64-bit two's complement)."""
    value &= (1 << 64) - 1
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


_VARINTS: list[bytes] = []


def _varint_table(size: int) -> list[bytes]:
    """The shared list whose item i is `_varint(i)`, grown to at least `size` items."""
    if len(_VARINTS) < size:
        _VARINTS.extend(_varint(i) for i in range(len(_VARINTS), size))
    return _VARINTS


def _varints(values) -> bytes:
    """Packed varints of a sequence of ints."""
    try:
        data = bytes(values)
    except (TypeError, ValueError):  # an int outside 0..255
        data = None
    if data is not None and not data.translate(None, _SMALL_BYTES):
        return data  # every value below 0x80: one byte each
    table = _VARINTS
    return b"".join([table[v] if 0 <= v < len(table) else _varint(v) for v in values])


def _length_delimited(tag: bytes, payload: bytes) -> bytes:
    return tag + _varint(len(payload)) + payload


def _map_entry(key: str, feature: bytes) -> bytes:
    """One `Features.feature` map entry (field 1 of `Features`) as protobuf writes it."""
    body = _length_delimited(b"\n", key.encode("utf-8")) + _length_delimited(b"\x12", feature)
    return _length_delimited(b"\n", body)


def _int64_entry(key: str, packed: bytes) -> bytes:
    # Feature.int64_list is field 3; Int64List.value (packed) is field 1.
    return _map_entry(key, _length_delimited(b"\x1a", _length_delimited(b"\n", packed)))


def _label_entry(label_id) -> bytes:
    """The `label_ids` entry of `features_to_tf_example` for one label id."""
    if isinstance(label_id, float):
        try:
            # Feature.float_list is field 2; FloatList.value (packed fixed32) field 1.
            return _map_entry("label_ids", _length_delimited(b"\x12", b"\n\x04" + struct.pack("<f", label_id)))
        except OverflowError:  # beyond float32: protobuf's own conversion (to inf)
            feature = tf.train.Feature(float_list=tf.train.FloatList(value=[label_id]))
            return tf.train.Features(feature={"label_ids": feature}).SerializeToString()
    return _int64_entry("label_ids", _varint(int(label_id)))


def _record_entry_order() -> Optional[tuple[int, ...]]:
    """Where protobuf puts each of the five map entries, as indices into
    (input_ids, input_mask, segment_ids, label_ids, is_real_example); None when a
    probe record built here differs from `features_to_tf_example`'s (then the fast
    path is not used)."""
    probe = InputFeatures(input_ids=[101, 7592, 300, 102, 0], input_mask=[1, 1, 1, 1, 0],
                          segment_ids=[0, 0, 1, 1, 0], label_id=3, is_real_example=True)
    expected = features_to_tf_example(probe).SerializeToString()
    entries = [
        _int64_entry("input_ids", _varints(probe.input_ids)),
        _int64_entry("input_mask", _varints(probe.input_mask)),
        _int64_entry("segment_ids", _varints(probe.segment_ids)),
        _label_entry(probe.label_id),
        _int64_entry("is_real_example", b"\x01"),
    ]
    positions = [expected.find(entry) for entry in entries]
    if min(positions) < 0:
        return None
    order = tuple(sorted(range(len(entries)), key=positions.__getitem__))
    body = b"".join(entries[i] for i in order)
    return order if _length_delimited(b"\n", body) == expected else None


class _WordIdBytes(dict):
    """word -> the packed varints of its word-piece ids, filled on demand (bounded)."""

    __slots__ = ("_word_pieces", "_vocab", "_table")

    def __init__(self, tokenizer, table: list[bytes]):
        super().__init__()
        self._word_pieces = tokenizer.wordpiece_tokenizer._word_pieces
        self._vocab = tokenizer.vocab
        self._table = table

    def __missing__(self, word: str) -> bytes:
        vocab, table = self._vocab, self._table
        value = b"".join([table[vocab[piece]] for piece in self._word_pieces(word)])
        if len(self) < _WORD_CACHE_LIMIT:
            self[word] = value
        return value


def _pair_budget(len_a: int, len_b: int, max_length: int) -> tuple[int, int]:
    """How many tokens `_truncate_seq_pair` keeps of each text, from the lengths alone."""
    excess = len_a + len_b - max_length
    if excess <= 0:
        return len_a, len_b
    if len_a > len_b:  # the longer loses tokens first; on a tie, b loses first
        gap = len_a - len_b
        if excess <= gap:
            return len_a - excess, len_b
    else:
        gap = len_b - len_a
        if excess <= gap:
            return len_a, len_b - excess
    shorter = min(len_a, len_b)
    rest = excess - gap
    return shorter - rest // 2, shorter - (rest + 1) // 2


class _RecordEncoder:
    """Converts examples straight to the serialized records of the faithful path.

    `encode(example)` returns the bytes of
    `features_to_tf_example(convert_single_example(...)).SerializeToString()`.
    With our own `tokenization.FullTokenizer` (the usual case) the ids come from a
    per-word cache of varint bytes; with any other tokenizer the faithful
    `convert_single_example` makes the features and only their serialization is fast.
    """

    def __init__(self, label_list, max_seq_length: int, tokenizer, truncation: str, order: tuple[int, ...]):
        # The caller checks max_seq_length >= 3 and the truncation strategy.
        self.label_list = list(label_list)
        self.label_map = {label: i for i, label in enumerate(label_list)} if label_list else None
        self.max_seq_length = max_seq_length
        self.tokenizer = tokenizer
        self.truncation = truncation
        self.order = order
        self._pick = operator.itemgetter(*order)
        # Varints for every length inside a record (ids take at most 10 bytes each).
        self._table = _varint_table(12 * max_seq_length + 256)
        self._padding = [b"\x00" * n for n in range(max_seq_length + 1)]
        self._masks: dict[int, bytes] = {}
        self._segments: dict[tuple[int, int], bytes] = {}
        self._labels: dict[tuple, bytes] = {}
        self._is_real = _int64_entry("is_real_example", b"\x01")
        self._padding_record = features_to_tf_example(_padding_features(max_seq_length)).SerializeToString()
        self._input_ids_key = _length_delimited(b"\n", b"input_ids") + b"\x12"
        self._words: Optional[_WordIdBytes] = None
        if type(tokenizer) is tokenization.FullTokenizer and not tokenizer.preserve_unused_tokens:
            vocab = tokenizer.vocab
            table = _varint_table(max(vocab.values(), default=0) + 1)
            self._table = table if len(table) > len(self._table) else self._table
            self._words = _WordIdBytes(tokenizer, table)
            self._basic = tokenizer.basic_tokenizer.tokenize
            self._cls = table[vocab["[CLS]"]] if "[CLS]" in vocab else None
            self._sep = table[vocab["[SEP]"]] if "[SEP]" in vocab else None
            if self._cls is None or self._sep is None:
                self._words = None  # the faithful path raises the KeyError

    # ------------------------------------------------------------------ entries
    def _mask_entry(self, length: int) -> bytes:
        entry = self._masks.get(length)
        if entry is None:
            packed = b"\x01" * length + self._padding[self.max_seq_length - length]
            entry = self._masks[length] = _int64_entry("input_mask", packed)
        return entry

    def _segment_entry(self, first: int, second: int) -> bytes:
        key = (first, second)
        entry = self._segments.get(key)
        if entry is None:
            packed = b"\x00" * first + b"\x01" * second + self._padding[self.max_seq_length - first - second]
            entry = _int64_entry("segment_ids", packed)
            if len(self._segments) < _SEGMENT_CACHE_LIMIT:
                self._segments[key] = entry
        return entry

    def _label(self, label_id) -> bytes:
        # The sign tells -0.0 from 0.0 (equal as keys, different records).
        key = (type(label_id), label_id, math.copysign(1.0, label_id) if isinstance(label_id, float) else 1.0)
        entry = self._labels.get(key)
        if entry is None:
            entry = _label_entry(label_id)
            if len(self._labels) < _SEGMENT_CACHE_LIMIT:
                self._labels[key] = entry
        return entry

    def _record(self, ids: bytes, length: int, first_segment: int, label_id) -> bytes:
        """A record from the packed varints of `length` real ids (unpadded)."""
        table = self._table
        packed = ids + self._padding[self.max_seq_length - length]
        ids_list = b"\n" + table[len(packed)] + packed
        feature = b"\x1a" + table[len(ids_list)] + ids_list
        body = self._input_ids_key + table[len(feature)] + feature
        entries = (
            b"\n" + table[len(body)] + body,
            self._mask_entry(length),
            self._segment_entry(first_segment, length - first_segment),
            self._label(label_id),
            self._is_real,
        )
        record = b"".join(self._pick(entries))
        return b"\n" + table[len(record)] + record

    # ------------------------------------------------------------------ examples
    def encode(self, example) -> bytes:
        """The serialized record of one `InputExample` or `PaddingInputExample`."""
        if isinstance(example, PaddingInputExample):
            return self._padding_record
        return self.encode_fields(example.guid, example.text_a, example.text_b, example.label)

    def encode_fields(self, guid, text_a, text_b, label) -> bytes:
        if self._words is None:
            example = InputExample(guid, text_a, text_b, label)
            feature = convert_single_example(_CHECKED_EXAMPLES, example, self.label_list, self.max_seq_length,
                                             self.tokenizer, self.truncation)
            return self.encode_features(feature)
        words = self._words.__getitem__
        basic = self._basic
        ids_a = b"".join(map(words, basic(text_a)))
        ids_b = b"".join(map(words, basic(text_b))) if text_b else b""
        label_id = _label_id(guid, label, self.label_map)
        return self.record_from_ids(ids_a, ids_b, label_id)

    def record_from_ids(self, ids_a: bytes, ids_b: bytes, label_id) -> bytes:
        """The record of a (pair of) text(s) given as the packed varints of their
        untruncated word-piece ids: truncation and layout as `convert_single_example`."""
        len_a = len(ids_a.translate(None, _CONTINUATION_BYTES))
        len_b = len(ids_b.translate(None, _CONTINUATION_BYTES)) if ids_b else 0
        if len_b:
            # [CLS] a [SEP] b [SEP]; the pair is cut longest-first to max_seq_length - 3.
            keep_a, keep_b = _pair_budget(len_a, len_b, self.max_seq_length - 3)
            if keep_a < len_a:
                ids_a = _varint_prefix(ids_a, keep_a)
            if not keep_b:  # b lost every token: laid out as a single text (`build_tokens`)
                return self._record(self._cls + ids_a + self._sep, keep_a + 2, keep_a + 2, label_id)
            if keep_b < len_b:
                ids_b = _varint_prefix(ids_b, keep_b)
            ids = self._cls + ids_a + self._sep + ids_b + self._sep
            return self._record(ids, keep_a + keep_b + 3, keep_a + 2, label_id)
        budget = self.max_seq_length - 2
        if len_a > budget:
            ids_a, len_a = _truncate_varints(ids_a, len_a, budget, self.truncation), budget
        return self._record(self._cls + ids_a + self._sep, len_a + 2, len_a + 2, label_id)

    def encode_features(self, feature: InputFeatures) -> bytes:
        """`features_to_tf_example(feature).SerializeToString()`, for any features."""
        ids, mask, segments = list(feature.input_ids), list(feature.input_mask), list(feature.segment_ids)
        size, length = self.max_seq_length, mask.count(1)
        first = segments.index(1) if 1 in segments else length
        if (feature.is_real_example is True and len(ids) == size and not any(ids[length:])
                and mask == [1] * length + [0] * (size - length)
                and segments == [0] * first + [1] * (length - first) + [0] * (size - length)):
            # The layout of convert_single_example: cached mask and segment entries.
            return self._record(_varints(ids[:length]), length, first, feature.label_id)
        entries = (
            _int64_entry("input_ids", _varints(ids)),
            _int64_entry("input_mask", _varints(mask)),
            _int64_entry("segment_ids", _varints(segments)),
            _label_entry(feature.label_id),
            _int64_entry("is_real_example", _varint(int(feature.is_real_example))),
        )
        return _length_delimited(b"\n", b"".join(self._pick(entries)))

    def encode_chunk(self, chunk: list) -> list[bytes]:
        """Records of a chunk of `_example_fields` tuples (None for padding)."""
        padding, encode = self._padding_record, self.encode_fields
        return [padding if fields is None else encode(*fields) for fields in chunk]


def _varint_ends(ids: bytes):
    """Offsets just after each varint of packed `ids`."""
    import numpy as np

    return np.flatnonzero(np.frombuffer(ids, dtype=np.uint8) < 0x80) + 1


def _varint_prefix(ids: bytes, count: int) -> bytes:
    """The first `count` varints of packed `ids`."""
    return ids[:_varint_ends(ids)[count - 1]] if count > 0 else b""


def _truncate_varints(ids: bytes, length: int, budget: int, strategy: str) -> bytes:
    """`truncate_single` on packed varints holding `length` (> budget >= 1) ids."""
    ends = _varint_ends(ids)
    if strategy == "head":
        head, tail = budget, 0
    elif strategy == "tail":
        head, tail = 0, budget
    else:
        head = int(round(budget * _HEAD_TAIL_HEAD_FRACTION))
        tail = budget - head
    kept = ids[:ends[head - 1]] if head > 0 else b""
    if tail > 0:
        kept += ids[ends[length - tail - 1]:]
    return kept


def _example_fields(example):
    """What a worker needs of an example: (guid, text_a, text_b, label), None for padding."""
    if isinstance(example, PaddingInputExample):
        return None
    return (example.guid, example.text_a, example.text_b, example.label)


# ---------------------------------------------------------------------- forked workers
_FRAME_HEADER = struct.Struct("<Q")


def _write_frame(stream, obj) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_FRAME_HEADER.pack(len(data)))
    stream.write(data)
    stream.flush()


def _read_frame(stream):
    header = stream.read(_FRAME_HEADER.size)
    if len(header) < _FRAME_HEADER.size:
        return None  # the other side is gone
    (size,) = _FRAME_HEADER.unpack(header)
    data = stream.read(size)
    if len(data) < size:
        return None
    return pickle.loads(data)


def _portable_error(error: BaseException) -> BaseException:
    """`error` if it survives pickling, else a RuntimeError that names it."""
    try:
        pickle.loads(pickle.dumps(error))
        return error
    except Exception:  # noqa: BLE001 - any unpicklable exception
        return RuntimeError(f"{type(error).__name__}: {error}")


def _grow_pipe(fd: int) -> None:
    """Asks for a 1 MiB pipe buffer (Linux), so that a worker seldom waits on us."""
    try:
        import fcntl

        fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), 1 << 20)
    except (ImportError, OSError):
        pass


def fork_workers_available() -> bool:
    """Whether this platform can run the fast path on forked workers (Linux)."""
    return sys.platform.startswith("linux") and hasattr(os, "fork")


def default_num_workers() -> int:
    """The CPU cores this process may use (at most `_MAX_WORKERS`)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, min(cores, _MAX_WORKERS))


class _ForkedMap:
    """Maps `fn` over chunks on this process and `num_workers - 1` forked children, and
    yields the results in chunk order.

    Chunk i goes to worker i % num_workers (0 is this process). A feeder thread reads the
    chunks and writes them to the children's pipes (or a short local queue); the children
    answer on their own pipes, in their order, so reading them round-robin restores the
    input order. At most a pipe's worth of chunks waits per worker: memory stays flat.
    Children are forked before any thread is started and leave with `os._exit`; on an
    error or early exit, `close()` kills them (SIGKILL, by pid) and reaps them.
    """

    def __init__(self, fn: Callable[[list], list], num_workers: int):
        self.fn = fn
        self.children: list[tuple[int, object, object]] = []  # (pid, to_child, from_child)
        self._local: queue.Queue = queue.Queue(maxsize=2)
        self._stop = threading.Event()
        self._feeder: Optional[threading.Thread] = None
        self._feed_error: Optional[BaseException] = None
        self._finished = False
        try:
            for _ in range(num_workers - 1):
                self._fork()
        except BaseException:
            self.close()
            raise

    def _fork(self) -> None:
        down_read, down_write = os.pipe()
        up_read, up_write = os.pipe()
        _grow_pipe(down_write)
        _grow_pipe(up_write)
        try:
            pid = os.fork()
        except OSError:
            for fd in (down_read, down_write, up_read, up_write):
                os.close(fd)
            raise
        if pid == 0:  # the child: never returns into the caller's code
            code = 1
            try:
                os.close(down_write)
                os.close(up_read)
                for _, to_child, from_child in self.children:  # siblings' pipe ends
                    os.close(to_child.fileno())
                    os.close(from_child.fileno())
                self._serve(os.fdopen(down_read, "rb"), os.fdopen(up_write, "wb"))
                code = 0
            finally:
                os._exit(code)
        os.close(down_read)
        os.close(up_write)
        self.children.append((pid, os.fdopen(down_write, "wb"), os.fdopen(up_read, "rb")))

    def _serve(self, inbox, outbox) -> None:
        while True:
            message = _read_frame(inbox)
            if message is None or message[0] == "end":
                _write_frame(outbox, ("end", None))
                return
            try:
                result = ("ok", self.fn(message[1]))
            except BaseException as error:  # noqa: BLE001 - sent to the parent, which raises it
                _write_frame(outbox, ("error", _portable_error(error)))
                return
            _write_frame(outbox, result)

    # ---------------------------------------------------------------- the parent side
    def _put_local(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._local.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _feed(self, chunks: Iterable[list]) -> None:
        workers = len(self.children) + 1
        try:
            for index, chunk in enumerate(chunks):
                if self._stop.is_set():
                    return
                worker = index % workers
                if worker == 0:
                    if not self._put_local(("chunk", chunk)):
                        return
                else:
                    _write_frame(self.children[worker - 1][1], ("chunk", chunk))
        except BaseException as error:  # noqa: BLE001 - raised again by `map`
            self._feed_error = error
        finally:
            self._put_local(("end", None))
            for _, to_child, _ in self.children:
                try:
                    _write_frame(to_child, ("end", None))
                except (OSError, ValueError):
                    pass  # that child is gone already

    def map(self, chunks: Iterable[list]) -> Iterator[list]:
        """Yields `fn(chunk)` for each chunk, in order."""
        self._feeder = threading.Thread(target=self._feed, args=(chunks,), name="features-feeder", daemon=True)
        self._feeder.start()
        workers = len(self.children) + 1
        for index in itertools.count():
            worker = index % workers
            if worker == 0:
                kind, chunk = self._local.get()
                if kind == "end":
                    break
                yield self.fn(chunk)
            else:
                pid, _, from_child = self.children[worker - 1]
                message = _read_frame(from_child)
                if message is None:
                    raise RuntimeError(f"feature worker {pid} exited unexpectedly")
                kind, payload = message
                if kind == "end":
                    break
                if kind == "error":
                    raise payload
                yield payload
        if self._feed_error is not None:
            raise self._feed_error
        self._finished = True

    def close(self) -> None:
        """Stops the feeder and the children (killed unless `map` ran to its end)."""
        self._stop.set()
        if not self._finished:
            for pid, _, _ in self.children:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        if self._feeder is not None:
            self._feeder.join(timeout=10)
        for pid, to_child, from_child in self.children:
            for stream in (to_child, from_child):
                try:
                    stream.close()
                except OSError:
                    pass
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
        self.children = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _chunks(iterator: Iterator, size: int) -> Iterator[list]:
    """Lists of the `_example_fields` of `size` consecutive examples (the last may be shorter)."""
    while True:
        chunk = [_example_fields(example) for example in itertools.islice(iterator, size)]
        if not chunk:
            return
        yield chunk


def _chunk_size(max_seq_length: int) -> int:
    """Examples per chunk: about 64k tokens, so a chunk's records stay well under 1 MiB."""
    return max(16, min(1024, (1 << 16) // max_seq_length))


def file_based_convert_examples_to_features(
    examples: Iterable,
    label_list: Sequence[str],
    max_seq_length: int,
    tokenizer,
    output_file: str,
    truncation: str = "head",
    *,
    backend: str = "auto",
    num_workers: Optional[int] = None,
) -> int:
    """Writes `examples` as a TFRecord file of serialized `tf.train.Example`s.

    The records are those of `convert_single_example` + `features_to_tf_example`, byte
    for byte, whichever the backend. Examples stream through (memory stays flat in the
    number of examples), and the file appears under its final name only when complete.
    Progress (examples/sec) is logged every few seconds.

    Args:
      examples: iterable of `InputExample` / `PaddingInputExample` (a list, or any
        iterable: it is read once, in order).
      label_list, max_seq_length, tokenizer, truncation: as `convert_single_example`.
      output_file: the TFRecord file to write.
      backend: "faithful" converts one example at a time through `InputFeatures` and
        protobuf (the original's structure); "fast" serializes the records directly
        (see the comment above `_RecordEncoder`) on `num_workers` processes; "auto" (the
        default) is "fast", falling back to "faithful" for the file should its check
        of the first examples ever find a difference ("fast" raises instead).
      num_workers: processes for the fast backend (this one included; the extra ones
        are forked, Linux only). Default: the CPU cores available, or 1 for fewer than
        2,000 examples.

    Returns:
      int, the number of records written.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; use one of {', '.join(BACKENDS)}")
    if num_workers is not None and num_workers < 1:
        raise ValueError(f"num_workers must be at least 1, got {num_workers}")
    total = len(examples) if hasattr(examples, "__len__") else None
    progress = Progress(f"Writing {os.path.basename(output_file)}", total)
    tmp_file = f"{output_file}.tmp-{os.getpid()}"
    count = 0
    try:
        if backend == "faithful":
            records = (
                features_to_tf_example(convert_single_example(
                    ex_index, example, label_list, max_seq_length, tokenizer, truncation)).SerializeToString()
                for ex_index, example in enumerate(examples))
            with tf.io.TFRecordWriter(tmp_file) as writer:
                for record in records:
                    writer.write(record)
                    count += 1
                    progress.update(count)
        else:
            count = _write_fast(examples, label_list, max_seq_length, tokenizer, tmp_file, truncation,
                                backend, num_workers, total, progress)
        tf.io.gfile.rename(tmp_file, output_file, overwrite=True)
    finally:
        if tf.io.gfile.exists(tmp_file):
            tf.io.gfile.remove(tmp_file)
    progress.update(count, force=True)
    return count


def _write_fast(examples, label_list, max_seq_length, tokenizer, tmp_file, truncation, backend,
                num_workers, total, progress) -> int:
    """The fast backend of `file_based_convert_examples_to_features`; returns the count."""
    iterator = iter(examples)
    encoder, why = None, None
    if max_seq_length >= 3 and truncation in TRUNCATION_STRATEGIES:
        order = _record_entry_order()
        if order is None:
            why = "protobuf writes records differently than expected"
        else:
            encoder = _RecordEncoder(label_list, max_seq_length, tokenizer, truncation, order)
    # The first examples: faithful (and logged in full, as the original does), and
    # compared with the fast encoder.
    head, mismatch = [], None
    for ex_index, example in enumerate(itertools.islice(iterator, _CHECKED_EXAMPLES)):
        record = features_to_tf_example(convert_single_example(
            ex_index, example, label_list, max_seq_length, tokenizer, truncation)).SerializeToString()
        if encoder is not None and mismatch is None:
            try:
                if encoder.encode(example) != record:
                    mismatch = ex_index
            except Exception:  # noqa: BLE001 - any failure of the fast path is a mismatch
                mismatch = ex_index
        head.append(record)
    if mismatch is not None:
        why, encoder = f"example {mismatch} differs from the faithful conversion", None
    if why is not None:
        if backend == "fast":
            raise RuntimeError(f"the fast feature backend cannot be used: {why}; use backend='faithful'")
        tf.logging.warning("Fast feature conversion disabled for this file (%s); converting one example "
                           "at a time", why)
        encoder = None

    if num_workers is None:
        small = total is not None and total < _PARALLEL_MIN_EXAMPLES
        num_workers = 1 if small else default_num_workers()
    if not fork_workers_available():
        num_workers = 1
    count = 0
    pool = _ForkedMap(encoder.encode_chunk, num_workers) if encoder is not None and num_workers > 1 else None
    try:
        with tf.io.TFRecordWriter(tmp_file) as writer:
            for record in head:
                writer.write(record)
            count = len(head)
            progress.update(count)
            if encoder is None:
                for ex_index, example in enumerate(iterator, start=count):
                    writer.write(features_to_tf_example(convert_single_example(
                        ex_index, example, label_list, max_seq_length, tokenizer, truncation)).SerializeToString())
                    count += 1
                    progress.update(count)
                return count
            chunks = _chunks(iterator, _chunk_size(max_seq_length))
            results = pool.map(chunks) if pool is not None else map(encoder.encode_chunk, chunks)
            for records in results:
                for record in records:
                    writer.write(record)
                count += len(records)
                progress.update(count)
    finally:
        if pool is not None:
            pool.close()
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
    *,
    backend: str = "auto",
    num_workers: Optional[int] = None,
) -> bool:
    """Writes `output_file` as `file_based_convert_examples_to_features` does, unless a
    complete file made from the same inputs is already there.

    The fingerprint is kept beside the records in `<output_file>.fingerprint`, written
    only after the records are complete. Returns True when the file was reused.
    `backend` and `num_workers` are passed on; they do not change the records, so they
    are not part of the fingerprint.
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
                                            truncation, backend=backend, num_workers=num_workers)
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


def bucket_boundaries(max_seq_length: int) -> list[int]:
    """Length-bucket upper bounds for `bucket_by_length`: steps of 8 tokens up to 64,
    16 up to 128, 32 up to 256, 64 beyond (few buckets, so they fill quickly)."""
    bounds = [*range(16, 64, 8), *range(64, 128, 16), *range(128, 256, 32), *range(256, max_seq_length, 64)]
    return [b for b in bounds if b < max_seq_length]


def trim_batch_to_longest(batch: dict) -> dict:
    """Cuts the [B, S] features of a batch to [B, L], L = its longest real sequence.

    Exact: the positions cut are padding, which the attention mask hides from every
    real token, and the classifier reads position 0 only.
    """
    longest = tf.reduce_max(tf.reduce_sum(batch["input_mask"], axis=1))  # scalar L
    trimmed = dict(batch)
    for name in ("input_ids", "input_mask", "segment_ids"):
        trimmed[name] = batch[name][:, :longest]  # [B, S] -> [B, L]
    return trimmed


def file_based_input_fn_builder(
    input_file: str,
    seq_length: int,
    is_training: bool,
    drop_remainder: bool,
    is_regression: bool = False,
    shuffle_seed: Optional[int] = None,
    bucket_by_length: bool = False,
    shuffle_buffer_size: int = 100,
    num_examples: Optional[int] = None,
):
    """Returns an `input_fn(params)` for TPUEstimator reading `input_file`.

    Training data, two orders:

    * `shuffle_buffer_size > 0` (100 by default): the original's pipeline. The file repeats
      forever and a `shuffle_buffer_size`-record buffer shuffles the stream. With 100, over
      a file sorted by source (CoLA's is) each batch comes from ~100 neighbouring rows.
      A buffer about as large as the file does not give clean epochs either: it draws
      from the next pass before this one is used up, so in one epoch about a quarter of
      the examples are never seen and rows near the top of the file are seen more often
      than rows near the bottom (docs/RESULTS.md).
    * `shuffle_buffer_size == 0`: epochs. Each pass over the `num_examples` records comes
      in a fresh random order, every example exactly once per epoch, as in PyTorch's
      shuffling sampler. Needs `num_examples` (the buffer holds the whole file).

    Eval and predict read once, in order. `params["batch_size"]` is set by TPUEstimator
    (per shard on TPU).

    With `bucket_by_length` (not for TPUs, which need static shapes) every batch is cut
    to its longest member (`trim_batch_to_longest`), and in training the examples
    coming out of the shuffle are grouped by length (`bucket_boundaries`) so that a
    batch holds examples of similar length. Eval and predict keep their order. The
    model computes the same outputs for an example whatever its padding (to float
    rounding); what changes in training is which examples share a batch.
    """
    spec = name_to_features(seq_length, is_regression)
    if is_training and shuffle_buffer_size < 0:
        raise ValueError(f"shuffle_buffer_size must be 0 (epochs) or positive, got {shuffle_buffer_size}")
    if is_training and shuffle_buffer_size == 0 and not num_examples:
        raise ValueError("shuffle_buffer_size=0 (epochs) needs num_examples, the number of records in "
                         f"{input_file}")

    def input_fn(params):
        batch_size = params["batch_size"]
        d = tf.data.TFRecordDataset(input_file)
        if is_training and shuffle_buffer_size == 0:  # epochs, each fully shuffled
            d = d.shuffle(buffer_size=num_examples, seed=shuffle_seed, reshuffle_each_iteration=True)
            d = d.repeat()
        elif is_training:  # the original's stream shuffle
            d = d.repeat()
            d = d.shuffle(buffer_size=shuffle_buffer_size, seed=shuffle_seed)
        d = d.map(lambda record: decode_record(record, spec), num_parallel_calls=tf.data.AUTOTUNE)
        if bucket_by_length and is_training:
            boundaries = bucket_boundaries(seq_length)
            d = d.bucket_by_sequence_length(
                element_length_func=lambda f: tf.reduce_sum(f["input_mask"]),
                bucket_boundaries=boundaries,
                bucket_batch_sizes=[batch_size] * (len(boundaries) + 1),
                drop_remainder=drop_remainder)
        else:
            d = d.batch(batch_size, drop_remainder=drop_remainder)
        if bucket_by_length:
            d = d.map(trim_batch_to_longest, num_parallel_calls=tf.data.AUTOTUNE)
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
