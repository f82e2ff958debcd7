"""One writer per output directory.

A run takes `<output_dir>/.lock` before it writes anything, holding the host, pid and
start time, created atomically (a hard link, which fails when the lock exists), and
removes it at exit. A second run on the
same directory stops at once, naming the holder. A lock whose pid is gone on this same
host (a run killed with kill -9) is stale: it is taken over, with a log line. Locks
held on another host are never taken over (their pid cannot be checked from here).

Only local directories are locked: object stores (`gs://`) have no atomic create.
"""

from __future__ import annotations

import datetime
import json
import os
import socket

import tensorflow.compat.v1 as tf

from bert_estimator.core.errors import UsageError

LOCK_FILE = ".lock"


class OutputDirLock:
    """`with OutputDirLock(output_dir): ...` holds the directory's lock for the block."""

    def __init__(self, output_dir: str):
        self.output_dir = output_dir
        self.path = os.path.join(output_dir, LOCK_FILE)
        self.held = False

    def __enter__(self) -> OutputDirLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def acquire(self) -> None:
        if "://" in self.output_dir:
            tf.logging.info("Not locking %s: only local directories can be locked", self.output_dir)
            return
        for _ in range(2):  # a second try after taking over a stale lock
            if self._create():
                self.held = True
                return
            holder = self._read_holder()
            if holder is None:
                continue  # released between our create and our read: try again
            if not _is_stale(holder):
                raise UsageError(f"--output_dir {self.output_dir} is in use by pid {holder.get('pid')} on host "
                                 f"{holder.get('host')} since {holder.get('since')} (lock file {self.path})")
            tf.logging.warning("Taking over the lock of %s: pid %s on this host (%s) is gone", self.output_dir,
                               holder.get("pid"), holder.get("host"))
            _remove(self.path)
        raise UsageError(f"--output_dir {self.output_dir}: could not take the lock {self.path}")

    def release(self) -> None:
        if not self.held:
            return
        holder = self._read_holder()
        if holder is not None and holder.get("pid") == os.getpid() and holder.get("host") == socket.gethostname():
            _remove(self.path)
        self.held = False

    def _create(self) -> bool:
        """Creates the lock file, complete with this process's details, in one step (a
        hard link of a finished temporary file); False when it exists."""
        holder = {"host": socket.gethostname(), "pid": os.getpid(),
                  "since": datetime.datetime.now().astimezone().isoformat(timespec="seconds")}
        tmp = f"{self.path}.{os.getpid()}"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(holder, f)
        try:
            os.link(tmp, self.path)
        except FileExistsError:
            return False
        finally:
            os.remove(tmp)
        return True

    def _read_holder(self) -> dict | None:
        try:
            with open(self.path, encoding="utf-8") as f:
                return json.load(f)
        except FileNotFoundError:
            return None
        except (ValueError, OSError):
            # Not ours to judge: a lock we cannot read is reported, never taken over.
            return {"host": "?", "pid": "?", "since": "?"}


def _is_stale(holder: dict) -> bool:
    """True when the holder ran on this host and its process is gone."""
    if holder.get("host") != socket.gethostname():
        return False
    pid = holder.get("pid")
    if not isinstance(pid, int):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, another user's
    return False


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass
