"""Small SCMs the SCM tests share."""

import causalphys as cp


def linear_chain():
    """x ~ N(0, 1); y = 2x + N(0, 1); z = -y + 0.5x + N(0, 0.25)."""
    g = cp.CausalGraph([("x", "y"), ("y", "z"), ("x", "z")])
    return cp.SCM(
        g,
        {
            "x": cp.mech.Normal(0.0, 1.0),
            "y": cp.mech.Linear({"x": 2.0}),
            "z": cp.mech.Linear({"y": -1.0, "x": 0.5}, noise=cp.noise.Normal(0.0, 0.5)),
        },
    )


def lab_scm():
    """The confounded lab of the README: the lab picks the scanner and the phase; the image sees both."""
    graph = cp.CausalGraph(
        [
            ("lab", "scanner"),
            ("lab", "phase"),
            ("phase", "label"),
            ("phase", "signal"),
            ("scanner", "signal"),
            ("signal", "image"),
        ],
        roles={"lab": "confounder", "scanner": "instrument", "phase": "sample", "label": "label"},
    )
    return cp.SCM(
        graph,
        {
            "lab": cp.mech.Bernoulli(0.5),
            "scanner": cp.mech.Function(lambda lab, u: (lab + (u < 0.1)) % 2, noise=cp.noise.Uniform()),
            "phase": cp.mech.Function(lambda lab, u: (u < 0.2 + 0.6 * lab).float(), noise=cp.noise.Uniform()),
            "label": cp.mech.Function(lambda phase, u: (phase + (u < 0.25)) % 2, noise=cp.noise.Uniform()),
            "signal": cp.mech.Additive(lambda phase, scanner: 2 * phase + scanner, noise=cp.noise.Normal(0, 0.5)),
            "image": cp.mech.Function(
                lambda signal, u: signal.view(-1, 1, 1) + u, noise=cp.noise.Normal(0, 1, shape=(8, 8)), shape=(8, 8)
            ),
        },
    )
