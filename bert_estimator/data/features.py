"""From `InputExample`s to `InputFeatures` and TFRecord files: the original's path.

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
* multi-label tasks (a `processors.base.MultiLabelList` as the label list, the examples'
  labels tuples): `label_ids` is a multi-hot list of len(label_list) int64s.
* TFRecords are written to a temporary name and renamed (`fileio.atomic_path`), so a
  crash never leaves a half-written file that a later run would take as complete;
  progress is logged with examples/sec.
* A fast backend (the default) writes the very same bytes many times faster: records
  are serialized directly (`fast_records`) and chunks of examples are converted on
  every CPU core (`parallel`). Each file's first examples are checked against the
  faithful conversion; `backend="faithful"` keeps the one-example-at-a-time path of the
  original.

Reusing a file whose inputs are unchanged is `feature_cache`'s job; reading the files
back, `input_pipeline`'s.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import itertools
import os
import struct
import zlib
from typing import Iterable, Iterator, Optional, Sequence

import tensorflow.compat.v1 as tf

import tokenization
from bert_estimator.core.fileio import atomic_path
from bert_estimator.core.progress import Progress
from bert_estimator.data import fast_records, parallel
from bert_estimator.data.input_features import InputFeatures
from processors.base import InputExample, MultiLabelList, PaddingInputExample, example_labels, unknown_label

TRUNCATION_STRATEGIES = ("head", "tail", "head_tail")
# Sun et al. 2019 ("How to Fine-Tune BERT for Text Classification?") keep the first 128
# and the last 382 tokens of a 510-token budget.
_HEAD_TAIL_HEAD_FRACTION = 128 / 510


# ------------------------------------------------------------------------ truncation
def kept_head_and_tail(max_length: int, strategy: str) -> tuple[int, int]:
    """How many tokens `truncate_single` keeps from the start and from the end of a text
    longer than `max_length`.

    Every other implementation of the truncation (the fast records, the in-graph
    tokenizer of the export) takes its split from here, so that all cut alike.

    Args:
      max_length: int, the token budget (max_seq_length - 2).
      strategy: one of `TRUNCATION_STRATEGIES` (not checked here).

    Returns:
      (head, tail): ints, head + tail == max_length; tail 0 for "head", head 0 for "tail".
    """
    if strategy == "head":
        return max_length, 0
    if strategy == "tail":
        return 0, max_length
    head = int(round(max_length * _HEAD_TAIL_HEAD_FRACTION))
    return head, max_length - head


def truncate_single(tokens: list, max_length: int, strategy: str = "head") -> list:
    """Returns `tokens` cut to at most `max_length` tokens by `strategy`.

    Args:
      tokens: list of str, the WordPiece tokens of one text.
      max_length: int, the token budget (max_seq_length - 2 for [CLS] and [SEP]).
      strategy: "head" keeps the first tokens (the original's behaviour), "tail" the
        last, "head_tail" the first ~25% and the last ~75% of the budget.

    Returns:
      list of str, `tokens` itself when it fits, else a new list of `max_length` tokens.
    """
    if strategy not in TRUNCATION_STRATEGIES:
        raise ValueError(
            f"unknown truncation strategy {strategy!r}; use one of {', '.join(TRUNCATION_STRATEGIES)}"
        )
    if len(tokens) <= max_length:
        return tokens
    head, tail = kept_head_and_tail(max_length, strategy)
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


# --------------------------------------------------------------------------- layout
def build_tokens(tokens_a: list, tokens_b: Optional[list]) -> tuple[list, list]:
    """Joins token lists into BERT's layout.

    Single text: `[CLS] a [SEP]`, all segment 0. Pair: `[CLS] a [SEP] b [SEP]`, the
    `b` part and its `[SEP]` in segment 1. The segment (token type) embeddings were
    learned in pre-training; the `[CLS]` vector feeds the classifier.

    Returns:
      (tokens, segment_ids): list of str and list of int (0 or 1), of equal length.
    """
    tokens = ["[CLS]", *tokens_a, "[SEP]"]
    segment_ids = [0] * len(tokens)
    if tokens_b:
        tokens += [*tokens_b, "[SEP]"]
        segment_ids += [1] * (len(tokens_b) + 1)
    return tokens, segment_ids


def label_id_for(example: InputExample, label_map: Optional[dict], multi_label: bool = False) -> int | float | list:
    """The label index of `example` (classification), its float target (regression,
    `label_map` None) or, with `multi_label`, its multi-hot vector (a list of
    len(label_map) int). Unlabeled examples get 0 / 0.0 / all zeros: they are only predicted."""
    return _label_id(example.guid, example.label, label_map, multi_label)


def _label_id(guid: str, label, label_map: Optional[dict], multi_label: bool = False) -> int | float | list:
    """`label_id_for` on the guid and label of an example."""
    if label_map is None:
        return float(label) if label is not None else 0.0
    if multi_label:
        multi_hot = [0] * len(label_map)
        for name in example_labels(label):
            if name not in label_map:
                raise unknown_label(f"example {guid}", name, label_map)
            multi_hot[label_map[name]] = 1
        return multi_hot
    if label is None:
        return 0
    try:
        return label_map[label]
    except KeyError:
        raise unknown_label(f"example {guid}", label, label_map) from None


def _label_map(label_list: Sequence[str]) -> Optional[dict]:
    """label -> class id; None for regression (an empty label list)."""
    return {label: i for i, label in enumerate(label_list)} if label_list else None


def padding_label_id(label_list: Sequence[str]) -> int | list:
    """The label_id of a `PaddingInputExample`: 0, or all zeros for a multi-label task."""
    return [0] * len(label_list) if isinstance(label_list, MultiLabelList) else 0


def _padding_features(max_seq_length: int, label_id: int | list = 0) -> InputFeatures:
    zeros = [0] * max_seq_length
    return InputFeatures(
        input_ids=list(zeros),
        input_mask=list(zeros),
        segment_ids=list(zeros),
        label_id=label_id,
        is_real_example=False,
    )


# ----------------------------------------------------------------------- conversion
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
      label_list: list of str labels (index = class id); empty for regression; a
        `MultiLabelList` for multi-label tasks.
      max_seq_length: int, length every feature is padded or truncated to.
      tokenizer: an object with `tokenize` and `convert_tokens_to_ids`
        (`tokenization.FullTokenizer`).
      truncation: strategy for single texts, see `truncate_single`. Pairs are always
        cut longest-first, as the original.

    Returns:
      `InputFeatures`: input_ids, input_mask, segment_ids, each a list of
      `max_seq_length` int; label_id, int (classification), float (regression) or
      list of len(label_list) int, 1 for each label of the example (multi-label);
      is_real_example, bool (False for a `PaddingInputExample`, whose lists are zeros).
    """
    if isinstance(example, PaddingInputExample):
        return _padding_features(max_seq_length, padding_label_id(label_list))
    if max_seq_length < 3:
        raise ValueError(f"max_seq_length must be at least 3 ([CLS], a token, [SEP]); got {max_seq_length}")

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

    label_id = label_id_for(example, _label_map(label_list), isinstance(label_list, MultiLabelList))
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
    """Serialisable `tf.train.Example` with the original's keys.

    Returns:
      `tf.train.Example` with int64 lists input_ids, input_mask, segment_ids (each of
      max_seq_length), label_ids (one int64, one float for regression, or
      len(label_list) int64 0/1 for multi-label) and
      is_real_example (one int64, 0 or 1).
    """

    def ints(values):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=list(values)))

    record = collections.OrderedDict()
    record["input_ids"] = ints(feature.input_ids)
    record["input_mask"] = ints(feature.input_mask)
    record["segment_ids"] = ints(feature.segment_ids)
    if isinstance(feature.label_id, float):
        record["label_ids"] = tf.train.Feature(float_list=tf.train.FloatList(value=[feature.label_id]))
    elif isinstance(feature.label_id, (list, tuple)):  # multi-label: multi-hot
        record["label_ids"] = ints(feature.label_id)
    else:
        record["label_ids"] = ints([feature.label_id])
    record["is_real_example"] = ints([int(feature.is_real_example)])
    return tf.train.Example(features=tf.train.Features(feature=record))


def _serialize(feature: InputFeatures) -> bytes:
    return features_to_tf_example(feature).SerializeToString()


# --------------------------------------------------------------------------- writing
BACKENDS = ("auto", "fast", "faithful")

_CHECKED_EXAMPLES = 5  # logged in full, converted both ways and compared
_PARALLEL_MIN_EXAMPLES = 2000  # below this, starting workers costs more than it saves


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
    summary: Optional[dict] = None,
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
        (see `fast_records`) on `num_workers` processes; "auto" (the
        default) is "fast", falling back to "faithful" for the file should its check
        of the first examples ever find a difference ("fast" raises instead).
      num_workers: processes for the fast backend (this one included; the extra ones
        are forked, Linux only). Default: the CPU cores available, or 1 for fewer than
        2,000 examples.
      summary: optional dict, filled with what was written, computed while writing:
        "records" (count), "bytes" (the file's size) and "crc32" (zlib CRC-32 over
        each record's 8-byte length and bytes, in order).

    Returns:
      int, the number of records written.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; use one of {', '.join(BACKENDS)}")
    if num_workers is not None and num_workers < 1:
        raise ValueError(f"num_workers must be at least 1, got {num_workers}")
    total = len(examples) if hasattr(examples, "__len__") else None
    progress = Progress(f"Writing {os.path.basename(output_file)}", total)
    faithful = functools.partial(_faithful_records, label_list=label_list, max_seq_length=max_seq_length,
                                 tokenizer=tokenizer, truncation=truncation)
    with atomic_path(output_file) as tmp_file, tf.io.TFRecordWriter(tmp_file) as tf_writer:
        writer = SummarizingWriter(tf_writer)
        if backend == "faithful":
            count = _write(writer, faithful(examples), 0, progress)
        else:
            encoder, why = fast_encoder(label_list, max_seq_length, tokenizer, truncation)
            if num_workers is None:
                small = total is not None and total < _PARALLEL_MIN_EXAMPLES
                num_workers = 1 if small else parallel.default_num_workers()
            count = _write_fast(writer, iter(examples), faithful, encoder, why, backend, num_workers, progress)
    progress.update(count, force=True)
    if summary is not None:
        summary.update(writer.summary())
    return count


class SummarizingWriter:
    """A TFRecord writer that also counts the records and bytes it writes and checksums
    them (for the feature cache's check of a file before reuse)."""

    # Each TFRecord: an 8-byte length, its 4-byte CRC, the data, the data's 4-byte CRC.
    FRAMING_BYTES = 16

    def __init__(self, writer):
        self._writer = writer
        self.records = self.bytes = self.crc32 = 0

    def write(self, record: bytes) -> None:
        self._writer.write(record)
        length = struct.pack("<Q", len(record))
        self.crc32 = zlib.crc32(record, zlib.crc32(length, self.crc32))
        self.records += 1
        self.bytes += len(record) + self.FRAMING_BYTES

    def summary(self) -> dict:
        return {"records": self.records, "bytes": self.bytes, "crc32": self.crc32}


def _faithful_records(examples: Iterable, start: int = 0, *, label_list, max_seq_length, tokenizer,
                      truncation) -> Iterator[list[bytes]]:
    """The serialized records of `examples`, one example at a time (each as a list of
    one record); `start` is the index of the first (the first five are logged)."""
    for ex_index, example in enumerate(examples, start):
        feature = convert_single_example(ex_index, example, label_list, max_seq_length, tokenizer, truncation)
        yield [_serialize(feature)]


def _write(writer, batches: Iterable[list[bytes]], count: int, progress: Progress) -> int:
    """Writes lists of records; returns `count` plus the number written."""
    for records in batches:
        for record in records:
            writer.write(record)
        count += len(records)
        progress.update(count)
    return count


def _write_fast(writer, examples: Iterator, faithful, encoder: Optional[fast_records.RecordEncoder],
                why: Optional[str], backend: str, num_workers: int, progress: Progress) -> int:
    """The fast backend of `file_based_convert_examples_to_features`; returns the count.

    The first examples are converted faithfully (and logged in full, as the original
    does) and compared with the encoder's records; the rest are encoded in chunks on
    `num_workers` processes, or converted faithfully should the encoder be missing
    (`why`) or differ.
    """
    head = list(itertools.islice(examples, _CHECKED_EXAMPLES))
    records = [record for [record] in faithful(head)]
    if encoder is not None:
        why = _check_encoder(encoder, head, records)
    if why is not None:
        if backend == "fast":
            raise RuntimeError(f"the fast feature backend cannot be used: {why}; use backend='faithful'")
        tf.logging.warning("Fast feature conversion disabled for this file (%s); converting one example "
                           "at a time", why)
        encoder = None
    count = _write(writer, [records], 0, progress)
    if encoder is None:
        return _write(writer, faithful(examples, count), count, progress)
    chunks = fast_records.chunks(examples, fast_records.chunk_size(encoder.max_seq_length))
    with contextlib.closing(parallel.ordered_map(encoder.encode_chunk, chunks, num_workers)) as results:
        return _write(writer, results, count, progress)


def fast_encoder(label_list: Sequence[str], max_seq_length: int, tokenizer,
                  truncation: str) -> tuple[Optional[fast_records.RecordEncoder], Optional[str]]:
    """The fast encoder of these settings, or (None, why not): what
    `file_based_convert_examples_to_features` uses (public for the benchmark and tests).

    With an invalid max_seq_length or truncation there is no encoder and no reason:
    the faithful conversion of the first example raises the error.
    """
    if max_seq_length < 3 or truncation not in TRUNCATION_STRATEGIES:
        return None, None
    order = fast_records.record_entry_order(_serialize)
    if order is None:
        return None, "protobuf writes records differently than expected"
    faithful = functools.partial(convert_single_example, _CHECKED_EXAMPLES, label_list=label_list,
                                 max_seq_length=max_seq_length, tokenizer=tokenizer, truncation=truncation)
    encoder = fast_records.RecordEncoder(
        max_seq_length, tokenizer, order, keep=kept_head_and_tail(max_seq_length - 2, truncation),
        label_id=functools.partial(_label_id, label_map=_label_map(label_list),
                                   multi_label=isinstance(label_list, MultiLabelList)),
        convert=faithful, padding_label_id=padding_label_id(label_list))
    return encoder, None


def _check_encoder(encoder: fast_records.RecordEncoder, examples: list, records: list[bytes]) -> Optional[str]:
    """Why the encoder's records differ from the faithful `records` of `examples`
    (and of a padding example), or None when they are equal."""
    padding = _padding_features(encoder.max_seq_length, encoder.padding_label_id)
    if encoder.encode(PaddingInputExample()) != _serialize(padding):
        return "the padding record differs from the faithful conversion"
    for ex_index, (example, record) in enumerate(zip(examples, records)):
        try:
            if encoder.encode(example) != record:
                return f"example {ex_index} differs from the faithful conversion"
        except Exception:  # noqa: BLE001 - any failure of the fast path is a mismatch
            return f"example {ex_index} differs from the faithful conversion"
    return None
