"""Equations from data: learn each node's structural equation as a formula, keep the invariant ones, build an SCM.

Public as ``cp.discovery``::

    learner = cp.discovery.MechanismLearner().fit(frame, "y", ["m", "b", "c"], environment="env")
    learner.table()                      # ranked candidates: invariant first, then by BIC
    mech = learner.mechanism()           # the first as a SymbolicMechanism (x = g(pa) + u)
    scm = cp.discovery.fit_scm(graph, frame, "env")

Pieces, one per module: :mod:`~causalphys.discovery.terms` and :mod:`~causalphys.discovery.library` (candidate
terms), :mod:`~causalphys.discovery.units` (dimensions), :mod:`~causalphys.discovery.sparse` (supports, BIC),
:mod:`~causalphys.discovery.equation` and :mod:`~causalphys.discovery.powerlaw` (fitted equations),
:mod:`~causalphys.discovery.invariance` (the test across environments), :mod:`~causalphys.discovery.learner`
(ranking), :mod:`~causalphys.discovery.mechanism` (the learned mechanism), :mod:`~causalphys.discovery.fit_scm`
and :mod:`~causalphys.discovery.compare` (held-out comparison with ``dowhy.gcm``).
"""

from causalphys.discovery.compare import METHODS, compare_heldout
from causalphys.discovery.equation import Equation, TermEquation
from causalphys.discovery.fit_scm import fit_scm
from causalphys.discovery.frames import stack_environments
from causalphys.discovery.invariance import InvarianceResult, invariance_test
from causalphys.discovery.learner import Candidate, MechanismLearner, learn_equation
from causalphys.discovery.library import Features, TermLibrary
from causalphys.discovery.mechanism import SymbolicMechanism
from causalphys.discovery.powerlaw import PowerLaw
from causalphys.discovery.sparse import bic, candidate_supports
from causalphys.discovery.terms import Term
from causalphys.discovery.units import as_dimension, check_units, dimension_of

__all__ = [
    "METHODS",
    "Candidate",
    "Equation",
    "Features",
    "InvarianceResult",
    "MechanismLearner",
    "PowerLaw",
    "SymbolicMechanism",
    "Term",
    "TermEquation",
    "TermLibrary",
    "as_dimension",
    "bic",
    "candidate_supports",
    "check_units",
    "compare_heldout",
    "dimension_of",
    "fit_scm",
    "invariance_test",
    "learn_equation",
    "stack_environments",
]
