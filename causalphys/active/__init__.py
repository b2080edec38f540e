"""Learning by experimenting: choose the next measurement by what it would teach, and learn the mechanism from
as few measurements as possible.

- the experiment loop (:mod:`causalphys.active.loop`): a strategy names the next experiment, an instrument (an SCM's
  environments, or a user's callback for a real one) measures it, a learner is refitted, every round is recorded;
- strategies (:mod:`causalphys.active.strategies`): random, ensemble uncertainty, prediction shift;
- hypothesis learning (:mod:`causalphys.active.hypothesis`): competing physical hypotheses as structured
  probabilistic models, rewarded by how fast their predictive uncertainty falls (or by their evidence).
"""

from causalphys.active.gp_hypothesis import Hypothesis, MeasurementError, log_evidences
from causalphys.active.hypothesis import (
    HypothesisLearner,
    HypothesisLearningResult,
    choose_hypothesis,
    discrimination,
    symmetric_kl,
    uncertainty_reward,
    update_record,
)
from causalphys.active.instruments import InstrumentError, SCMInstrument
from causalphys.active.learners import TrainerLearner
from causalphys.active.loop import ActiveLoop, ActiveLoopError, ActiveResult
from causalphys.active.strategies import (
    InstrumentMatchStrategy,
    LoopState,
    PoolScoreStrategy,
    PredictionShiftStrategy,
    RandomStrategy,
    Strategy,
    UncertaintyStrategy,
)

__all__ = [
    "ActiveLoop",
    "ActiveLoopError",
    "ActiveResult",
    "Hypothesis",
    "HypothesisLearner",
    "HypothesisLearningResult",
    "InstrumentError",
    "InstrumentMatchStrategy",
    "LoopState",
    "MeasurementError",
    "PoolScoreStrategy",
    "PredictionShiftStrategy",
    "RandomStrategy",
    "SCMInstrument",
    "Strategy",
    "TrainerLearner",
    "UncertaintyStrategy",
    "choose_hypothesis",
    "discrimination",
    "log_evidences",
    "symmetric_kl",
    "uncertainty_reward",
    "update_record",
]
