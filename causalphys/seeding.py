"""Seeds derived from a run seed, and explicit torch generators.

The same ``(seed, *keys)`` always gives the same derived seed, on every machine and Python process (a keyed
BLAKE2 hash, not Python's randomized ``hash``). This is how per-node and per-environment randomness is made
independent yet reproducible from one run seed.
"""

from __future__ import annotations

import hashlib

import torch

_MASK_63 = (1 << 63) - 1


def derive_seed(seed: int, *keys: object) -> int:
    """A 63-bit seed determined by ``seed`` and ``keys`` (names, indices): ``derive_seed(0, "env", "lab_a")``."""
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {seed!r} ({type(seed).__name__})")
    text = repr((seed, *(str(k) for k in keys))).encode()
    digest = hashlib.blake2b(text, digest_size=8, person=b"causalphys").digest()
    return int.from_bytes(digest, "little") & _MASK_63


def make_generator(seed: int, device: str | torch.device = "cpu") -> torch.Generator:
    """A ``torch.Generator`` on ``device`` seeded with ``seed``."""
    return torch.Generator(device=torch.device(device)).manual_seed(int(seed))
