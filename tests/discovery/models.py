"""A small nonlinear SCM with several environments, a child of the target and a proxy of a hidden confounder.

    a ~ N(0, 1),  b ~ U(0.5, 2),  h ~ N(0, 1) (hidden)
    m = a² + N(0, 0.3²)
    y = m·b + 0.5·exp(b) + 0.8·h + N(0, 0.3²)
    c = y + N(0, 0.5²)          (a child of y)
    p = h + N(0, 0.3²)          (a proxy of the hidden confounder h)

The environments move the roots a and b and the child's and proxy's own noise, never y's mechanism.
"""

import causalphys as cp

OBSERVED = ["a", "b", "m", "y", "c", "p"]
GRAPH = cp.CausalGraph([("a", "m"), ("m", "y"), ("b", "y"), ("y", "c")], nodes=["p"])  # the observed graph


def textbook_scm() -> cp.SCM:
    graph = cp.CausalGraph([("a", "m"), ("m", "y"), ("b", "y"), ("h", "y"), ("y", "c"), ("h", "p")])
    return cp.SCM(
        graph,
        {
            "a": cp.mech.Normal(0.0, 1.0),
            "b": cp.mech.Uniform(0.5, 2.0),
            "h": cp.mech.Normal(0.0, 1.0),
            "m": cp.mech.Additive(lambda a: a**2, noise=cp.noise.Normal(0, 0.3)),
            "y": cp.mech.Additive(lambda m, b, h: m * b + 0.5 * b.exp() + 0.8 * h, noise=cp.noise.Normal(0, 0.3)),
            "c": cp.mech.Additive(lambda y: y, noise=cp.noise.Normal(0, 0.5)),
            "p": cp.mech.Additive(lambda h: h, noise=cp.noise.Normal(0, 0.3)),
        },
    )


ENVIRONMENTS = {
    "observational": {},
    "shift_a": {"a": cp.mech.Normal(1.0, 1.0), "c": cp.noise.Normal(0, 1.2)},
    "shift_b": {"b": cp.mech.Uniform(1.0, 2.5), "p": cp.noise.Normal(0, 0.9)},
    "spread_a": {"a": cp.mech.Normal(0.0, 1.5), "c": cp.noise.Normal(0, 0.2), "p": cp.noise.Normal(0, 0.1)},
}


def frame(seed: int = 0, n: int = 400):
    """``n`` units per environment as one table (observed nodes and the ``env`` column), float64."""
    import torch

    envs = cp.Environments(textbook_scm(), ENVIRONMENTS)
    return cp.discovery.stack_environments(envs.sample(n, seed=seed, dtype=torch.float64), OBSERVED)
