"""`bert_estimator.data.parallel.ordered_map`: results in input order, a bounded window of
items in flight, worker errors raised in the parent, workers reaped, and the sequential
fallback."""

from __future__ import annotations

import contextlib
import itertools
import os
import random
import signal
import time

import pytest

from bert_estimator.data import parallel

needs_fork = pytest.mark.skipif(not parallel.fork_workers_available(), reason="no fork on this platform")


def assert_no_children() -> None:
    """Every worker was reaped."""
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)


def jittered_square(item: int) -> tuple[int, int]:
    time.sleep(random.Random(item).random() * 0.002)  # workers finish out of order
    return item * item, os.getpid()


def fail_on_seven(item: int) -> int:
    if item == 7:
        raise ValueError(f"bad item {item}")
    return item


class Unpicklable(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.callback = lambda: None  # not picklable


def raise_unpicklable(item: int) -> int:
    if item == 3:
        raise Unpicklable("cannot travel")
    return item


def die_on_five(item: int) -> int:
    if item == 5:
        os._exit(3)
    return item


@needs_fork
@pytest.mark.parametrize("num_workers", [2, 3])
def test_results_come_in_input_order_from_several_processes(num_workers):
    results = list(parallel.ordered_map(jittered_square, range(200), num_workers))
    assert [square for square, _ in results] == [i * i for i in range(200)]
    pids = {pid for _, pid in results}
    assert os.getpid() in pids and len(pids) == num_workers  # this process takes its share
    assert_no_children()


@pytest.mark.parametrize("num_workers", [1, 4])
def test_sequential_fallback(monkeypatch, num_workers):
    monkeypatch.setattr(parallel, "fork_workers_available", lambda: False)
    results = list(parallel.ordered_map(jittered_square, range(50), num_workers))
    assert results == [(i * i, os.getpid()) for i in range(50)]
    assert list(parallel.ordered_map(jittered_square, [], num_workers)) == []


@needs_fork
@pytest.mark.parametrize("window", [None, 3, 10])
def test_at_most_a_window_of_items_is_in_flight(window):
    """Items are read lazily: when a result is yielded, at most `window` items have been
    taken from the input without their result having been yielded (this one included)."""
    num_workers = 3
    limit = window or 2 * num_workers
    taken = 0

    def items():
        nonlocal taken
        for i in itertools.count():  # endless: only a bounded window makes this finish
            taken += 1
            yield i

    results = parallel.ordered_map(jittered_square, items(), num_workers, window=window)
    with contextlib.closing(results):
        for yielded, (square, _) in enumerate(itertools.islice(results, 100), start=1):
            assert square == (yielded - 1) ** 2
            assert taken - (yielded - 1) <= limit, (taken, yielded)
    assert_no_children()  # closing the generator early stops the workers


@needs_fork
def test_worker_errors_are_raised_in_the_parent():
    with pytest.raises(ValueError, match="bad item 7"):  # item 7 goes to a worker
        list(parallel.ordered_map(fail_on_seven, range(40), 2))
    assert_no_children()
    with pytest.raises(ValueError, match="bad item 7"):  # item 7 is this process's share
        list(parallel.ordered_map(fail_on_seven, range(40), 7))
    assert_no_children()
    with pytest.raises(RuntimeError, match="Unpicklable: cannot travel"):
        list(parallel.ordered_map(raise_unpicklable, range(20), 2))
    assert_no_children()


@needs_fork
def test_a_dead_worker_is_an_error_not_a_hang():
    from concurrent.futures.process import BrokenProcessPool

    with pytest.raises(BrokenProcessPool):
        list(parallel.ordered_map(die_on_five, range(40), 2))
    assert_no_children()


@needs_fork
def test_errors_of_the_input_and_of_the_consumer_stop_the_workers():
    def items():
        yield from range(10)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        list(parallel.ordered_map(jittered_square, items(), 2))
    assert_no_children()
    results = parallel.ordered_map(jittered_square, range(100), 2)
    with pytest.raises(RuntimeError, match="writer failed"), contextlib.closing(results):
        for _ in results:
            raise RuntimeError("writer failed")
    assert_no_children()


@needs_fork
def test_ctrl_c_stops_the_parent_which_stops_the_workers():
    """The workers ignore SIGINT (a Ctrl-C reaches the whole process group): the
    parent's KeyboardInterrupt shuts them down."""
    # Python's own SIGINT handler, whatever the process had (this test is about it).
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        _interrupt_the_map()
    finally:
        signal.signal(signal.SIGINT, previous)


def _interrupt_the_map():
    results = parallel.ordered_map(jittered_square, range(400), 2)
    seen = 0
    with pytest.raises(KeyboardInterrupt), contextlib.closing(results):
        for _, pid in results:
            seen += 1
            if pid != os.getpid():
                os.kill(pid, signal.SIGINT)  # ignored by the worker: the map goes on
            if seen == 100:
                os.kill(os.getpid(), signal.SIGINT)
    assert seen == 100
    assert_no_children()


def test_default_num_workers():
    assert 1 <= parallel.default_num_workers() <= parallel._MAX_WORKERS
