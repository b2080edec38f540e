"""The exact Poisson quantile's sequential search, compiled (numba) for the CPU.

:func:`causalphys.microscopy.poisson.exact_quantile` searches in lockstep with torch operations: every step is a
few element-wise operations over a block, issued from Python, so on the CPU the search is bound by the
interpreter and holds the GIL between operations (two threads cannot share it). Here each element runs its own
search to its own end in compiled code that releases the GIL, so the detector's chunks run on several threads.

The arithmetic is the torch search's, operation for operation, so that the counts are the same: ``q₀ = e^{-λ}``
comes from torch's own ``exp`` (computed by the caller), ``q_k = q_{k-1} · λ`` (times the fold factor where the
scalar ``s_k`` is folded into ``q``), and ``F(k) = fma(q_k, s_k, F(k-1))`` — torch's vectorised ``add(…, alpha=s)``
is one fused multiply-add, and so is this. The scalars ``s_k`` (``s_k = s_{k-1} / k``, folded when below 1e-100)
depend on ``k`` alone and are tabulated once per call. ``tests/microscopy/test_poisson.py`` checks the two paths
against each other element by element.
"""

from __future__ import annotations

import math

import numpy as np

_KERNEL = None


def _compile():
    """Build the kernel on first use (importing numba costs a few hundred ms; compiled code is cached on disk)."""
    import numba
    from numba.core import types
    from numba.extending import intrinsic

    @intrinsic
    def fma(typingctx, a, b, c):
        def codegen(context, builder, signature, args):
            return builder.fma(*args)

        return types.float64(types.float64, types.float64, types.float64), codegen

    @numba.njit(nogil=True, cache=True)
    def search(lam, q0, v, out, cap, scale, fold, k_max):  # pragma: no cover - compiled
        # four elements at a time, in lockstep (four independent chains of multiplications keep the pipeline
        # busy: at rates up to 10 about twice as fast as one at a time); an element that is done keeps
        # stepping but no longer counts (F only grows), so its count is its own search's
        n = lam.size
        full = n - n % 4
        for i in range(0, full, 4):
            x0, x1, x2, x3 = lam[i], lam[i + 1], lam[i + 2], lam[i + 3]
            q0_, q1, q2, q3 = q0[i], q0[i + 1], q0[i + 2], q0[i + 3]
            t0, t1 = min(np.float64(v[i]), cap), min(np.float64(v[i + 1]), cap)
            t2, t3 = min(np.float64(v[i + 2]), cap), min(np.float64(v[i + 3]), cap)
            c0, c1, c2, c3 = q0_, q1, q2, q3
            n0 = n1 = n2 = n3 = 0
            k = 0
            while k < k_max:
                b0, b1, b2, b3 = c0 < t0, c1 < t1, c2 < t2, c3 < t3
                if not (b0 or b1 or b2 or b3):
                    break
                n0 += b0
                n1 += b1
                n2 += b2
                n3 += b3
                k += 1
                q0_, q1, q2, q3 = q0_ * x0, q1 * x1, q2 * x2, q3 * x3  # q_k = q_{k-1} · λ
                f = fold[k]
                if f != 0.0:  # s_k folded into q (the same k for every element)
                    q0_, q1, q2, q3 = q0_ * f, q1 * f, q2 * f, q3 * f
                s = scale[k]
                c0, c1, c2, c3 = fma(q0_, s, c0), fma(q1, s, c1), fma(q2, s, c2), fma(q3, s, c3)
            out[i], out[i + 1], out[i + 2], out[i + 3] = n0, n1, n2, n3
        for i in range(full, n):  # the last few, one by one
            x, q, t = lam[i], q0[i], min(np.float64(v[i]), cap)
            c, k = q, 0
            while c < t and k < k_max:
                k += 1
                q *= x
                if fold[k] != 0.0:
                    q *= fold[k]
                c = fma(q, scale[k], c)
            out[i] = k

    return search


def _tables(k_max: int) -> tuple[np.ndarray, np.ndarray]:
    """``s_k`` and the fold factors (0 where nothing is folded) for ``k = 0 .. k_max``, as the torch search
    computes them: ``s_k = s_{k-1} / k``; where that falls below 1e-100 it is multiplied into ``q`` and reset to 1."""
    scale, fold = np.ones(k_max + 1), np.zeros(k_max + 1)
    s = 1.0
    for k in range(1, k_max + 1):
        s /= k
        if s < 1e-100:
            fold[k], s = s, 1.0
        scale[k] = s
    return scale, fold


_TABLES: dict[int, tuple[np.ndarray, np.ndarray]] = {}


def search(lam: np.ndarray, q0: np.ndarray, v: np.ndarray, out: np.ndarray, cap: float) -> None:
    """Write ``min{k : F(k; λ) ≥ min(v, cap)}`` into ``out``; 1-D arrays of one length: ``lam`` and ``q0 = e^{-λ}``
    in float64, ``v`` float32 or float64, ``out`` float32 or float64. The guard ``k_max`` (far in the tail; the
    capped ``v`` stops every search before it) is the torch search's, from the largest rate."""
    global _KERNEL
    if lam.size == 0:
        return
    if _KERNEL is None:
        _KERNEL = _compile()
    lam_max = float(lam.max())
    k_max = int(lam_max + 40.0 * math.sqrt(lam_max) + 100)
    size = 1 << max(10, k_max.bit_length())  # tables in powers of two, so that few sizes are built
    if size not in _TABLES:
        _TABLES[size] = _tables(size - 1)
    scale, fold = _TABLES[size]
    _KERNEL(lam, q0, v, out, cap, scale, fold, k_max)
