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
# # Tutorial 7 — From environments to equations
#
# **The idea:** a physical law is a relation that holds whatever the experimenter does to the apparatus. Symbolic
# regression finds formulas that *fit*; the environments a lab already has — another dose, another sample holder,
# another detector — tell which of them are *mechanisms*: the equation of a cause stays the same in every
# environment, an equation that leans on an effect or on a proxy of something hidden does not (invariant causal
# prediction, Peters et al. 2016). `cp.discovery` puts the two together:
#
# 1. `MechanismLearner` — for a node and its candidate parents, sparse regression over a library of candidate terms
#    (polynomials, products, log/exp/sqrt, user terms with units) and power laws with free exponents, each candidate
#    tested for invariance across the environments; invariant equations rank first.
# 2. `fit_scm` — one learned equation per node of a graph: an SCM to sample, intervene on and ask counterfactuals.
# 3. `compare_heldout` — the learned SCM against DoWhy's auto-assigned `gcm` models and plain regressions on an
#    environment nobody trained on.
#
# `CAUSALPHYS_NOTEBOOK_SMALL=1` (set by the tests) makes the samples smaller; the conclusions are the same.

# %%
import os
import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

import causalphys as cp

warnings.filterwarnings("ignore", message="IProgress not found")
SMALL = os.environ.get("CAUSALPHYS_NOTEBOOK_SMALL") == "1"
N = 300 if SMALL else 1000  # units per environment

# %% [markdown]
# ## 1. A detector with a law to find
#
# A beam of intensity `beam` (a setting, varied between runs) hits a specimen of thickness `t`; the counts follow a
# power law, `counts = 4 · beam^0.5 · t`, plus read noise. A temperature drift `h` nobody logged raises the counts and
# also the reading `p` of a thermistor next to the detector; the counts are also logged by a second, noisier display
# `display` (a child of `counts`). Three environments: two beam settings and a sample change; the display's and the
# thermistor's own noise differ between them (different days, different cables), the law does not.

# %%
graph = cp.CausalGraph(
    [("beam", "counts"), ("t", "counts"), ("h", "counts"), ("counts", "display"), ("h", "p")], roles={"h": "confounder"}
)
detector = cp.SCM(
    graph,
    {
        "beam": cp.mech.Uniform(1.0, 4.0),
        "t": cp.mech.Uniform(0.5, 1.5),
        "h": cp.mech.Normal(0.0, 1.0),
        "counts": cp.mech.Additive(lambda beam, t, h: 4.0 * beam**0.5 * t + 0.6 * h, noise=cp.noise.Normal(0, 0.2)),
        "display": cp.mech.Additive(lambda counts: counts, noise=cp.noise.Normal(0, 0.4)),
        "p": cp.mech.Additive(lambda h: h, noise=cp.noise.Normal(0, 0.3)),
    },
)
environments = cp.Environments(
    detector,
    {
        "low_beam": {"display": cp.noise.Normal(0, 0.8)},
        "high_beam": {"beam": cp.mech.Uniform(3.0, 9.0), "p": cp.noise.Normal(0, 0.8)},
        "thick": {"t": cp.mech.Uniform(1.0, 2.5), "display": cp.noise.Normal(0, 0.1), "p": cp.noise.Normal(0, 0.1)},
    },
)
observed = ["beam", "t", "counts", "display", "p"]  # h is not logged
frame = cp.discovery.stack_environments(environments.sample(N, seed=0, dtype=torch.float64), observed)
frame.groupby("env")[observed].mean().round(2)

# %% [markdown]
# ## 2. Which equation is the mechanism of `counts`?
#
# Every observed variable but `counts` is a candidate parent, the display and the thermistor included. The display
# predicts the counts better than their causes do (it *measures* them), the thermistor carries the hidden drift —
# by fit alone, a regression would choose them. The learner tests each candidate across the three environments
# (residual means, spreads and per-environment coefficients) and ranks the invariant ones first.

# %%
candidates = ["beam", "t", "display", "p"]
learner = cp.discovery.MechanismLearner(max_terms=2).fit(frame, "counts", candidates, environment="env")
table = learner.table(limit=None)
table[["rank", "formula", "parents", "bic", "invariant", "p_value"]].head(8)

# %%
best = learner.best_
print("first:", best.equation, "| invariant:", best.invariant)
by_fit = table.sort_values("bic").iloc[0]
print(f"best fit alone: {by_fit.n_params} parameters in {by_fit.parents} | invariant: {by_fit.invariant}")
uses = table["parents"].str.split(",")
spurious = table[uses.apply(lambda v: "display" in v or "p" in v)]
print(
    f"{(~spurious['invariant'].astype(bool)).sum()} of {len(spurious)} equations through the display or the "
    "thermistor are rejected"
)

# %% [markdown]
# Without environments the display's equation would have won on fit; the environments, which changed the
# display's and the thermistor's own noise but never the law, reject it. The equation left is a formula a physicist
# can read — and it still carries the drift `h` in its noise, since `h` is not observed: invariance removes the
# effects and the proxies, not a confounder that nothing measures.

# %% [markdown]
# ## 3. The equation as a mechanism, the graph as an SCM
#
# `fit_scm` learns one equation per node of a graph (here the graph without the unlogged drift) and returns a
# causalphys SCM: each node a `SymbolicMechanism` (`x = g(parents) + u`, Gaussian noise with the residual spread).
# The roots here are settings and thicknesses, positive quantities the law takes a power of: `root_model=
# "empirical"` resamples their observed values, pooled over the environments (the default, a Gaussian, would reach
# thicknesses below zero, where the law is undefined — the learned SCM refuses them by name). It samples, takes
# interventions and answers counterfactuals like any other SCM: the same units, had the beam been twice as bright.

# %%
observed_graph = cp.CausalGraph([("beam", "counts"), ("t", "counts"), ("counts", "display")], nodes=["p"])
learned = cp.discovery.fit_scm(observed_graph, frame, "env", root_model="empirical")
print(learned.mechanisms["counts"])
setting = {"beam": 8.0, "t": 1.0}  # a beam and a thickness nobody measured together
learned_mean = float(learned.do(setting).sample(4000, seed=1, dtype=torch.float64)["counts"].mean())
true_mean = float(detector.do(setting).sample(4000, seed=1, dtype=torch.float64)["counts"].mean())
print(f"E[counts | do(beam := 8, t := 1)]: learned {learned_mean:.2f}, true {true_mean:.2f}")
factual = learned.sample(5, seed=3, dtype=torch.float64)
print("counterfactual counts at twice the beam:", learned.counterfactual(factual, {"beam": {"scale": 2.0}})["counts"])

# %% [markdown]
# ## 4. Look at the law in every environment
#
# The learned curve, at the mean thickness of each environment, over each environment's data: one formula through
# all three clouds. The display's relation to the counts is as tight as can be — but its scatter changes from
# environment to environment, which is what gave it away.

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
colors = dict(zip(sorted(frame["env"].unique()), ["tab:blue", "tab:orange", "tab:green"]))
mech = learned.mechanisms["counts"]
for env, part in frame.groupby("env"):
    axes[0].scatter(part["beam"], part["counts"] / part["t"], s=4, alpha=0.4, color=colors[env], label=env)
    axes[1].scatter(part["display"], part["counts"], s=4, alpha=0.4, color=colors[env], label=env)
grid = np.linspace(frame["beam"].min(), frame["beam"].max(), 200)
curve = mech.predict(
    {"beam": torch.as_tensor(grid), "t": torch.ones(len(grid), dtype=torch.float64)},
    n=len(grid),
    device=torch.device("cpu"),
    dtype=torch.float64,
)
axes[0].plot(grid, curve.numpy(), color="black", label=f"learned: {best.equation.formula()}")
axes[0].set(xlabel="beam intensity", ylabel="counts / t", title="the law, one curve for every environment")
axes[1].set(xlabel="display", ylabel="counts", title="the display: tight, but not invariant")
axes[0].legend(fontsize=7)
axes[1].legend(fontsize=7)
fig.tight_layout()

# %% [markdown]
# ## 5. Against DoWhy and plain regression, on an environment nobody trained on
#
# A fourth environment turns the beam up past anything in training. `compare_heldout` fits every method on the
# three training environments and scores each node's prediction from its inputs there (RMSE): the learned
# formula, DoWhy's auto-assigned models (`gcm.auto`, on the same graph), a linear regression on the parents, and a
# linear regression and gradient boosting on every other variable (which may use the display and the thermistor).

# %%
heldout = cp.Environments(detector, {"brighter": {"beam": cp.mech.Uniform(9.0, 16.0)}})
test = cp.discovery.stack_environments(heldout.sample(N, seed=2, dtype=torch.float64), observed)
rows = cp.discovery.compare_heldout(observed_graph, frame, test, "env", seed=0)  # RMSE given the inputs
scores = pd.DataFrame(rows)
rmse = scores[(scores.metric == "rmse") & (scores.node == "counts")].set_index("method")["value"]
fig, ax = plt.subplots(figsize=(6, 2.8))
rmse.sort_values().plot.barh(ax=ax, color="tab:gray")
ax.set(xlabel="RMSE of counts on the brighter beam (held out)", ylabel="", title="extrapolating a law")
fig.tight_layout()
rmse.round(3)

# %% [markdown]
# The learned power law extrapolates with the physics; the flexible regressions extrapolate with whatever they
# learned inside the training range. The same machinery, on the microscopy simulator's own interventions, recovers
# the shot-noise law, the column-contrast exponent and the drift law (`experiments/equations/microscopy/`), and on
# the Sachs conditions it reports which equations for Erk and Akt survive (`experiments/equations/sachs/`).
