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
# # Tutorial 1 — Confounders in the lab
#
# **The idea:** in a lab, the *lab itself* decides both which scanner images a sample and which samples get made.
# The scanner then *predicts* the sample without *causing* it. Looking only at the samples a scanner happened to
# image (conditioning) keeps that bias; setting the scanner by hand (an intervention) removes it; and, given the
# causal graph, DoWhy finds which variables to adjust for so that observational data give the interventional
# answer (backdoor adjustment).
#
# Everything here uses causalphys' public API (`import causalphys as cp`) and runs in a few seconds.
# The environment variable `CAUSALPHYS_NOTEBOOK_SMALL=1` (set by the test suite) shrinks the sample sizes.

# %%
import os
import warnings

import matplotlib.pyplot as plt
import networkx as nx
import torch

import causalphys as cp

warnings.filterwarnings("ignore", message="IProgress not found")  # tqdm's note when ipywidgets is not installed

# %% tags=["parameters"]
SMALL = os.environ.get("CAUSALPHYS_NOTEBOOK_SMALL", "0").lower() not in ("", "0", "false", "no")
SEED = 0
N = 20_000 if SMALL else 200_000  # units drawn from the SCM

# %% [markdown]
# ## 1. The lab as a structural causal model
#
# Five variables, each computed from its parents and its own exogenous noise `u`:
#
# | node | role | structural equation |
# |---|---|---|
# | `lab` | confounder | `lab ~ Bernoulli(0.5)` — which of two labs the sample comes from |
# | `scanner` | instrument | `scanner = lab`, swapped for 10 % of the samples — each lab owns one scanner |
# | `phase` | sample | `phase ~ Bernoulli(0.2 + 0.6 · lab)` — lab 1 mostly makes phase 1 |
# | `label` | label | `label = phase`, flipped for 25 % of the samples — the recorded designation |
# | `signal` | — | `signal = 2 · phase + 1 · scanner + N(0, 0.5²)` — what the detector reads |
#
# The scanner has **no** effect on the phase or the label, and an effect of exactly **+1** on the signal.

# %%
graph = cp.CausalGraph(
    [("lab", "scanner"), ("lab", "phase"), ("phase", "label"), ("phase", "signal"), ("scanner", "signal")],
    roles={"lab": "confounder", "scanner": "instrument", "phase": "sample", "label": "label"},
)
scm = cp.SCM(
    graph,
    {
        "lab": cp.mech.Bernoulli(0.5),
        "scanner": cp.mech.Function(lambda lab, u: (lab + (u < 0.1)) % 2, noise=cp.noise.Uniform()),
        "phase": cp.mech.Function(lambda lab, u: (u < 0.2 + 0.6 * lab).float(), noise=cp.noise.Uniform()),
        "label": cp.mech.Function(lambda phase, u: (phase + (u < 0.25)) % 2, noise=cp.noise.Uniform()),
        "signal": cp.mech.Additive(lambda phase, scanner: 2.0 * phase + 1.0 * scanner, noise=cp.noise.Normal(0, 0.5)),
    },
)
print(scm)
graph.draw()
plt.title("The lab SCM: the lab is a common cause of scanner and phase")
plt.show()

# %% [markdown]
# ## 2. How the lab confounds scanner and phase
#
# The path `scanner ← lab → phase` is open: in the pooled data the scanner is associated with the phase. Within
# one lab (conditioning on the confounder) the path is blocked, and the association vanishes. The graph says so
# before we look at any data (d-separation):

# %%
print("scanner independent of phase?            ", graph.is_d_separated("scanner", "phase"))
print("scanner independent of phase, given lab? ", graph.is_d_separated("scanner", "phase", given="lab"))

batch = scm.sample(N, seed=SEED, dtype=torch.float64, return_noise=True)
df = batch.to_dataframe()
df.head()

# %% [markdown]
# And the data agree: among the samples imaged by scanner 1, phase 1 is far more common than among those imaged by
# scanner 0 — but inside each lab the scanner makes no difference.

# %%
pooled = df.groupby("scanner")["phase"].mean()
by_lab = df.groupby(["lab", "scanner"])["phase"].mean().unstack("scanner")
print("P(phase = 1 | scanner), pooled:\n", pooled.round(3).to_string(), "\n")
print("P(phase = 1 | scanner, lab):\n", by_lab.round(3).to_string())

fig, ax = plt.subplots(figsize=(6, 3.2))
groups = ["pooled", "lab 0", "lab 1"]
values = [pooled.to_numpy(), by_lab.loc[0.0].to_numpy(), by_lab.loc[1.0].to_numpy()]
for k, scanner in enumerate((0, 1)):
    ax.bar([g + 0.38 * k for g in range(3)], [v[k] for v in values], width=0.36, label=f"scanner {scanner}")
ax.set_xticks([g + 0.19 for g in range(3)], groups)
ax.set_ylabel("P(phase = 1)")
ax.set_title("The scanner 'predicts' the phase only because of the lab")
ax.legend()
plt.show()

# %% [markdown]
# ## 3. The naive association against the identified effect
#
# **Does the scanner change the label?** The naive comparison `P(label | scanner = 1) − P(label | scanner = 0)`
# says yes. Asked for the causal effect, DoWhy reads the graph first: there is no directed path from `scanner` to
# `label`, so the effect is zero — and the backdoor formula, which averages the within-lab differences over the
# labs, `Σ_l P(lab = l) [P(label | scanner = 1, lab = l) − P(label | scanner = 0, lab = l)]`, agrees up to
# sampling noise.

# %%
naive_label = df.loc[df.scanner == 1, "label"].mean() - df.loc[df.scanner == 0, "label"].mean()
within = df.groupby(["lab", "scanner"])["label"].mean().unstack("scanner")
backdoor_label = float(((within[1.0] - within[0.0]) * df["lab"].value_counts(normalize=True)).sum())
print(cp.identify_effect(scm, "scanner", "label"))
print(f"naive difference        {naive_label:+.3f}")
print(f"backdoor over the labs  {backdoor_label:+.3f}")

# %% [markdown]
# **How much does the scanner change the signal?** Here the true effect is +1. A regression of the signal on the
# scanner mixes the scanner's effect with the phase it travels with. DoWhy identifies the effect by backdoor
# adjustment and estimates it by a regression that includes the adjustment set. It picks the set with the least
# variance (here `phase`); if the phase were not measured (`observed=` leaves it latent), adjusting for the lab
# would do.

# %%
naive_signal = float(torch.cov(torch.stack([batch["scanner"], batch["signal"]]))[0, 1] / batch["scanner"].var())
estimand = cp.identify_effect(scm, "scanner", "signal")
print(estimand)
adjusted = cp.estimate_effect(scm, "scanner", "signal", n=N, seed=SEED)
phase_latent = cp.estimate_effect(scm, "scanner", "signal", n=N, seed=SEED, observed=["lab", "scanner", "signal"])
estimates = {"naive regression": naive_signal}
for estimate, note in ((adjusted, ""), (phase_latent, ", phase latent")):
    adjustment_set = ", ".join(estimate.target_estimand.get_backdoor_variables())
    estimates[f"backdoor {{{adjustment_set}}}{note}"] = estimate.value
for name, value in estimates.items():
    print(f"{name:34s} {value:+.3f}")

fig, ax = plt.subplots(figsize=(6, 2.8))
ax.barh(list(estimates), list(estimates.values()), color=["#c7c7c7", "#1f77b4", "#1f77b4"])
ax.axvline(1.0, color="black", linestyle="--", label="true effect (+1)")
ax.set_xlabel("effect of the scanner on the signal")
ax.invert_yaxis()
ax.legend(loc="lower right")
plt.show()

# %% [markdown]
# ## 4. What an intervention does that conditioning does not
#
# *Conditioning* on `scanner = 1` selects the samples that scanner 1 happened to image — mostly lab 1's samples,
# mostly phase 1. *Intervening*, `do(scanner := 1)`, puts every sample under scanner 1: the edge `lab → scanner` is
# cut, and the lab, phase and label keep the distribution they had. `scm.do(...)` returns a new SCM whose graph
# shows the cut.

# %%
intervened_scm = scm.do(scanner=1.0)
cut = sorted(set(graph.edges) - set(intervened_scm.graph.edges))
print("edges cut by do(scanner := 1):", cut)

# Both graphs drawn at the same node positions; the cut edge dashed.
pos = {"lab": (0, 0), "phase": (1, 1), "scanner": (1, -1), "label": (2, 1), "signal": (2, -1)}
colours = {
    "confounder": "#d62728",
    "sample": "#2ca02c",
    "instrument": "#1f77b4",
    "label": "#ff7f0e",
    "other": "#c7c7c7",
}
fig, axes = plt.subplots(1, 2, figsize=(11, 3.4))
for ax, g, title in [
    (axes[0], graph, "observed: the lab chooses the scanner"),
    (axes[1], intervened_scm.graph, "do(scanner := 1): the edge into the scanner is cut"),
]:
    nxg = g.to_networkx()
    node_colours = [colours[g.role(n)] for n in nxg]
    nx.draw_networkx(nxg, pos, ax=ax, node_color=node_colours, node_size=1500, font_size=9, edgecolors="black")
    ax.set_title(title)
    ax.set_axis_off()
nx.draw_networkx_edges(
    nx.DiGraph(cut), pos, ax=axes[1], style="dashed", edge_color="#d62728", node_size=1500, arrowstyle="-"
)
plt.show()

# %%
conditioned = df[df.scanner == 1]
intervened = intervened_scm.sample(N, seed=SEED + 1).to_dataframe()
compare = {
    "observed (all)": df,
    "conditioned: scanner = 1": conditioned,
    "intervened: do(scanner := 1)": intervened,
}
shares = {name: [d["lab"].mean(), d["phase"].mean(), d["label"].mean()] for name, d in compare.items()}
for name, (lab, phase, label) in shares.items():
    print(f"{name:30s} P(lab=1) {lab:.3f}   P(phase=1) {phase:.3f}   P(label=1) {label:.3f}")

fig, ax = plt.subplots(figsize=(7, 3.2))
for k, (name, values) in enumerate(shares.items()):
    ax.bar([g + 0.27 * k for g in range(3)], values, width=0.25, label=name)
ax.set_xticks([g + 0.27 for g in range(3)], ["P(lab = 1)", "P(phase = 1)", "P(label = 1)"])
ax.set_ylim(0, 1.25)
ax.set_title("Conditioning selects other samples; intervening keeps them")
ax.legend(fontsize=8, ncol=3, loc="upper center")
plt.show()

# %% [markdown]
# An intervention can even be applied to *the same units*: a counterfactual keeps every unit's exogenous noise and
# recomputes only what lies downstream of the intervention. Each sample re-imaged by the other scanner has its
# signal moved by exactly ±1 — and its phase and label untouched.

# %%
other = scm.counterfactual(batch, do={"scanner": 1.0 - batch["scanner"]})
change = other["signal"] - batch["signal"]
print("signal change, units moved 0 → 1:", f"{change[batch['scanner'] == 0].mean().item():+.3f}")
print("signal change, units moved 1 → 0:", f"{change[batch['scanner'] == 1].mean().item():+.3f}")
print("largest deviation from ±1:       ", f"{(change - (other['scanner'] - batch['scanner'])).abs().max().item():.1e}")
print("labels unchanged:                ", torch.equal(other["label"], batch["label"]))

# %% [markdown]
# ## 5. The same story in the microscope
#
# causalphys' microscopy lab (`cp.microscopy.scanner_shift`) is this SCM grown to 35 nodes: every instrument
# parameter of a scanning transmission electron microscope (dose, probe, drift, scan noise, detector) is a node,
# and the image is computed from them and from the specimen. The lab is again a confounder, and in addition it
# *routes* beam-sensitive samples (label 1) to its low-dose scanner — so in a training lab the scanner predicts the
# label, and in the test lab, which routes the other way, it predicts the opposite. Sampling only the scalar nodes
# we need is cheap (`nodes=` computes just those and their ancestors).

# %%
scanners = cp.load_scanners()
labs = cp.microscopy.scanner_shift(scanners)
fig, ax = plt.subplots(figsize=(15, 7))
labs.scm.graph.draw(ax=ax, node_size=700, font_size=6)
ax.set_title("The confounded microscopy lab (35 nodes)")
plt.show()

# %%
routing = {}
for name in ("train_a", "train_b", "test"):
    draw = labs[name].sample(N // 4, seed=SEED, nodes=["scanner", "label"]).to_dataframe(["scanner", "label"])
    routing[name] = draw.groupby("scanner")["label"].mean()
    print(f"{name:8s}", "  ".join(f"P(label=1 | {scanners[int(s)].name}) = {p:.2f}" for s, p in routing[name].items()))

fig, ax = plt.subplots(figsize=(6, 3))
for k, s in enumerate((0.0, 1.0)):
    ax.bar([g + 0.38 * k for g in range(3)], [routing[n][s] for n in routing], width=0.36, label=scanners[int(s)].name)
ax.set_xticks([g + 0.19 for g in range(3)], list(routing))
ax.set_ylabel("P(label = 1 | scanner)")
ax.set_ylim(0, 1.2)
ax.set_title("The scanner predicts the label — with the sign set by the lab")
ax.legend(fontsize=8, ncol=2, loc="upper center")
plt.show()

# %% [markdown]
# A network trained on the two training labs can read the scanner's signature (its noise, its blur) from the image
# and use it to guess the label. Nothing in the training data tells it that this works only because of how the
# labs route their samples. Tutorial 2 trains such networks and watches them fail when the scanner — or the
# routing — changes.
