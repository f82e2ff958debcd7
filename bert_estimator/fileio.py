"""Atomic file writes: a reader sees the old file or the whole new one, never half.

Every file this project writes goes through here. The data is written to a temporary
name beside the target (same directory, so the rename stays on one filesystem) and
renamed over it; on any failure the temporary file is removed and the target is left
as it was. Paths go through `tf.io.gfile`, so `gs://` output directories work as they
did in the original.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from typing import Iterator, Union


def _gfile():
    """tf.io.gfile, imported on first use: importing this module (e.g. through
    `assets`, by `demo.py --help`) does not load TensorFlow."""
    import tensorflow.compat.v1 as tf

    return tf.io.gfile


def temporary_name(path: str) -> str:
    """A fresh name beside `path` for staging a write (unique per process and call)."""
    directory, name = os.path.split(path)
    return os.path.join(directory, f".{name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")


@contextlib.contextmanager
def atomic_path(path: str) -> Iterator[str]:
    """Yields a temporary path to write; renames it to `path` when the block succeeds,
    removes it when the block raises.

        with atomic_path(record_file) as tmp:
            with tf.io.TFRecordWriter(tmp) as writer:
                ...
    """
    gfile = _gfile()
    tmp = temporary_name(path)
    try:
        yield tmp
        gfile.rename(tmp, path, overwrite=True)
    finally:
        if gfile.exists(tmp):
            gfile.remove(tmp)


def write_atomically(path: str, data: Union[str, bytes]) -> None:
    """Writes `data` (text as UTF-8, or bytes) to `path` atomically."""
    with atomic_path(path) as tmp:
        with _gfile().GFile(tmp, "wb" if isinstance(data, bytes) else "w") as f:
            f.write(data)
