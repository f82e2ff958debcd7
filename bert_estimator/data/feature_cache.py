"""Reuse of TFRecord files whose inputs are unchanged, and that are still whole.

`cached_convert_examples_to_features` writes a file as
`features.file_based_convert_examples_to_features` does, unless a complete file made
from the same inputs is already there. "The same inputs" is a SHA-256 fingerprint of
everything that determines the records: the examples' text and labels, the vocabulary,
casing, max_seq_length, label list, truncation and the caller's `extra` (e.g. the task).
The backend and the number of workers do not change the records, so they are not part
of it.

"Still whole": the sidecar `<file>.fingerprint` (JSON, written after the records) also
records what was written: the record count, the byte size and a CRC-32 of the records,
computed while writing. Before reuse, the file's size is compared and its record
framing walked (lengths only, no data read: milliseconds for 10k records); a file cut
short, at a record boundary or inside a record, or grown, is rebuilt with a log line.
`verify_records` also checks the CRC (reads the whole file). Damage that happens after
the check shows when training reads the file: `reading_records` turns TensorFlow's
DataLossError into one line naming the file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import struct
import zlib
from typing import Iterable, Iterator, Optional, Sequence

import tensorflow.compat.v1 as tf

from bert_estimator.core import console
from bert_estimator.core.errors import UserError
from bert_estimator.core.fileio import write_atomically
from bert_estimator.data.features import SummarizingWriter, file_based_convert_examples_to_features
from processors.base import MultiLabelList, PaddingInputExample

FINGERPRINT_VERSION = 1
SIDECAR_FORMAT = 2  # 1: the fingerprint alone (no record summary: rebuilt)


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
    if isinstance(label_list, MultiLabelList):  # multi-hot label_ids (a key of its own: other fingerprints unchanged)
        settings["multi_label"] = True
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
    previous = _read_sidecar(sidecar) if tf.io.gfile.exists(output_file) else None
    if previous is None:
        console.show("Building %s (fingerprint %s)", name, fingerprint[:12])
    elif previous.get("fingerprint") != fingerprint:
        console.show("Rebuilding %s: inputs changed (fingerprint %s, was %s)", name, fingerprint[:12],
                     str(previous.get("fingerprint"))[:12])
    elif "records" not in previous:
        console.show("Rebuilding %s: written by an older version, with no record of its size", name)
    else:
        damage = record_damage(output_file, previous)
        if damage is None:
            console.show("Reusing %s: its fingerprint %s matches the inputs (%d records, size checked)",
                         name, fingerprint[:12], previous["records"])
            return True
        tf.logging.warning("%s is damaged (%s): rebuilding", name, damage)
    if tf.io.gfile.exists(sidecar):
        tf.io.gfile.remove(sidecar)
    summary: dict = {}
    file_based_convert_examples_to_features(examples, label_list, max_seq_length, tokenizer, output_file,
                                            truncation, backend=backend, num_workers=num_workers, summary=summary)
    write_atomically(sidecar, json.dumps({"format": SIDECAR_FORMAT, "fingerprint": fingerprint, **summary}) + "\n")
    return False


def _read_sidecar(sidecar: str) -> Optional[dict]:
    """The sidecar's record, or None when there is none or it is of an older format."""
    if not tf.io.gfile.exists(sidecar):
        return None
    with tf.io.gfile.GFile(sidecar) as f:
        text = f.read().strip()
    try:
        record = json.loads(text)
    except ValueError:
        return {"fingerprint": text}  # format 1: the bare fingerprint, no summary to check
    return record if isinstance(record, dict) else None


def _framing(path: str) -> Iterator[tuple[int, int]]:
    """(offset, data length) of each record of a TFRecord file, read from its framing
    only; stops at a frame that does not fit in the file."""
    size = tf.io.gfile.stat(path).length
    # Local files through Python's own buffered file (a seek and an 8-byte read per
    # record cost microseconds); others (gs://...) through gfile.
    opener = open if "://" not in path else tf.io.gfile.GFile
    with opener(path, "rb") as f:
        offset = 0
        while offset + 12 <= size:
            f.seek(offset)
            (length,) = struct.unpack("<Q", f.read(8))
            end = offset + length + SummarizingWriter.FRAMING_BYTES
            if end > size:
                return
            yield offset, length
            offset = end


def record_damage(path: str, summary: dict) -> Optional[str]:
    """None when `path` has the byte size and the record count of `summary` (what the
    writer recorded); else what differs, e.g. "5 of 10 records, 1720 of 3440 bytes"."""
    if "records" not in summary or "bytes" not in summary:
        return "no record of what was written"
    size = tf.io.gfile.stat(path).length
    frames = list(_framing(path))
    whole = sum(length + SummarizingWriter.FRAMING_BYTES for _, length in frames)
    if size == summary["bytes"] and len(frames) == summary["records"] and whole == size:
        return None
    cut = "" if whole == size else f", the last {size - whole} bytes a cut record"
    return f"{len(frames)} of {summary['records']} records, {size} of {summary['bytes']} bytes{cut}"


def verify_records(path: str, summary: dict) -> Optional[str]:
    """`record_damage`, plus the CRC-32 of the records' contents (reads the whole file)."""
    damage = record_damage(path, summary)
    if damage is not None or "crc32" not in summary:
        return damage
    crc = 0
    with tf.io.gfile.GFile(path, "rb") as f:
        for offset, length in _framing(path):
            f.seek(offset)
            crc = zlib.crc32(f.read(8), crc)
            f.seek(offset + 12)
            crc = zlib.crc32(f.read(length), crc)
    return None if crc == summary["crc32"] else "the records' checksum differs"


@contextlib.contextmanager
def reading_records(path: str):
    """Turns a DataLossError (a record file damaged after its check) into one line."""
    try:
        yield
    except tf.errors.DataLossError as e:
        first = (e.message or str(e)).strip().splitlines()[0]
        raise UserError(f"{path} is damaged ({first}): delete it and rerun the same command, which "
                        "rebuilds it from the data") from None
