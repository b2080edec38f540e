"""causalphys: causal out-of-distribution robustness for the physical sciences.

The curated public API. Notebooks, experiments and users import from here::

    import causalphys as cp
    scm = cp.SCM(cp.CausalGraph([("x", "y")]), {"x": cp.mech.Normal(), "y": cp.mech.Linear({"x": 2.0})})
"""

from causalphys import active, data, discovery, evaluation, microscopy, nets, trainers
from causalphys.errors import (
    CausalPhysError,
    CounterfactualError,
    CycleError,
    DimensionError,
    DomainError,
    GraphError,
    InterventionError,
    MechanismError,
    ParameterError,
)
from causalphys.microscopy.scanners import load_scanners
from causalphys.scm import catalog as mech
from causalphys.scm import noise
from causalphys.scm.batch import Batch
from causalphys.scm.dowhy_bridge import estimate_effect, from_gcm, identify_effect, to_gcm
from causalphys.scm.environments import Environments
from causalphys.scm.graph import NODE_ROLES, CausalGraph
from causalphys.scm.interventions import Do, Intervention, Replace, Scale, SetNoise, Shift
from causalphys.scm.model import SCM
from causalphys.seeding import derive_seed
from causalphys.trainers import ERM, Trainer

__version__ = "0.1.0"

__all__ = [
    "ERM",
    "NODE_ROLES",
    "SCM",
    "Batch",
    "CausalGraph",
    "CausalPhysError",
    "CounterfactualError",
    "CycleError",
    "DimensionError",
    "DomainError",
    "active",
    "data",
    "discovery",
    "Do",
    "Environments",
    "evaluation",
    "GraphError",
    "Intervention",
    "InterventionError",
    "MechanismError",
    "ParameterError",
    "Replace",
    "Scale",
    "SetNoise",
    "Shift",
    "Trainer",
    "derive_seed",
    "estimate_effect",
    "from_gcm",
    "identify_effect",
    "load_scanners",
    "mech",
    "microscopy",
    "nets",
    "noise",
    "to_gcm",
    "trainers",
]
