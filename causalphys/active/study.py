"""The experiment loop on a benchmark's SCM: candidate experiments are interventions on it, the score is accuracy on
its test environments. What ``causalphys active=NAME ...`` runs (:mod:`causalphys.run`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import torch
from torch import nn

from causalphys.active.instruments import SCMInstrument
from causalphys.active.learners import TrainerLearner
from causalphys.active.loop import ActiveLoop
from causalphys.active.strategies import Strategy
from causalphys.data.tensors import environment_tensors, standardize_images
from causalphys.errors import ParameterError
from causalphys.evaluation.metrics import accuracy
from causalphys.scm.environments import Environments
from causalphys.seeding import derive_seed
from causalphys.trainers.base import Trainer


def accuracy_on(data: Mapping[str, tuple[torch.Tensor, torch.Tensor]]) -> Callable[[object], dict]:
    """``model -> {env: {"accuracy": ...}}`` on fixed labelled data ``{env: (x, y)}``."""

    def evaluate(model) -> dict:
        return {env: {"accuracy": accuracy(model.predict(x), y)} for env, (x, y) in data.items()}

    return evaluate


def benchmark_loop(
    benchmark,
    candidates: Mapping[str, Mapping[str, object]],
    strategy: Strategy,
    trainer: Callable[[int], Trainer],
    make_net: Callable[[tuple[int, ...], int], nn.Module],
    budget: int,
    batch_size: int,
    seed: int,
    evaluate_on: Sequence[str] | None = None,
    n_eval: int = 1000,
    out: str | Path | None = None,
    run: str | None = None,
    progress: bool = False,
    n_outputs: int = 2,
    until_enough: Callable[[int], Trainer] | None = None,
) -> ActiveLoop:
    """An :class:`~causalphys.active.loop.ActiveLoop` whose experiments are ``{name: {node: spec}}`` interventions on
    the benchmark's SCM (the one its training labs are drawn from; e.g. ``{"lab_a": {"lab": 0.0}}`` or
    ``{"corrected_low": {"scanner": 0.0, "dose": 1e4}}``), measured as standardised images with their labels; the
    model is scored after every round on ``n_eval`` units of each of the benchmark's test environments named in
    ``evaluate_on`` (default: all), drawn once with a seed derived from ``seed``. Every test environment can also be
    pooled unlabelled (``instrument.pool(name, ...)``, another stream than the scored units), for strategies that
    look at where the model will be used. ``trainer``: ``seed -> Trainer``
    (``until_enough``: the one fitted while fewer experiments are measured than it needs environments, see
    :class:`~causalphys.active.learners.TrainerLearner`);
    ``n_outputs``: the classes (2 for the scanner-shift tasks).
    """
    train_envs, test_envs, _ = benchmark.environments()
    experiments = Environments(train_envs.scm, candidates)
    names = list(test_envs) if evaluate_on is None else list(evaluate_on)
    unknown = [e for e in names if e not in test_envs]
    if unknown:
        raise ParameterError(
            f"active.evaluate_on: unknown test environment(s) {unknown}; the benchmark has {list(test_envs)}"
        )
    scored = Environments(test_envs.scm, {e: test_envs.interventions[e] for e in names})
    data = environment_tensors(scored, n_eval, seed=derive_seed(seed, "active", "evaluate"))
    # the test environments can be pooled (unlabelled images of where the model will be used), not measured
    instrument = SCMInstrument(dict(experiments), transform=standardize_images, unlabelled=dict(test_envs))
    learner = TrainerLearner(
        trainer, make_net, n_outputs=n_outputs, name=type(trainer(seed)).__name__, until_enough=until_enough
    )
    return ActiveLoop(
        instrument,
        strategy,
        learner,
        accuracy_on(data),
        budget=budget,
        batch_size=batch_size,
        seed=seed,
        run=run,
        out=out,
        progress=progress,
    )
