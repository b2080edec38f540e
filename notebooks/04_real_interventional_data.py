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
# # Tutorial 4 — Real interventional data
#
# **The idea:** an intervention is a natural test of a predictor. If a protein *causes* the level of another, the
# relation between them survives interventions elsewhere in the network; if it only travels with it, an
# intervention upstream of it breaks the relation. Real interventional data let us run that test — and then show
# what it means for learners that must transfer to conditions they never saw.
#
# The data are Sachs et al. (2005, *Science* 308:523): single T cells, 11 phosphoproteins and phospholipids
# measured by flow cytometry under 9 experimental conditions — an observational baseline and reagents that
# inhibit or activate one node of the signalling network. Each condition is an environment. We ask which
# predictors of **Akt** stay invariant across the interventions, and how ERM and invariant learners transfer to
# held-out conditions.
#
# The data are not in the repository: the tutorial reads `$CAUSALPHYS_SACHS`, or `../shared/data/sachs/` next to
# the repository, and stops with an error if the file is not there. `CAUSALPHYS_NOTEBOOK_SMALL=1` (set by the tests)
# shortens the training.

# %%
import os
import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

import causalphys as cp

warnings.filterwarnings("ignore", message="IProgress not found")  # tqdm's note when ipywidgets is not installed

# %% tags=["parameters"]
SMALL = os.environ.get("CAUSALPHYS_NOTEBOOK_SMALL", "0").lower() not in ("", "0", "false", "no")
SEED = 0
SACHS = os.environ.get("CAUSALPHYS_SACHS", "../shared/data/sachs/sachs_14conditions.csv")  # relative: to the repo
STEPS = 300 if SMALL else 2000  # optimiser steps of each learner

# %% [markdown]
# ## 1. The conditions as environments
#
# `cp.data.TabularBenchmark` turns any CSV with an environment column into a benchmark (the same settings as
# `conf/benchmark/sachs.yaml`): the target `Akt` and the ten other proteins as features, all as `log(1 + x)`,
# features standardised with the training rows. For the analysis we treat the observational conditions 1
# (CD3/CD28) and 2 (+ ICAM-2) as training environments and the seven interventions 3-9 as test environments.

# %%
CONDITIONS = {
    1: "CD3/CD28 (observational)",
    2: "+ ICAM-2",
    3: "AKT inhibitor",
    4: "G06976 (PKC inhibitor)",
    5: "psitectorigenin (PIP2 inh.)",
    6: "U0126 (MEK inhibitor)",
    7: "LY294002 (PI3K inhibitor)",
    8: "PMA (PKC activator)",
    9: "b2cAMP (PKA activator)",
}
PROTEINS = ["Raf", "Mek", "PLCg", "PIP2", "PIP3", "Erk", "PKA", "PKC", "P38", "JNK"]


def sachs(train_envs, test_envs):
    """The Sachs benchmark: log Akt from the log levels of the ten other proteins."""
    return cp.data.TabularBenchmark(
        SACHS,
        environment="condition_id",
        target="Akt",
        features=PROTEINS,
        train_envs=train_envs,
        test_envs=test_envs,
        task="regression",
        log_transform=True,
        standardize=True,
        name="sachs",
    )


try:
    print("reading", sachs([1, 2], [3]).resolve_path())
except cp.CausalPhysError as err:
    raise FileNotFoundError(
        f"{err}\nThis tutorial needs the Sachs flow-cytometry data (sachs_14conditions.csv): set CAUSALPHYS_SACHS to "
        "its path, or keep it in ../shared/data/sachs/ beside the repository (see ../shared/data/README.md)."
    ) from None

data = sachs([1, 2], [3, 4, 5, 6, 7, 8, 9]).load(seed=SEED)
cells = {}  # condition -> (x (n, 10) standardised log levels, y (n,) log Akt), every row of the condition
for split in (data.train, data.val, data.test):
    for env, (x, y) in split.items():
        c = int(env.split("=")[1])
        old = cells.get(c, (x[:0], y[:0]))
        cells[c] = (torch.cat([old[0], x]), torch.cat([old[1], y]))
print({c: len(y) for c, (_, y) in sorted(cells.items())}, "cells per condition")

# %% [markdown]
# What each intervention does to the network: the mean log level of every protein, relative to the observational
# baseline. Some reagents move their target's neighbourhood (U0126 lowers Erk, downstream of MEK); G06976 moves
# almost everything, Akt included.

# %%
raw = pd.read_csv(sachs([1, 2], [3]).resolve_path())
raw = raw[raw.condition_id.isin(list(CONDITIONS))]
log_means = np.log1p(raw[[*PROTEINS, "Akt"]]).groupby(raw.condition_id).mean()
shift = log_means - log_means.loc[1]

fig, ax = plt.subplots(figsize=(9, 4))
im = ax.imshow(shift.to_numpy(), cmap="RdBu_r", vmin=-3, vmax=3, aspect="auto")
ax.set_xticks(range(shift.shape[1]), shift.columns)
ax.set_yticks(range(len(shift)), [f"{c} {CONDITIONS[c]}" for c in shift.index], fontsize=8)
fig.colorbar(im, label="mean log level − condition 1")
ax.set_title("What each condition does to the network")
plt.show()

# %% [markdown]
# ## 2. Which predictors of Akt stay invariant across interventions?
#
# What do the published networks say? The data folder holds three reference graphs (one edge `cause,effect` per
# line); they do not agree on Akt's parents — treat them as references, not as the truth.

# %%
folder = sachs([1, 2], [3]).resolve_path().parent
for name in ("graph_bnlearn_sachs2005_17.csv", "graph_cdt_consensus_18.csv", "graph_jci_mooij_19.csv"):
    if (folder / name).is_file():
        edges = pd.read_csv(folder / name)
        print(f"{name:34s} parents of Akt: {sorted(edges.loc[edges.effect == 'Akt', 'cause'])}")

# %% [markdown]
# Now the data, first *within* each condition: a least-squares regression of log Akt on the ten proteins, fitted
# separately per condition. Only two proteins carry weight: **Erk** and **PKA**.


# %%
def least_squares(x, y):
    """Intercept and coefficients of y ~ 1 + x, (1 + d,), in float64."""
    design = torch.cat([torch.ones(len(x), 1, dtype=torch.float64), x.double()], 1)
    return torch.linalg.lstsq(design, y.double()[:, None]).solution[:, 0]


def residuals(coef, x, y):
    return y.double() - coef[0] - x.double() @ coef[1:]


coefficients = pd.DataFrame({c: least_squares(*cells[c])[1:].numpy() for c in sorted(cells)}, index=PROTEINS).T
fig, ax = plt.subplots(figsize=(8, 3.8))
im = ax.imshow(coefficients.to_numpy(), cmap="RdBu_r", vmin=-0.8, vmax=0.8, aspect="auto")
ax.set_xticks(range(len(PROTEINS)), PROTEINS)
ax.set_yticks(range(len(coefficients)), [f"{c} {CONDITIONS[c]}" for c in coefficients.index], fontsize=8)
for (i, j), v in np.ndenumerate(coefficients.to_numpy()):
    if abs(v) > 0.1:
        ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7)
fig.colorbar(im, label="coefficient (per sd of the feature)")
ax.set_title("log Akt regressed on the other proteins, within each condition")
plt.show()

# %% [markdown]
# Erk's coefficient lies between 0.4 and 0.6 in seven conditions (0.8 under G06976) — and is zero under U0126,
# the MEK inhibitor.
# That is the test we wanted. Invariant causal prediction (Peters, Bühlmann & Meinshausen 2016) makes it
# systematic: for a set `S` of predictors, fit `Akt ~ S` on the observational conditions and ask whether the
# *residuals* keep their distribution in each interventional condition. A set containing all of Akt's causes
# (and no effect of Akt) passes in every condition whose intervention does not touch Akt itself. We plot the shift
# of the residuals' mean, in units of their observational standard deviation, for every single protein, for the
# two candidate parent sets, for all ten proteins, and for no predictor at all.

# %%
observational = (torch.cat([cells[1][0], cells[2][0]]), torch.cat([cells[1][1], cells[2][1]]))
candidate_sets = {"(none)": []} | {p: [p] for p in PROTEINS}
candidate_sets |= {"Erk + PKA": ["Erk", "PKA"], "PIP3 + PKA": ["PIP3", "PKA"], "all ten": PROTEINS}
residual_shift = {}
for name, chosen in candidate_sets.items():
    columns = [PROTEINS.index(p) for p in chosen]
    coef = least_squares(observational[0][:, columns], observational[1])
    sd = residuals(coef, observational[0][:, columns], observational[1]).std()
    residual_shift[name] = {
        c: float(residuals(coef, cells[c][0][:, columns], cells[c][1]).mean() / sd) for c in range(3, 10)
    }
residual_shift = pd.DataFrame(residual_shift).T

fig, ax = plt.subplots(figsize=(8, 5))
im = ax.imshow(residual_shift.to_numpy(), cmap="RdBu_r", vmin=-5, vmax=5, aspect="auto")
ax.set_xticks(range(7), [f"{c}\n{CONDITIONS[c].split(' (')[0]}" for c in residual_shift.columns], fontsize=7)
ax.set_yticks(range(len(residual_shift)), residual_shift.index, fontsize=8)
for (i, j), v in np.ndenumerate(residual_shift.to_numpy()):
    ax.text(j, i, f"{v:.1f}", ha="center", va="center", fontsize=7, color="white" if abs(v) > 3 else "black")
fig.colorbar(im, label="mean residual shift (observational sd)")
ax.set_title("Does Akt ~ S, fitted on conditions 1-2, still hold under each intervention?")
plt.show()

# %% [markdown]
# Reading the picture row by row:
#
# - **No predictor** (Akt's own level): shifts in several conditions, most under G06976 (condition 4).
# - **Erk** explains most of those shifts (PMA, LY294002) but makes U0126 (condition 6) far *worse*: the MEK
#   inhibitor lowers Erk and Akt does not follow. Erk predicts Akt without causing it — both are driven by upstream
#   signalling — and the intervention on its own upstream exposes it. ICP rejects every set containing Erk.
# - **PKA** (with or without PIP3) shifts much less than Erk under U0126, and the most of all under G06976, which
#   lowers PKA while raising Akt.
# - **Condition 4 breaks every set.** G06976 shifts nearly every protein at once (the first picture): whatever it
#   does to Akt, it does through a path none of the measured proteins carries. No set is invariant across *all*
#   nine conditions — the model assumptions (linear, no hidden interventions) do not hold everywhere, as is usual
#   with real data.
# - The AKT inhibitor (condition 3) targets Akt itself, so ICP would not use it; inhibitors block a protein's
#   *activity*, and the measured level of Akt barely moves.
#
# ## 3. How ERM and invariant learners transfer to held-out conditions
#
# Now the learners. We train on the observational conditions and four interventions (1, 2, 5, 7, 8, 9) — the
# diversity an invariant learner needs — and hold out the AKT inhibitor (3), G06976 (4) and U0126 (6). A small
# MLP with ERM, IRM and V-REx, through the same harness as the simulated benchmarks. One preparation: IRM's penalty
# is not invariant to a constant offset in a regression target, so we standardise log Akt with the training rows'
# mean and standard deviation (the benchmark standardises only the features); errors are then in units of that sd.

# %%
transfer = sachs([1, 2, 5, 7, 8, 9], [3, 4, 6]).load(seed=SEED)
y_train = torch.cat([y for _, y in transfer.train.values()])
mean, sd = y_train.mean(), y_train.std()


def standardised(split):
    return {env: (x, (y - mean) / sd) for env, (x, y) in split.items()}


transfer = cp.data.BenchmarkData(
    standardised(transfer.train),
    standardised(transfer.val),
    standardised(transfer.test),
    transfer.info,
    task="regression",
)
mlp = cp.evaluation.net_factory(cp.nets.MLP, hidden=(32, 32))
settings = {"steps": STEPS, "batch_size": 128, "lr": 1e-3, "task": "regression", "seed": SEED, "progress": False}
penalty = {"penalty_weight": 10.0, "penalty_anneal_steps": STEPS // 4}
learners = {
    "ERM": cp.ERM(**settings),
    "IRM": cp.trainers.IRM(**settings, **penalty),
    "V-REx": cp.trainers.VREx(**settings, **penalty),
}
rows = []
for name, learner in learners.items():
    rows += cp.evaluation.evaluate_run(transfer, learner, mlp, run=name, trainer_name=name, seed=SEED)
results = pd.DataFrame(rows)
rmse = results[(results.metric == "rmse") & results.split.isin(["val", "test"])]
table = rmse.pivot_table(index="env", columns="trainer", values="value", sort=False)[list(learners)]
table.round(2)

# %%
held_out = [3, 4, 6]
fig, axes = plt.subplots(1, 2, figsize=(12, 3.8), layout="constrained")
in_distribution = table.loc[[f"condition_id={c}" for c in (1, 2, 5, 7, 8, 9)]].mean()
bars = pd.DataFrame(
    {"training conditions (val)": in_distribution}
    | {f"{c} {CONDITIONS[c]}": table.loc[f"condition_id={c}"] for c in held_out}
).T
bars.plot.bar(ax=axes[0], rot=0, fontsize=7)
axes[0].axhline(1.0, color="grey", linestyle=":", label="spread of log Akt in training (1 sd)")
axes[0].set_ylabel("RMSE (training sd of log Akt)")
axes[0].legend(fontsize=8)
axes[0].set_title("Transfer to held-out conditions")

x6, y6 = transfer.test["condition_id=6"]
for name, learner in learners.items():
    axes[1].scatter(y6, learner.predict(x6)[:, 0], s=4, alpha=0.4, label=name)
axes[1].plot([-3, 6], [-3, 6], color="black", linewidth=0.8)
axes[1].set_xlabel("measured log Akt (standardised)")
axes[1].set_ylabel("predicted")
axes[1].set_title("Condition 6, U0126: the models follow Erk down")
axes[1].legend(fontsize=8, markerscale=3)
plt.show()

# %% [markdown]
# ## What to take away
#
# - On the training conditions all three learners fit Akt well, and they transfer to the AKT inhibitor (3),
#   whose intervention leaves the measured relations alone.
# - Under U0126 and G06976 every learner fails, invariant or not. The invariance analysis said so beforehand: no
#   set of measured proteins keeps its relation to Akt under those interventions, so there is no invariant
#   predictor for a penalty to find. IRM and V-REx can only prefer invariance that exists *among the training
#   environments*; they cannot create it.
# - The useful output of real interventional data is often the diagnosis — which predictors an intervention
#   falsifies (here Erk, by U0126) — rather than a model that transfers everywhere.
