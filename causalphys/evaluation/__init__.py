"""The OOD evaluation harness: benchmarks, shifts, metrics, model selection, the results store and reports.

- :mod:`~causalphys.evaluation.benchmarks` — the scanner-shift and Colored MNIST benchmarks (tabular CSVs:
  :class:`causalphys.data.tabular.TabularBenchmark`).
- :mod:`~causalphys.evaluation.shifts` — held-out scanners, severity sweeps, routing (confounding) shifts, node
  values: each an intervention on the benchmark's SCM.
- :mod:`~causalphys.evaluation.harness` — one run: fit, then measure every environment and split.
- :mod:`~causalphys.evaluation.metrics` — accuracy, NLL, ECE, RMSE, R², counterfactual flip rate.
- :mod:`~causalphys.evaluation.selection` — training-domain validation, leave-one-environment-out, test-domain
  (oracle) and counterfactual selection, applied at report time.
- :mod:`~causalphys.evaluation.store`, :mod:`~causalphys.evaluation.sweep`, :mod:`~causalphys.evaluation.report`
  — run folders written atomically, a sweep read back, markdown tables and plots.
"""

from causalphys.evaluation import metrics
from causalphys.evaluation.benchmarks import ColoredMNISTBenchmark, ScannerShiftBenchmark
from causalphys.evaluation.harness import evaluate_run, net_factory
from causalphys.evaluation.report import write_report
from causalphys.evaluation.selection import agreement, select
from causalphys.evaluation.shifts import DistributionShift, HeldOutScanners, NodeValues, Routing, Severity
from causalphys.evaluation.sweep import load_sweep

__all__ = [
    "ColoredMNISTBenchmark",
    "DistributionShift",
    "HeldOutScanners",
    "NodeValues",
    "Routing",
    "ScannerShiftBenchmark",
    "Severity",
    "agreement",
    "evaluate_run",
    "load_sweep",
    "metrics",
    "net_factory",
    "select",
    "write_report",
]
