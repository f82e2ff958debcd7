"""User errors, and the one place that turns them into a one-line message.

A *user error* is something the user can fix: a flag, a file, a value. Each is a
subclass of `UserError` and its message is one line naming the flag, file or value.
`run_cli` prints such an error as `<prog>: error: <message>` and exits with status 1.
Anything else is a bug: it keeps its traceback, with a line asking for a report.
"""

from __future__ import annotations

import errno
import os
import re
import sys
import traceback
from typing import Callable, Optional

TRACEBACK_ENV = "BERT_TRACEBACK"


class UserError(Exception):
    """A flag, file or value the user must fix; printed as one line, exit status 1."""


class UsageError(UserError, ValueError):
    """A flag or a combination of flags is wrong."""


# What a full disk, a read-only file system or a quota says, as errno and as text
# (TensorFlow's file system errors carry only the text).
_STORAGE_ERRORS = {
    errno.ENOSPC: ("No space left on device", "no space left on device"),
    errno.EROFS: ("Read-only file system", "read-only file system"),
    errno.EDQUOT: ("Disk quota exceeded", "disk quota exceeded"),
}
# A local path or a URL (gs://...), at the start of a word: not the "/SaveV2" of a node
# name "save/SaveV2".
_PATH = re.compile(r"(?<![\w./:-])(?:[a-z][a-z0-9+.-]*:/|/)/?[^\s;,'\"]+")
# Temporary names of a write in progress -> the file being written: TensorFlow's
# checkpoint staging (`model.ckpt-8_temp/part-00000-of-00001.data-...`, and
# `.tempstate123` suffixes), `file_io.atomic_write_string_to_file`'s `.tmp<hex>`
# suffix, and `fileio.temporary_name`'s `.<name>.tmp-<pid>-<hex>`.
_TEMPORARY_NAMES = (
    (re.compile(r"\.tempstate\d+$"), ""),
    (re.compile(r"_temp(?:_[0-9a-f]+)?/part-\d+-of-\d+\.[^/]*$"), ""),
    (re.compile(r"\.tmp[0-9a-f]{32}$"), ""),
    (re.compile(r"/\.([^/]+)\.tmp-\d+-[0-9a-f]+$"), r"/\1"),
)


def _written_file(path: str) -> str:
    """The file a write was producing when it failed on `path` (its temporary name)."""
    for pattern, replacement in _TEMPORARY_NAMES:
        path = pattern.sub(replacement, path)
    return path


def storage_error(error: BaseException) -> Optional[str]:
    """"no space left on device writing <path>" (or read-only, or over quota) when
    `error` is one, from Python or TensorFlow; None otherwise."""
    if isinstance(error, OSError) and error.errno in _STORAGE_ERRORS:
        what = _STORAGE_ERRORS[error.errno][1]
        path = _written_file(os.fsdecode(error.filename)) if error.filename else "a file"
        return f"{what} writing {path}"
    text = getattr(error, "message", None) or str(error)
    for system_text, what in _STORAGE_ERRORS.values():
        if system_text in text:
            # TensorFlow's text: "<path>; No space left on device", after a traceback
            # of where the op was defined: the path on the line of the error first.
            lines = [line for line in text.splitlines() if system_text in line]
            paths = [p for line in lines for p in _PATH.findall(line)] or _PATH.findall(text)
            return f"{what} writing {_written_file(paths[0]) if paths else 'a file'}"
    return None


def run_cli(main: Callable[[], object], prog: str, cleanup: Optional[Callable[[], None]] = None) -> object:
    """Calls `main()`; a `UserError` becomes one line on stderr and exit status 1.

    A full disk, a read-only file system or an exceeded quota is a user error too:
    `cleanup()` (if given) then removes what the failed write left, before the one line.
    Set BERT_TRACEBACK=1 to see the full traceback of a user error too.
    """
    try:
        return main()
    except UserError as e:
        if os.environ.get(TRACEBACK_ENV):
            raise
        print(f"{prog}: error: {e}", file=sys.stderr)
        sys.exit(getattr(e, "exit_code", 1))
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as e:
        message = storage_error(e)
        if message and not os.environ.get(TRACEBACK_ENV):
            if cleanup is not None:
                cleanup()
            print(f"{prog}: error: {message}", file=sys.stderr)
            sys.exit(1)
        traceback.print_exc()
        print(f"{prog}: internal error (a bug, not a problem with your input): please report it with the "
              "traceback above and the command line", file=sys.stderr)
        sys.exit(1)
