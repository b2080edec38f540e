"""Colored MNIST (Arjovsky et al. 2019, "Invariant Risk Minimization", Section 5.2), as an SCM.

Structural equations, per unit (an MNIST digit ``d``, 2x subsampled to 14x14 as the reference script does first,
with class ``c``)::

    label  = 1[c < 5]  XOR  Bernoulli(0.25)          (the digit predicts the label 75 % of the time)
    colour = label     XOR  Bernoulli(e)             (e: the environment's colour-flip probability)
    image  = [d, d] / 255 with channel 1 - colour zeroed

The digits enter as per-unit hard interventions on the root nodes ``digit_image`` and ``digit`` (the data set is
the exogenous input); environments are interventions on ``colour_flip``. The reference split: the first 50,000
training images, shuffled, even positions -> environment e = 0.2, odd -> e = 0.1; the last 10,000 training images
-> the test environment, e = 0.9. :class:`ColoredMNISTBenchmark` serves them to the harness, with counterfactual
pairs (each validation digit in both colours).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch

from causalphys.data.benchmark import Benchmark, BenchmarkData, DataRequest, EnvironmentInfo
from causalphys.data.scm_benchmark import Progress
from causalphys.errors import CausalPhysError, ParameterError
from causalphys.scm import catalog as mech
from causalphys.scm import noise as nz
from causalphys.scm.graph import CausalGraph
from causalphys.scm.model import SCM
from causalphys.seeding import derive_seed, make_generator

ENVIRONMENTS = {"train_0.2": 0.2, "train_0.1": 0.1, "test_0.9": 0.9}
"""Environment name -> colour-flip probability, as in the paper."""

MNIST_ENV = "CAUSALPHYS_MNIST"
"""Environment variable holding the path of ``mnist.npz`` when no path is passed."""


def load_mnist(path: str | os.PathLike | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The MNIST training images ``(60000, 28, 28)`` uint8 and digits ``(60000,)`` from an ``.npz`` with keys
    ``x_train`` and ``y_train`` (``path`` or ``$CAUSALPHYS_MNIST``). Nothing is downloaded."""
    path = path if path is not None else os.environ.get(MNIST_ENV)
    if path is None:
        raise CausalPhysError(f"no MNIST path: pass one or set ${MNIST_ENV} to an mnist.npz (x_train, y_train)")
    path = Path(path)
    if not path.is_file():
        raise CausalPhysError(f"MNIST file not found: {path}")
    with np.load(path) as data:
        missing = [k for k in ("x_train", "y_train") if k not in data]
        if missing:
            raise CausalPhysError(f"{path} lacks the array(s) {missing}; it has {sorted(data.files)}")
        images, digits = torch.from_numpy(data["x_train"].copy()), torch.from_numpy(data["y_train"].copy())
    if images.dim() != 3 or images.shape[1:] != (28, 28) or len(images) != len(digits):
        raise CausalPhysError(f"{path}: x_train must be (n, 28, 28) with one digit each, got {tuple(images.shape)}")
    return images, digits.long()


def colored_mnist_scm(colour_flip: float = 0.2, label_noise: float = 0.25) -> SCM:
    """The Colored MNIST SCM (module docstring). ``digit_image`` and ``digit`` are placeholders to be set per
    unit with ``do``; ``colour_flip`` is the environment's ``e``."""
    graph = CausalGraph(
        [
            ("digit", "label"),
            ("label", "colour"),
            ("colour_flip", "colour"),
            ("digit_image", "image"),
            ("colour", "image"),
        ],
        roles={
            "digit": "sample",
            "digit_image": "sample",
            "label": "label",
            "colour": "other",
            "colour_flip": "confounder",
        },
    )

    def label_of(digit, u):
        return ((digit < 5).float() + (u < label_noise).float()) % 2

    def colour_of(label, colour_flip, u):
        return (label + (u < colour_flip).float()) % 2

    def image_of(digit_image, colour):
        grey = digit_image / 255.0
        kept = grey * colour.view(-1, 1, 1)  # the reference zeroes channel 1 - colour: the digit is in channel colour
        return torch.stack([grey - kept, kept], dim=1)

    return SCM(
        graph,
        {
            "digit_image": mech.Constant(torch.zeros(14, 14)),
            "digit": mech.Constant(0.0),
            "colour_flip": mech.Constant(float(colour_flip)),
            "label": mech.Function(label_of, noise=nz.Uniform()),
            "colour": mech.Function(colour_of, noise=nz.Uniform()),
            "image": mech.Function(image_of, shape=(2, 14, 14)),
        },
    )


def colored_mnist_environments(
    images: torch.Tensor, digits: torch.Tensor, *, seed: int, grayscale: bool = False
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """``{env: (x, y)}`` with ``x`` ``(n, 2, 14, 14)`` float and ``y`` ``(n,)`` long labels in {0, 1}, split as in
    the paper (first 50,000 images shuffled with ``seed``; even/odd positions -> train_0.2 / train_0.1; images
    50,000-59,999 -> test_0.9). Label and colour noise are drawn from ``seed``. ``grayscale=True`` gives the
    oracle's colour-blind input ``(n, 1, 14, 14)``: the two channels summed, as the reference grayscale model does."""
    if len(images) != len(digits):
        raise CausalPhysError(f"images ({len(images)}) and digits ({len(digits)}) differ in length")
    n_train = min(50_000, len(images) * 5 // 6)
    order = torch.randperm(n_train, generator=make_generator(derive_seed(seed, "colored_mnist", "shuffle")))
    parts = {
        "train_0.2": order[0::2],
        "train_0.1": order[1::2],
        "test_0.9": torch.arange(n_train, len(images)),
    }
    out = {}
    for name, index in parts.items():
        scm = colored_mnist_scm(ENVIRONMENTS[name])
        # subsample before converting (as the reference does): a quarter of the memory of 28x28 floats
        batch = scm.do(digit_image=images[index][:, ::2, ::2].float(), digit=digits[index].float()).sample(
            len(index), seed=derive_seed(seed, "colored_mnist", name)
        )
        x = batch["image"]
        if grayscale:
            x = x.sum(1, keepdim=True)
        out[name] = (x, batch["label"].long())
    return out


def _in_both_colours(grey: torch.Tensor) -> list[torch.Tensor]:
    """Digits ``(n, 14, 14)`` as Colored MNIST images ``(n, 2, 14, 14)`` in colour 0 and in colour 1."""
    return [torch.stack([grey * (1 - c), grey * c], dim=1) for c in (0.0, 1.0)]


class ColoredMNISTBenchmark(Benchmark):
    """Colored MNIST exactly as Arjovsky et al. (2019) build it
    (:func:`~causalphys.data.colored_mnist.colored_mnist_environments`): training environments ``train_0.2`` and
    ``train_0.1`` (the last ``val_fraction`` of each held out for validation), test environment ``test_0.9``.
    ``grayscale=True`` is the oracle's colour-blind input. Counterfactual pairs: each validation digit in colour 0
    and colour 1 (``do(colour := c)``). ``views={"source": "colour"}``: each training digit in both colours with
    its label (``BenchmarkData.views``), for the physics learners with colour as the randomised instrument. MNIST
    from ``path`` or ``$CAUSALPHYS_MNIST``."""

    task = "classification"

    def __init__(
        self,
        path: str | None = None,
        grayscale: bool = False,
        val_fraction: float = 0.1,
        views: Mapping[str, object] | None = None,
        name: str = "colored_mnist",
    ):
        self.path = path
        self.grayscale = bool(grayscale)
        self.val_fraction = val_fraction
        self.views = dict(views) if views else None
        self.name = name

    def requesting(self, request: DataRequest) -> ColoredMNISTBenchmark:
        """The request's views (each training digit in both colours); no shifts, no pairs."""
        return self.requesting_views(request)

    def check(self) -> None:
        if not 0.0 < float(self.val_fraction) < 1.0:
            raise ParameterError(f"benchmark.val_fraction must lie in (0, 1), got {self.val_fraction!r}")
        if self.views is not None:
            if self.views.get("source") != "colour":
                raise ParameterError(
                    "benchmark colored_mnist: its instrument is the colour, so its views are each training digit in "
                    f"both colours: set trainer.views.source=colour (got {self.views.get('source')!r})"
                )
            if self.grayscale:
                raise ParameterError("benchmark colored_mnist: views of grayscale inputs have no colour to vary")

    def load(self, seed: int, *, progress: bool | Progress = False) -> BenchmarkData:
        self.check()
        path = self.path or os.environ.get("CAUSALPHYS_MNIST")
        images, digits = load_mnist(path)
        envs = colored_mnist_environments(images, digits, seed=seed, grayscale=self.grayscale)
        train, val, counterfactual = {}, {}, {}
        for env in ("train_0.2", "train_0.1"):
            x, y = envs[env]
            cut = len(y) - max(1, int(round(self.val_fraction * len(y))))
            train[env], val[env] = (x[:cut], y[:cut]), (x[cut:], y[cut:])
            grey = x[cut:].sum(1)  # the digit, whatever its colour
            if self.grayscale:
                continue
            counterfactual[env] = _in_both_colours(grey)
        info = {
            "train_0.2": EnvironmentInfo("train", None, None, "colour flipped with probability 0.2"),
            "train_0.1": EnvironmentInfo("train", None, None, "colour flipped with probability 0.1"),
            "test_0.9": EnvironmentInfo("test", "colour_flip", 0.9, "colour flipped with probability 0.9"),
        }
        views = {}
        if self.views is not None:  # the control of issue 20: colour is the randomised "instrument"
            for env, (x, y) in train.items():
                views[env] = (torch.stack(_in_both_colours(x.sum(1)), 1), y)
        return BenchmarkData(
            train, val, {"test_0.9": envs["test_0.9"]}, info, "classification", counterfactual, views=views
        )
