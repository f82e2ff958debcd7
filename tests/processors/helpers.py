"""Small helpers for the processor tests."""

from __future__ import annotations

import os


def write(path, text: str, encoding: str = "utf-8", newline: str = "\n") -> str:
    """Writes `text` (with "\\n" line ends turned into `newline`) and returns the path."""
    path = str(path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding=encoding, newline="") as f:
        f.write(text.replace("\n", newline))
    return path


def tsv(rows) -> str:
    """Rows (sequences of str) as TSV text."""
    return "".join("\t".join(row) + "\n" for row in rows)


def as_tuples(examples) -> list[tuple]:
    """(guid, text_a, text_b, label) of each example, ours or the original's."""
    return [(e.guid, e.text_a, e.text_b, e.label) for e in examples]
