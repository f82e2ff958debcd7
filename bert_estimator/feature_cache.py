"""Reuse of TFRecord files whose inputs are unchanged.

`cached_convert_examples_to_features` writes a file as
`features.file_based_convert_examples_to_features` does, unless a complete file made
from the same inputs is already there. "The same inputs" is a SHA-256 fingerprint of
everything that determines the records: the examples' text and labels, the vocabulary,
casing, max_seq_length, label list, truncation and the caller's `extra` (e.g. the task).
The backend and the number of workers do not change the records, so they are not part
of it.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Iterable, Optional, Sequence

import tensorflow.compat.v1 as tf

from bert_estimator.features import file_based_convert_examples_to_features
from bert_estimator.fileio import write_atomically
from processors.base import PaddingInputExample

FINGERPRINT_VERSION = 1


def features_fingerprint(examples: Iterable, label_list: Sequence[str], max_seq_length: int, tokenizer,
                         truncation: str = "head", extra: Optional[dict] = None) -> str:
    """SHA-256 over everything that determines the features of `examples`.

    Args:
      examples: iterable of `InputExample` / `PaddingInputExample` (read once).
      label_list, max_seq_length, tokenizer, truncation: as in
        `features.convert_single_example`; of the tokenizer, its vocabulary and casing.
      extra: dict of anything else the caller wants in the fingerprint (JSON-able).

    Returns:
      str, 64 hex digits.
    """
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
    write_atomically(sidecar, fingerprint + "\n")
    return False
