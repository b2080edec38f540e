"""Learners trained on several environments: ERM, the invariant-learning methods and causal representation learners
(the iVAE) built on :class:`Trainer`.

Every trainer has its hyper-parameters in ``__init__`` and its defaults plus random-search ranges in
``conf/trainer/<name>.yaml``; it implements ``update(batches)`` and inherits ``fit``, ``predict``, ``save`` and
``load`` from :class:`~causalphys.trainers.base.Trainer`.
"""

from causalphys.trainers.base import Trainer
from causalphys.trainers.content_style import ContentStyle
from causalphys.trainers.coral import CORAL
from causalphys.trainers.erm import ERM
from causalphys.trainers.errors import CheckpointError, DataError, DataTypeError, NetError, NotFittedError
from causalphys.trainers.fishr import Fishr
from causalphys.trainers.groupdro import GroupDRO
from causalphys.trainers.ibirm import IBIRM
from causalphys.trainers.irm import IRM
from causalphys.trainers.ivae import IVAE
from causalphys.trainers.mmd import MMD
from causalphys.trainers.physics import CounterfactualInvariance, InstrumentRandomization
from causalphys.trainers.vrex import VREx

__all__ = [
    "CORAL",
    "ERM",
    "IBIRM",
    "IRM",
    "IVAE",
    "MMD",
    "CheckpointError",
    "ContentStyle",
    "CounterfactualInvariance",
    "DataError",
    "DataTypeError",
    "Fishr",
    "GroupDRO",
    "InstrumentRandomization",
    "NetError",
    "NotFittedError",
    "Trainer",
    "VREx",
]
