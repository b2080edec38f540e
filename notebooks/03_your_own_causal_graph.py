# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Tutorial 3 — Your own causal graph
#
# **The idea:** nothing in causalphys is specific to microscopes. Any instrument whose measurement you can write
# down as "causes → mechanism → data" is an SCM: a list of edges and one mechanism per node. Environments and
# shifts are then *data* — named interventions on that SCM — and the same harness trains and measures learners
# on them.
#
# Our instrument is an absorption **spectrometer**. We want the concentration of an analyte from its spectrum.
# The confounder is the room **temperature**: warm days speed up the synthesis (more analyte), and they also make
# the detector **drift** (a tilted baseline). In the training labs the tilt therefore carries information about the
# concentration — until a detector arrives that drifts the other way.
#
# `CAUSALPHYS_NOTEBOOK_SMALL=1` (set by the tests) shrinks the data and the training; the conclusions are the same.

# %%
import os
import warnings

import matplotlib.pyplot as plt
import networkx as nx
import pandas as pd
import torch

import causalphys as cp

warnings.filterwarnings("ignore", message="IProgress not found")  # tqdm's note when ipywidgets is not installed

# %% tags=["parameters"]
SMALL = os.environ.get("CAUSALPHYS_NOTEBOOK_SMALL", "0").lower() not in ("", "0", "false", "no")
SEED = 0
N_TRAIN = 1000 if SMALL else 5000  # spectra per training lab
N_VAL = 200 if SMALL else 1000  # held-out spectra per training lab
N_TEST = 500 if SMALL else 2000  # spectra per test environment
STEPS = 1000 if SMALL else 3000  # optimiser steps

# %% [markdown]
# ## 1. The graph and the mechanisms
#
# | node | role | structural equation |
# |---|---|---|
# | `temperature` | confounder | `T ~ N(22 °C, 2²)` |
# | `concentration` | label (the target) | `c = 1 + 0.15 (T − 22) + N(0, 0.2²)` mM — warm days, more product |
# | `path_length` | sample | `ℓ ~ U(0.7, 1.3)` — how full the cuvette is, unrecorded |
# | `drift_rate` | instrument | a constant of the detector: `0.05` baseline units per K |
# | `baseline` | instrument | `b = drift_rate · (T − 22) + N(0, 0.01²)` — the detector's temperature drift |
# | `spectrum` | — | `x(λ) = c ℓ · peak(λ) + b · tilt(λ) + N(0, 0.02²)` — 64 wavelengths, 400-700 nm |
#
# The absorption peak (Beer–Lambert: absorbance ∝ concentration × path length) is the physics that holds in every
# lab; the tilt is the instrument. A mechanism is a function of its parents (by name) and its own noise `u`:
# `cp.mech.Additive(f, noise)` means `x = f(parents) + u`, which keeps counterfactuals exact.

# %%
wavelength = torch.linspace(400.0, 700.0, 64)  # nm
peak = torch.exp(-0.5 * ((wavelength - 560.0) / 12.0) ** 2)  # the analyte's absorption band
tilt = (wavelength - 550.0) / 150.0  # a baseline tilted across the range

graph = cp.CausalGraph(
    [
        ("temperature", "concentration"),
        ("temperature", "baseline"),
        ("drift_rate", "baseline"),
        ("concentration", "spectrum"),
        ("path_length", "spectrum"),
        ("baseline", "spectrum"),
    ],
    roles={
        "temperature": "confounder",
        "concentration": "label",
        "path_length": "sample",
        "drift_rate": "instrument",
        "baseline": "instrument",
    },
)
spectrometer = cp.SCM(
    graph,
    {
        "temperature": cp.mech.Normal(22.0, 2.0),
        "concentration": cp.mech.Additive(
            lambda temperature: 1.0 + 0.15 * (temperature - 22.0), cp.noise.Normal(0, 0.2)
        ),
        "path_length": cp.mech.Uniform(0.7, 1.3),
        "drift_rate": cp.mech.Constant(0.05),
        "baseline": cp.mech.Additive(
            lambda temperature, drift_rate: drift_rate * (temperature - 22.0), cp.noise.Normal(0, 0.01)
        ),
        "spectrum": cp.mech.Additive(
            lambda concentration, path_length, baseline: (
                (concentration * path_length)[:, None] * peak + baseline[:, None] * tilt
            ),
            cp.noise.Normal(0, 0.02, shape=64),
        ),
    },
)
print(spectrometer)

# graph.draw() lays the nodes out by itself; with positions of our own, networkx draws the same graph our way.
pos = {
    "temperature": (0, 0),
    "drift_rate": (0, -1.6),
    "concentration": (1, 0.8),
    "baseline": (1, -0.8),
    "path_length": (1.7, 1.5),
    "spectrum": (2.4, 0),
}
colours = {
    "confounder": "#d62728",
    "sample": "#2ca02c",
    "instrument": "#1f77b4",
    "label": "#ff7f0e",
    "other": "#c7c7c7",
}
fig, ax = plt.subplots(figsize=(7, 3.6))
nx.draw_networkx(
    graph.to_networkx(),
    pos,
    ax=ax,
    node_color=[colours[graph.role(n)] for n in graph.to_networkx()],
    node_size=2600,
    font_size=8,
    edgecolors="black",
)
ax.set_title("A spectrometer whose room temperature confounds sample and detector")
ax.set_axis_off()
plt.show()

# %% [markdown]
# ## 2. Environments and a shift: data, not code
#
# An environment is a named set of interventions, with a role: the harness trains on `train` environments and
# measures on `test` ones. The two training labs have the same spectrometer model, but lab B's detector is newer and
# drifts less: `do(drift_rate := 0.02)`. The **shift** is a sweep over detectors, from the training ones to one that
# drifts the other way — five test environments in one line (`cp.evaluation.Interventions`: one intervention per
# level). Test environments of one shift share their units (the same samples measured by each detector: common
# random numbers).
#
# `cp.data.SCMBenchmark` turns the SCM, the environments and the shift into a benchmark: `inputs` and `target` name
# nodes (a vector node such as `spectrum` gives `(n, 64)` inputs, an image node `(n, 1, h, w)`, a scalar `(n, 1)`),
# and every setting is checked, with the key named, before anything is drawn.

# %%
environments = {
    "lab_a": {"role": "train", "do": {"drift_rate": 0.05}},
    "lab_b": {"role": "train", "do": {"drift_rate": 0.02}},
}
drift_levels = [0.05, 0.02, 0.0, -0.05, -0.1]
drift_shift = cp.evaluation.Interventions(node="drift_rate", levels=drift_levels)
as_benchmark = {
    "inputs": "spectrum",
    "target": "concentration",
    "task": "regression",
    "shifts": [drift_shift],
    "n_train": N_TRAIN,
    "n_val": N_VAL,
    "n_test": N_TEST,
    "n_counterfactual": N_VAL,
}
benchmark = cp.data.SCMBenchmark(spectrometer, environments, **as_benchmark)
train_envs, test_envs, info = benchmark.environments()
print({env: i.description for env, i in info.items()})

fig, axes = plt.subplots(1, 2, figsize=(11, 3.2), sharey=True)
for ax, (lab, scm) in zip(axes, train_envs.items()):
    batch = scm.sample(200, seed=cp.derive_seed(SEED, "plot", lab))
    hot, cold = batch["temperature"] > 24, batch["temperature"] < 20
    ax.plot(wavelength, batch["spectrum"][cold][:15].T, color="#1f77b4", alpha=0.5, linewidth=0.8)
    ax.plot(wavelength, batch["spectrum"][hot][:15].T, color="#d62728", alpha=0.5, linewidth=0.8)
    ax.set_title(f"{lab}: {info[lab].description}  (blue: T < 20 °C, red: T > 24 °C)", fontsize=9)
    ax.set_xlabel("wavelength (nm)")
axes[0].set_ylabel("absorbance")
plt.show()

# %% [markdown]
# Warm samples (red) have both a taller peak (more analyte) and a tilted baseline (detector drift): the tilt is a
# proxy for the temperature, and the temperature for the concentration.
#
# ## 3. Through the harness
#
# `benchmark.load(seed)` draws what the harness measures: `(x, y)` tensors for the training, validation and test
# environments, and what each environment is. For counterfactual metrics it also gives, for each training lab,
# fresh units measured once with the instrument of each training lab: every node with the role `instrument`
# (`drift_rate` and `baseline`) is set to its value in a fresh unit of lab A, then of lab B, while the sample and
# the spectrum's own noise are kept. The harness reports how much each model's prediction moves between the two
# (`cf_change`, in mM) — a change caused by the instrument alone.

# %%
data = benchmark.load(SEED)
{env: tuple(x.shape) for env, (x, _) in {**data.train, **data.test}.items()}

# %% [markdown]
# We fit linear calibration models (a one-layer `cp.nets.MLP`, the chemometrician's habit) with ERM, IRM and
# V-REx, and — as a reference — the **oracle**: ERM on the same training labs with the edge `temperature → baseline`
# cut (`oracle=True`). The detector still drifts, but with a temperature of its own — an independent copy of the
# room's — so in the oracle's data the tilt says nothing about the concentration. The test environments are the
# same for every model.

# %%
oracle_data = cp.data.SCMBenchmark(spectrometer, environments, oracle=True, **as_benchmark).load(SEED)

linear = cp.evaluation.net_factory(cp.nets.MLP, hidden=())
settings = {"steps": STEPS, "lr": 1e-2, "batch_size": 64, "task": "regression", "seed": SEED, "progress": False}
penalty = {"penalty_weight": 100.0, "penalty_anneal_steps": STEPS // 3}
trainers = {
    "ERM": cp.ERM(**settings),
    "IRM": cp.trainers.IRM(**settings, **penalty),
    "V-REx": cp.trainers.VREx(**settings, **penalty),
    "oracle": cp.ERM(**settings),
}
rows = []
for name, trainer in trainers.items():
    bench = oracle_data if name == "oracle" else data
    rows += cp.evaluation.evaluate_run(bench, trainer, linear, run=name, trainer_name=name, seed=SEED)
results = pd.DataFrame(rows)
r2 = results[(results.metric == "r2") & results.split.isin(["val", "test"])]
r2.pivot_table(index="env", columns="trainer", values="value", sort=False)[list(trainers)].round(3)

# %% [markdown]
# ## 4. The degradation curve, and what each model reads
#
# R² of the concentration against the detector's drift rate. The training detectors sit at 0.05 and 0.02; to the
# right the drift first vanishes, then reverses.

# %%
levels = {env: i.level for env, i in data.info.items() if i.shift == drift_shift.name}
curve = r2[r2.env.isin(list(levels))].assign(level=lambda d: d.env.map(levels))
fig, axes = plt.subplots(1, 2, figsize=(12, 3.6), layout="constrained")
for name in trainers:
    line = curve[curve.trainer == name].sort_values("level")
    axes[0].plot(line.level, line.value, "o-", label=name)
axes[0].axvspan(0.018, 0.052, color="grey", alpha=0.15, label="training detectors")
axes[0].invert_xaxis()
axes[0].set_ylim(-1.0, 1.0)
axes[0].set_xlabel("drift rate of the test detector (baseline units per K)")
axes[0].set_ylabel("R² (concentration)")
axes[0].legend(fontsize=8)
axes[0].set_title("Calibration under a detector shift")

# A linear model's answer moves by w·peak per unit of absorbance (c ℓ) and by w·tilt per unit of baseline.
response = pd.DataFrame(
    {
        name: {
            "per unit absorbance (physics)": float(trainer.net_.classifier.weight.detach()[0] @ peak),
            "per unit baseline (instrument)": float(trainer.net_.classifier.weight.detach()[0] @ tilt),
        }
        for name, trainer in trainers.items()
    }
).T
response.plot.bar(ax=axes[1], rot=0, color=["#2ca02c", "#1f77b4"])
axes[1].axhline(0, color="black", linewidth=0.8)
axes[1].set_ylabel("change of predicted c (mM)")
axes[1].legend(fontsize=8)
axes[1].set_title("What each calibration model responds to")
plt.show()

# %%
values = results.set_index(["trainer", "env", "split", "metric"])["value"]
summary = pd.DataFrame(
    {
        "R² in distribution (val)": values.xs(("val", "r2"), level=("split", "metric")).groupby("trainer").mean(),
        "R² at drift_rate = -0.1": values.xs(("drift_rate=-0.1", "test", "r2"), level=("env", "split", "metric")),
        "cf_change (mM)": values.xs(("val", "cf_change"), level=("split", "metric")).groupby("trainer").mean(),
        "response to baseline": response["per unit baseline (instrument)"],
    }
)
summary.loc[list(trainers)].round(3)

# %% [markdown]
# ## What to take away
#
# - A new instrument is a graph plus mechanisms; environments and shifts are dictionaries of interventions;
#   `cp.data.SCMBenchmark` turns them into what `evaluate_run` measures. Nothing else is needed — and the same
#   benchmark runs from a yaml: `conf/benchmark/spectrometer.yaml` names this SCM as a function
#   (`causalphys.data.spectrometer.spectrometer_scm`), and `causalphys benchmark=spectrometer net=mlp` trains and
#   measures on it (regression: the trainer takes its task from the benchmark); point `scm._target_` at a function
#   of yours to do the same.
# - ERM, trained where warm rooms tilt the baseline *and* raise the concentration, responds to the baseline: it
#   reads the thermometer hidden in the detector. Its calibration holds on the training detectors and fails on one
#   that drifts the other way; `cf_change` flags it without any test data (the same samples, measured by the two
#   training detectors, get different concentrations).
# - An invariance penalty sees that the baseline's relation to the concentration differs between the two training
#   labs and leans on it less; the oracle, whose detector drifted with a temperature unrelated to the sample,
#   ignores it. How far a penalty gets depends on its weight and on how different the training labs are — the
#   curve above, not the method's name, says whether it worked.
