"""A batch of samples from an SCM: one batch-first tensor per node, and the exogenous noise when recorded."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch

from causalphys.errors import CausalPhysError


class Batch(dict):
    """``{node: tensor of shape (n, *node_shape)}``; ``noise`` is ``{node: u}`` when it was recorded, else ``None``.

    A plain ``dict`` in every other respect, so ``batch["image"]`` and ``dict(batch)`` work as expected.
    """

    def __init__(self, values: Mapping[str, torch.Tensor] = (), noise: Mapping[str, torch.Tensor] | None = None):
        super().__init__(values)
        self.noise = None if noise is None else dict(noise)

    @property
    def n(self) -> int:
        """The number of units (the batch size)."""
        for value in self.values():
            return int(value.shape[0])
        return 0

    def to(self, device: str | torch.device) -> Batch:
        """A copy with every tensor (values and noise) on ``device``."""
        noise = None if self.noise is None else {k: v.to(device) for k, v in self.noise.items()}
        return Batch({k: v.to(device) for k, v in self.items()}, noise)

    def to_dataframe(self, nodes: Iterable[str] | None = None):
        """The scalar nodes as a ``pandas.DataFrame`` (one column per node, one row per unit)."""
        import pandas as pd

        nodes = list(self) if nodes is None else list(nodes)
        missing = [n for n in nodes if n not in self]
        if missing:
            raise CausalPhysError(f"nodes {missing} are not in the batch (it has {list(self)})")
        shaped = {n: tuple(self[n].shape[1:]) for n in nodes if self[n].dim() != 1}
        if shaped:
            raise CausalPhysError(f"only scalar nodes fit in a DataFrame; these are not: {shaped}")
        return pd.DataFrame({n: self[n].detach().cpu().numpy() for n in nodes})

    def __repr__(self) -> str:
        shapes = ", ".join(f"{k}: {tuple(v.shape)}" for k, v in self.items())
        noise = "" if self.noise is None else f", noise recorded for {len(self.noise)} nodes"
        return f"Batch({shapes}{noise})"
