"""Study 2: does hypothesis learning find which mechanism moves the scan lines, in fewer measurements than uniform
sampling?

A raster scan of ``rows`` lines (``causalphys.microscopy.scan``): line ``i`` is recorded at ``t_i = i · T_line``,
``T_line = W · τ + t_flyback``, and its fast-axis displacement (Å, against the calibrated scan, up to a constant
offset ``c`` — the reference lattice row's position) is

    y_i = c + v_x · t_i + A sin(2π f t_i + φ) + σ_j z_i,   z_i ~ N(0, 1)

(the drift term is the drift part of the scan matrix ``B`` acting on the line's slow-axis step, the sine is the
mains pick-up of ``line_displacements``, ``σ_j z_i`` the line jitter). Each run intervenes on the scan: the truth
is ``none`` (``v_x = A = 0``), ``drift`` (``A = 0``) or ``mains`` (``v_x = 0``); every other parameter is drawn from
the scanner preset's ranges (seeded). Measuring line ``i`` (locating the reference row in it) returns ``y_i``.

Three hypotheses, each Bayesian linear regression on its basis as a Gaussian process (offset ``~ N(0, C)`` with
``C`` and the noise ``σ²`` fitted by maximum evidence; the mechanism's prior fixed from the preset):
``none``: ``c``; ``drift``: ``c + v t``, ``v ~ N(0, v_max²)``; ``mains``: ``c + a sin 2πft + b cos 2πft``,
``a, b ~ N(0, A_max²)`` at the lab's known mains frequency ``f``.

Methods, with the same budget: ``hypothesis_learning`` (the points chosen by the learner) and ``uniform`` (lines in
a seeded random order). After every measurement each method names a hypothesis: by the highest average reward
(``selection=average_reward``, hypothesis learning only) or by the highest log evidence of all measurements so far
(``selection=log_evidence``, both methods).

    .venv/bin/python experiments/active/hypothesis_scan.py --seeds 20     # writes experiments/active/hypothesis/
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy.stats import wilcoxon
from sklearn.gaussian_process.kernels import ConstantKernel, DotProduct

import causalphys as cp
from causalphys.active import Hypothesis, HypothesisLearner, log_evidences
from causalphys.atomic import write_text
from causalphys.evaluation import Study
from causalphys.evaluation.store import FIELDS, config_hash

HERE = Path(__file__).resolve().parent / "hypothesis"
TRUTHS = ("none", "drift", "mains")
COLUMNS = (*FIELDS, "measurements")
METHODS = (
    ("hypothesis_learning", "average_reward"),
    ("hypothesis_learning", "log_evidence"),
    ("uniform", "log_evidence"),
)


def draw_scan(preset, truth: str, seed: int, rows: int) -> dict:
    """The scan of one run: its settings and the true fast-axis displacement of every line, ``(rows,)`` Å.

    Every draw depends on ``seed`` only, so the three truths of a seed are interventions on one and the same scan
    (same settings, jitter, phase and offset; the drift and the pick-up switched on or off)."""
    g = torch.Generator().manual_seed(cp.derive_seed(seed, "scan"))
    r = preset.ranges

    def draw(name):
        low, high = map(float, r[name])
        return torch.tensor([low + (high - low) * torch.rand((), generator=g, dtype=torch.float64).item()])

    dwell, flyback, jitter = draw("dwell_time"), draw("flyback_time"), draw("line_jitter")
    speed, amplitude = draw("drift_speed"), draw("mains_amplitude")
    sign = 1.0 if torch.rand((), generator=g).item() < 0.5 else -1.0
    frequency = 50.0 if torch.rand((), generator=g).item() < 0.5 else 60.0
    phase = torch.rand(1, generator=g, dtype=torch.float64) * 2 * math.pi
    offset = (torch.rand((), generator=g, dtype=torch.float64).item() - 0.5) * 2.0  # Å, the reference row
    z = torch.randn(1, rows, generator=g, dtype=torch.float64)
    v = torch.tensor([[sign * speed.item(), 0.0]], dtype=torch.float64) if truth == "drift" else torch.zeros(1, 2)
    a = amplitude if truth == "mains" else torch.zeros(1, dtype=torch.float64)
    t_line = cp.microscopy.scan.line_time(rows, dwell, flyback)
    zero = torch.zeros(1, dtype=torch.float64)
    pixel = torch.tensor([float(np.mean(r["pixel_size"]))], dtype=torch.float64)

    def matrix(velocity):
        return cp.microscopy.scan.scan_matrix(pixel, zero, zero, zero, zero, velocity.double(), dwell, t_line)

    lines = torch.arange(rows, dtype=torch.float64)
    drift = (matrix(v) - matrix(torch.zeros(1, 2)))[0, 0, 1] * lines  # the drift's fast-axis shift of line i
    d = cp.microscopy.scan.line_displacements(rows, t_line, jitter, z, a, torch.tensor([frequency]), phase, zero)
    y = offset + drift + d[0, :, 0]
    return {
        "t": (lines * t_line).numpy(),
        "y": y.numpy(),
        "t_line": t_line.item(),
        "frequency": frequency,
        "jitter": jitter.item(),
        "speed": speed.item(),
        "amplitude": amplitude.item(),
    }


def hypotheses(preset, frequency: float) -> list[Hypothesis]:
    """The three hypotheses on the line time ``t`` (s); mechanism priors from the preset's upper range ends."""
    v_max, a_max = float(preset.ranges["drift_speed"][1]), float(preset.ranges["mains_amplitude"][1])
    offset = ConstantKernel(1.0, (1e-6, 1e3))

    def mains_basis(t):
        return np.hstack([np.sin(2 * np.pi * frequency * t), np.cos(2 * np.pi * frequency * t)])

    fixed = dict(sigma_0=0.0, sigma_0_bounds="fixed")
    return [  # two free hyper-parameters (offset variance, noise), a smooth evidence: no random restarts needed
        Hypothesis("none", offset, n_restarts=0),
        Hypothesis("drift", offset + ConstantKernel(v_max**2, "fixed") * DotProduct(**fixed), n_restarts=0),
        Hypothesis(
            "mains", offset + ConstantKernel(a_max**2, "fixed") * DotProduct(**fixed), mains_basis, n_restarts=0
        ),
    ]


def settle(correct: list[bool], first: int) -> float:
    """Measurements until the named hypothesis is right and stays right, ``correct[k]`` being the verdict after
    ``first + k`` measurements (``nan`` if it is wrong at the end)."""
    if not correct[-1]:
        return math.nan
    k = len(correct)
    while k > 0 and correct[k - 1]:
        k -= 1
    return float(first + k)


def evidences_along(hyps, candidates, y, indices, first: int, seed: int) -> np.ndarray:
    """Log evidence of every hypothesis on the first ``n`` measurements of ``indices``, ``n = first..len``:
    ``(len - first + 1, H)``."""
    return np.array(
        [log_evidences(hyps, candidates[indices[:n]], y[indices[:n]], seed) for n in range(first, len(indices) + 1)]
    )


def run_one(preset, truth: str, seed: int, args) -> list[dict]:
    """The tidy rows of one (seed, truth): per method, selection rule and number of measurements."""
    scan = draw_scan(preset, truth, seed, args.rows)
    hyps = hypotheses(preset, scan["frequency"])
    candidates, y = scan["t"][:, None], scan["y"]

    def measure(x):
        return y[int(round(x[0] / scan["t_line"]))]

    started = time.perf_counter()
    learner = HypothesisLearner(
        hyps,
        policy=args.policy,
        temperature=args.temperature,
        epsilon=args.epsilon,
        warmup=args.warmup,
        n_initial=args.n_initial,
        reward=args.reward,
        acquisition=args.acquisition,
        step_size=args.step_size,
        seed=cp.derive_seed(seed, "learner", truth),
    )
    result = learner.run(measure, candidates, args.budget)
    seconds = time.perf_counter() - started
    uniform = np.random.default_rng(cp.derive_seed(seed, "uniform")).permutation(args.rows)[: args.budget]
    first = args.n_initial
    evidence = {
        "hypothesis_learning": evidences_along(hyps, candidates, y, result.indices, first, seed),
        "uniform": evidences_along(hyps, candidates, y, uniform, first, seed),
    }
    named = {(m, "log_evidence"): e.argmax(1) for m, e in evidence.items()}
    reward_named = []
    for k, record in enumerate(result.records[first - 1 :]):  # after first, ..., budget measurements
        top = np.flatnonzero(record == record.max())  # ties: the higher evidence
        reward_named.append(int(top[np.argmax(evidence["hypothesis_learning"][k, top])]))
    named[("hypothesis_learning", "average_reward")] = np.array(reward_named)
    assert named[("hypothesis_learning", "average_reward")][-1] == result.names.index(result.winner)
    truth_index = TRUTHS.index(truth)
    base = {"run": f"seed{seed}", "env": truth, "split": "measured"}
    rows = []
    for (method, selection), names in named.items():
        correct = [bool(n == truth_index) for n in names]
        for k, c in enumerate(correct):
            rows.append(
                {
                    **base,
                    "trainer": method,
                    "metric": "correct",
                    "value": float(c),
                    "selection": selection,
                    "measurements": first + k,
                }
            )
        for metric, value in (
            ("correct_final", float(correct[-1])),
            ("measurements_to_settle", settle(correct, first)),
            ("named_final", float(names[-1])),
        ):
            rows.append(
                {
                    **base,
                    "trainer": method,
                    "metric": metric,
                    "value": value,
                    "selection": selection,
                    "measurements": args.budget,
                }
            )
    record = result.records[-1]
    rivals = np.delete(record, truth_index)
    after_warmup = result.chosen[first + args.warmup * len(hyps) :]
    for metric, value in (
        ("average_reward_of_truth", record[truth_index]),
        ("average_reward_of_best_rival", rivals.max()),
        ("fraction_of_steps_choosing_truth", float(np.mean(after_warmup == truth_index))),
    ):
        rows.append(
            {
                **base,
                "trainer": "hypothesis_learning",
                "metric": metric,
                "value": float(value),
                "selection": "none",
                "measurements": args.budget,
            }
        )
    snr = {
        "none": 0.0,
        "drift": scan["speed"] * args.rows * scan["t_line"] / scan["jitter"],
        "mains": scan["amplitude"] / scan["jitter"],
    }[truth]
    for metric, value in (("signal_to_noise", snr), ("learner_seconds", seconds)):
        rows.append(
            {
                **base,
                "trainer": "scan",
                "metric": metric,
                "value": value,
                "selection": "none",
                "measurements": args.budget,
            }
        )
    return rows


def label(method: str, selection: str) -> str:
    points = "hypothesis learning" if method == "hypothesis_learning" else "uniform"
    return f"{points}, named by {selection.replace('_', ' ')}"


def runs_of(rows: list[dict], method: str, selection: str, metric: str, truths=TRUTHS) -> list[dict]:
    return [
        r
        for r in rows
        if r["trainer"] == method and r["selection"] == selection and r["metric"] == metric and r["env"] in truths
    ]


def _settle_by_run(rows: list[dict], method: str, selection: str, budget: int) -> dict:
    """``{(run, truth): measurements until right for good}``, unsettled runs as ``budget + 1``."""
    return {
        (r["run"], r["env"]): (budget + 1.0 if math.isnan(float(r["value"])) else float(r["value"]))
        for r in runs_of(rows, method, selection, "measurements_to_settle")
    }


def table(rows: list[dict], budget: int) -> str:
    """Per truth and method: fraction named right at the end, and measurements until right for good."""
    lines = [
        "| truth | points | named by | runs | right at the end | right for good after (median) | (mean, unsettled = "
        f"{budget + 1}) |",
        "|---|---|---|---|---|---|---|",
    ]
    for truths in [(t,) for t in TRUTHS] + [TRUTHS]:
        for method, selection in METHODS:
            final = [float(r["value"]) for r in runs_of(rows, method, selection, "correct_final", truths)]
            if not final:
                continue
            settle_n = np.array(
                [float(r["value"]) for r in runs_of(rows, method, selection, "measurements_to_settle", truths)]
            )
            capped = np.where(np.isnan(settle_n), np.inf, settle_n)
            median = np.median(capped)
            median_text = f"{median:.0f}" if np.isfinite(median) else f"> {budget}"
            mean = np.where(np.isnan(settle_n), budget + 1, settle_n).mean()
            points = "hypothesis learning" if method == "hypothesis_learning" else "uniform"
            truth = "all" if len(truths) > 1 else truths[0]
            lines.append(
                f"| {truth} | {points} | {selection.replace('_', ' ')} | {len(final)} | "
                f"{sum(final):.0f}/{len(final)} ({100 * np.mean(final):.0f} %) | {median_text} | {mean:.1f} |"
            )
    lines += [
        "",
        "Paired against uniform lines named by evidence (same seed and truth; unsettled runs count as "
        f"{budget + 1}): runs that settle in fewer / as many / more measurements, and the two-sided Wilcoxon "
        "signed-rank p-value (zero differences dropped).",
        "",
        "| points, named by | fewer | as many | more | mean difference | p |",
        "|---|---|---|---|---|---|",
    ]
    reference = _settle_by_run(rows, "uniform", "log_evidence", budget)
    for method, selection in METHODS[:2]:
        mine = _settle_by_run(rows, method, selection, budget)
        keys = sorted(set(mine) & set(reference))
        if not keys:
            continue
        d = np.array([mine[k] - reference[k] for k in keys])
        p_value = wilcoxon(d).pvalue if np.any(d != 0) else 1.0
        lines.append(
            f"| {label(method, selection)} | {(d < 0).sum()} | {(d == 0).sum()} | {(d > 0).sum()} | "
            f"{d.mean():+.1f} | {p_value:.2g} |"
        )
    lines += [
        "",
        "Hypothesis learning's own bookkeeping at the end (mean over runs): the true hypothesis's average reward, the "
        "best rival's, and the fraction of post-warm-up steps that chose the true hypothesis.",
        "",
        "| truth | reward of the truth | reward of the best rival | steps choosing the truth |",
        "|---|---|---|---|",
    ]
    for truth in TRUTHS:
        stats = [
            [float(r["value"]) for r in runs_of(rows, "hypothesis_learning", "none", metric, (truth,))]
            for metric in (
                "average_reward_of_truth",
                "average_reward_of_best_rival",
                "fraction_of_steps_choosing_truth",
            )
        ]
        if stats[0]:
            lines.append(f"| {truth} | " + " | ".join(f"{np.mean(v):.2f}" for v in stats) + " |")
    snr = {
        t: np.array([float(r["value"]) for r in runs_of(rows, "scan", "none", "signal_to_noise", (t,))])
        for t in TRUTHS[1:]
    }
    notes = [
        f"{t}: signal-to-noise {v.min():.1f}-{v.max():.1f} (median {np.median(v):.1f})"
        for t, v in snr.items()
        if len(v)
    ]
    return "\n".join(lines) + "\n\n" + "; ".join(notes) + "\n"


def curves(rows: list[dict], truths) -> dict:
    """Fraction of runs naming the truth after ``n`` measurements, per (method, selection): ``{key: (n, frac)}``."""
    out = {}
    for method, selection in METHODS:
        by_n = {}
        for r in runs_of(rows, method, selection, "correct", truths):
            by_n.setdefault(int(r["measurements"]), []).append(float(r["value"]))
        if by_n:
            n = np.array(sorted(by_n))
            out[(method, selection)] = (n, np.array([np.mean(by_n[k]) for k in n]))
    return out


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(15, 3.6), sharey=True)
    for ax, truths in zip(axes, [(t,) for t in TRUTHS] + [TRUTHS]):
        for (method, selection), (n, frac) in curves(rows, truths).items():
            style = "-" if method == "hypothesis_learning" else "--"
            ax.plot(n, frac, style, label=label(method, selection))
        ax.axhline(1 / len(TRUTHS), color="gray", lw=0.8, ls=":", label="chance (a random hypothesis)")
        ax.set_title("all truths" if len(truths) > 1 else f"truth: {truths[0]}")
        ax.set_xlabel("measurements (scan lines)")
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("fraction of runs naming the truth")
    axes[-1].legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20, help="seeds 0..N-1, each with every truth")
    parser.add_argument("--first-seed", type=int, default=0, help="seeds first..first+N-1 (e.g. 100: tuning seeds)")
    parser.add_argument(
        "--preset", default="uncorrected_200kv", help="scanner preset (causalphys/presets/scanner) of the ranges"
    )
    parser.add_argument("--rows", type=int, default=256, help="scan lines (and pixels per line)")
    parser.add_argument("--budget", type=int, default=40, help="measurements per run")
    parser.add_argument("--policy", default="softmax", choices=["softmax", "epsilon_greedy"])
    parser.add_argument("--temperature", type=float, default=0.1)
    parser.add_argument("--epsilon", type=float, default=0.1)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--n-initial", type=int, default=4)
    parser.add_argument(
        "--reward", default="uncertainty", choices=["uncertainty", "evidence"], help="the paper's, or evidence lead"
    )
    parser.add_argument(
        "--acquisition",
        default="uncertainty",
        choices=["uncertainty", "discrimination"],
        help="the chosen hypothesis's largest std (the paper's), or where it differs most from its rivals",
    )
    parser.add_argument(
        "--step-size",
        type=float,
        default=None,
        help="records as recency-weighted averages with this step size (default: sample averages, the paper's)",
    )
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    # reward and acquisition enter the configuration only when not the paper's, so that folders written before
    # they existed keep their hash
    config = {
        k: v
        for k, v in vars(args).items()
        if k not in ("seeds", "first_seed", "out")
        and not (k in ("reward", "acquisition") and v == "uncertainty")
        and not (k == "step_size" and v is None)
    }
    args.out.mkdir(parents=True, exist_ok=True)
    config_path, results = args.out / "config.json", args.out / "results.csv"
    if results.exists():
        saved = json.loads(config_path.read_text()) if config_path.exists() else {}
        if saved.get("hash") != config_hash(config):
            raise SystemExit(
                f"{results} holds runs of another configuration ({saved.get('config')}, this one {config}); "
                "use another --out or delete that folder"
            )
    write_text(config_path, json.dumps({"config": config, "hash": config_hash(config)}, indent=2) + "\n")
    preset = {p.name: p for p in cp.load_scanners([args.preset])}[args.preset]
    study = Study(results, key=("run", "env"), fields=COLUMNS)
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        for truth in TRUTHS:
            started = time.perf_counter()
            new = study.run((f"seed{seed}", truth), run_one, preset, truth, seed, args)
            if new is None:
                continue
            named = {
                f"{r['trainer']}/{r['selection']}": TRUTHS[int(r["value"])] for r in new if r["metric"] == "named_final"
            }
            print(f"seed {seed} {truth}: {named} ({time.perf_counter() - started:.0f} s)", file=sys.stderr, flush=True)
    summary = table(study.rows, args.budget)
    write_text(args.out / "table.md", summary)
    plot(study.rows, args.out / "fraction_correct.png")
    print(summary)


if __name__ == "__main__":
    main()
