"""A hypothesis of hypothesis learning (:mod:`causalphys.active.hypothesis`): a structured probabilistic model of a
measured signal, ``y = f(x) + ε`` with ``f ~ GP(0, k(φ(x), φ(x')))`` and ``ε ~ N(0, σ²)`` (scikit-learn's
:class:`~sklearn.gaussian_process.GaussianProcessRegressor`), fitted by type-II maximum likelihood, whose maximum
is the hypothesis's (empirical-Bayes) evidence ``log p(y | X, h)``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np
from threadpoolctl import threadpool_limits

from causalphys.errors import CausalPhysError, ParameterError

if TYPE_CHECKING:
    from sklearn.gaussian_process.kernels import Kernel


class MeasurementError(CausalPhysError, ValueError):
    """A measurement callable returned something that is not one finite number; the message names the point."""


class Hypothesis:
    """One hypothesis: ``y = f(x) + ε`` with ``f ~ GP(0, kernel(φ(x), φ(x')))`` and ``ε ~ N(0, σ²)``.

    ``kernel`` is the mechanism's scikit-learn kernel (without noise: a ``WhiteKernel(noise_level, noise_bounds)``
    is added); ``features`` maps points ``(n, d)`` to the kernel's inputs ``(n, k)`` (identity if ``None``). Fixed
    kernel hyper-parameters are priors; free ones are fitted by type-II maximum likelihood with
    ``n_restarts`` extra random starts. Fitted state: ``gp_`` (the fitted regressor), ``noise_level_`` (``σ²``),
    ``log_evidence_`` (``log p(y | X)`` at the fitted hyper-parameters).
    """

    def __init__(
        self,
        name: str,
        kernel: Kernel,
        features: Callable[[np.ndarray], np.ndarray] | None = None,
        noise_level: float = 1e-2,
        noise_bounds: tuple[float, float] = (1e-8, 1e2),
        n_restarts: int = 1,
    ):
        if not isinstance(name, str) or not name:
            raise ParameterError(f"a hypothesis needs a non-empty name, got {name!r}")
        from sklearn.gaussian_process.kernels import Kernel

        if not isinstance(kernel, Kernel):
            raise ParameterError(f"hypothesis {name!r}: kernel must be a scikit-learn Kernel, got {type(kernel)}")
        if n_restarts < 0:
            raise ParameterError(f"hypothesis {name!r}: n_restarts must be >= 0, got {n_restarts}")
        self.name = name
        self.kernel = kernel
        self.features = features
        self.noise_level = noise_level
        self.noise_bounds = noise_bounds
        self.n_restarts = n_restarts

    def clone(self) -> Hypothesis:
        """An unfitted copy with the same settings."""
        from sklearn.base import clone

        return Hypothesis(
            self.name, clone(self.kernel), self.features, self.noise_level, self.noise_bounds, self.n_restarts
        )

    def _inputs(self, X: np.ndarray) -> np.ndarray:
        Z = np.asarray(self.features(X) if self.features is not None else X, dtype=float)
        Z = Z.reshape(len(X), -1)
        if not np.isfinite(Z).all():
            raise ParameterError(f"hypothesis {self.name!r}: its features are not finite for some points")
        return Z

    def fit(self, X: np.ndarray, y: np.ndarray, random_state: int | None = 0) -> Hypothesis:
        """Fit to ``X`` ``(n, d)``, ``y`` ``(n,)`` (hyper-parameters by maximum evidence); returns ``self``."""
        X, y = points(X, f"hypothesis {self.name!r}"), np.asarray(y, dtype=float).ravel()
        if len(X) != len(y) or len(y) == 0:
            raise ParameterError(
                f"hypothesis {self.name!r}: fit needs n >= 1 points and n values, got {len(X)}, {len(y)}"
            )
        # scikit-learn (with scipy.optimize, ~100 MB) is imported where a hypothesis is fitted, not with causalphys
        from sklearn.base import clone
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.gaussian_process import GaussianProcessRegressor
        from sklearn.gaussian_process.kernels import WhiteKernel

        noise = WhiteKernel(self.noise_level, self.noise_bounds)
        gp = GaussianProcessRegressor(
            clone(self.kernel) + noise, n_restarts_optimizer=self.n_restarts, random_state=random_state
        )
        # hyper-parameters at a bound (a mechanism switched off) are expected; BLAS threads only slow these small
        # problems down (four times, on a busy machine)
        with warnings.catch_warnings(), threadpool_limits(limits=1, user_api="blas"):
            warnings.simplefilter("ignore", ConvergenceWarning)
            gp.fit(self._inputs(X), y)
        self.gp_ = gp
        self.noise_level_ = float(gp.kernel_.k2.noise_level)
        self.log_evidence_ = float(gp.log_marginal_likelihood_value_)
        return self

    def predict(self, X: np.ndarray, include_noise: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Posterior predictive mean and standard deviation at ``X`` ``(n, d)``, each ``(n,)``: of a new
        measurement ``y`` (``include_noise``) or of the mechanism ``f`` (``Var f = Var y - σ²``)."""
        if not hasattr(self, "gp_"):
            raise ParameterError(f"hypothesis {self.name!r} is not fitted; call fit(X, y) first")
        mean, std = self.gp_.predict(self._inputs(points(X, f"hypothesis {self.name!r}")), return_std=True)
        if not include_noise:
            std = np.sqrt(np.clip(std**2 - self.noise_level_, 0.0, None))
        return mean, std

    def __repr__(self):
        return f"Hypothesis({self.name!r}, {self.kernel})"


def points(X, where: str) -> np.ndarray:
    X = np.asarray(X, dtype=float)
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim != 2:
        raise ParameterError(f"{where}: points must be (n, d) or (n,), got shape {X.shape}")
    return X


def log_evidences(hypotheses: Sequence[Hypothesis], X: np.ndarray, y: np.ndarray, seed: int = 0) -> np.ndarray:
    """``log p(y | X, h)`` of every hypothesis (each a fitted clone; hyper-parameters at their maximum), ``(H,)``."""
    return np.array([h.clone().fit(X, y, random_state=seed).log_evidence_ for h in hypotheses])
