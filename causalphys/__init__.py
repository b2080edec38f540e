"""causalphys: causal out-of-distribution robustness for the physical sciences.

The curated public API. Notebooks, experiments and users import from here::

    import causalphys as cp
    scm = cp.SCM(cp.CausalGraph([("x", "y")]), {"x": cp.mech.Normal(), "y": cp.mech.Linear({"x": 2.0})})
"""

from causalphys.errors import (
    CausalPhysError,
    CounterfactualError,
    CycleError,
    GraphError,
    InterventionError,
    MechanismError,
    ParameterError,
)
from causalphys.scm import mech, noise
from causalphys.scm.batch import Batch
from causalphys.scm.dowhy_bridge import estimate_effect, from_gcm, identify_effect, to_gcm
from causalphys.scm.environments import Environments
from causalphys.scm.graph import ROLES, CausalGraph
from causalphys.scm.interventions import Do, Intervention, Replace, Scale, SetNoise, Shift
from causalphys.scm.model import SCM
from causalphys.seeding import derive_seed

__version__ = "0.1.0"

__all__ = [
    "ROLES",
    "SCM",
    "Batch",
    "CausalGraph",
    "CausalPhysError",
    "CounterfactualError",
    "CycleError",
    "Do",
    "Environments",
    "GraphError",
    "Intervention",
    "InterventionError",
    "MechanismError",
    "ParameterError",
    "Replace",
    "Scale",
    "SetNoise",
    "Shift",
    "derive_seed",
    "estimate_effect",
    "from_gcm",
    "identify_effect",
    "mech",
    "noise",
    "to_gcm",
]
