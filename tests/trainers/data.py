"""Tiny seeded problems for the trainer tests."""

import torch


def separable(n: int = 200, d: int = 5, n_envs: int = 2, seed: int = 0) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Linearly separable binary classification: ``y = [x . w > 0]``; environment ``i`` shifts ``x`` by ``i / 2``."""
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(d, generator=g)
    envs = {}
    for i in range(n_envs):
        x = torch.randn(n, d, generator=g) + i / 2
        envs[f"env{i}"] = (x, (x @ w > 0).long())
    return envs


def regression(n: int = 64, d: int = 3, k: int = 1, seed: int = 0) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """``y = x W + noise``, two environments; ``y`` is ``(n,)`` for ``k == 1`` and ``(n, k)`` otherwise."""
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(d, k, generator=g)
    envs = {}
    for i in range(2):
        x = torch.randn(n, d, generator=g) * (1 + i)
        y = x @ w + 0.01 * torch.randn(n, k, generator=g)
        envs[f"env{i}"] = (x, y[:, 0] if k == 1 else y)
    return envs


def weights(net: torch.nn.Module) -> list[torch.Tensor]:
    return [t.detach().clone() for t in net.state_dict().values()]


def same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    return all(torch.equal(u, v) for u, v in zip(weights(a), weights(b)))
