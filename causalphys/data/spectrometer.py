"""An example SCM outside microscopy: the absorption spectrometer of tutorial 3
(``notebooks/03_your_own_causal_graph.py``).

``conf/benchmark/spectrometer.yaml`` names :func:`spectrometer_scm` as its ``scm: {_target_: ...}``: a user's own
function returning an SCM plugs into :class:`~causalphys.data.scm_benchmark.SCMBenchmark` the same way.
"""

from __future__ import annotations

import torch

from causalphys import checks
from causalphys.scm import catalog as mech
from causalphys.scm import noise as nz
from causalphys.scm.graph import CausalGraph
from causalphys.scm.model import SCM

EDGES = (
    ("temperature", "concentration"),
    ("temperature", "baseline"),
    ("drift_rate", "baseline"),
    ("concentration", "spectrum"),
    ("path_length", "spectrum"),
    ("baseline", "spectrum"),
)
SPECTROMETER_ROLES = {
    "temperature": "confounder",
    "concentration": "label",
    "path_length": "sample",
    "drift_rate": "instrument",
    "baseline": "instrument",
}


def spectrometer_scm(n_wavelengths: int = 64, drift_rate: float = 0.05) -> SCM:
    """The spectrometer whose room temperature confounds the sample and the detector.

    Structural equations (``T`` in °C, ``c`` in mM, ``x`` absorbance at ``n_wavelengths`` wavelengths ``λ`` evenly
    spaced over 400-700 nm):

    - ``temperature``: ``T ~ N(22, 2²)`` (confounder)
    - ``concentration``: ``c = 1 + 0.15 (T - 22) + N(0, 0.2²)`` (label: warm days, more product)
    - ``path_length``: ``ℓ ~ U(0.7, 1.3)`` (sample: how full the cuvette is)
    - ``drift_rate``: ``r = drift_rate`` (instrument: the detector's drift per K)
    - ``baseline``: ``b = r (T - 22) + N(0, 0.01²)`` (instrument: the detector's temperature drift)
    - ``spectrum``: ``x(λ) = c ℓ · exp(-(λ - 560)² / (2 · 12²)) + b (λ - 550) / 150 + N(0, 0.02²)``,
      ``(n, n_wavelengths)`` (a Beer-Lambert absorption band plus a tilted baseline)
    """
    checks.int_at_least("n_wavelengths", n_wavelengths, 2)
    wavelength = torch.linspace(400.0, 700.0, n_wavelengths)  # nm
    peak = torch.exp(-0.5 * ((wavelength - 560.0) / 12.0) ** 2)  # the analyte's absorption band
    tilt = (wavelength - 550.0) / 150.0  # a baseline tilted across the range

    def spectrum(concentration, path_length, baseline):
        return (concentration * path_length)[:, None] * peak + baseline[:, None] * tilt

    return SCM(
        CausalGraph(EDGES, roles=SPECTROMETER_ROLES),
        {
            "temperature": mech.Normal(22.0, 2.0),
            "concentration": mech.Additive(lambda temperature: 1.0 + 0.15 * (temperature - 22.0), nz.Normal(0, 0.2)),
            "path_length": mech.Uniform(0.7, 1.3),
            "drift_rate": mech.Constant(float(drift_rate)),
            "baseline": mech.Additive(
                lambda temperature, drift_rate: drift_rate * (temperature - 22.0), nz.Normal(0, 0.01)
            ),
            "spectrum": mech.Additive(spectrum, nz.Normal(0, 0.02, shape=n_wavelengths)),
        },
    )
