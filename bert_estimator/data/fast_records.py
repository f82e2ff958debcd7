"""The fast backend: the records of the faithful path, serialized directly.

`features_to_tf_example(...).SerializeToString()` builds an `InputFeatures` of Python
lists, then four protobuf messages per example; that costs far more than tokenizing a
sentence. This module writes the very same bytes without them:

* The protobuf wire format of a `tf.train.Example` holding five int64 (or float) lists
  is simple: length-prefixed fields, ints as varints. `input_mask` and `segment_ids`
  are runs of 0 and 1 whose fields are cached per length, `label_ids` and
  `is_real_example` per value; only `input_ids` is built per example, from the varint
  bytes of each word's word pieces, cached per word. The order of the five map entries
  is the one protobuf itself writes, read off a probe record at start-up
  (`record_entry_order`).
* The token count of a text is the number of varint end bytes (< 0x80) in its bytes,
  so truncation ("head", "tail", "head_tail", and the longest-first cut of pairs) is
  computed on counts and applied by slicing at varint boundaries.
* Examples travel in chunks of `ExampleFields` tuples (`chunks`), which
  `bert_estimator.data.parallel` maps over worker processes; the writer writes every record,
  in input order. Memory stays flat: a bounded number of chunks is in flight.

This module knows nothing of the faithful path: `bert_estimator.data.features` builds the
encoder (`RecordEncoder`) and hands it what defines the records (the label ids, the truncation, the
faithful conversion for tokenizers other than ours). There the first five examples
(logged in full, as the original does) and the padding record are also converted the
faithful way and compared byte for byte: a difference switches the file to the faithful
path (backend "auto") or raises (backend "fast"). The tests compare whole files.
"""

from __future__ import annotations

import itertools
import math
import operator
import struct
from typing import Callable, Iterator, Optional

import numpy as np
import tensorflow.compat.v1 as tf

import tokenization
from bert_estimator.data.input_features import InputFeatures
from processors.base import InputExample, PaddingInputExample

_WORD_CACHE_LIMIT = 1 << 17  # words whose id bytes are remembered per conversion
_SEGMENT_CACHE_LIMIT = 1 << 14
_CONTINUATION_BYTES = bytes(range(0x80, 0x100))  # every byte of a varint but its last
_SMALL_BYTES = bytes(range(0x80))  # the one-byte varints

# (guid, text_a, text_b, label) of an InputExample; None for a PaddingInputExample.
ExampleFields = Optional[tuple]


# --------------------------------------------------------------------------- wire format
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


def varint_table(size: int) -> list[bytes]:
    """The shared list whose item i is the varint encoding of i (`_varint(i)`), grown to at
    least `size` items. Public for bench/bench_data_prep.py, which builds its own records."""
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


def _label_entry(label_id: int | float | list) -> bytes:
    """The `label_ids` entry of `features_to_tf_example` for one label id (or a
    multi-label task's multi-hot list)."""
    if isinstance(label_id, (list, tuple)):
        return _int64_entry("label_ids", _varints(label_id))
    if isinstance(label_id, float):
        try:
            # Feature.float_list is field 2; FloatList.value (packed fixed32) field 1.
            return _map_entry("label_ids", _length_delimited(b"\x12", b"\n\x04" + struct.pack("<f", label_id)))
        except OverflowError:  # beyond float32: protobuf's own conversion (to inf)
            feature = tf.train.Feature(float_list=tf.train.FloatList(value=[label_id]))
            return tf.train.Features(feature={"label_ids": feature}).SerializeToString()
    return _int64_entry("label_ids", _varint(int(label_id)))


def record_entry_order(serialize: Callable[[InputFeatures], bytes]) -> Optional[tuple[int, ...]]:
    """Where protobuf puts each of the five map entries of a record.

    Callers pass the result to `RecordEncoder` as its `order`, and take None as "do not
    use the fast path": protobuf's map order is not part of its API, so it is read off
    a probe record instead of assumed.

    Args:
      serialize: the faithful serialization of `InputFeatures`
        (`features_to_tf_example(f).SerializeToString()`).

    Returns:
      tuple of 5 int, indices into (input_ids, input_mask, segment_ids, label_ids,
      is_real_example) in the order `serialize` writes them; None when a probe record
      built here differs from `serialize`'s (then the fast path is not used).
    """
    probe = InputFeatures(input_ids=[101, 7592, 300, 102, 0], input_mask=[1, 1, 1, 1, 0],
                          segment_ids=[0, 0, 1, 1, 0], label_id=3, is_real_example=True)
    expected = serialize(probe)
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


# ----------------------------------------------------------------------- truncation
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


def _varint_ends(ids: bytes) -> np.ndarray:
    """Offsets just after each varint of packed `ids`: int64 array of shape [num_ids]."""
    return np.flatnonzero(np.frombuffer(ids, dtype=np.uint8) < 0x80) + 1


def _varint_prefix(ids: bytes, count: int) -> bytes:
    """The first `count` varints of packed `ids`."""
    return ids[:_varint_ends(ids)[count - 1]] if count > 0 else b""


def _truncate_varints(ids: bytes, length: int, head: int, tail: int) -> bytes:
    """The first `head` and the last `tail` of the `length` (> head + tail) packed
    varints `ids`: `truncate_single` on ids, given its split of the budget."""
    ends = _varint_ends(ids)
    kept = ids[:ends[head - 1]] if head > 0 else b""
    if tail > 0:
        kept += ids[ends[length - tail - 1]:]
    return kept


# -------------------------------------------------------------------------- encoding
class _WordIdBytes(dict):
    """word -> the packed varints of its word-piece ids, filled on demand (bounded)."""

    __slots__ = ("_word_pieces", "_vocab", "_table")

    def __init__(self, tokenizer: tokenization.FullTokenizer, table: list[bytes]):
        super().__init__()
        self._word_pieces = tokenizer.wordpiece_tokenizer.word_pieces
        self._vocab = tokenizer.vocab
        self._table = table

    def __missing__(self, word: str) -> bytes:
        vocab, table = self._vocab, self._table
        value = b"".join([table[vocab[piece]] for piece in self._word_pieces(word)])
        if len(self) < _WORD_CACHE_LIMIT:
            self[word] = value
        return value


class RecordEncoder:
    """Converts examples straight to the serialized records of the faithful path.

    What callers rely on: `encode(example)` returns the bytes of
    `features_to_tf_example(convert_single_example(...)).SerializeToString()` for the
    settings given here, and `encode_chunk` does the same for a chunk of `chunks`
    (`parallel.ordered_map` runs it in forked workers, which inherit the encoder). Its
    caches never change a record: encoding is repeatable and independent of order.

    With our own `tokenization.FullTokenizer` (the usual case) the ids come from a
    per-word cache of varint bytes; with any other tokenizer `convert` (the faithful
    conversion) makes the features and only their serialization is fast.

    Args:
      max_seq_length: int, at least 3: the length of every record's id lists.
      tokenizer: the tokenizer of the conversion.
      order: the map entry order of `record_entry_order` (not None).
      keep: (int, int), how many tokens single texts over the budget
        (max_seq_length - 2) keep from their start and from their end.
      label_id: (guid, label) -> the int class id, float target or multi-hot list of
        an example; raises for a label outside the label list.
      convert: `InputExample` -> `InputFeatures`, the faithful conversion (not logged).
      padding_label_id: the label_id of padding records (0; all zeros for multi-label).
    """

    def __init__(self, max_seq_length: int, tokenizer, order: tuple[int, ...], *, keep: tuple[int, int],
                 label_id: Callable[[str, object], int | float | list],
                 convert: Callable[[InputExample], InputFeatures], padding_label_id: int | list = 0):
        self.max_seq_length = max_seq_length
        self.tokenizer = tokenizer
        self.order = order
        self._pick = operator.itemgetter(*order)
        self._keep_head, self._keep_tail = keep
        self._label_id = label_id
        self._convert = convert
        # Varints for every length inside a record (ids take at most 10 bytes each).
        self._table = varint_table(12 * max_seq_length + 256)
        self._padding = [b"\x00" * n for n in range(max_seq_length + 1)]
        self._masks: dict[int, bytes] = {}
        self._segments: dict[tuple[int, int], bytes] = {}
        self._labels: dict[tuple, bytes] = {}
        self._is_real = _int64_entry("is_real_example", b"\x01")
        self._input_ids_key = _length_delimited(b"\n", b"input_ids") + b"\x12"
        self._words = self._word_cache(tokenizer)
        zeros = [0] * max_seq_length
        self.padding_label_id = padding_label_id
        self._padding_record = self.encode_features(InputFeatures(zeros, zeros, zeros, padding_label_id, False))

    def _word_cache(self, tokenizer) -> Optional[_WordIdBytes]:
        """The per-word id cache for our own tokenizer, None for any other (or for a
        vocabulary without [CLS] or [SEP]: the faithful path raises the KeyError)."""
        if type(tokenizer) is not tokenization.FullTokenizer or tokenizer.preserve_unused_tokens:
            return None
        vocab = tokenizer.vocab
        if "[CLS]" not in vocab or "[SEP]" not in vocab:
            return None
        table = varint_table(max(vocab.values(), default=0) + 1)
        self._basic = tokenizer.basic_tokenizer.tokenize
        self._cls, self._sep = table[vocab["[CLS]"]], table[vocab["[SEP]"]]
        return _WordIdBytes(tokenizer, table)

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

    def _label(self, label_id: int | float | list) -> bytes:
        if isinstance(label_id, list):  # multi-hot
            key = (list, tuple(label_id), 1.0)
        else:  # the sign tells -0.0 from 0.0 (equal as keys, different records)
            key = (type(label_id), label_id, math.copysign(1.0, label_id) if isinstance(label_id, float) else 1.0)
        entry = self._labels.get(key)
        if entry is None:
            entry = _label_entry(label_id)
            if len(self._labels) < _SEGMENT_CACHE_LIMIT:
                self._labels[key] = entry
        return entry

    def _record(self, ids: bytes, length: int, first_segment: int, label_id: int | float) -> bytes:
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

    def encode_fields(self, guid: str, text_a: str, text_b: Optional[str], label) -> bytes:
        """The serialized record of the `InputExample` with these fields."""
        if self._words is None:
            return self.encode_features(self._convert(InputExample(guid, text_a, text_b, label)))
        words = self._words.__getitem__
        basic = self._basic
        ids_a = b"".join(map(words, basic(text_a)))
        ids_b = b"".join(map(words, basic(text_b))) if text_b else b""
        return self.record_from_ids(ids_a, ids_b, self._label_id(guid, label))

    def record_from_ids(self, ids_a: bytes, ids_b: bytes, label_id: int | float) -> bytes:
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
            ids_a, len_a = _truncate_varints(ids_a, len_a, self._keep_head, self._keep_tail), budget
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

    def encode_chunk(self, chunk: list[ExampleFields]) -> list[bytes]:
        """Records of a chunk of `chunks` (`ExampleFields`, None for padding), in order."""
        padding, encode = self._padding_record, self.encode_fields
        return [padding if fields is None else encode(*fields) for fields in chunk]


# ---------------------------------------------------------------------------- chunks
def _example_fields(example) -> ExampleFields:
    """What a worker needs of an example: (guid, text_a, text_b, label), None for padding."""
    if isinstance(example, PaddingInputExample):
        return None
    return (example.guid, example.text_a, example.text_b, example.label)


def chunks(iterator: Iterator, size: int) -> Iterator[list[ExampleFields]]:
    """Consecutive examples of `iterator`, `size` at a time, as `RecordEncoder.encode_chunk` takes them.

    Args:
      iterator: iterator of `InputExample` / `PaddingInputExample`; read lazily, one
        chunk at a time (the caller's memory stays flat).
      size: int, examples per chunk (`chunk_size`).

    Yields:
      list of `ExampleFields`, (guid, text_a, text_b, label) per example or None for
      padding: plain tuples, cheap to send to worker processes. Every chunk holds
      `size` examples but the last, which may hold fewer; none is empty.
    """
    while True:
        chunk = [_example_fields(example) for example in itertools.islice(iterator, size)]
        if not chunk:
            return
        yield chunk


def chunk_size(max_seq_length: int) -> int:
    """Examples per chunk for records of `max_seq_length` tokens: about 64k tokens (16 to
    1,024 examples), so a chunk's records stay well under 1 MiB. Only speed and memory
    depend on it, never the records."""
    return max(16, min(1024, (1 << 16) // max_seq_length))
