"""Decoding text files: UTF-8, with or without a byte-order mark, and an error that
names the offending byte and its line.

Python's `utf-8-sig` codec reports error offsets relative to the text after the BOM
(3 bytes early), so the BOM is stripped here and the rest decoded as plain UTF-8,
with offsets into the file as it is.
"""

from __future__ import annotations

import codecs

from bert_estimator.core.errors import UserError

_HINT = "re-encode the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)"


def decode_utf8(raw: bytes, source: str, error_type: type[Exception] = UserError) -> str:
    """`raw` as text, the BOM (if any) removed.

    Raises:
      error_type: "<source> line N: byte 0xXX is not valid UTF-8; re-encode ...", N and
        0xXX those of the first byte that is not UTF-8.
    """
    start = len(codecs.BOM_UTF8) if raw.startswith(codecs.BOM_UTF8) else 0
    try:
        return raw[start:].decode("utf-8")
    except UnicodeDecodeError as e:
        offset = start + e.start
        line = raw.count(b"\n", 0, offset) + 1
        raise error_type(f"{source} line {line}: byte 0x{raw[offset]:02x} is not valid UTF-8; {_HINT}") from None
