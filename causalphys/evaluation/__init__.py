"""The OOD evaluation harness: shifts, metrics, model selection, the results store and reports.

The benchmarks live beside their data: :class:`causalphys.microscopy.ScannerShiftBenchmark` (the confounded labs),
:class:`causalphys.data.ColoredMNISTBenchmark`, :class:`causalphys.data.SCMBenchmark` (any SCM),
:class:`causalphys.data.TabularBenchmark` (CSVs), :class:`causalphys.data.ImageBenchmark` (image files).

- :mod:`~causalphys.evaluation.shifts` — node values and interventions on any SCM: each shift an intervention on
  the benchmark's SCM (the scanner shifts: :mod:`causalphys.microscopy.shifts`).
- :mod:`~causalphys.evaluation.harness` — one run: fit, then measure every environment and split.
- :mod:`~causalphys.evaluation.metrics` — accuracy, NLL, ECE, RMSE, R², counterfactual flip rate.
- :mod:`~causalphys.evaluation.latents` — learned vs. true latents: MCC with optimal matching, probe R², the
  disentanglement table (causal representation learning).
- :mod:`~causalphys.evaluation.selection` — training-domain validation, leave-one-environment-out, test-domain
  (oracle) and counterfactual selection, applied at report time.
- :mod:`~causalphys.evaluation.store`, :mod:`~causalphys.evaluation.sweep`, :mod:`~causalphys.evaluation.report`
  — run folders written atomically, a sweep read back, markdown tables and plots.
- :mod:`~causalphys.evaluation.study` — a study script's cells (method x seed, ...) computed once each, their rows
  in one CSV rewritten atomically: an interrupted study resumes where it stopped.
"""

from importlib import import_module

# Imported on first use (PEP 562): the report and selection modules need pandas, which training runs do not.
_LAZY = {
    "metrics": "causalphys.evaluation.metrics",
    "evaluate_run": "causalphys.evaluation.harness",
    "load_model": "causalphys.evaluation.external",
    "score_model": "causalphys.evaluation.external",
    "net_factory": "causalphys.evaluation.harness",
    "LatentDataError": "causalphys.evaluation.latents",
    "LatentMatching": "causalphys.evaluation.latents",
    "disentanglement_table": "causalphys.evaluation.latents",
    "match_latents": "causalphys.evaluation.latents",
    "mcc": "causalphys.evaluation.latents",
    "probe_r2": "causalphys.evaluation.latents",
    "write_report": "causalphys.evaluation.report",
    "agreement": "causalphys.evaluation.selection",
    "select": "causalphys.evaluation.selection",
    "DistributionShift": "causalphys.evaluation.shifts",
    "Interventions": "causalphys.evaluation.shifts",
    "NodeValues": "causalphys.evaluation.shifts",
    "Study": "causalphys.evaluation.study",
    "load_sweep": "causalphys.evaluation.sweep",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'causalphys.evaluation' has no attribute {name!r}")
    module = import_module(_LAZY[name])
    value = module if name == "metrics" else getattr(module, name)
    globals()[name] = value
    return value


def __dir__():
    return sorted([*globals(), *_LAZY])
