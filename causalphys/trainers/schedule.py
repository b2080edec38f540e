"""Penalty annealing: a small weight while the predictor fits the data, then the full penalty weight."""

from __future__ import annotations


def annealed_weight(step: int, penalty_weight: float, anneal_steps: int, initial_weight: float = 1.0) -> float:
    """The penalty weight at 0-based ``step``: ``initial_weight`` for ``step < anneal_steps``, then ``penalty_weight``.

    This is the schedule of the IRM reference implementation and DomainBed's IRM and V-REx
    (``lambda_t = penalty_weight if t >= anneal_steps else 1``). Trainers pass their ``step_`` (the number of
    updates completed before the current one), so ``anneal_steps = 0`` applies the full weight from the start.
    """
    return float(penalty_weight) if step >= anneal_steps else float(initial_weight)
