"""The experiment loop: choose an experiment, measure, refit, evaluate, record — until the budget is spent.

Round ``r`` (from 0):

1. the strategy names a candidate experiment (its randomness: a generator seeded ``derive_seed(seed, "choose", r)``);
2. the instrument measures ``min(batch_size, budget − spent)`` labelled units of it with seed
   ``derive_seed(seed, "measure", r)`` — so the budget is spent exactly, the last round taking the remainder;
3. the learner is refitted from scratch on everything measured so far, one environment per candidate
   (seed ``derive_seed(seed, "fit", r)``), and ``evaluate(model)`` scores it;
4. the round is recorded: the tidy rows of every round (``results.csv``: ``run, trainer, env, split, metric,
   value, selection`` plus ``round, labelled, candidate``) and then the data measured so far (``state.pt``), each
   written atomically — a round counts as recorded once ``state.pt`` holds it.

Every round's randomness is derived from the run seed and the round, and the model is refitted from the data, so
an interrupted loop resumes from its last recorded round and ends with the numbers of an uninterrupted one. An
instrument that fails mid-loop (a user's callback for a real microscope, say) loses nothing that was recorded: the
error names the round and the experiment, and the next ``run()`` continues from there.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from causalphys.active.instruments import InstrumentError, check_budget, check_measurement, n_rounds
from causalphys.active.strategies import LoopState, Strategy
from causalphys.atomic import save_torch, write_text
from causalphys.errors import CausalPhysError
from causalphys.evaluation.store import FIELDS, StoreError, config_hash, rows_to_csv
from causalphys.seeding import derive_seed, make_generator

ACTIVE_FIELDS = (*FIELDS, "round", "labelled", "candidate")
STATE, RESULTS = "state.pt", "results.csv"


class ActiveLoopError(CausalPhysError, RuntimeError):
    """A round of the experiment loop failed; the message names the round, the experiment and what was kept."""


@dataclass
class ActiveResult:
    """``rows``: the tidy rows of every round; ``choices``: the experiment of each round; ``counts``: units
    measured per candidate; ``model``: the last fitted model (``None`` if the loop resumed after its last round
    and had nothing to fit); ``data``: ``{candidate: (x, y)}``."""

    rows: list[dict]
    choices: list[str]
    counts: dict[str, int]
    model: object | None
    data: dict[str, tuple[torch.Tensor, torch.Tensor]]


class ActiveLoop:
    """Learn by experimenting under a labelling budget.

    Parameters
    ----------
    instrument : an object with ``measure(candidate, n, seed) -> (x, y)`` (and ``pool(candidate, n, seed) -> x``
        for uncertainty-driven strategies), e.g. :class:`~causalphys.active.instruments.SCMInstrument`; or a plain
        callable ``(candidate, n, seed) -> (x, y)`` standing for a real instrument
    strategy : a :class:`~causalphys.active.strategies.Strategy`
    learner : an object with ``fit(data, seed) -> model`` (``data``: ``{candidate: (x, y)}``; the model has
        ``predict(x)``), e.g. :class:`~causalphys.active.learners.TrainerLearner`
    evaluate : ``model -> {env: {metric: value}}``, called after every round (e.g. accuracy on a held-out scanner)
    budget : labelled units to spend in all; batch_size : units per round (the last round takes the remainder)
    candidates : the experiments to choose from (default: the instrument's ``candidates``)
    seed : the run seed; run : the name in the rows' ``run`` column (default ``seed{seed}``)
    out : a folder for ``state.pt`` and ``results.csv`` (resumed from if it holds this loop's rounds); ``None``
        keeps everything in memory
    progress : a progress bar over the rounds
    """

    def __init__(
        self,
        instrument,
        strategy: Strategy,
        learner,
        evaluate: Callable[[object], Mapping[str, Mapping[str, float]]],
        budget: int,
        batch_size: int,
        candidates: Sequence[str] | None = None,
        seed: int = 0,
        run: str | None = None,
        out: str | Path | None = None,
        progress: bool = False,
    ):
        self.budget, self.batch_size = check_budget(budget, batch_size)
        self.instrument, self.strategy, self.learner, self.evaluate = instrument, strategy, learner, evaluate
        candidates = list(candidates if candidates is not None else getattr(instrument, "candidates", []))
        if not candidates:
            raise InstrumentError("the loop needs candidate experiments (pass candidates=[...] with a callable)")
        if len(set(candidates)) != len(candidates):
            raise InstrumentError(f"candidate experiments must be distinct, got {candidates}")
        self.candidates = candidates
        self.seed = seed
        self.run_name = run or f"seed{seed}"
        self.out = Path(out) if out is not None else None
        self.progress = progress

    def config(self) -> dict:
        """What identifies this loop's rounds (a folder holding another loop's rounds is refused)."""
        return {
            "strategy": repr(self.strategy),
            "learner": repr(self.learner),
            "budget": self.budget,
            "batch_size": self.batch_size,
            "candidates": self.candidates,
            "seed": self.seed,
            "run": self.run_name,
        }

    def _measure(self, candidate: str, n: int, seed: int):
        measure = getattr(self.instrument, "measure", self.instrument)
        return measure(candidate, n, seed)

    def _resume(self) -> tuple[list[dict], list[str], dict]:
        if self.out is None or not (self.out / STATE).exists():
            return [], [], {}
        state = torch.load(self.out / STATE, weights_only=True)
        if state["config_hash"] != config_hash(self.config()):
            raise StoreError(
                f"{self.out} holds the rounds of another experiment loop (config {state['config']}); "
                "use another folder or remove it"
            )
        with open(self.out / RESULTS, newline="") as f:
            rows = list(csv.DictReader(f))
        done = len(state["choices"])  # results.csv is written first: a round it holds beyond state.pt is redone
        rows = [
            {**r, "value": float(r["value"]), "round": int(r["round"]), "labelled": int(r["labelled"])}
            for r in rows
            if int(r["round"]) < done
        ]
        data = {c: (x, y) for c, (x, y) in state["data"].items()}
        return rows, list(state["choices"]), data

    def _record(self, rows: list[dict], choices: list[str], data: dict) -> None:
        if self.out is None:
            return
        state = {
            "config": {k: str(v) for k, v in self.config().items()},
            "config_hash": config_hash(self.config()),
            "choices": choices,
            "data": data,
        }
        write_text(self.out / RESULTS, rows_to_csv(rows, ACTIVE_FIELDS))
        save_torch(state, self.out / STATE)  # last: a round counts as recorded once its data are saved

    def run(self) -> ActiveResult:
        rows, choices, data = self._resume()
        spent = sum(len(y) for _, y in data.values())
        total = n_rounds(self.budget, self.batch_size)
        model = None
        if choices and len(choices) < total:  # resumed mid-loop: the model of the last recorded round
            model = self.learner.fit(data, seed=derive_seed(self.seed, "fit", len(choices) - 1))
        bar = tqdm(
            total=total, initial=len(choices), desc=f"{self.strategy.name} {self.run_name}", disable=not self.progress
        )
        try:
            for r in range(len(choices), total):
                counts = {c: len(data[c][1]) if c in data else 0 for c in self.candidates}
                state = LoopState(
                    r, list(self.candidates), counts, data, model, self.instrument, self.learner, self.seed
                )
                candidate = self.strategy.choose(state, make_generator(derive_seed(self.seed, "choose", r)))
                if candidate not in self.candidates:
                    raise ActiveLoopError(
                        f"round {r}: strategy {self.strategy!r} chose unknown experiment {candidate!r}"
                    )
                n = min(self.batch_size, self.budget - spent)
                try:
                    out = self._measure(candidate, n, derive_seed(self.seed, "measure", r))
                except Exception as err:
                    kept = f"rounds 0-{r - 1} are recorded in {self.out}" if r and self.out else "no round was lost"
                    raise ActiveLoopError(
                        f"round {r}: the instrument failed measuring {candidate!r} ({type(err).__name__}: {err}); "
                        f"{kept}; run() again continues from round {r}"
                    ) from err
                x, y = check_measurement(out, candidate, n, r)
                if candidate in data:
                    data[candidate] = (torch.cat([data[candidate][0], x]), torch.cat([data[candidate][1], y]))
                else:
                    data[candidate] = (x, y)
                spent += n
                model = self.learner.fit(data, seed=derive_seed(self.seed, "fit", r))
                for env, metrics in self.evaluate(model).items():
                    for metric, value in metrics.items():
                        rows.append(
                            {
                                "run": self.run_name,
                                "trainer": self.strategy.name,
                                "env": env,
                                "split": "test",
                                "metric": metric,
                                "value": float(value),
                                "selection": "final-step",
                                "round": r,
                                "labelled": spent,
                                "candidate": candidate,
                            }
                        )
                choices.append(candidate)
                self._record(rows, choices, data)
                bar.update(1)
        finally:
            bar.close()
        counts = {c: len(data[c][1]) if c in data else 0 for c in self.candidates}
        return ActiveResult(rows, choices, counts, model, data)
