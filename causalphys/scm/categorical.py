"""Conditional categorical mechanism: logits from the parents, the category by the Gumbel-max trick."""

from __future__ import annotations

from collections.abc import Callable

import torch

from causalphys.errors import MechanismError, ParameterError
from causalphys.scm import noise as nz
from causalphys.scm.mechanism import Mechanism, call_signature


class ConditionalCategorical(Mechanism):
    """``x = argmax_k (logits(**parents)[:, k] + u_k)``, ``u ~ Gumbel(0, 1)^K``: ``P(x = k) = softmax(logits)_k``.

    ``logits`` returns ``(n, n_classes)`` (or ``(n_classes,)``, shared by all units). Values are
    ``0., ..., K-1.``. The Gumbel-max form keeps the noise
    explicit, so counterfactuals reuse the recorded ``u`` (the Gumbel-max counterfactual of Oberst & Sontag 2019).
    """

    def __init__(self, logits: Callable[..., torch.Tensor], n_classes: int):
        if int(n_classes) < 2:
            raise ParameterError(f"ConditionalCategorical needs n_classes >= 2, got {n_classes}")
        self.logits = logits
        self.n_classes = int(n_classes)
        self.noise = nz.Gumbel(shape=(self.n_classes,))
        self.shape = ()
        self._accepted, self._required = call_signature(logits)

    def parent_names(self):
        return self._accepted

    def required_parent_names(self):
        return self._required

    def evaluate(self, parents, u, *, n, device, dtype):
        logits = torch.as_tensor(self.logits(**parents), device=device, dtype=dtype)
        if logits.shape == (self.n_classes,):
            logits = logits.expand(n, self.n_classes)
        if logits.shape != (n, self.n_classes):
            raise MechanismError(
                f"logits must have shape (n, n_classes) = {(n, self.n_classes)}, got {tuple(logits.shape)}"
            )
        return torch.argmax(logits + u, dim=1).to(dtype)

    def __repr__(self):
        return f"ConditionalCategorical(n_classes={self.n_classes})"
