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
# # Tutorial 5 — Representations
#
# **The idea:** a representation learned from the right signal recovers the causal variables — and because a
# simulator knows its own latent variables, we can check this directly against the truth, which real data never
# allow.
#
# Two learners, two signals:
#
# 1. **The iVAE** (Khemakhem et al. 2020) on synthetic nonlinear ICA data. The signal is the *environment*: the
#    sources' variances change from segment to segment, and a prior `p(z | u)` that depends on the segment `u`
#    makes the sources recoverable from their nonlinear mixture. We measure the recovery with the **MCC** (mean
#    correlation coefficient).
# 2. **The content-style learner** (von Kügelgen et al. 2021) on the microscope of tutorials 1 and 2. The signal
#    is a *counterfactual pair*: the same specimen imaged by two scanners. What the two images share is the
#    specimen (the content); what differs is the instrument (the style). We measure with probes which sample
#    variables and which instrument variables the learned features hold, and compare with ERM's features.
#
# Small mode (`CAUSALPHYS_NOTEBOOK_SMALL=1`, used by the tests) trains tiny models for a few seconds: its numbers
# are noisy and only show the mechanics — they are not results. Full mode (the default when you run the notebook
# yourself) reruns one seed of the nonlinear ICA study in `experiments/crl/` and a smaller version of its
# microscopy study, ten minutes or so on a laptop; the numbers those studies committed are quoted in the text.

# %%
import os
import warnings

import matplotlib.pyplot as plt
import pandas as pd
import torch
from sklearn.decomposition import FastICA

import causalphys as cp

warnings.filterwarnings("ignore", message="IProgress not found")  # tqdm's note when ipywidgets is not installed
torch.set_num_threads(1)  # the networks here are small; more threads only compete with each other

# %% tags=["parameters"]
SMALL = os.environ.get("CAUSALPHYS_NOTEBOOK_SMALL", "0").lower() not in ("", "0", "false", "no")
SEED = 0
# Part 1, nonlinear ICA (full mode: the paper's setting and experiments/crl/ivae_ica.py's tuned iVAE)
N_SEGMENTS, N_PER_SEGMENT, N_LATENTS = (10, 200, 3) if SMALL else (40, 1000, 5)
IVAE_HIDDEN = (64, 64) if SMALL else (128, 128)  # widths of the encoder's MLP and of the decoder
IVAE_BATCH = 64 if SMALL else 8  # points per segment and step
IVAE_STEPS = 1500 if SMALL else 20_000
# Part 2, the microscope (full mode: about the sizes of experiments/crl/microscopy_latents.py)
IMAGE_SIZE = 32 if SMALL else 64  # pixels per side
N_TRAIN = 64 if SMALL else 2000  # training images per training lab
N_PAIRS = 64 if SMALL else 1000  # specimens per training lab re-imaged by both scanners
STEPS, ENCODER_STEPS = (150, 100) if SMALL else (1500, 1000)  # all steps; of them, InfoNCE steps on the pairs
PAIR_BATCH = 64 if SMALL else 128  # specimens per InfoNCE step (the others in the batch are the negatives)
WIDTH = 8 if SMALL else 16  # channels of the CNN's first layer
N_LATENT_UNITS = 150 if SMALL else 1000  # fresh units per lab for the probes

# %% [markdown]
# ## 1. Nonlinear ICA: sources, segments, mixtures
#
# `cp.data.nonlinear_ica` draws the data of the iVAE paper (Sec. 7). In segment `u` the `k` sources are
# independent Gaussians whose standard deviations `sigma_uj ~ U(0.5, 3)` change from segment to segment,
#
# `s_j = sigma_uj · eps_j`, `eps_j ~ N(0, 1)`,
#
# and the observations are `x = f(s)`, a random invertible MLP with two leaky-ReLU layers. Each segment is an
# environment whose "targets" are the true sources — an unsupervised learner ignores them, and we keep them to
# grade the result.

# %%
problem = cp.data.nonlinear_ica(
    n_segments=N_SEGMENTS, n_per_segment=N_PER_SEGMENT, n_latents=N_LATENTS, n_layers=2, seed=SEED
)
x_all, sources = problem.x, problem.sources
print(f"{len(problem.envs)} segments x {N_PER_SEGMENT} points, {N_LATENTS} sources; x is {tuple(x_all.shape)}")

# %% [markdown]
# In source space every segment is an axis-aligned ellipse — its own variance along each source. We show the two
# segments whose ellipses differ most in the `(s_0, s_1)` plane: one stretched along `s_0`, one along `s_1`. The
# mixing bends and shears them; in `x` the axes are lost.

# %%
ratio = (problem.scales[:, 0] / problem.scales[:, 1]).log()  # > 0: the segment's ellipse is wider along s_0
segment_names = list(problem.envs)
shown = [segment_names[int(ratio.argmax())], segment_names[int(ratio.argmin())]]
fig, axes = plt.subplots(1, 3, figsize=(13, 4), layout="constrained")
for k, env in enumerate(shown):
    x, s = problem.envs[env]
    axes[0].scatter(s[:300, 0], s[:300, 1], s=3, alpha=0.5, color=f"C{k}", label=env)
    axes[1].scatter(x[:300, 0], x[:300, 1], s=3, alpha=0.5, color=f"C{k}")
axes[0].set(title="true sources (2 segments)", xlabel="$s_0$", ylabel="$s_1$", aspect="equal")
axes[0].legend(fontsize=7, markerscale=3)
axes[1].set(title="observed mixtures", xlabel="$x_0$", ylabel="$x_1$")
im = axes[2].imshow(problem.scales.T.numpy(), aspect="auto", cmap="viridis")
axes[2].set(title=r"source scales $\sigma_{uj}$", xlabel="segment u", ylabel="source j")
axes[2].set_yticks(range(N_LATENTS))
fig.colorbar(im, ax=axes[2])
plt.show()

# %% [markdown]
# ## 2. Why the environments make the sources identifiable
#
# Without the segments, nonlinear ICA has no unique answer: for i.i.d. data there are infinitely many nonlinear
# functions of `x` with independent components (Hyvärinen & Pajunen 1999) — for Gaussian sources, any rotation of
# the whitened sources is as independent as the sources themselves. A VAE with a fixed prior `N(0, I)` inherits
# this ambiguity.
#
# The iVAE's prior depends on the environment: `p(z | u) = prod_j N(z_j; 0, exp(l_uj))`, a learned variance per
# segment and latent. Now the model has to explain every segment's data by latents that are independent *and* whose
# variances change across segments *one coordinate at a time*. A rotated or mixed copy of the sources does not have
# that property — mixing two sources whose variances move differently across segments makes the mixed coordinates
# dependent in some segment. With enough segments whose variances vary independently (at least `2k + 1` for `k`
# latents in the paper's theorem) the only solutions are the true sources up to a permutation and an invertible
# function of each coordinate.
#
# That fixes what a fair score must ignore. The **MCC** correlates every true source with every learned latent,
# matches them one to one so that the summed `|correlation|` is largest (the Hungarian algorithm), and averages:
#
# `MCC = (1/k) sum_j |rho(s_j, z_pi(j))|`.
#
# With Pearson's `rho` it ignores permutation, sign and scale; with Spearman's (ranks) any monotone transform of
# each latent. 1 means every source has its own learned latent; two baselines show what "not recovered" looks
# like: **FastICA** (linear ICA: it can undo a linear mixing only) and the **identity** (the observations
# themselves, each of which correlates with the sources only as far as the mixing leaves it close to one source).
#
# We train the iVAE with the settings of `experiments/crl/ivae_ica.py` (a full-covariance posterior, decoder
# variance 0.01, cosine learning-rate decay); in small mode far shorter and on a smaller problem.

# %%
ivae = cp.trainers.IVAE(
    latent_dim=N_LATENTS,
    prior="gaussian",
    prior_mean=False,
    posterior="full",
    decoder_var=0.01,
    decoder_hidden=IVAE_HIDDEN,
    lr=3e-3,
    lr_schedule="cosine",
    batch_size=IVAE_BATCH,
    steps=IVAE_STEPS,
    task="regression",  # the environments' targets (the true sources) are checked, never used
    seed=SEED,
    progress=False,
)
ivae.fit(cp.nets.MLP(N_LATENTS, N_LATENTS, hidden=IVAE_HIDDEN), problem.envs)
ica = FastICA(n_components=N_LATENTS, whiten="unit-variance", max_iter=1000, random_state=SEED)
learned = {
    "iVAE": ivae.predict(x_all),  # the posterior means mu(x), (n, k)
    "FastICA": torch.from_numpy(ica.fit_transform(x_all.double().numpy())),
    "identity": x_all,
}
mcc_table = pd.DataFrame(
    {
        method: {rho: cp.evaluation.mcc(sources, z, method=rho) for rho in ("pearson", "spearman")}
        for method, z in learned.items()
    }
).T
print(f"MCC against the true sources ({'small mode: a tiny, short run, not a result' if SMALL else 'full mode'})")
mcc_table.round(3)

# %% [markdown]
# The matching itself: `cp.evaluation.match_latents` returns which learned latent went with which source. Each panel
# plots a true source against its matched latent, for the iVAE (top) and FastICA (bottom). A recovered source lies
# on a thin monotone curve; a mixed one is a cloud. Top right: the iVAE's full matrix of `|correlation|` — a
# recovered representation has one bright cell per row and column.

# %%
fig, axes = plt.subplots(2, N_LATENTS + 1, figsize=(2.6 * (N_LATENTS + 1), 5.2), layout="constrained", squeeze=False)
rows = torch.randperm(len(sources), generator=torch.Generator().manual_seed(SEED))[:2000]
for r, method in enumerate(("iVAE", "FastICA")):
    matching = cp.evaluation.match_latents(sources, learned[method])
    for true_j, learned_j, corr in zip(matching.true_index, matching.learned_index, matching.correlations):
        ax = axes[r, true_j]
        ax.scatter(sources[rows, true_j], learned[method][rows, learned_j], s=2, alpha=0.3, color=f"C{r}")
        ax.set_title(f"$s_{true_j}$ vs {method} $z_{learned_j}$: |r| = {corr:.2f}", fontsize=8)
        ax.tick_params(labelsize=6)
ivae_matching = cp.evaluation.match_latents(sources, learned["iVAE"])
axes[0, -1].imshow(ivae_matching.matrix, vmin=0, vmax=1, cmap="viridis")
axes[0, -1].set(xlabel="learned z", ylabel="true s", xticks=range(N_LATENTS), yticks=range(N_LATENTS))
axes[0, -1].set_title("iVAE: |correlation|", fontsize=9)
mcc_table.plot.bar(ax=axes[1, -1], rot=0, fontsize=7, ylim=(0, 1))
axes[1, -1].set_title("MCC", fontsize=9)
axes[1, -1].legend(fontsize=7, loc="lower right")
plt.show()

# %% [markdown]
# **What the full study found.** `experiments/crl/ivae_ica.py` runs the paper's setting — 40 segments x 1,000
# points, 5 sources, 2 mixing layers, 20,000 steps — and commits its table to `experiments/crl/table.md`. Over seeds
# 0-2 the iVAE reaches a Pearson MCC of **0.94 ± 0.03** (Spearman 0.94), FastICA **0.75 ± 0.01** and the identity
# **0.58 ± 0.01**. Full mode of this notebook reruns that study's seed 0 (MCC 0.915 there). In small mode the iVAE gets
# 7.5 % of the steps on a twentieth of the data: its MCC here is noisy, usually well below the full run's, and on
# some seeds no better than FastICA's.

# %% [markdown]
# ## 3. Content and style on the microscope
#
# Back to the confounded labs of tutorial 2: two training labs route beam-sensitive samples to the low-dose
# scanner, the test lab routes them the other way. ERM learns to read the scanner. A content learner needs a
# signal that tells specimen from instrument — and the simulator can provide one: **re-imaging**. The benchmark's
# `n_pairs` specimens of each training lab are imaged by both of the lab's scanners, each in a new imaging session
# (the specimen's noise kept, the session's shot noise and jitter redrawn): `data.pairs[lab] = [x | do(scanner :=
# s0), x | do(scanner := s1)]`.

# %%
scanners = cp.load_scanners()
labs = cp.microscopy.load_labs()  # the benchmark's lab table (causalphys/presets/labs/scanner_shift.yaml)
del labs["heldout_scanners"]  # the shift below makes the held-out scanners' environments
bench = cp.microscopy.ScannerShiftBenchmark(
    labs,
    scanners,
    image_size=IMAGE_SIZE,
    n_train=N_TRAIN,
    n_val=max(16, N_TRAIN // 10),
    n_test=4 * N_TRAIN,
    n_counterfactual=0,  # the counterfactual views for model selection are not needed here
    n_pairs=N_PAIRS,
)
data = bench.load(seed=SEED)
print({lab: tuple(views[0].shape) for lab, views in data.pairs.items()}, "specimens x 2 scanners per lab")

fig, axes = plt.subplots(2, 5, figsize=(10, 4.4), layout="constrained")
for j in range(5):
    for i, (view, scanner) in enumerate(zip(data.pairs["train_a"], labs["train_a"]["scanners"])):
        axes[i, j].imshow(view[j, 0], cmap="gray")
        axes[i, j].set_xticks([])
        axes[i, j].set_yticks([])
        if j == 0:
            axes[i, j].set_ylabel(scanner, fontsize=9)
fig.suptitle("Counterfactual pairs: the same five specimens, imaged by the two scanners of train_a")
plt.show()

# %% [markdown]
# `cp.trainers.ContentStyle` learns in two stages within one `fit`:
#
# 1. **Encoder** (`encoder_steps` steps): InfoNCE on the pairs — the features of a specimen's two images must agree,
#    and differ from the other specimens' in the batch. Whatever changes between the two images (the instrument)
#    cannot help to recognise the partner, so the encoder keeps what the views share: the content is
#    *block-identified*, up to an invertible map (von Kügelgen et al. 2021).
# 2. **Head** (the remaining steps): a linear classifier trained by ERM on the frozen content features, with the
#    labelled (confounded) images of the training labs.
#
# ERM trains the same small CNN end to end on the labelled images alone.

# %%
make_net = cp.evaluation.net_factory(cp.nets.SmallCNN, width=WIDTH, strides=(2, 2, 1, 1))
content_style = cp.trainers.ContentStyle(
    steps=STEPS, encoder_steps=ENCODER_STEPS, pair_batch_size=PAIR_BATCH, seed=SEED, progress=False
)
content_style.fit(make_net(data.input_shape, data.n_outputs), data.train, pairs=data.pairs)
erm = cp.ERM(steps=STEPS, batch_size=64, seed=SEED, progress=False)
erm.fit(make_net(data.input_shape, data.n_outputs), data.train)
encoder = [h for h in content_style.history_ if "alignment" in h]
print(f"InfoNCE: pair alignment (mean cosine) {encoder[0]['alignment']:.2f} -> {encoder[-1]['alignment']:.2f}")

x_test, y_test = data.test["test"]  # the lab with reversed routing
for name, learner in {"content-style": content_style, "ERM": erm}.items():
    accuracy = (learner.predict(x_test).argmax(1) == y_test).float().mean().item()
    print(f"{name:13s} test-lab accuracy {accuracy:.2f}")

# %% [markdown]
# ## 4. What the features hold: probes against the true latents
#
# Now the check only a simulator allows. We draw fresh units of every lab *with all their latent variables* —
# sample variables (`phase`, `lattice_constant`) and instrument variables (`log_dose`, `probe_sigma`, `scanner`) —
# and fit held-out probes from each model's features to each variable: a linear (ridge) probe and a nonlinear (RBF
# kernel ridge) one. `cp.evaluation.disentanglement_table` returns the held-out R² as tidy rows. The content
# learner's features come from `transform(x)`; ERM's are its CNN's features, before the head.

# %%
SAMPLE = ["phase", "lattice_constant"]
INSTRUMENT = ["log_dose", "probe_sigma", "scanner"]
train_envs, test_envs, _ = bench.environments()
images, truth = [], []
for envs in (train_envs, test_envs):
    for lab in envs:
        batch = envs[lab].sample(N_LATENT_UNITS, seed=cp.derive_seed(SEED, "latents", lab))
        values = {"log_dose": batch["dose"].log10()} | {k: batch[k] for k in SAMPLE + ["probe_sigma", "scanner"]}
        images.append(cp.data.standardize_images(batch["image"]))
        truth.append(torch.stack([values[k].float() for k in SAMPLE + INSTRUMENT], 1))
images, truth = torch.cat(images), torch.cat(truth)


def erm_features(trainer, x):
    """The CNN's features before the head, ``(n, n_features)``."""
    net = trainer.net_.eval()
    with torch.no_grad():
        return torch.cat([net.features(chunk) for chunk in x.split(512)])


features = {"content-style": content_style.transform(images), "ERM": erm_features(erm, images)}
rows = []
for name, z in features.items():
    for probe in ("linear", "nonlinear"):
        table = cp.evaluation.disentanglement_table(
            z, truth, blocks={name: list(range(z.shape[1]))}, names=SAMPLE + INSTRUMENT, probe=probe, seed=SEED
        )
        rows += table
r2 = pd.DataFrame(rows).pivot_table(index=["block", "probe"], columns="variable", values="value", sort=False)
r2 = r2[SAMPLE + INSTRUMENT].rename_axis(index=["features", "probe"])
print(f"held-out R² on {len(truth)} fresh units ({'small mode: noisy, not a result' if SMALL else 'full mode'})")
r2.round(2)

# %%
fig, axes = plt.subplots(1, 2, figsize=(12, 3.8), layout="constrained", sharey=True)
for ax, probe in zip(axes, ("linear", "nonlinear")):
    r2.xs(probe, level="probe").T.plot.bar(ax=ax, rot=0, color=["C2", "C0"])
    ax.axvline(len(SAMPLE) - 0.5, color="grey", linewidth=0.8)
    ax.text(0.5, 1.02, "sample", ha="center", fontsize=9)
    ax.text(len(SAMPLE) + 1, 1.02, "instrument", ha="center", fontsize=9)
    ax.set_ylim(-0.1, 1.1)
    ax.set_title(f"{probe} probe", pad=14)
    ax.set_xlabel("")
axes[0].set_ylabel("held-out R² of the probe")
fig.suptitle("Which true variables each model's features hold")
plt.show()

# %% [markdown]
# **What the full study found.** `experiments/crl/microscopy_latents.py` trains both learners on the default
# scanner-shift benchmark (5,000 images and 2,500 pairs per training lab, 64x64, 1,500 steps) for three seeds and
# commits its tidy rows to `experiments/crl/microscopy/latents.csv` (the script also prints and writes the table,
# `latents.md`). On the labs with the training scanners:
#
# - **ERM's features are an instrument read-out.** Linear probes recover the scanner (R² 0.96), the log dose (0.93)
#   and the probe size (0.76), and the phase only at 0.54 — the network learned the shortcut that its training labs
#   rewarded.
# - **The content features hold the specimen.** Nonlinear probes recover the phase (0.91) and the lattice constant
#   (0.88); the instrument variables are nearly gone linearly (scanner, dose, probe size all ≤ 0.01) and only
#   partly recoverable nonlinearly (0.27-0.33). Linear probes see the phase only at 0.35: the content is identified
#   up to an invertible map, not linearly — which is why both probes are worth running.
# - **It pays off where the routing reverses.** In the test lab, the content head reaches 56 % accuracy (three-seed
#   mean), ERM 26 %.
# - **The limit.** On the lab with two scanners no training lab has, the content features hold more of the
#   instrument (scanner R² about 0.2): InfoNCE removes the style that *varied within the pairs*, and only that.
#
# ## What to take away
#
# - A representation is only as good as the signal that shapes it: changing source variances across environments
#   for the iVAE, pairs that change the instrument and keep the specimen for the content learner. Without such a
#   signal (a plain VAE, ERM on confounded labels) nothing forces the learned coordinates to be the causal ones.
# - A simulator knows its latent variables, so a representation can be graded against them: the MCC when the
#   latents should be recovered one by one, probe R² when they should be recovered as a block — and the instrument
#   variables tell you what the representation should *not* hold.
# - Small-mode numbers above show the mechanics only; the numbers to quote are the committed ones in
#   `experiments/crl/`.
