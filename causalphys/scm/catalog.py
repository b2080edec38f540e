"""The catalogue of mechanisms, one namespace, public as ``cp.mech``: ``cp.mech.Normal(0, 1)``,
``cp.mech.Additive(f, noise=...)``. The contract every mechanism follows (the base class) is
:mod:`causalphys.scm.mechanism`; the mechanisms themselves live in ``roots``, ``functional``, ``categorical`` and
``mlp_mechanism``."""

from causalphys.scm.categorical import ConditionalCategorical
from causalphys.scm.functional import Additive, Function, Linear
from causalphys.scm.mechanism import Mechanism
from causalphys.scm.mlp_mechanism import MLPMechanism
from causalphys.scm.roots import Bernoulli, Categorical, Constant, Empirical, LogNormal, Normal, Uniform

__all__ = [
    "Additive",
    "Bernoulli",
    "Categorical",
    "ConditionalCategorical",
    "Constant",
    "Empirical",
    "Function",
    "Linear",
    "LogNormal",
    "MLPMechanism",
    "Mechanism",
    "Normal",
    "Uniform",
]
