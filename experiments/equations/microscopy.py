"""Issue 23, goal 1: three laws of the microscopy simulator recovered as formulas from its own interventions.

    PYTHONPATH=. .venv/bin/python experiments/equations/microscopy.py [--seed 0] [--out DIR]

1. Shot noise: environments ``do(dose := d)``; the same specimens imaged twice with fresh detector noise (two
   counterfactual sessions); per image ``σ_noise = std(x₁ - x₂)/√2`` and ``signal = √(var((x₁ + x₂)/2) - σ²/2)`` (the
   image's contrast); learn ``snr = c · dose^α``.
2. Column contrast: a crystal of single-element columns (Z = 6 ... 79, 6 Å apart) rendered at several
   ``do(z_exponent := n)`` and, at each, several instruments (``do(probe_sigma, dose)``); per column the integrated
   intensity (a disc, less the mean of the ring around it); learn ``intensity = c · Z^n`` and test the law of the
   relative intensity for invariance across the instruments.
3. Drift: environments ``do(dwell_time := τ)``, drift speed drawn ``U(0.5, 8)`` Å/s in every direction
   (``intervene(drift_speed=Uniform)``); the distortion ``M = B₀⁻¹ B`` of each image read from its lattice reflections
   against the same specimen without drift (``counterfactual(do(drift_speed := 0))``); the displacement per line
   ``d = Δx · |(M - I) e_slow|`` (Å); learn ``d = c · drift_speed · line_time`` (truth ``c = 1``).

Every law is learned by ``cp.discovery`` (``MechanismLearner``: sparse terms and power laws with free exponents,
ranked by the invariance test across the environments, then extended BIC) with ``noise="free"``: the environments
are instruments (dose, probe, dwell time) that set the measurement's noise level but not the law, so the residual
spread may differ between them. The headline formula of each law is the learner's first-ranked candidate; a direct
fit of the known form (``PowerLaw`` / ``TermEquation``) is kept as a cross-check. Writes ``shot_noise.csv``,
``columns.csv``, ``drift.csv`` (one row per measurement), ``results.csv`` (tidy: experiment, fit, quantity, value,
stderr, truth, goal, met, noise setting and invariance p-values), ``results.md``, ``candidates.md`` (the learners'
rankings) and ``laws.png``.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd
import sympy as sp
import torch

import causalphys as cp

HERE = Path(__file__).resolve().parent / "microscopy"
SCANNER = "corrected_200kv"  # the preset whose ranges set every node not intervened on
LADDER_Z = (6, 38, 14, 56, 22, 79)  # C, Sr, Si, Ba, Ti, Au: columns in the order of the cell's sites
DTYPE = torch.float64
NOISE = "free"  # the instrument (the environment) sets the noise level: cp.discovery.invariance


# -- the simulator ------------------------------------------------------------------------------------------------
def ladder_phase(z=LADDER_Z) -> cp.microscopy.Phase:
    """A fictitious crystal of single-element columns (one per Z), three by two in a cell of 3a by 2a, so that with
    ``lattice_constant`` 18 Å the columns stand 6 Å apart (at 3 Å the neighbours' Cauchy probe tails biased n by
    +0.02 to +0.09 in a trial: see the README)."""
    sites = ((0.0, 0.0), (1 / 3, 0.0), (2 / 3, 0.0), (0.0, 0.5), (1 / 3, 0.5), (2 / 3, 0.5))
    return cp.microscopy.Phase(
        "Z ladder",
        cell=((1.0, 0.0), (0.0, 2 / 3)),
        sites=sites[: len(z)],
        columns=tuple((int(v),) for v in z),
        kinds=tuple(f"Z{v}" for v in z),
    )


def lab(shape: int, phase=None, **options) -> cp.SCM:
    """The column lab (``cp.microscopy.column_lab``) with the one scanner preset ``SCANNER``: every instrument
    parameter a node that an intervention sets; ``columns`` maps where each kind of column appears."""
    scanners = cp.load_scanners([SCANNER])
    if phase is None:
        return cp.microscopy.column_lab(scanners, image_shape=(shape, shape), **options)
    return cp.microscopy.column_lab(
        scanners, phase=phase, kinds=phase.column_kinds, image_shape=(shape, shape), **options
    )


def fresh_session(scm: cp.SCM, batch, do: dict, seed: int):
    """The same units under ``do`` with the detector's noise drawn anew (another session: same specimen, same
    scan, new shot and read noise)."""
    g = torch.Generator().manual_seed(seed)
    fresh = scm.mechanisms["image"].noise.sample(batch["image"].shape[0], g, torch.device("cpu"), DTYPE)
    noise = {**batch.noise, "image": fresh}
    return scm.counterfactual(batch, do, noise=noise)


# -- 1. shot noise ------------------------------------------------------------------------------------------------
def shot_noise_data(n: int = 24, doses=None, shape: int = 64, seed: int = 0) -> pd.DataFrame:
    """One row per image: ``dose`` (e⁻/Å², the environment), ``snr``, ``signal`` and ``noise`` (ADU), from two
    sessions of the same ``n`` specimens at each dose."""
    doses = np.logspace(2.5, 5, 11) if doses is None else np.asarray(doses, dtype=float)
    scm = lab(shape)
    batch = scm.sample(n, seed=seed, dtype=DTYPE, return_noise=True)
    rows = []
    for e, dose in enumerate(doses):
        x1, x2 = (fresh_session(scm, batch, {"dose": float(dose)}, seed * 1000 + 2 * e + k)["image"] for k in (0, 1))
        noise = (x1 - x2).flatten(1).std(1) / math.sqrt(2)
        signal = ((x1 + x2).flatten(1).var(1) / 4 - noise**2 / 2).clamp_min(0).sqrt()
        saturated = ((x1 >= batch["saturation"].view(-1, 1, 1)).flatten(1).float().mean(1)).numpy()
        for i in range(n):
            rows.append(
                dict(
                    env=f"dose={dose:.3g}",
                    specimen=i,
                    dose=float(dose),
                    signal=float(signal[i]),
                    noise=float(noise[i]),
                    snr=float(signal[i] / noise[i]),
                    gain=float(batch["gain"][i]),
                    read_noise=float(batch["read_noise"][i]),
                    saturated=float(saturated[i]),
                )
            )
    return pd.DataFrame(rows)


def fit_shot_noise(data: pd.DataFrame, regime_min: float = 2e3) -> dict:
    """``snr = c · dose^α`` in the shot-noise regime (``dose >= regime_min``) and over every dose, and the
    read-noise law ``1/snr² = a/dose + b/dose²`` (a signal ``∝ gain·D`` over a noise ``√(gain²·D·λ̄ + r²)``) over
    every dose. Returns the learners and the fitted exponents."""
    data = data.assign(inv_snr2=1.0 / data["snr"] ** 2, log_snr=np.log(data["snr"]))
    regime = data[data["dose"] >= regime_min].reset_index(drop=True)
    learner = cp.discovery.learn_equation(regime, "snr", ["dose"], environment="env", noise=NOISE)
    # gain and read noise are drawn once per specimen and seen at every dose: no environment moves them
    distractors = cp.discovery.learn_equation(
        regime, "snr", ["dose", "gain", "read_noise"], environment="env", noise=NOISE
    )
    full = cp.discovery.learn_equation(data, "snr", ["dose"], environment="env", noise=NOISE)
    inverse = [cp.discovery.Term.parse("1/dose"), cp.discovery.Term.parse("dose**(-2)")]
    library = cp.discovery.TermLibrary(degree=1, interactions=False, functions=("log", "sqrt"), terms=inverse)
    read = cp.discovery.learn_equation(data, "inv_snr2", ["dose"], environment="env", library=library, noise=NOISE)
    direct = cp.discovery.PowerLaw("snr", ["dose"]).fit({"dose": regime["dose"].to_numpy(float)}, regime["snr"])
    log_law = cp.discovery.TermEquation("log_snr", [cp.discovery.Term("1", 1), cp.discovery.Term.parse("log(dose)")])
    cols = {"dose": regime["dose"].to_numpy(float)}
    log_law.fit(cols, regime["log_snr"].to_numpy())
    log_test = cp.discovery.invariance_test(log_law, cols, regime["log_snr"].to_numpy(), regime["env"].to_numpy())
    return dict(
        regime=regime,
        learner=learner,
        distractors=distractors,
        full=full,
        read=read,
        direct=direct,
        log_law=log_law,
        log_test=log_test,
    )


# -- 2. column contrast -------------------------------------------------------------------------------------------
def column_intensities(image: np.ndarray, maps: np.ndarray, kinds_z, pixel_size: float, disc=1.1, ring=1.8):
    """``[(Z, intensity)]`` for every column of the image: the column's position is the maximum of its kind's
    column map ``maps`` ``(K, H, W)`` (where the simulator put it), its intensity the image summed over a disc of
    ``disc`` Å less the disc's area times the mean of the ring out to ``ring`` Å (the local background: the
    specimen's background and the neighbours' probe tails)."""
    from scipy import ndimage

    r_in, r_out = disc / pixel_size, ring / pixel_size
    half = int(math.ceil(r_out))
    dy, dx = np.mgrid[-half : half + 1, -half : half + 1]
    d2 = dx**2 + dy**2
    inner, annulus = d2 <= r_in**2, (d2 > r_in**2) & (d2 <= r_out**2)
    h, w = image.shape
    out = []
    for z, m in zip(kinds_z, maps):
        peaks = np.argwhere((m == ndimage.maximum_filter(m, size=5)) & (m > 0.5))
        for y, x in peaks:
            if half <= y < h - half and half <= x < w - half:
                patch = image[y - half : y + half + 1, x - half : x + half + 1]
                out.append((z, patch[inner].sum() - inner.sum() * patch[annulus].mean()))
    return out


def column_data(
    exponents=(1.4, 1.6, 1.8),
    instruments=((0.35, 3e4), (0.35, 1e5), (0.6, 3e4), (0.6, 1e5)),
    n: int = 6,
    shape: int = 160,
    seed: int = 0,
) -> pd.DataFrame:
    """One row per column: the truth ``z_exponent`` and the instrument (``probe_sigma`` Å, ``dose`` e⁻/Å²) set by
    intervention, the column's ``Z``, its ``intensity`` (ADU·px) and ``relative`` (over the mean intensity of the
    image's brightest kind)."""
    phase = ladder_phase()
    z_of_kind = [int(k[1:]) for k in phase.column_kinds]
    scm = lab(shape, phase, lattice_constant=18.0, lattice_spread=0.0, vacancy_fraction=(0.0, 0.0))
    rows = []
    for exponent in exponents:
        for sigma, dose in instruments:
            env = f"sigma={sigma:g},dose={dose:.0e}"
            s = scm.do(z_exponent=exponent, probe_sigma=sigma, dose=dose)
            b = s.sample(n, seed=seed, dtype=DTYPE, nodes=["image", "columns", "pixel_size"])
            for i in range(n):
                found = column_intensities(
                    b["image"][i].numpy(), b["columns"][i].numpy(), z_of_kind, float(b["pixel_size"][i])
                )
                top = np.mean([v for z, v in found if z == max(z_of_kind)])
                rows += [
                    dict(
                        z_exponent=exponent,
                        env=env,
                        probe_sigma=sigma,
                        dose=dose,
                        image=i,
                        Z=z,
                        intensity=v,
                        relative=v / top,
                    )
                    for z, v in found
                ]
    return pd.DataFrame(rows)


def fit_columns_law(data: pd.DataFrame) -> dict:
    """For each ``z_exponent``: the learner on the relative intensity (candidate parents Z, dose, probe_sigma; the
    environments are the instruments), the power law ``intensity = c · Z^n`` of the raw intensity pooled (its
    prefactor moves with the dose: not invariant), and ``n`` per instrument."""
    out = {}
    for exponent, part in data.groupby("z_exponent"):
        part = part.reset_index(drop=True)
        learner = cp.discovery.learn_equation(
            part, "relative", ["Z", "dose", "probe_sigma"], environment="env", noise=NOISE
        )
        cols = {"Z": part["Z"].to_numpy(float)}
        rel_law = cp.discovery.PowerLaw("relative", ["Z"]).fit(cols, part["relative"].to_numpy())
        raw_law = cp.discovery.PowerLaw("intensity", ["Z"]).fit(cols, part["intensity"].to_numpy())
        env = part["env"].to_numpy()
        per_env = {
            e: cp.discovery.PowerLaw("relative", ["Z"]).fit({"Z": g["Z"].to_numpy(float)}, g["relative"].to_numpy())
            for e, g in part.groupby("env")
        }
        out[exponent] = dict(
            data=part,
            learner=learner,
            rel=rel_law,
            rel_test=cp.discovery.invariance_test(rel_law, cols, part["relative"].to_numpy(), env, noise=NOISE),
            rel_test_same=cp.discovery.invariance_test(rel_law, cols, part["relative"].to_numpy(), env),
            raw=raw_law,
            raw_test=cp.discovery.invariance_test(raw_law, cols, part["intensity"].to_numpy(), env, noise=NOISE),
            per_env=per_env,
            raw_env={
                e: cp.discovery.PowerLaw("intensity", ["Z"]).fit(
                    {"Z": g["Z"].to_numpy(float)}, g["intensity"].to_numpy()
                )
                for e, g in part.groupby("env")
            },
        )
    return out


# -- 3. drift -----------------------------------------------------------------------------------------------------
def distortion(image: torch.Tensor, reference: torch.Tensor, pixel_size: float) -> np.ndarray:
    """``M = B₀⁻¹ B`` (2 x 2): the scan of ``image`` relative to that of ``reference`` (the same specimen), from the
    two lattice reflections ``K = Bᵀ K_s`` of each (``K M₀ᵀ``: ``Mᵀ = K K₀⁻¹``)."""
    lv = cp.microscopy.lattice_vectors(reference, pixel_size)
    k0 = np.array(lv.k).T
    k = np.array([cp.microscopy.fft_peak(image, tuple(q), radius=0.3 * math.hypot(*q)) for q in lv.k]).T
    return (k @ np.linalg.inv(k0)).T


def drift_data(dwells=(4e-6, 8e-6, 16e-6, 32e-6), speed=(0.5, 8.0), n: int = 12, shape: int = 128, seed: int = 0):
    """One row per image: the environment ``do(dwell_time := τ)``, the unit's ``drift_speed`` (drawn ``U(speed)``,
    every direction), the ``line_time`` of the simulator's raster (``(W + 2 pad) τ + t_flyback``: it scans its
    padded field) and the measured displacement per line ``d`` (Å)."""
    scm = lab(shape, max_cells=24)  # a fast drift over a slow frame reaches beyond the default 16 cells
    pad = scm.mechanisms["clean"].pad
    rows = []
    for e, dwell in enumerate(dwells):
        s = scm.do(dwell_time=dwell, dose=1e5).intervene(drift_speed=cp.mech.Uniform(*speed))
        b = s.sample(n, seed=seed * 100 + e, dtype=DTYPE, return_noise=True)
        still = s.counterfactual(b, {"drift_speed": 0.0})
        t_line = (shape + 2 * pad) * b["dwell_time"] + b["flyback_time"]  # T_line of microscopy/scan.py
        for i in range(n):
            px = float(b["pixel_size"][i])
            m = distortion(b["image"][i], still["image"][i], px)
            rows.append(
                dict(
                    env=f"dwell={dwell * 1e6:g}us",
                    dwell_time=dwell,
                    flyback_time=float(b["flyback_time"][i]),
                    line_time=float(t_line[i]),
                    frame_time=float(t_line[i]) * (shape + 2 * pad),
                    drift_speed=float(b["drift_speed"][i]),
                    drift_angle=float(b["drift_angle"][i]),
                    displacement=px * math.hypot(m[0, 1], m[1, 1] - 1),
                )
            )
    return pd.DataFrame(rows)


DRIFT_PARENTS = ("drift_speed", "line_time", "dwell_time", "drift_angle")
"""The drift learner's candidate parents: the law's (speed, line time), the environment's setting (dwell time, of
which line time is a function) and the drift direction, which does not change the displacement's size."""


def fit_drift(data: pd.DataFrame) -> dict:
    """The learner on ``displacement`` over :data:`DRIFT_PARENTS` (environments: the dwell times), and the direct fit
    of the one-term law ``d = c · drift_speed · line_time`` with its standard error (the cross-check)."""
    learner = cp.discovery.learn_equation(data, "displacement", list(DRIFT_PARENTS), environment="env", noise=NOISE)
    law = cp.discovery.TermEquation("displacement", [cp.discovery.Term.parse("drift_speed*line_time")])
    cols = {k: data[k].to_numpy(float) for k in ("drift_speed", "line_time")}
    y, env = data["displacement"].to_numpy(), data["env"].to_numpy()
    law.fit(cols, y)
    test = cp.discovery.invariance_test(law, cols, y, env, noise=NOISE)
    return dict(
        data=data, learner=learner, law=law, test=test, test_same=cp.discovery.invariance_test(law, cols, y, env)
    )


# -- reporting ----------------------------------------------------------------------------------------------------
def _candidate(learner, kind: str):
    """The best-ranked candidate of ``kind`` (``"power_law"`` or ``"terms"``) of a fitted learner."""
    return next(c for c in learner.candidates_ if c.equation.kind == kind)


def powers(equation) -> dict[str, tuple[float, float]]:
    """``{variable: (exponent, s.e.)}`` of a one-term law: a power law's fitted exponents, or the powers of a term
    equation's one non-constant term (``sqrt(dose)``: 0.5; fixed by the library, so the s.e. is NaN); ``{}`` for any
    other form."""
    if equation.kind == "power_law":
        return equation.exponents()
    terms = [t for t in equation.terms if not t.is_constant]
    if len(terms) != 1:
        return {}
    found = terms[0].expr.as_powers_dict()
    if not all(isinstance(b, sp.Symbol) and e.is_number for b, e in found.items()):
        return {}
    return {str(b): (float(e), float("nan")) for b, e in found.items()}


def first_pick(learner, truth: dict[str, float], tol: float) -> dict:
    """The learner's first-ranked equation judged against the law ``Π v^truth[v]``: ``met`` when it uses exactly the
    law's variables, as one power law or one term, with every exponent within ``tol`` of the truth."""
    best = learner.best_
    found = powers(best.equation)
    met = set(best.equation.variables) == set(truth) and set(found) == set(truth)
    met = met and all(abs(found[v][0] - a) <= tol for v, a in truth.items())
    return dict(candidate=best, powers=found, met=bool(met))


def under_same_noise(learner, data: pd.DataFrame):
    """The learner's first equation tested as if the noise were the same in every environment (``noise="same"``)."""
    cols = {v: data[v].to_numpy(float) for v in learner.parents_}
    y = data[learner.target_].to_numpy(float)
    return cp.discovery.invariance_test(learner.best_.equation, cols, y, data["env"].to_numpy())


def _row(experiment, fit, quantity, value, stderr=float("nan"), truth=float("nan"), goal="", met="", test=None):
    """One tidy row; ``test`` (an :class:`~causalphys.discovery.InvarianceResult`) adds its noise setting and
    p-values: combined (Bonferroni), residual means (ANOVA, or Alexander-Govern with ``noise="free"``), residual spread
    (Brown-Forsythe; not run with ``"free"``) and coefficients (Chow, weighted with ``"free"``)."""
    nan = float("nan")
    return dict(
        experiment=experiment,
        fit=fit,
        quantity=quantity,
        value=float(value),
        stderr=float(stderr),
        truth=float(truth),
        goal=goal,
        met=met,
        noise="" if test is None else test.noise,
        p_invariance=nan if test is None else test.p_value,
        p_mean=nan if test is None else test.p_mean,
        p_variance=nan if test is None else test.p_variance,
        p_coefficients=nan if test is None else test.p_coefficients,
    )


def _p(test) -> str:
    """``p (mean, spread, coefficients)`` of an invariance test (``p (mean, coefficients)`` with free noise)."""
    if test.noise == "free":
        return f"{test.p_value:.2g} ({test.p_mean:.2g}, {test.p_coefficients:.2g})"
    return f"{test.p_value:.2g} ({test.p_mean:.2g}, {test.p_variance:.2g}, {test.p_coefficients:.2g})"


def _estimate(found: dict, symbol: dict) -> str:
    return ", ".join(
        f"{symbol.get(v, v)} = {a:.4g}" + (" (library)" if np.isnan(se) else f" ± {se:.2g}")
        for v, (a, se) in found.items()
    )


def _learner_rows(experiment, fit, pick, truth, goal, same) -> list[dict]:
    """Tidy rows of a learner's first pick: each exponent, its r2 and its invariance under both noise settings."""
    c = pick["candidate"]
    rows = [
        _row(experiment, fit, f"exponent of {v}", a, se, truth[v], goal, pick["met"], c.invariance)
        for v, (a, se) in pick["powers"].items()
    ]
    rows.append(_row(experiment, f"{fit}: {c.equation}", "r2", c.r2, test=c.invariance))
    rows.append(_row(experiment, f"{fit}: {c.equation}", "bic", c.bic, test=same))
    return rows


def summarize(shot: dict, columns: dict, drift: dict, alpha_tol=0.03, n_tol=0.05) -> tuple[pd.DataFrame, list[dict]]:
    """The tidy results rows and one markdown line per headline law (dicts for :func:`markdown`): the learner's first
    pick, judged against the law, with a direct fit of the law's known form as a cross-check."""
    rows, lines = [], []
    # 1. shot noise: the learner's first pick in the shot-noise regime; the direct power-law fit; the log scale's
    # one-term law (the specimens' spread is the same at every dose there: passes even with noise="same")
    pick = first_pick(shot["learner"], {"dose": 0.5}, alpha_tol)
    same = under_same_noise(shot["learner"], shot["regime"])
    rows += _learner_rows(
        "shot_noise", "learner's first, shot-noise regime", pick, {"dose": 0.5}, f"± {alpha_tol}", same
    )
    direct = shot["direct"]
    a, se = direct.exponents()["dose"]
    rows.append(_row("shot_noise", "direct fit snr = c dose^alpha, shot-noise regime", "alpha", a, se, 0.5))
    coef = shot["log_law"].coefficients()["log(dose)"]
    rows.append(
        _row(
            "shot_noise", "log snr = c0 + alpha log dose, shot-noise regime", "alpha", *coef, 0.5, test=shot["log_test"]
        )
    )
    full = _candidate(shot["full"], "power_law")
    rows.append(
        _row(
            "shot_noise",
            "snr = c dose^alpha, every dose",
            "alpha",
            *full.equation.exponents()["dose"],
            0.5,
            test=full.invariance,
        )
    )
    for key, fit in (
        ("read", "learner's first for 1/snr^2, every dose"),
        ("distractors", "learner's first with gain, read_noise"),
    ):
        best = shot[key].best_
        rows.append(_row("shot_noise", f"{fit}: {best.equation}", "r2", best.r2, test=best.invariance))
    lines.append(
        dict(
            law="shot noise (dose ≥ 2·10³)",
            first=str(pick["candidate"].equation),
            estimate=_estimate(pick["powers"], {"dose": "α"}),
            goal=f"α = 0.5 ± {alpha_tol}",
            met=pick["met"],
            p=_p(pick["candidate"].invariance),
            r2=pick["candidate"].r2,
            cross=f"`{direct}`: α = {a:.3f} ± {se:.3f}",
            same=_p(same),
        )
    )
    # 2. column contrast
    for exponent, res in columns.items():
        pick = first_pick(res["learner"], {"Z": exponent}, n_tol)
        same = under_same_noise(res["learner"], res["data"])
        rows += _learner_rows("column_contrast", "learner's first, relative", pick, {"Z": exponent}, f"± {n_tol}", same)
        n_hat, n_se = res["rel"].exponents()["Z"]
        rows.append(
            _row("column_contrast", "direct fit relative = c Z^n", "n", n_hat, n_se, exponent, test=res["rel_test"])
        )
        rows.append(
            _row(
                "column_contrast", "direct fit relative = c Z^n", "n", n_hat, n_se, exponent, test=res["rel_test_same"]
            )
        )
        rows.append(
            _row(
                "column_contrast",
                "direct fit relative = c Z^n",
                "c",
                res["rel"].params_[0],
                res["rel"].stderr_[0],
                float(max(LADDER_Z)) ** -exponent,
            )
        )
        n_raw, se_raw = res["raw"].exponents()["Z"]
        rows.append(
            _row("column_contrast", "intensity = c Z^n, pooled", "n", n_raw, se_raw, exponent, test=res["raw_test"])
        )
        rows.append(
            _row("column_contrast", "intensity = c Z^n, pooled", "c", res["raw"].params_[0], res["raw"].stderr_[0])
        )
        for env, eq in res["per_env"].items():
            rows.append(_row("column_contrast", f"relative = c Z^n, {env}", "n", *eq.exponents()["Z"], exponent))
            rows.append(
                _row(
                    "column_contrast",
                    f"intensity = c Z^n, {env}",
                    "c",
                    res["raw_env"][env].params_[0],
                    res["raw_env"][env].stderr_[0],
                )
            )
        lines.append(
            dict(
                law=f"column contrast (simulator n = {exponent:g})",
                first=str(pick["candidate"].equation),
                estimate=_estimate(pick["powers"], {"Z": "n"}),
                goal=f"abs(n − {exponent:g}) ≤ {n_tol}",
                met=pick["met"],
                p=_p(pick["candidate"].invariance) + f"; raw intensity {_p(res['raw_test'])}",
                r2=pick["candidate"].r2,
                cross=f"`{res['rel']}`: n = {n_hat:.3f} ± {n_se:.3f}",
                same=_p(same),
            )
        )
    # 3. drift
    truth = {"drift_speed": 1.0, "line_time": 1.0}
    pick = first_pick(drift["learner"], truth, 0.01)
    same = under_same_noise(drift["learner"], drift["data"])
    rows += _learner_rows("drift", "learner's first", pick, truth, "± 0.01", same)
    c, c_se = drift["law"].coefficients()["drift_speed*line_time"]
    rows.append(
        _row("drift", "direct fit displacement = c drift_speed line_time", "c", c, c_se, 1.0, test=drift["test"])
    )
    rows.append(
        _row("drift", "direct fit displacement = c drift_speed line_time", "c", c, c_se, 1.0, test=drift["test_same"])
    )
    lines.append(
        dict(
            law="drift",
            first=str(pick["candidate"].equation),
            estimate=_estimate(pick["powers"], {}),
            goal="exponents 1 ± 0.01 (d = v · T_line)",
            met=pick["met"],
            p=_p(pick["candidate"].invariance),
            r2=pick["candidate"].r2,
            cross=f"`{drift['law']}`: c = {c:.4f} ± {c_se:.4f}, p {_p(drift['test'])}",
            same=_p(same),
        )
    )
    return pd.DataFrame(rows), lines


def markdown(lines: list[dict]) -> str:
    head = (
        '| law | learner\'s first pick (noise="free") | exponents ± s.e. | goal | met | invariance p (mean, coef.) '
        '| R² | cross-check: direct fit of the known form | first pick\'s p with noise="same" (mean, spread, coef.) |\n'
        "|---|---|---|---|---|---|---|---|---|\n"
    )
    body = "".join(
        f"| {x['law']} | `{x['first']}` | {x['estimate']} | {x['goal']} | {'yes' if x['met'] else 'no'} | "
        f"{x['p']} | {x['r2']:.4f} | {x['cross']} | {x['same']} |\n"
        for x in lines
    )
    return head + body


def plot(shot_df, columns_df, drift_df, path: Path, regime_min: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 3, figsize=(13, 4))
    regime = shot_df["dose"] >= regime_min
    ax[0].loglog(shot_df["dose"][~regime], shot_df["snr"][~regime], ".", color="0.6", label="read noise matters")
    ax[0].loglog(shot_df["dose"][regime], shot_df["snr"][regime], ".", label="shot-noise regime")
    ax[0].set(xlabel="dose (e⁻/Å²)", ylabel="image SNR", title="shot noise")
    for exponent, part in columns_df.groupby("z_exponent"):
        means = part.groupby("Z")["relative"].mean()
        ax[1].loglog(means.index, means.values, "o", label=f"n = {exponent:g}")
        z = np.linspace(means.index.min(), means.index.max(), 50)
        ax[1].loglog(z, (z / means.index.max()) ** exponent, "-", color="0.3", lw=0.8)
    ax[1].set(xlabel="Z", ylabel="relative column intensity", title="column contrast (lines: Z^n)")
    ax[1].set_xticks(sorted(LADDER_Z), [str(z) for z in sorted(LADDER_Z)], minor=False)
    ax[1].xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    x = drift_df["drift_speed"] * drift_df["line_time"]
    for env, part in drift_df.groupby("env", sort=False):
        ax[2].plot(1e3 * x[part.index], 1e3 * part["displacement"], ".", label=env)
    ax[2].plot([0, 1e3 * x.max()], [0, 1e3 * x.max()], "-", color="0.3", lw=0.8)
    ax[2].set(xlabel="drift_speed · line_time (mÅ)", ylabel="measured displacement per line (mÅ)", title="drift")
    for a in ax:
        a.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--specimens", type=int, default=24, help="specimens per dose (shot noise)")
    parser.add_argument("--doses", type=int, default=11, help="dose levels, log-spaced over 10^2.5-10^5 e/Å²")
    parser.add_argument("--regime-min", type=float, default=2e3, help="lowest dose of the shot-noise regime")
    parser.add_argument("--shot-size", type=int, default=64, help="image size (px) for shot noise")
    parser.add_argument("--column-images", type=int, default=6, help="images per z_exponent and instrument")
    parser.add_argument("--column-size", type=int, default=160)
    parser.add_argument("--exponents", default="1.4,1.6,1.8", help="simulator z_exponent settings")
    parser.add_argument("--drift-images", type=int, default=12, help="images per dwell time")
    parser.add_argument("--drift-size", type=int, default=128)
    parser.add_argument("--no-plot", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    timings = {}

    start = time.perf_counter()
    shot_df = shot_noise_data(args.specimens, np.logspace(2.5, 5, args.doses), args.shot_size, args.seed)
    shot = fit_shot_noise(shot_df, args.regime_min)
    timings["shot_noise"] = time.perf_counter() - start

    start = time.perf_counter()
    exponents = tuple(float(x) for x in args.exponents.split(","))
    columns_df = column_data(exponents, n=args.column_images, shape=args.column_size, seed=args.seed)
    columns = fit_columns_law(columns_df)
    timings["column_contrast"] = time.perf_counter() - start

    start = time.perf_counter()
    drift_df = drift_data(n=args.drift_images, shape=args.drift_size, seed=args.seed)
    drift = fit_drift(drift_df)
    timings["drift"] = time.perf_counter() - start

    results, lines = summarize(shot, columns, drift)
    results = pd.concat(
        [results, pd.DataFrame([_row(k, "wall time", "seconds", v) for k, v in timings.items()])], ignore_index=True
    )
    shot_df.to_csv(args.out / "shot_noise.csv", index=False)
    columns_df.to_csv(args.out / "columns.csv", index=False)
    drift_df.to_csv(args.out / "drift.csv", index=False)
    results.to_csv(args.out / "results.csv", index=False)
    command = "experiments/equations/microscopy.py " + " ".join(argv if argv is not None else [])
    text = f"# Microscopy laws from the simulator's interventions\n\n`{command.strip()}` (seed {args.seed})\n\n"
    text += markdown(lines)
    text += "\n" + ", ".join(f"{k} {v:.0f} s" for k, v in timings.items()) + " (one thread)\n"
    (args.out / "results.md").write_text(text)
    ranking = [("shot noise, snr ~ dose, shot-noise regime", shot["learner"])]
    ranking += [("shot noise, snr ~ dose, gain, read_noise, shot-noise regime", shot["distractors"])]
    ranking += [("shot noise, 1/snr² ~ dose, every dose", shot["read"])]
    ranking += [
        (f"column contrast, relative ~ Z, dose, probe_sigma (n = {e:g})", r["learner"]) for e, r in columns.items()
    ]
    ranking += [(f"drift, displacement ~ {', '.join(DRIFT_PARENTS)}", drift["learner"])]
    cand = f'# The learners\' rankings (noise="{NOISE}"; invariant first, then extended BIC)\n'
    for title, learner in ranking:
        table = learner.table(limit=5)
        cand += (
            f"\n## {title}\n\n| rank | formula | invariant | p (mean, coef.) | R² | BIC |\n|---|---|---|---|---|---|\n"
        )
        cand += "".join(
            f"| {r.rank} | `{r.formula}` | {r.invariant} | {r.p_value:.3g} ({r.p_mean:.2g}, {r.p_coefficients:.2g}) | "
            f"{r.r2:.4f} | {r.bic:.5g} |\n"
            for r in table.itertuples()
        )
    (args.out / "candidates.md").write_text(cand)
    if not args.no_plot:
        plot(shot_df, columns_df, drift_df, args.out / "laws.png", args.regime_min)
    print(text)
    return results


if __name__ == "__main__":
    main()
