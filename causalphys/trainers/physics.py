"""Learners that use the instrument's physics: instrument randomisation and counterfactual invariance.

Both train on **labelled views** (``BenchmarkData.views``): ``m`` training units per environment, each seen under
``k`` instruments — re-imaged by the benchmark's SCM in new sessions, under instruments drawn from a physics prior
(``conf/prior/``) or by each of the lab's own scanners — ``x`` ``(m, k, *input_shape)`` with labels ``y`` ``(m,)``.
The specimen and its label are the same in every view; only the instrument moves, and it no longer depends on the
label (the views are ``do(scanner := ...)``).

- :class:`InstrumentRandomization` — domain randomisation in physical units: ERM where every training example is
  one of its unit's views, drawn at random each step (Tobin et al. 2017 for robotics; here the ranges are the
  instrument's, in Å, e⁻/Å² and Å/s, not pixel-level augmentations).
- :class:`CounterfactualInvariance` — the same specimen under ``views_per_step >= 2`` instruments in one minibatch
  and a penalty on how much the prediction moves between them: the mean over units of the variance, across views,
  of the predictive distribution (summed over classes; of the output for regression). Zero when the views are
  identical or the net ignores the instrument; counterfactual invariance in the sense of Veitch et al. 2021
  ("Counterfactual invariance to spurious correlations"), the augmentation view of Mitrovic et al. 2021.

A dense task's targets move with the instrument (a scan distortion moves the columns in the image, and so in their
map): its views may carry one target per view, ``y`` ``(m, k, *target_shape)``, and each view is scored against its
own. The factual training images (``envs``) are checked and define the input shape, classes and environments, but the
steps draw from the views. The harness asks the benchmark for views for a trainer with ``needs_views``, with the
``views`` block of its yaml (``causalphys.run``).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from causalphys import checks
from causalphys.errors import ParameterError
from causalphys.trainers import checkpoint as ckpt_files
from causalphys.trainers.base import Minibatch, Trainer
from causalphys.trainers.errors import DataError, DataTypeError

Views = Mapping[object, tuple[torch.Tensor, torch.Tensor]]


class InstrumentRandomization(Trainer):
    """ERM on views: each step draws ``batch_size`` units per environment (with replacement) and for each unit
    ``views_per_step`` of its ``k`` views (distinct, at random), all with the unit's label. Hyper-parameters:
    ``views_per_step`` (default 1) and those of :class:`~causalphys.trainers.base.Trainer`; ``fit(net, envs,
    views)`` (module docstring)."""

    needs_views = True

    def __init__(self, views_per_step: int = 1, **kwargs):
        self.views_per_step = checks.positive_int(f"{type(self).__name__} views_per_step", views_per_step)
        super().__init__(**kwargs)

    # ----------------------------------------------------------------------------------------------- data
    def fit(self, net: nn.Module, envs, views: Views | None = None) -> InstrumentRandomization:
        """``fit`` of :class:`~causalphys.trainers.base.Trainer`, drawing the steps from ``views`` (module doc)."""
        self._views_in = self._check_views(views, envs)
        return super().fit(net, envs)

    def _check_views(self, views: Views | None, envs) -> dict:
        owner = type(self).__name__
        if not views:
            raise DataError(
                f"{owner} trains on labelled views of its training units: pass fit(net, envs, views=...) (in a run: "
                "the harness asks the benchmark for them, with the trainer yaml's views block)"
            )
        if not isinstance(views, Mapping):
            raise DataTypeError(f"{owner} views must map environment names to (x, y), got {type(views).__name__}")
        names = list(envs) if isinstance(envs, Mapping) else []
        missing = [e for e in names if e not in views]
        if missing:
            raise DataError(f"{owner} has no views for training environment(s) {missing}; views: {list(views)}")
        shape = next((tuple(x.shape[1:]) for x, _ in envs.values()), None) if names else None
        out = {}
        for env in names:
            item = views[env]
            if not isinstance(item, (tuple, list)) or len(item) != 2:
                raise DataTypeError(f"{owner} views of {env!r} must be (x, y), got {type(item).__name__}")
            x, y = item
            if not isinstance(x, torch.Tensor) or not x.is_floating_point():
                raise DataTypeError(f"{owner} views of {env!r}: x must be a floating tensor")
            if x.dim() < 3 or (shape is not None and tuple(x.shape[2:]) != shape):
                raise DataError(
                    f"{owner} views of {env!r}: x must be (m, k, *input_shape) with input shape {shape}, got "
                    f"{tuple(x.shape)}"
                )
            if not isinstance(y, torch.Tensor) or len(y) != len(x) or len(x) == 0:
                raise DataError(f"{owner} views of {env!r}: need m >= 1 units and m labels, got {len(x)}, {len(y)}")
            if self._per_view(x, y) and y.shape[1] != x.shape[1]:
                raise DataError(
                    f"{owner} views of {env!r}: {x.shape[1]} views per unit but {y.shape[1]} targets per unit"
                )
            if self.views_per_step > x.shape[1]:
                raise DataError(
                    f"{owner} views_per_step={self.views_per_step}, but the views of {env!r} have only {x.shape[1]} "
                    "per unit"
                )
            if not bool(torch.isfinite(x).all()):
                raise DataError(f"{owner} views of {env!r} contain NaN or infinite values")
            out[env] = (x, y)
        return out

    def _per_view(self, x: torch.Tensor, y: torch.Tensor) -> bool:
        """Whether ``y`` holds one target per view (a dense task's ``(m, k, *target_shape)``)."""
        return self.task == "dense" and y.dim() == x.dim()

    def data_digest(self, envs) -> str:
        return ckpt_files.data_digest({**envs, **{("views", e): xy for e, xy in self._views_in.items()}})

    def prepare(self, env_names: list[object]) -> None:
        device = torch.device(self.device)
        dtype = next((p.dtype for p in self.net_.parameters() if p.is_floating_point()), torch.get_default_dtype())
        target = torch.long if self.task == "classification" else dtype
        self.views_ = [
            (self._views_in[e][0].to(device, dtype), self._views_in[e][1].to(device, target)) for e in env_names
        ]

    def _draw(self, data: list[Minibatch]) -> list[Minibatch]:
        """Per environment ``(x, y)``: ``x`` ``(b, views_per_step, *input_shape)`` — ``b`` units drawn with
        replacement (all of them when ``batch_size`` is None), each with ``views_per_step`` distinct views."""
        batches = []
        for x, y in self.views_:
            m, k = x.shape[:2]
            idx = (
                torch.arange(m)
                if self.batch_size is None
                else torch.randint(m, (self.batch_size,), generator=self.batch_generator_)
            )
            pick = torch.rand(len(idx), k, generator=self.batch_generator_).argsort(dim=1)[:, : self.views_per_step]
            idx, pick = idx.to(x.device), pick.to(x.device)
            batches.append((x[idx[:, None], pick], y[idx[:, None], pick] if self._per_view(x, y) else y[idx]))
        return batches

    # ----------------------------------------------------------------------------------------------- objective
    def outputs_and_risk(self, batches: list[Minibatch]) -> tuple[list[torch.Tensor], torch.Tensor]:
        """The net's outputs per environment, ``(b, v, n_outputs)``, and the mean task loss over every view."""
        outputs, total, count = [], 0.0, 0
        for x, y in batches:
            b, v = x.shape[:2]
            out = self.net_(x.reshape(b * v, *x.shape[2:]))
            targets = y.reshape(b * v, *y.shape[2:]) if self._per_view(x, y) else y.repeat_interleave(v, dim=0)
            total = total + self.task_loss(out, targets, reduction="none").sum()
            count += b * v
            outputs.append(out.reshape(b, v, -1))
        return outputs, total / count

    def update(self, batches: list[Minibatch]) -> dict[str, float]:
        _, risk = self.outputs_and_risk(batches)
        loss = self.regularized(risk)
        self.optimizer_step(loss)
        return {"loss": loss.item(), "risk": risk.item()}


def view_variance(outputs: torch.Tensor, task: str) -> torch.Tensor:
    """Mean over units of the variance across views of the predictive distribution (summed over classes): the
    counterfactual-invariance penalty for outputs ``(b, v, n_outputs)``. Classification: softmax probabilities (a
    single output: the sigmoid's two class probabilities); regression: the outputs themselves; dense: the maps, the
    variance averaged over channels and pixels (as the task loss is). Zero for one view."""
    if outputs.shape[1] < 2:
        return outputs.new_zeros(())
    if task == "dense":
        return outputs.var(dim=1, unbiased=False).mean()
    if task == "classification":
        if outputs.shape[-1] == 1:
            p = torch.sigmoid(outputs)
            p = torch.cat([1 - p, p], dim=-1)
        else:
            p = torch.softmax(outputs, dim=-1)
    else:
        p = outputs
    return p.var(dim=1, unbiased=False).sum(dim=-1).mean()


class CounterfactualInvariance(InstrumentRandomization):
    """The task loss on ``views_per_step >= 2`` views of each unit plus ``penalty_weight`` times
    :func:`view_variance` (averaged over environments): a prediction that moves with the instrument is penalised on
    the very specimen it moved for. ``penalty_weight = 0`` is :class:`InstrumentRandomization` with several views
    per unit. Hyper-parameters: ``penalty_weight`` (default 10), ``views_per_step`` (default 2) and those of
    :class:`~causalphys.trainers.base.Trainer`, ``batch_size`` (units per step) 32."""

    def __init__(self, penalty_weight: float = 10.0, views_per_step: int = 2, batch_size: int | None = 32, **kwargs):
        owner = type(self).__name__
        self.penalty_weight = checks.nonnegative_float(f"{owner} penalty_weight", penalty_weight)
        if views_per_step < 2:
            raise ParameterError(
                f"{owner} views_per_step must be >= 2 (the penalty compares views), got {views_per_step}"
            )
        super().__init__(views_per_step=views_per_step, batch_size=batch_size, **kwargs)

    def _check_views(self, views, envs) -> dict:
        out = super()._check_views(views, envs)
        moved = [env for env, (x, y) in out.items() if self._per_view(x, y)]
        if moved:
            raise DataError(
                f"{type(self).__name__}: the views of {moved} carry one target per view — the instrument moves the "
                "targets, so a penalty on how the prediction moves between views would penalise the truth; use "
                "InstrumentRandomization (trainer=randomize) for them"
            )
        return out

    def update(self, batches: list[Minibatch]) -> dict[str, float]:
        outputs, risk = self.outputs_and_risk(batches)
        penalty = torch.stack([view_variance(o, self.task) for o in outputs]).mean()
        loss = self.regularized(risk + self.penalty_weight * penalty)
        self.optimizer_step(loss)
        return {"loss": loss.item(), "risk": risk.item(), "penalty": penalty.item()}
