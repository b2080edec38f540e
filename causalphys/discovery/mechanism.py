"""A learned equation as a causalphys mechanism: ``x = g(parents; θ̂) + u``, ``u ~ N(0, σ̂²)``.

:class:`SymbolicMechanism` is an :class:`~causalphys.scm.functional.Additive` mechanism, so it samples, takes
interventions and gives exact counterfactuals (``u = x - g(parents; θ̂)``) like any other. The noise model is the
Gaussian with the residual standard deviation ``σ̂ = sqrt(RSS / (n - k))`` of the fit (``k`` parameters) unless
another noise is given. The equation is evaluated in float64 numpy on the CPU (its terms may be user functions of
numpy arrays) and the result returned in the sampling dtype and device; it prints as its formula.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from causalphys.discovery.equation import Equation
from causalphys.discovery.invariance import InvarianceResult
from causalphys.errors import MechanismError
from causalphys.scm import noise as nz
from causalphys.scm.functional import Additive


def residual_std(equation: Equation) -> float:
    """``sqrt(RSS / (n - k))`` of a fitted equation."""
    return float(np.sqrt(equation.rss_ / max(equation.n_ - equation.n_params, 1)))


class SymbolicMechanism(Additive):
    """``target = g(parents; θ̂) + u`` from a fitted :class:`~causalphys.discovery.equation.Equation` (module docstring).

    Parameters
    ----------
    equation : a fitted equation
    noise : the noise model; default ``N(0, σ̂²)`` with the fit's residual standard deviation
    parents : the node's parents in the graph (default: the variables the equation uses); a parent the equation does
        not use is accepted and ignored (the data said its coefficient is zero)
    invariance : the invariance test that chose the equation, kept for the record
    """

    def __init__(
        self,
        equation: Equation,
        noise: nz.Noise | None = None,
        parents: Sequence[str] | None = None,
        invariance: InvarianceResult | None = None,
    ):
        if not hasattr(equation, "params_"):
            raise MechanismError(f"the equation {equation} is not fitted", equation.target)
        parents = tuple(equation.variables if parents is None else parents)
        unknown = sorted(set(equation.variables) - set(parents))
        if unknown:
            raise MechanismError(
                f"the equation {equation} uses {unknown}, which are not among the parents {list(parents)}",
                equation.target,
            )
        self.equation = equation
        self.parents = parents
        self.invariance = invariance
        super().__init__(self._mean, nz.Normal(0.0, residual_std(equation)) if noise is None else noise)

    def _mean(self, **parents: torch.Tensor) -> torch.Tensor:
        columns = {v: parents[v].detach().cpu().double().numpy() for v in self.equation.variables}
        if not columns:  # constant-only equation: one value for every unit
            return torch.as_tensor(float(self.equation.params_[0]), dtype=torch.float64)
        return torch.as_tensor(self.equation.predict(columns))

    def parent_names(self):
        return frozenset(self.parents)

    def required_parent_names(self):
        return frozenset(self.equation.variables)

    def __str__(self) -> str:
        return f"{self.equation} + u,  u ~ {self.noise!r}"

    def __repr__(self) -> str:
        return f"SymbolicMechanism({self.equation.target} = {self.equation.formula()}, noise={self.noise!r})"
