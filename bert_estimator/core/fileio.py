"""Atomic file writes: a reader sees the old file or the whole new one, never half.

Every file this project writes goes through here (and `read_text` reads them back). The data is written to a temporary
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


def gfile():
    """tf.io.gfile (local paths and gs://), imported on first use: importing this module
    (e.g. through `assets`, by `demo.py --help`) does not load TensorFlow."""
    import tensorflow.compat.v1 as tf  # TensorFlow (about 2 s) on first use only

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
    files = gfile()
    tmp = temporary_name(path)
    try:
        yield tmp
        files.rename(tmp, path, overwrite=True)
    finally:
        if files.exists(tmp):
            files.remove(tmp)


def write_atomically(path: str, data: Union[str, bytes]) -> None:
    """Writes `data` (text as UTF-8, or bytes) to `path` atomically."""
    with atomic_path(path) as tmp:
        with gfile().GFile(tmp, "wb" if isinstance(data, bytes) else "w") as f:
            f.write(data)


def read_text(path: Union[str, os.PathLike]) -> str:
    """The whole text of `path`, decoded as UTF-8 (a local path or `gs://`).

    Raises:
      tf.errors.NotFoundError: when `path` does not exist.
    """
    with gfile().GFile(os.fspath(path), "r") as f:
        return f.read()


def is_directory(path: Union[str, os.PathLike]) -> bool:
    """Whether `path` is an existing directory (a local path or `gs://`)."""
    return gfile().isdir(os.fspath(path))
