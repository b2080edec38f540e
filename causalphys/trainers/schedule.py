"""Schedules: penalty annealing (a small weight while the predictor fits the data, then the full penalty weight) and
a cosine learning-rate decay."""

from __future__ import annotations

import math


def annealed_weight(step: int, penalty_weight: float, anneal_steps: int, initial_weight: float = 1.0) -> float:
    """The penalty weight at 0-based ``step``: ``initial_weight`` for ``step < anneal_steps``, then ``penalty_weight``.

    This is the schedule of the IRM reference implementation and DomainBed's IRM and V-REx
    (``lambda_t = penalty_weight if t >= anneal_steps else 1``). Trainers pass their ``step_`` (the number of
    updates completed before the current one), so ``anneal_steps = 0`` applies the full weight from the start.
    """
    return float(penalty_weight) if step >= anneal_steps else float(initial_weight)


def cosine_factor(step: int, steps: int) -> float:
    """The learning-rate factor ``(1 + cos(pi · step / steps)) / 2`` at 0-based ``step`` of ``steps``: 1 at the start,
    0 at the end (cosine annealing without restarts, Loshchilov & Hutter 2017); 1 when ``steps == 0``."""
    if steps <= 0:
        return 1.0
    return 0.5 * (1.0 + math.cos(math.pi * min(step, steps) / steps))
