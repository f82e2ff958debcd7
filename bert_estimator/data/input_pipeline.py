"""tf.data `input_fn`s over the features: TFRecord files for training, eval and
prediction, or in-memory `InputFeatures` for small sets.

Every `input_fn(params)` yields batches of int32 tensors (TPUs have no int64):
input_ids, input_mask and segment_ids of shape [batch_size, seq_length] (shorter with
`bucket_by_length`: cut to the longest example of the batch) and label_ids of shape
[batch_size] (float32 for regression; [batch_size, num_labels] multi-hot for
multi-label tasks); the file-based ones also is_real_example
[batch_size], 0 for padding examples.
"""

from __future__ import annotations

from typing import Optional, Sequence

import tensorflow.compat.v1 as tf

from bert_estimator.data.input_features import InputFeatures
from processors.base import PaddingInputExample


def name_to_features(seq_length: int, is_regression: bool = False, multi_label_count: int = 0) -> dict:
    """The parsing spec of the TFRecords of `features.file_based_convert_examples_to_features`.

    Args:
      seq_length: int, the max_seq_length the records were written with.
      is_regression: bool, whether label_ids is a float (regression) or an int64.
      multi_label_count: int, the number of labels of a multi-label task (label_ids
        multi-hot, of that length); 0 for the others (one label id).

    Returns:
      dict of `tf.io.FixedLenFeature`: input_ids, input_mask, segment_ids int64
      [seq_length]; label_ids int64 or float32 [] (int64 [multi_label_count] for
      multi-label); is_real_example int64 [].
    """
    label_shape = [multi_label_count] if multi_label_count else []
    return {
        "input_ids": tf.io.FixedLenFeature([seq_length], tf.int64),
        "input_mask": tf.io.FixedLenFeature([seq_length], tf.int64),
        "segment_ids": tf.io.FixedLenFeature([seq_length], tf.int64),
        "label_ids": tf.io.FixedLenFeature(label_shape, tf.float32 if is_regression else tf.int64),
        "is_real_example": tf.io.FixedLenFeature([], tf.int64),
    }


def decode_record(record, spec: dict) -> dict:
    """Parses one record; int64 becomes int32 (TPUs have no int64).

    Args:
      record: scalar string tensor, one serialized `tf.train.Example`.
      spec: the parsing spec of `name_to_features`.

    Returns:
      dict of tensors: input_ids, input_mask, segment_ids int32 [seq_length];
      label_ids int32 or float32 []; is_real_example int32 [].
    """
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
    multi_label_count: int = 0,
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

    `multi_label_count`: the label count of a multi-label task, whose label_ids are
    multi-hot ([batch_size, multi_label_count]); 0 for the others.
    """
    spec = name_to_features(seq_length, is_regression, multi_label_count)
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
    # [num_examples], or [num_examples, num_labels] for multi-hot labels
    label_shape = [num_examples, *([len(features[0].label_id)] if features and isinstance(
        features[0].label_id, (list, tuple)) else [])]

    def input_fn(params):
        batch_size = params["batch_size"]
        d = tf.data.Dataset.from_tensor_slices({
            # [num_examples, seq_length]
            "input_ids": tf.constant(columns["input_ids"], shape=[num_examples, seq_length], dtype=tf.int32),
            "input_mask": tf.constant(columns["input_mask"], shape=[num_examples, seq_length], dtype=tf.int32),
            "segment_ids": tf.constant(columns["segment_ids"], shape=[num_examples, seq_length], dtype=tf.int32),
            # [num_examples]
            "label_ids": tf.constant(columns["label_ids"], shape=label_shape, dtype=label_dtype),
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
