"""Chunks on threads and noise drawn ahead: the same numbers as in order, errors raised, torch's threads restored."""

from __future__ import annotations

import threading
import time

import pytest
import torch

import causalphys as cp
from causalphys.parallel import Prefetch, for_each_chunk


@pytest.fixture
def two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def test_for_each_chunk_covers_every_unit_once_on_threads(two_threads):
    out = torch.zeros(1000)
    seen = []
    names = set()

    def fn(units: slice) -> None:
        names.add(threading.current_thread().name)
        seen.append((units.start, units.stop))
        out[units] += torch.arange(units.start, units.stop, dtype=torch.float32)

    for_each_chunk(fn, 1000, 64)
    assert torch.equal(out, torch.arange(1000, dtype=torch.float32))
    assert sorted(seen) == [(s, min(1000, s + 64)) for s in range(0, 1000, 64)]
    assert all(name.startswith("causalphys-chunk") for name in names)  # it did run on the pool
    assert torch.get_num_threads() == 2


def test_for_each_chunk_in_order_on_one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        order = []
        for_each_chunk(lambda units: order.append((units.start, threading.current_thread().name)), 10, 3)
        assert [start for start, _ in order] == [0, 3, 6, 9]
        assert {name for _, name in order} == {threading.current_thread().name}
    finally:
        torch.set_num_threads(before)


def test_for_each_chunk_reraises_the_first_error_and_restores_threads(two_threads):
    finished = []

    def fn(units: slice) -> None:
        if units.start in (128, 320):
            raise ValueError(f"bad chunk at {units.start}")
        finished.append(units.start)

    with pytest.raises(ValueError, match="bad chunk at 128"):
        for_each_chunk(fn, 512, 64)
    assert torch.get_num_threads() == 2
    assert sorted(finished) == [0, 64, 192, 256, 384, 448]  # every other chunk ran to its end before the raise


def test_concurrent_sections_restore_the_thread_count(two_threads):
    inside = threading.Barrier(2)
    seen = []

    def fn(units: slice) -> None:
        if units.start == 0:
            inside.wait(5)  # both callers' first chunks are running at once
        seen.append(torch.get_num_threads())

    callers = [threading.Thread(target=for_each_chunk, args=(fn, 128, 64)) for _ in range(2)]
    for t in callers:
        t.start()
    for t in callers:
        t.join(10)
    assert set(seen) == {1} and len(seen) == 4  # torch's own threads are off while any section runs ...
    assert torch.get_num_threads() == 2  # ... and back once the last one ends, whichever order they end in


def test_nested_for_each_chunk_runs_inner_chunks_in_order(two_threads):
    out = torch.zeros(256)

    def inner(base: int):
        def fn(units: slice) -> None:
            out[base + units.start : base + units.stop] += 1

        return fn

    for_each_chunk(lambda units: for_each_chunk(inner(units.start), units.stop - units.start, 16), 256, 64)
    assert torch.equal(out, torch.ones(256))


def test_prefetch_gives_each_key_its_value_and_its_error():
    def fn(key):
        if key == "bad":
            raise KeyError("no such node: bad")
        return key * 2

    with Prefetch(fn, ["a", "b", "bad"]) as ahead:
        assert ahead.get("b") == "bb"
        assert ahead.get("a") == "aa"
        assert ahead.get("c") == "cc"  # not prefetched: computed on the caller's thread
        with pytest.raises(KeyError, match="no such node"):
            ahead.get("bad")
    with Prefetch(fn, ["a"], enabled=False) as inline:
        assert inline.get("a") == "aa"


def test_prefetch_exit_cancels_what_has_not_started():
    running, started, others = threading.Event(), [], []

    def fn(key):
        started.append(key)
        if key == 0:  # hold the one background thread until the context has cancelled the others
            running.set()
            while not (others and all(f.cancelled() for f in others)):
                time.sleep(0.001)
        return key

    with Prefetch(fn, range(5)) as ahead:
        others.extend(ahead._futures[k] for k in range(1, 5))
        running.wait()
    assert started == [0]


def test_scm_sample_is_the_same_with_noise_drawn_ahead_and_chunks_on_threads():
    scm = cp.microscopy.scanner_shift(cp.load_scanners()).scm.do(lab=0.0)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        alone = scm.sample(300, seed=3, nodes=["image"], return_noise=True)
        torch.set_num_threads(2)
        ahead = scm.sample(300, seed=3, nodes=["image"], return_noise=True)
    finally:
        torch.set_num_threads(before)
    for node in ("clean", "image", "dose", "scanner"):
        assert torch.equal(alone[node], ahead[node]), node
    for node in alone.noise:
        assert torch.equal(alone.noise[node], ahead.noise[node]), node
