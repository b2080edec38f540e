"""Content from counterfactual pairs, then a predictor on the content alone (von Kügelgen et al. 2021).

von Kügelgen, Sharma, Gresele, Brendel, Schölkopf, Besserve & Locatello (2021), "Self-supervised learning with data
augmentations provably isolates content from style": if two views ``x = f(c, s)`` and ``x' = f(c, s')`` share the
content ``c`` and differ in (some of) the style ``s``, an encoder trained to make the views' codes agree while
keeping the codes spread out (InfoNCE) recovers ``c`` up to an invertible map — block-identifiability of the
content. Here the views are the same specimen imaged by two scanners (the SCM's re-imaging,
:func:`causalphys.microscopy.reimage.reimage`): the specimen is the content, the instrument the style. A head
trained on the content cannot use the instrument signature, however well it predicts the label in the training labs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from causalphys import checks
from causalphys.errors import ParameterError
from causalphys.nets.modes import evaluating
from causalphys.trainers.base import Minibatch, Trainer
from causalphys.trainers.errors import DataError, DataTypeError

Pairs = Mapping[object, Sequence[torch.Tensor]]


def info_nce(za: torch.Tensor, zb: torch.Tensor, temperature: float) -> torch.Tensor:
    """The symmetric InfoNCE loss of paired codes ``za``, ``zb`` ``(b, d)`` (row ``i`` of each: the same unit).

    With ``s_ij = cos(za_i, zb_j) / temperature``:
    ``L = 1/(2b) sum_i [ -s_ii + log sum_j exp(s_ij) ] + [ -s_ii + log sum_j exp(s_ji) ]``,
    the cross-entropy of recognising each unit's partner among the batch, both ways. Minimising it aligns the
    pairs (the content) and spreads the codes uniformly on the sphere (no collapse).
    """
    za, zb = F.normalize(za, dim=1), F.normalize(zb, dim=1)
    logits = za @ zb.T / temperature
    target = torch.arange(len(za), device=za.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


def view_gap(za: torch.Tensor, zb: torch.Tensor, groups: torch.Tensor) -> torch.Tensor:
    """``mean_g ||mean(ẑa | g) − mean(ẑb | g)||²`` of the unit-length codes ``ẑ = z / ||z||`` of two views
    ``(b, d)``, over the groups ``g`` (``groups`` ``(b,)``, e.g. the environment of each pair) present in the batch.

    Views ``a`` and ``b`` are two instruments (in each environment, e.g. a lab's two scanners), so this is the
    squared linear-kernel MMD between what each instrument's codes look like: 0 when no direction of the code space
    separates one instrument's images from the other's on average. InfoNCE alone aligns each pair only up to what
    its temperature tolerates, and a small offset shared by every pair is a direction along which a linear probe reads
    the instrument; this term removes it.
    """
    za, zb = F.normalize(za, dim=1), F.normalize(zb, dim=1)
    present = groups.unique()
    gaps = [(za[groups == g].mean(0) - zb[groups == g].mean(0)).pow(2).sum() for g in present]
    return torch.stack(gaps).mean()


class ContentStyle(Trainer):
    """Two stages in one ``fit``: ``encoder_steps`` steps of InfoNCE on counterfactual pairs, then a head on the
    frozen content.

    - Encoder stage (steps ``t < encoder_steps``): ``pair_batch_size`` units drawn with replacement from the pairs
      (all environments pooled); two of each unit's views ``x_a``, ``x_b`` go through ``net.features``; the loss is
      :func:`info_nce` ``(features(x_a), features(x_b))`` with ``temperature``, plus ``style_penalty`` times
      :func:`view_gap` of the unit-length codes (0 by default). The head is not used.
    - Head stage (the remaining ``steps - encoder_steps`` steps): the features are computed without gradients
      (the encoder is frozen) and ``net.head`` is fitted by ERM on one minibatch per training environment (the
      labelled data, confounded or not: the content carries no instrument signature to exploit).

    ``predict(x) = head(codes(x))``; :meth:`transform` gives the content codes ``codes(x)`` ``(n, n_features)``:
    ``features(x)``, or with ``normalize=True`` their direction ``features(x) / ||features(x)||``. InfoNCE scores
    cosines only, so it constrains the direction of the features and leaves their length free: the length can keep
    whatever the encoder's activations carry (e.g. how noisy the image is, i.e. the dose), and ``normalize=True``
    keeps it out of the content and the head. Zimmermann et al. (2021, "Contrastive learning inverts the data
    generating process") prove identifiability for the normalised encoder. The net must be a
    :class:`~causalphys.nets.base.FeatureNet`; its ``n_features`` is the content dimension. ``fit(net, envs,
    pairs)`` takes ``pairs``: environment -> list of ``k >= 2`` tensors ``(m, *input_shape)``, the same ``m`` units
    under ``k`` interventions (e.g. imaged by each of a lab's scanners); the harness passes the benchmark's ``pairs``
    (it asks the benchmark for them: ``needs_pairs``). ``steps`` (encoder and head together) default to 1500.
    """

    needs_pairs = True

    def __init__(
        self,
        temperature: float = 0.1,
        encoder_steps: int = 1000,
        pair_batch_size: int = 128,
        normalize: bool = False,
        style_penalty: float = 0.0,
        steps: int = 1500,
        **kwargs,
    ):
        owner = type(self).__name__
        self.temperature = checks.positive_float(f"{owner} temperature", temperature)
        self.encoder_steps = checks.nonnegative_int(f"{owner} encoder_steps", encoder_steps)
        self.pair_batch_size = checks.positive_int(f"{owner} pair_batch_size", pair_batch_size)
        if self.pair_batch_size < 2:
            raise ParameterError(f"{owner} pair_batch_size must be >= 2 (InfoNCE needs negatives), got 1")
        self.normalize = checks.boolean(f"{owner} normalize", normalize)
        self.style_penalty = checks.nonnegative_float(f"{owner} style_penalty", style_penalty)
        super().__init__(steps=steps, **kwargs)

    def fit(self, net: nn.Module, envs, pairs: Pairs | None = None) -> ContentStyle:
        """``fit`` of :class:`~causalphys.trainers.base.Trainer` with the counterfactual ``pairs`` (class doc)."""
        self.pairs_ = self._check_pairs(pairs, envs)
        return super().fit(net, envs)

    def _check_pairs(self, pairs: Pairs | None, envs) -> torch.Tensor | None:
        owner = type(self).__name__
        if self.encoder_steps == 0:
            return None
        if not pairs:
            raise DataError(
                f"{owner} learns its encoder from counterfactual pairs: pass fit(net, envs, pairs=...) "
                "(in a run the harness asks the benchmark for them), or set encoder_steps=0"
            )
        if not isinstance(pairs, Mapping):
            raise DataTypeError(f"{owner} pairs must map environment names to lists of views, got {type(pairs)}")
        shape = next((tuple(x.shape[1:]) for x, _ in envs.values()), None) if isinstance(envs, Mapping) else None
        stacked = []
        for env, views in pairs.items():
            if isinstance(views, torch.Tensor) or len(views) < 2:
                raise DataError(f"{owner} pairs of {env!r}: need a list of >= 2 views, got {type(views).__name__}")
            if any(not isinstance(v, torch.Tensor) or not v.is_floating_point() for v in views):
                raise DataTypeError(f"{owner} pairs of {env!r}: every view must be a floating tensor")
            shapes = {tuple(v.shape) for v in views}
            if len(shapes) != 1:
                raise DataError(f"{owner} pairs of {env!r}: the views differ in shape: {sorted(shapes)}")
            if shape is not None and tuple(views[0].shape[1:]) != shape:
                raise DataError(
                    f"{owner} pairs of {env!r}: views have per-sample shape {tuple(views[0].shape[1:])}, "
                    f"the environments {shape}"
                )
            stacked.append(torch.stack(list(views), dim=1))
        if len({s.shape[1] for s in stacked}) != 1:
            raise DataError(f"{owner}: every environment's pairs need the same number of views")
        self.pair_env_ = torch.cat([torch.full((len(s),), i) for i, s in enumerate(stacked)])
        out = torch.cat(stacked)
        if len(out) < 2:
            raise DataError(f"{owner} needs at least 2 paired units, got {len(out)}")
        if not bool(torch.isfinite(out).all()):
            raise DataError(f"{owner} pairs contain NaN or infinite values")
        return out

    def prepare(self, env_names: list[object]) -> None:
        if self.pairs_ is not None:
            dtype = next(p.dtype for p in self.net_.parameters() if p.is_floating_point())
            self.pairs_ = self.pairs_.to(torch.device(self.device), dtype)
            self.pair_env_ = self.pair_env_.to(self.pairs_.device)  # indexed by the same rows as the pairs

    def update(self, batches: list[Minibatch]) -> dict[str, float]:
        if self.step_ < self.encoder_steps:
            pairs = self.pairs_
            rows = torch.randint(len(pairs), (self.pair_batch_size,), generator=self.batch_generator_)
            a, b = torch.randperm(pairs.shape[1], generator=self.batch_generator_)[:2].tolist()
            rows = rows.to(pairs.device)
            z = self.net_.features(torch.cat([pairs[rows, a], pairs[rows, b]]))
            za, zb = z.chunk(2)
            contrastive = info_nce(za, zb, self.temperature)
            loss = contrastive
            logs = {"contrastive": contrastive.item(), "alignment": _alignment(za, zb)}
            if self.style_penalty > 0:
                gap = view_gap(za, zb, self.pair_env_[rows])
                loss = loss + self.style_penalty * gap
                logs["view_gap"] = gap.item()
            loss = self.regularized(loss)
            self.optimizer_step(loss)
            return {"loss": loss.item(), **logs}
        x = torch.cat([x for x, _ in batches])
        y = torch.cat([y for _, y in batches])
        with torch.no_grad():
            z = self._codes(x)
        risk = self.task_loss(self.net_.head(z), y)
        loss = self.regularized(risk)
        self.optimizer_step(loss)
        return {"loss": loss.item(), "risk": risk.item()}

    def _codes(self, x: torch.Tensor) -> torch.Tensor:
        z = self.net_.features(x)
        return F.normalize(z, dim=1) if self.normalize else z

    def transform(self, x: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
        """The content codes ``(n, n_features)``: ``net.features(x)``, unit length with ``normalize`` (eval mode, no
        gradients)."""
        self._check_fitted("transform")
        self._check_inputs(x, f"{type(self).__name__}.transform")
        net = self.net_
        param = next(net.parameters())
        with evaluating(net):
            out = [self._codes(c.to(param.device, param.dtype)).to(x.device) for c in x.split(batch_size)]
        return torch.cat(out)

    def _outputs(self, x: torch.Tensor) -> torch.Tensor:
        """``head(codes(x))``: :meth:`predict` sees the head through the content codes of :meth:`transform`."""
        return self.net_.head(self._codes(x))


def _alignment(za: torch.Tensor, zb: torch.Tensor) -> float:
    """Mean cosine similarity of the pairs' codes (1 = the views agree exactly)."""
    with torch.no_grad():
        return F.cosine_similarity(za, zb, dim=1).mean().item()
