"""Any CSV file with an environment column, as a multi-environment benchmark.

Each distinct value ``v`` of the ``environment`` column is one environment, named ``"{environment}={v}"`` (e.g.
``"condition_id=3"``). Values are compared as strings (``3``, ``3.0`` and ``"3"`` are the same environment), so
``train_envs: [1, 2]`` in a yaml matches an integer column. With ``X`` the ``(n, d)`` feature columns and ``y`` the
target column of the rows of one environment, :meth:`TabularBenchmark.load` returns

- ``x = (T(X) - mu) / sigma``, float32 ``(n, d)``, where ``T = log1p`` if ``log_transform`` else the identity, and
  ``mu``, ``sigma`` (``(d,)``) are the mean and the population standard deviation of ``T(X)`` over the pooled
  *training portions* of the training environments only (validation and test rows never leak into them; a
  constant feature gets ``sigma = 1``); without ``standardize``, ``x = T(X)``;
- ``y``: for classification the index of ``y`` among the sorted distinct target values of all used rows (``long``
  ``(n,)``); for regression ``T(y)`` (float32 ``(n,)``).

Each training environment's rows are split at random into a training and a validation portion
(``round(val_fraction * n)`` validation rows); test environments are returned whole. All randomness (the split,
the ``max_rows_per_env`` subsample) comes from ``torch.Generator``s seeded by ``derive_seed(seed, ...)``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from causalphys import checks
from causalphys.data.benchmark import PER_UNIT_TASKS, Benchmark, BenchmarkData, EnvironmentInfo
from causalphys.errors import ParameterError
from causalphys.seeding import derive_seed, make_generator

REPO_ROOT = Path(__file__).resolve().parents[2]
"""Relative paths that do not exist relative to the working directory are resolved against this folder."""


def env_key(value: object) -> str:
    """The string an environment value is compared by: ``3``, ``3.0``, ``np.int64(3)`` and ``"3"`` all give ``"3"``."""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (float, np.floating)) and math.isfinite(value) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, np.generic):
        value = value.item()
    return str(value)


def _sort_key(value: str) -> tuple:
    """Numbers first, in numeric order, then other strings alphabetically."""
    try:
        return (0, float(value), value)
    except ValueError:
        return (1, 0.0, value)


def _names(key: str, value: object, *, allow_none: bool = True) -> list[str] | None:
    """A list setting (a list, tuple or Hydra ListConfig) as a plain list of strings; a bare string is an error."""
    if value is None:
        if allow_none:
            return None
        raise ParameterError(f"{key} must be a list, got None")
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise ParameterError(f"{key} must be a list, got {value!r} ({type(value).__name__})")
    return [env_key(v) for v in value]


class TabularBenchmark(Benchmark):
    """A CSV file with one row per unit and an ``environment`` column, as a benchmark (module docstring).

    Settings (plain values, so a Hydra yaml can build it):

    - ``path``: the CSV file; if empty or ``None``, the file named by the environment variable ``path_env``. A
      relative path that does not exist relative to the working directory is taken relative to the repository root.
    - ``environment``, ``target``: column names.
    - ``features``: column names, or ``None`` for every numeric (non-boolean) column except ``environment``,
      ``target`` and ``drop``.
    - ``drop``: columns to ignore.
    - ``train_envs``: environment values to train on; ``test_envs``: values to test on (``None``: all others).
    - ``task``: ``"classification"`` or ``"regression"``.
    - ``log_transform``: ``log1p`` of the features (and of a regression target); values must be ``>= 0``.
    - ``standardize``: z-score the features with the training portion's mean and standard deviation.
    - ``val_fraction``: the fraction of each training environment held out for validation, in ``(0, 1)``.
    - ``name``: the benchmark's name; ``max_rows_per_env``: keep at most this many random rows per environment.

    After :meth:`load`: ``features_`` (the feature columns, in order), ``classes_`` (the target values, in class-index
    order; classification only), ``mean_`` and ``std_`` (``(d,)`` tensors; ``None`` without ``standardize``),
    ``path_`` (the file read).
    """

    def __init__(
        self,
        path: str | os.PathLike | None = None,
        *,
        environment: str,
        target: str,
        train_envs: Sequence,
        test_envs: Sequence | None = None,
        features: Sequence[str] | None = None,
        drop: Sequence[str] | None = None,
        task: str = "regression",
        log_transform: bool = False,
        standardize: bool = True,
        val_fraction: float = 0.2,
        name: str = "tabular",
        max_rows_per_env: int | None = None,
        path_env: str | None = None,
    ):
        self.path = path
        self.path_env = path_env
        self.environment = environment
        self.target = target
        self.features = features
        self.drop = drop
        self.train_envs = train_envs
        self.test_envs = test_envs
        self.task = task
        self.log_transform = log_transform
        self.standardize = standardize
        self.val_fraction = val_fraction
        self.name = name
        self.max_rows_per_env = max_rows_per_env

    # ------------------------------------------------------------------ settings
    def check(self) -> None:
        """Validate every setting that can be checked without reading the file; errors name the key."""
        checks.choice("task", self.task, PER_UNIT_TASKS)
        checks.fraction("val_fraction", self.val_fraction)
        for key in ("environment", "target", "name"):
            value = getattr(self, key)
            if not isinstance(value, str) or not value:
                raise ParameterError(f"{key} must be a non-empty string, got {value!r}")
        if self.environment == self.target:
            raise ParameterError(f"environment and target are the same column {self.target!r}")
        if not (self.path or self.path_env):
            raise ParameterError("no data file: set path, or path_env to the name of an environment variable")
        checks.int_at_least("max_rows_per_env", self.max_rows_per_env, 2, none_ok=True)
        features = _names("features", self.features)
        drop = _names("drop", self.drop) or []
        if features is not None:
            if not features:
                raise ParameterError("features is an empty list (use None for every numeric column)")
            for col in (self.environment, self.target):
                if col in features:
                    raise ParameterError(f"features include {col!r}, which is the environment or the target column")
            dropped = sorted(set(features) & set(drop))
            if dropped:
                raise ParameterError(f"columns {dropped} are both in features and in drop")
            dup = sorted({f for f in features if features.count(f) > 1})
            if dup:
                raise ParameterError(f"features lists columns {dup} more than once")
        for col in (self.environment, self.target):
            if col in drop:
                raise ParameterError(f"drop includes {col!r}, which is the environment or the target column")
        train = _names("train_envs", self.train_envs, allow_none=False)
        if not train:
            raise ParameterError("train_envs is empty: name at least one training environment value")
        test = _names("test_envs", self.test_envs)
        if test is not None:
            overlap = sorted(set(train) & set(test), key=_sort_key)
            if overlap:
                raise ParameterError(f"environment values {overlap} are in both train_envs and test_envs")

    def resolve_path(self) -> Path:
        """The CSV file to read (``path``, else ``$path_env``); a clear error naming both if neither gives a file."""
        raw = self.path
        source = "path"
        if not raw and self.path_env:
            raw = os.environ.get(self.path_env)
            source = f"${self.path_env}"
        if raw:
            path = Path(raw).expanduser()
            if not path.is_file() and not path.is_absolute() and (REPO_ROOT / path).is_file():
                path = REPO_ROOT / path
            if path.is_file():
                return path.resolve()
        if raw:
            raise ParameterError(
                f"data file of benchmark {self.name!r} not found: {source} = {raw!r} (also tried relative to "
                f"{REPO_ROOT}); settings path={self.path!r}, path_env={self.path_env!r}"
            )
        unset = f"names the unset environment variable ${self.path_env}" if self.path_env else "is None"
        raise ParameterError(
            f"no data file for benchmark {self.name!r}: path={self.path!r} is empty and path_env {unset}"
        )

    # ------------------------------------------------------------------ data
    def load(self, seed: int, *, progress: bool = False) -> BenchmarkData:
        """Read the file and build one seed's :class:`BenchmarkData` (module docstring); ``progress`` is unused."""
        self.check()
        self.path_ = self.resolve_path()
        try:
            frame = pd.read_csv(self.path_)
        except pd.errors.EmptyDataError as err:
            raise ParameterError(f"{self.path_} is empty: no header, no rows") from err
        except (pd.errors.ParserError, UnicodeDecodeError) as err:
            raise ParameterError(f"{self.path_} is not a readable CSV file: {err}") from err
        if frame.empty:
            raise ParameterError(f"{self.path_} has a header but no rows")
        columns = list(frame.columns)
        drop = _names("drop", self.drop) or []
        features = _names("features", self.features)
        wanted = [self.environment, self.target, *drop, *(features or [])]
        for col in wanted:
            if col not in frame.columns:
                raise ParameterError(f"column {col!r} is not in {self.path_}; its columns are {columns}")
        if features is None:
            skip = {self.environment, self.target, *drop}
            features = [
                c
                for c in columns
                if c not in skip
                and pd.api.types.is_numeric_dtype(frame[c])
                and not pd.api.types.is_bool_dtype(frame[c])
            ]
            if not features:
                raise ParameterError(f"{self.path_} has no numeric feature column besides {sorted(skip)}")
        for col in features:
            if not pd.api.types.is_numeric_dtype(frame[col]):
                raise ParameterError(
                    f"feature column {col!r} is not numeric (dtype {frame[col].dtype}, e.g. {frame[col].iloc[0]!r})"
                )
        self.features_ = features

        env = frame[self.environment].map(env_key)
        present = sorted(env.unique(), key=_sort_key)
        train = _names("train_envs", self.train_envs, allow_none=False)
        test = _names("test_envs", self.test_envs)
        for key, values in (("train_envs", train), ("test_envs", test or [])):
            absent = [v for v in values if v not in present]
            if absent:
                raise ParameterError(
                    f"{key} value(s) {absent} do not occur in column {self.environment!r}; its values are {present}"
                )
        if test is None:
            test = [v for v in present if v not in train]
        if not test:
            raise ParameterError(f"no test environments: every value of {self.environment!r} is in train_envs")

        used = env.isin(train + test).to_numpy()
        frame, env = frame.loc[used].reset_index(drop=True), env[used].reset_index(drop=True)
        X = self._feature_matrix(frame, features)
        y = self._targets(frame)
        return self._split(seed, X, y, env, train, test)

    def _feature_matrix(self, frame: pd.DataFrame, features: list[str]) -> np.ndarray:
        """``T(X)`` as float64 ``(n, d)``, after checking for NaNs and (with ``log_transform``) negative values."""
        X = frame[features].to_numpy(dtype=np.float64)
        for j, col in enumerate(features):
            n_nan, n_inf = int(np.isnan(X[:, j]).sum()), int(np.isinf(X[:, j]).sum())
            if n_nan:
                raise ParameterError(f"feature column {col!r} has {n_nan} NaN value(s) in the used environments")
            if n_inf:
                raise ParameterError(f"feature column {col!r} has {n_inf} infinite value(s) in the used environments")
            if self.log_transform:
                self._check_nonnegative(col, X[:, j])
        return np.log1p(X) if self.log_transform else X

    def _check_nonnegative(self, col: str, values: np.ndarray) -> None:
        n_neg = int((values < 0).sum())
        if n_neg:
            raise ParameterError(
                f"log_transform needs values >= 0, but column {col!r} has {n_neg} negative value(s) "
                f"(min {values.min():g})"
            )

    def _targets(self, frame: pd.DataFrame) -> torch.Tensor:
        """Class indices (``long``) or ``T(y)`` (float32), ``(n,)``."""
        column = frame[self.target]
        n_nan = int(column.isna().sum())
        if n_nan:
            raise ParameterError(f"target column {self.target!r} has {n_nan} missing value(s) in the used environments")
        if self.task == "classification":
            classes, index = np.unique(column.to_numpy(), return_inverse=True)
            self.classes_ = classes.tolist()
            return torch.as_tensor(index.reshape(-1), dtype=torch.long)
        if not pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
            raise ParameterError(f"regression target column {self.target!r} is not numeric (dtype {column.dtype})")
        values = column.to_numpy(dtype=np.float64)
        n_inf = int(np.isinf(values).sum())
        if n_inf:
            raise ParameterError(f"target column {self.target!r} has {n_inf} infinite value(s) in the used rows")
        if self.log_transform:
            self._check_nonnegative(self.target, values)
            values = np.log1p(values)
        self.classes_ = None
        return torch.tensor(values, dtype=torch.float32)

    def _rows(self, seed: int, env: pd.Series, value: str) -> torch.Tensor:
        """The row indices of environment ``value``, randomly capped at ``max_rows_per_env`` (kept in file order)."""
        rows = torch.as_tensor(np.flatnonzero((env == value).to_numpy()), dtype=torch.long)
        cap = self.max_rows_per_env
        if cap is not None and len(rows) > cap:
            gen = make_generator(derive_seed(seed, "tabular", self.name, "subsample", value))
            rows = rows[torch.randperm(len(rows), generator=gen)[:cap].sort().values]
        return rows

    def _split(
        self, seed: int, X: np.ndarray, y: torch.Tensor, env: pd.Series, train: list[str], test: list[str]
    ) -> BenchmarkData:
        """Split training environments into train/val, standardise with the training portion, build tensors."""
        parts: dict[str, dict[str, torch.Tensor]] = {"train": {}, "val": {}, "test": {}}
        for value in train:
            rows = self._rows(seed, env, value)
            gen = make_generator(derive_seed(seed, "tabular", self.name, "split", value))
            rows = rows[torch.randperm(len(rows), generator=gen)]
            n_val = int(round(self.val_fraction * len(rows)))
            parts["val"][value], parts["train"][value] = rows[:n_val], rows[n_val:]
        for value in test:
            parts["test"][value] = self._rows(seed, env, value)
        for split, envs in parts.items():
            for value, rows in envs.items():
                if len(rows) < 2:
                    raise ParameterError(
                        f"the {split} split of environment {self.environment}={value} has {len(rows)} row(s); "
                        f"at least 2 are needed (check val_fraction={self.val_fraction} and max_rows_per_env)"
                    )

        x_all = torch.tensor(X, dtype=torch.float64)
        if self.standardize:
            fit = x_all[torch.cat(list(parts["train"].values()))]
            mean, std = fit.mean(0), fit.std(0, unbiased=False)
            std = torch.where(std > 0, std, torch.ones_like(std))
            x_all = (x_all - mean) / std
            self.mean_, self.std_ = mean.float(), std.float()
        else:
            self.mean_ = self.std_ = None
        x_all = x_all.float()

        def name(value: str) -> str:
            return f"{self.environment}={value}"

        out = {split: {name(v): (x_all[r], y[r]) for v, r in envs.items()} for split, envs in parts.items()}
        info = {name(v): EnvironmentInfo("train", "environment", None, name(v)) for v in train}
        info.update({name(v): EnvironmentInfo("test", "environment", None, name(v)) for v in test})
        return BenchmarkData(out["train"], out["val"], out["test"], info, task=self.task, counterfactual={})
