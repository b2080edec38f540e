"""Multi-environment data as tables: one column per node, one row per unit, plus an environment label per row.

The learner takes a ``pandas.DataFrame`` (or ``{name: array}``) and the environment as a column name or an array of
labels; :func:`stack_environments` turns samples of :class:`causalphys.Environments` into such a table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from causalphys.errors import ParameterError
from causalphys.scm.batch import Batch


def columns_of(data, names: Sequence[str]) -> dict[str, np.ndarray]:
    """``{name: (n,) float64}`` from a DataFrame or a mapping of arrays/tensors, naming missing columns and columns
    with non-finite values (inf or NaN: a least-squares fit cannot use them, and the error they cause deep inside
    scikit-learn or pysindy does not say which column or row is at fault)."""
    missing = [k for k in names if k not in data]
    if missing:
        raise ParameterError(f"the data lack column(s) {missing}")
    out = {}
    for k in names:
        v = data[k]
        v = v.detach().cpu().numpy() if hasattr(v, "detach") else np.asarray(v)
        out[k] = np.array(v, dtype=np.float64).reshape(-1)  # a copy: writable, detached from the caller
    bad = {k: int((~np.isfinite(v)).sum()) for k, v in out.items()}
    bad = {k: count for k, count in bad.items() if count}
    if bad:
        where = ", ".join(f"{k!r} in {count} of {len(out[k])} rows" for k, count in bad.items())
        raise ParameterError(
            f"non-finite values (inf or NaN): {where}; drop those rows first, e.g. "
            f"frame = frame[np.isfinite(frame[{list(bad)}]).all(axis=1)]"
        )
    return out


def environment_labels(data, environment, n: int) -> np.ndarray | None:
    """The environment label of each row: ``environment`` names a column of ``data`` or is an array ``(n,)``."""
    if environment is None:
        return None
    labels = np.asarray(data[environment]) if isinstance(environment, str) else np.asarray(environment)
    if labels.shape != (n,):
        raise ParameterError(f"environment labels must have shape ({n},), got {labels.shape}")
    return labels


def stack_environments(samples: Mapping[str, Batch], nodes: Sequence[str] | None = None, column: str = "env"):
    """One ``pandas.DataFrame`` from ``{environment: Batch}`` (as ``cp.Environments.sample`` returns): the scalar
    ``nodes`` (default: all) as columns, the environment's name in ``column``."""
    import pandas as pd

    frames = []
    for name, batch in samples.items():
        frame = batch.to_dataframe(nodes)
        if column in frame:
            raise ParameterError(f"a node is called {column!r}, the environment column: pass another column=")
        frames.append(frame.assign(**{column: name}))
    if not frames:
        raise ParameterError("stack_environments needs at least one environment")
    return pd.concat(frames, ignore_index=True)
