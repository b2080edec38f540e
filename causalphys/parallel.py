"""Running independent chunks of a batch on several CPU threads.

The microscopy mechanisms compute a batch in chunks of units that fit in the CPU cache. Each chunk is many small
tensor operations, which torch's intra-op parallelism splits poorly (a 64-unit chunk of a 64x64 image is a few
hundred thousand elements per operation, and every operation pays a fork and a join). Giving whole chunks to
threads instead — each thread running its chunk's operations serially, torch releasing the GIL inside every
operation — keeps the cores busy. The result does not depend on the number of threads: each chunk writes its own
slice of the output and computes exactly what it computes alone.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait

import torch

_POOL: ThreadPoolExecutor | None = None
_POOL_SIZE = 0
_LOCK = threading.Lock()
_ACTIVE = threading.local()
_SECTIONS = 0  # for_each_chunk calls running now (from any thread) ...
_SAVED_THREADS = 0  # ... and torch's thread count before the first of them set it to one


def _pool(size: int) -> ThreadPoolExecutor:
    global _POOL, _POOL_SIZE
    with _LOCK:
        if _POOL is None or _POOL_SIZE < size:  # grown, never shut down: another section may still use the old one
            _POOL, _POOL_SIZE = ThreadPoolExecutor(size, thread_name_prefix="causalphys-chunk"), size
        return _POOL


def for_each_chunk(fn: Callable[[slice], None], n: int, chunk: int, *, device: torch.device | None = None) -> None:
    """Call ``fn(units)`` for the slices ``units`` of ``range(n)`` in steps of ``chunk``.

    ``fn`` must only read shared inputs and write its own units' part of the output. On the CPU with
    ``torch.get_num_threads() > 1`` and more than one chunk, the chunks run on that many threads, with torch's
    own intra-op parallelism set to one thread for the duration (restored afterwards, also on error); the first
    exception raised by a chunk is re-raised. Elsewhere (one thread, one chunk, a GPU) they run in order.
    """
    global _SECTIONS, _SAVED_THREADS
    slices = [slice(start, min(n, start + chunk)) for start in range(0, n, chunk)]
    with _LOCK:
        threads = _SAVED_THREADS if _SECTIONS else torch.get_num_threads()
    nested = getattr(_ACTIVE, "on", False)
    if len(slices) <= 1 or threads <= 1 or nested or (device is not None and torch.device(device).type != "cpu"):
        for units in slices:
            fn(units)
        return
    workers = min(threads, len(slices))

    def run(units: slice) -> None:
        _ACTIVE.on = True  # a chunk that itself calls for_each_chunk runs its parts in order
        try:
            fn(units)
        finally:
            _ACTIVE.on = False

    with _LOCK:  # the thread count is global: the first section in saves and clears it, the last out restores it
        if _SECTIONS == 0:
            _SAVED_THREADS = threads
            torch.set_num_threads(1)
        _SECTIONS += 1
    try:
        futures = [_pool(workers).submit(run, units) for units in slices]
        wait(futures)  # every chunk finished (or failed) before the caller sees the output or an error
    finally:
        with _LOCK:
            _SECTIONS -= 1
            if _SECTIONS == 0:
                torch.set_num_threads(_SAVED_THREADS)
    for future in futures:
        future.result()  # re-raises the first chunk's error, in chunk order


_PREFETCH: ThreadPoolExecutor | None = None


class Prefetch:
    """Compute ``fn(key)`` for ``keys``, in order, on a background thread, while the caller works on what came
    before: ``get(key)`` waits for that key's result (re-raising its error). Used by ``SCM.sample`` to draw the
    nodes' exogenous noise — each node from its own generator, so the values do not depend on when they are drawn —
    while the structural equations of earlier nodes run. A context manager: leaving it cancels what has not started.
    With ``enabled=False`` ``get`` computes on the caller's thread."""

    def __init__(self, fn: Callable, keys, *, enabled: bool = True):
        global _PREFETCH
        self._fn = fn
        self._futures = {}
        if enabled:
            with _LOCK:
                if _PREFETCH is None:
                    _PREFETCH = ThreadPoolExecutor(1, thread_name_prefix="causalphys-prefetch")
            self._futures = {key: _PREFETCH.submit(fn, key) for key in keys}

    def get(self, key):
        future = self._futures.pop(key, None)
        return self._fn(key) if future is None else future.result()

    def __enter__(self) -> Prefetch:
        return self

    def __exit__(self, *exc) -> None:
        for future in self._futures.values():
            future.cancel()
        wait(list(self._futures.values()))  # nothing of this draw runs on after it
        self._futures.clear()
