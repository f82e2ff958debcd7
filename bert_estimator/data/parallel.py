"""An ordered parallel map over processes, with a bounded window: memory stays flat.

    with contextlib.closing(ordered_map(encode_chunk, chunks, num_workers)) as results:
        for records in results:  # encode_chunk(chunk) for each chunk, in input order
            ...

`ordered_map` runs on the standard library's `concurrent.futures.ProcessPoolExecutor`
with the fork start method: the workers are forked copies of this process, so `fn`
(e.g. an encoder holding a tokenizer) is inherited rather than pickled; items and
results are pickled. This process takes its share of the items too (every
`num_workers`-th), computed when its result is due, while the workers run the next
ones. At most `window` items are taken from `items` ahead of the result being
yielded, so memory stays flat whatever the number of items (a generator is read
lazily).

A worker's exception is raised again here, with the worker's traceback as its cause; a
worker that dies (e.g. killed by the OOM killer) raises `BrokenProcessPool` instead
of hanging. On any exception here (KeyboardInterrupt included), or when the caller
closes the generator early, the items not yet sent are dropped, the workers finish the
one at hand (a chunk: a fraction of a second) and exit, and are reaped. The workers
ignore SIGINT: Ctrl-C stops the parent alone, which then stops them. Where fork is not
available (not Linux), or for one process, the map runs sequentially in this process.
"""

from __future__ import annotations

import collections
import multiprocessing
import os
import pickle
import signal
import sys
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Callable, Iterable, Iterator, Optional, TypeVar, Union

T = TypeVar("T")
R = TypeVar("R")

_MAX_WORKERS = 8
_WINDOW_PER_WORKER = 2  # items in flight per process: one being worked on, one queued


def fork_workers_available() -> bool:
    """Whether this platform can run `ordered_map` on forked workers (Linux)."""
    return sys.platform.startswith("linux") and "fork" in multiprocessing.get_all_start_methods()


def default_num_workers() -> int:
    """The CPU cores this process may use (at most `_MAX_WORKERS`)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, min(cores, _MAX_WORKERS))


# The function of the map, in a worker: set by `_start_worker` when the pool forks it.
_worker_fn: Optional[Callable] = None


def _start_worker(fn: Callable) -> None:
    global _worker_fn
    _worker_fn = fn
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle


def _call(item):
    try:
        return _worker_fn(item)
    except Exception as error:
        portable = _portable(error)
        if portable is error:
            raise
        raise portable from error


def _portable(error: Exception) -> Exception:
    """`error` if it survives pickling (on its way to the parent), else a RuntimeError
    that names it."""
    try:
        pickle.loads(pickle.dumps(error))
        return error
    except Exception:  # noqa: BLE001 - any unpicklable exception
        return RuntimeError(f"{type(error).__name__}: {error}")


class _Local:
    """An item this process maps itself, when its result is next due."""

    __slots__ = ("item",)

    def __init__(self, item):
        self.item = item


def ordered_map(fn: Callable[[T], R], items: Iterable[T], num_workers: int,
                window: Optional[int] = None) -> Iterator[R]:
    """Yields `fn(item)` for each of `items`, in input order, on `num_workers` processes.

    Args:
      fn: the function to map; what it raises in a worker is raised here.
      items: iterable of items, read lazily: at most `window` ahead of the results.
      num_workers: int, processes to use, this one included; 1 (or no fork on this
        platform) maps sequentially in this process.
      window: int, the most items taken from `items` whose result has not been yielded
        yet (at least `num_workers`). Default: 2 per process.

    Yields:
      The results of `fn`, one per item, in the order of `items`.

    Raises:
      Whatever `fn` raises, in this process or in a worker (`BrokenProcessPool` should
      a worker die).
    """
    if num_workers <= 1 or not fork_workers_available():
        yield from map(fn, items)
        return
    window = max(window or _WINDOW_PER_WORKER * num_workers, num_workers)
    pending: collections.deque = collections.deque()
    pool = ProcessPoolExecutor(num_workers - 1, mp_context=multiprocessing.get_context("fork"),
                               initializer=_start_worker, initargs=(fn,))
    try:
        for index, item in enumerate(items):
            # Every num_workers-th item is this process's, computed when its result is due.
            pending.append(_Local(item) if index % num_workers == 0 else pool.submit(_call, item))
            if len(pending) >= window:
                yield _result(fn, pending.popleft())
        while pending:
            yield _result(fn, pending.popleft())
    finally:
        # Items not yet sent to a worker are dropped; the workers finish the one at hand.
        pool.shutdown(wait=True, cancel_futures=True)


def _result(fn: Callable, pending: Union[_Local, Future]):
    """The result of an item of the window: computed here, or awaited from a worker."""
    if isinstance(pending, _Local):
        return fn(pending.item)
    return pending.result()
