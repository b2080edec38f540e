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
# # Tutorial 6 — Letting the model choose the experiment
#
# **The idea:** a model trained once on whatever data the lab happened to collect learns whatever that collection
# correlates with — the instrument included. causalphys owns the data-generating process, so a learner can instead
# *choose* its next measurement: which lab routine, which scanner, which line of the scan to measure. Two tools:
#
# 1. `cp.active.ActiveLoop` — rounds under a labelling budget: a strategy names an experiment, an instrument (here an
#    SCM, in the lab a function that drives the microscope) measures a batch of it, the learner is refitted.
# 2. `cp.active.HypothesisLearner` — competing physical hypotheses about a mechanism, each a probabilistic model;
#    measurements go where the hypotheses are least sure.
#
# `CAUSALPHYS_NOTEBOOK_SMALL=1` (set by the tests) shrinks budgets and seeds; the conclusions are the same.

# %%
import os
import warnings

import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.gaussian_process.kernels import ConstantKernel, DotProduct

import causalphys as cp

warnings.filterwarnings("ignore", message="IProgress not found")

# %% tags=["parameters"]
SMALL = os.environ.get("CAUSALPHYS_NOTEBOOK_SMALL", "0").lower() not in ("", "0", "false", "no")
SEEDS = range(2) if SMALL else range(5)
BUDGET = 240 if SMALL else 480  # labelled units per loop
BATCH = 40  # units per round
STEPS = 150 if SMALL else 300  # optimiser steps per refit

# %% [markdown]
# ## 1. Which lab should label the next batch?
#
# A small instrument: the sample property `z` decides the label (`y = 1` when `z > 0`, 10 % label noise); the
# measurement has two channels, `z` seen through noise and an **instrument signature** `s`. How the signature
# relates to the label is the lab's routine, `routing`: in a routine lab the instrument is chosen by the label
# (`s = ±1` agrees with `y` with probability `routing`), in a balanced lab it is drawn at random, and a fifth
# experiment puts every specimen through one instrument (`do(s := +1)`). In the last two the signature says nothing
# about the label. A model that learns the signature fails where the routine is reversed — our test lab.

# %%
graph = cp.CausalGraph([("z", "y"), ("y", "s"), ("routing", "s"), ("z", "x"), ("s", "x")])


def signature(y, routing, u):
    agree = (u < routing).float()  # the instrument follows the label with probability `routing`
    return (2 * y - 1) * (2 * agree - 1)


instrument_scm = cp.SCM(
    graph,
    {
        "z": cp.mech.Normal(0.0, 1.0),
        "y": cp.mech.Function(lambda z, u: ((z > 0) ^ (u < 0.1)).float(), noise=cp.noise.Uniform()),
        "routing": cp.mech.Constant(0.5),
        "s": cp.mech.Function(signature, noise=cp.noise.Uniform()),
        "x": cp.mech.Additive(lambda z, s: torch.stack([z, 2.0 * s], 1), cp.noise.Normal(0, 0.7, shape=2)),
    },
)
experiments = {
    "routine_lab_a": {"routing": 0.95},
    "routine_lab_b": {"routing": 0.9},
    "routine_lab_c": {"routing": 0.85},
    "balanced_lab": {"routing": 0.5},  # the instrument drawn at random for every specimen
    "one_instrument": {"s": 1.0},  # do(s := +1): every specimen through the same instrument
}
lab = cp.active.SCMInstrument(cp.Environments(instrument_scm, experiments), x="x", y="y")
test = instrument_scm.do(routing=0.1).sample(2000, seed=99, nodes=["x", "y"])
x_test, y_test = test["x"], test["y"].long()


def evaluate(model):
    return {"reversed_lab": {"accuracy": float((model.predict(x_test).argmax(1) == y_test).float().mean())}}


learner = cp.active.TrainerLearner(
    lambda seed: cp.trainers.ERM(steps=STEPS, batch_size=64, lr=0.01, seed=seed, progress=False),
    lambda shape, n: cp.nets.MLP(shape, n, hidden=(16,)),
    n_outputs=2,
    name="erm_mlp",
)

# %% [markdown]
# Four strategies with the same budget: experiments drawn at random; the ensemble's disagreement on an unlabelled
# pool of each experiment (`UncertaintyStrategy`); where the model's predicted classes part most from the labels
# that experiment delivers (`PredictionShiftStrategy`: a model that leans on the signature predicts one class where
# the instrument is fixed, while the labels there are balanced); and, for reference, an experimenter who knows the
# answer and always asks the balanced lab.


# %%
class AlwaysBalanced(cp.active.Strategy):
    name = "always_balanced"

    def select(self, state, generator):
        return "balanced_lab"


strategies = {
    "random": lambda: cp.active.RandomStrategy(),
    "uncertainty": lambda: cp.active.UncertaintyStrategy(members=3, pool_size=256, warmup=1),
    "prediction_shift": lambda: cp.active.PredictionShiftStrategy(pool_size=256),
    "always_balanced": lambda: AlwaysBalanced(),
}
curves, picks = {}, {}
for name, make in strategies.items():
    for seed in SEEDS:
        result = cp.active.ActiveLoop(lab, make(), learner, evaluate, budget=BUDGET, batch_size=BATCH, seed=seed).run()
        curves.setdefault(name, []).append([r["value"] for r in result.rows])
        picks.setdefault(name, []).extend(result.choices)
labelled = np.arange(BATCH, BUDGET + 1, BATCH)

fig, ax = plt.subplots(figsize=(6, 3.6))
for name, runs in curves.items():
    runs = np.array(runs)
    ax.plot(labelled, runs.mean(0), marker="o", label=name)
    ax.fill_between(labelled, runs.min(0), runs.max(0), alpha=0.2)
# the best a model of x's first channel can do: sign(z + N(0, 0.7²)) agrees with sign(z) with probability
# 1 - arccos(ρ)/π (ρ = 1/√1.49, the correlation of z and its noisy view), and 10 % of the labels are flipped
agree = 1 - np.arccos(1 / np.sqrt(1 + 0.7**2)) / np.pi
ceiling = 0.9 * agree + 0.1 * (1 - agree)
ax.axhline(ceiling, color="k", ls="--", lw=0.8, label=f"best invariant model ({ceiling:.2f})")
ax.set_xlabel("labelled units spent")
ax.set_ylabel("accuracy on the reversed lab")
ax.legend(fontsize=8)
ax.set_title(f"mean and range over {len(SEEDS)} seeds")
plt.show()
for name, chosen in picks.items():
    share = {e: round(chosen.count(e) / len(chosen), 2) for e in experiments}
    final = np.array(curves[name])[:, -1]
    print(f"{name:16s} final accuracy {final.mean():.3f} (range {final.min():.3f}-{final.max():.3f}); asked: {share}")

# %% [markdown]
# What to read off (the full run, 5 seeds): random acquisition spends about half the budget on routine labs, and the
# model learns enough of the signature to sit near chance on the reversed lab (about 0.5). Asking only the balanced
# lab comes close to the best invariant model (about 0.71). The ensemble's disagreement finds the two experiments
# where the signature says nothing (the members disagree there) and does best of the three (about 0.59), but its
# warm-up batch and a few routine batches are enough for ERM to lean on the signature. Prediction shift sees only
# one of the two: where the instrument is fixed, a model leaning on it predicts one class against balanced labels —
# it asks `one_instrument` most — but where the instrument is drawn at random the mean prediction stays balanced,
# and its few early routine batches stay in the pool (about 0.50 here; on the microscopy benchmark, where the
# unconfounded candidates fix the scanner, it beats random: study 1 of `experiments/active/`). What neither score
# can do is tell an experiment that looks like the microscope the model will be used on: that is
# `cp.active.InstrumentMatchStrategy(target=...)`, which compares the power spectra of unlabelled images of each
# candidate with those of the target (study 1b: 0.32 of random's labels to first reach 0.6 on held-out scanners).
#
# ## 2. Which mechanism moves the scan lines?
#
# Hypothesis learning: three hypotheses about the fast-axis displacement `y(t)` of a scan line recorded at time
# `t` — nothing (an offset), a linear drift (`offset + v t`), or 50 Hz mains pick-up
# (`offset + a sin 2π50t + b cos 2π50t`) — each a Bayesian linear model written as a scikit-learn Gaussian process.
# The truth here is drift plus line jitter; the learner picks 30 of 256 lines.

# %%
rng = np.random.default_rng(0)
t = np.arange(256)[:, None] * 3e-3  # s: 256 lines of 3 ms
truth = 0.6 * t[:, 0] + 0.07 * rng.standard_normal(256)  # 0.6 Å/s drift, 0.07 Å jitter


def measure(x):
    return float(truth[int(round(x[0] / 3e-3))])


def mains(x):
    return np.hstack([np.sin(2 * np.pi * 50 * x), np.cos(2 * np.pi * 50 * x)])


fixed = dict(sigma_0=0.0, sigma_0_bounds="fixed")
offset = ConstantKernel(1.0, (1e-4, 1e2))
hypotheses = [
    cp.active.Hypothesis("none", offset, n_restarts=0),
    cp.active.Hypothesis("drift", offset + ConstantKernel(1.0, "fixed") * DotProduct(**fixed), n_restarts=0),
    cp.active.Hypothesis("mains", offset + ConstantKernel(0.01, "fixed") * DotProduct(**fixed), mains, n_restarts=0),
]
# the paper's loop, with the two changes the study in experiments/active/ settled on: a hypothesis earns its
# reward when the line it asked for leaves it ahead on evidence, and it asks for the line where its prediction
# differs most from its rivals'; its record weighs recent turns more (step size 0.5)
learner = cp.active.HypothesisLearner(
    hypotheses, reward="evidence", acquisition="discrimination", step_size=0.5, seed=0
)
result = learner.run(measure, t, budget=30)
evidence = dict(zip(result.names, result.evidences))
print("winner by reward:", result.winner, "| log evidences:", {k: round(float(v), 1) for k, v in evidence.items()})
print("records at the end:", {k: round(float(v), 2) for k, v in zip(result.names, result.records[-1])})

fig, ax = plt.subplots(figsize=(6, 3.4))
ax.plot(t[:, 0], truth, color="0.8", lw=0.8, label="every line (not measured)")
ax.plot(result.points[:, 0], result.values, "o", color="C3", label="the 30 lines measured")
for h in hypotheses:
    h.fit(result.points, result.values)
    mean, _ = h.predict(t, include_noise=False)
    ax.plot(t[:, 0], mean, label=f"{h.name} (log evidence {evidence[h.name]:.1f})")
ax.set_xlabel("line time (s)")
ax.set_ylabel("fast-axis displacement (Å)")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# The drift hypothesis wins on the lines the learner asked for, and its record is the highest: each time it was
# chosen, the line it asked for (where its prediction and its rivals' part most) left it
# ahead on evidence. The paper's own reward — "did my predictive uncertainty fall?" — does not separate these
# nested linear models: in the study of `experiments/active/` it names the truth no better than chance (22 of 60
# runs), while this loop names it in 146 of 150 runs, after fewer lines than uniformly chosen ones (8.6 against
# 10.9 on average). Read the evidence as well as the record, as here.
