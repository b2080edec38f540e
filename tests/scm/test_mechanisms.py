import math

import pytest
import torch

import causalphys as cp

N = 200_000


def sample_root(mech, n=N, seed=0, dtype=torch.float64):
    return cp.SCM(cp.CausalGraph(nodes=["x"]), {"x": mech}).sample(n, seed=seed, dtype=dtype)["x"]


@pytest.mark.parametrize(
    "mech, mean, var",
    [
        (cp.mech.Normal(1.5, 2.0), 1.5, 4.0),
        (cp.mech.Uniform(-1.0, 3.0), 1.0, 16 / 12),
        (cp.mech.LogNormal(0.0, 0.5), math.exp(0.125), (math.exp(0.25) - 1) * math.exp(0.25)),
        (cp.mech.Bernoulli(0.3), 0.3, 0.21),
        (cp.mech.Categorical([0.2, 0.5, 0.3]), 1.1, 0.2 * 1.1**2 + 0.5 * 0.1**2 + 0.3 * 0.9**2),
    ],
)
def test_root_distributions_have_their_moments(mech, mean, var):
    x = sample_root(mech)
    se = math.sqrt(var / N)
    assert abs(x.mean().item() - mean) < 5 * se
    assert x.var().item() == pytest.approx(var, rel=0.02)


def test_categorical_frequencies():
    x = sample_root(cp.mech.Categorical([0.1, 0.6, 0.3]))
    freq = torch.bincount(x.long(), minlength=3).double() / N
    assert torch.allclose(freq, torch.tensor([0.1, 0.6, 0.3], dtype=torch.float64), atol=0.005)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: cp.mech.Bernoulli(1.2), r"Bernoulli.p must be a probability in \[0, 1\], got 1.2"),
        (lambda: cp.mech.Bernoulli(-0.1), "Bernoulli.p"),
        (lambda: cp.mech.Normal(0.0, -1.0), "Normal.std must be a positive finite number"),
        (lambda: cp.mech.Normal(0.0, 0.0), "Normal.std"),
        (lambda: cp.mech.Uniform(2.0, 1.0), "low < high"),
        (lambda: cp.mech.Categorical([0.5, 0.6]), "summing to 1"),
        (lambda: cp.mech.Categorical([1.0]), "at least two"),
        (lambda: cp.noise.Normal(0.0, -2.0), "Normal.std must be a positive finite number"),
        (lambda: cp.noise.Uniform(1.0, 1.0), "low < high"),
        (lambda: cp.noise.Laplace(0.0, 0.0), "Laplace.scale"),
        (lambda: cp.noise.Normal(shape=(0, 3)), "positive sizes"),
        (lambda: cp.mech.MLPMechanism(activation="swish"), "activation"),
        (lambda: cp.mech.ConditionalCategorical(lambda x: x, n_classes=1), "n_classes"),
        (lambda: cp.mech.Constant(float("nan")), "finite"),
    ],
)
def test_impossible_parameters_raise(make, message):
    with pytest.raises(cp.ParameterError, match=message):
        make()


@pytest.mark.parametrize(
    "noise, mean, var",
    [
        (cp.noise.Normal(1.0, 0.5), 1.0, 0.25),
        (cp.noise.Uniform(0.0, 2.0), 1.0, 4 / 12),
        (cp.noise.Laplace(0.5, 1.0), 0.5, 2.0),
        (cp.noise.Gumbel(), 0.5772156649, math.pi**2 / 6),
    ],
)
def test_noise_moments(noise, mean, var):
    u = noise.sample(N, torch.Generator().manual_seed(3), torch.device("cpu"), torch.float64)
    assert u.shape == (N,)
    assert u.mean().item() == pytest.approx(mean, abs=5 * math.sqrt(var / N))
    assert u.var().item() == pytest.approx(var, rel=0.03)


def test_noise_shape_is_per_unit():
    u = cp.noise.Normal(shape=(4, 5)).sample(7, torch.Generator().manual_seed(0), torch.device("cpu"), torch.float32)
    assert u.shape == (7, 4, 5)


def test_additive_mechanism_inverts_exactly():
    m = cp.mech.Additive(lambda a, b: a * b + torch.sin(a), noise=cp.noise.Normal())
    a, b, u = torch.randn(3, 100, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    kw = dict(n=100, device=torch.device("cpu"), dtype=torch.float64)
    x = m.evaluate({"a": a, "b": b}, u, **kw)
    assert torch.allclose(m.invert({"a": a, "b": b}, x), u)
    assert m.invertible and m.parent_names() == {"a", "b"}


def test_linear_mechanism():
    m = cp.mech.Linear({"a": 2.0, "b": -1.0}, bias=0.5)
    a, b = torch.tensor([1.0, 2.0]), torch.tensor([3.0, 0.0])
    out = m.evaluate({"a": a, "b": b}, torch.zeros(2), n=2, device=torch.device("cpu"), dtype=torch.float32)
    assert torch.equal(out, torch.tensor([-0.5, 4.5]))


def test_function_arguments_are_parents_plus_u_and_defaults_are_optional():
    m = cp.mech.Function(lambda a, u, k=2.0: k * a + u, noise=cp.noise.Normal())
    assert m.parent_names() == {"a", "k"} and m.required_parent_names() == {"a"}
    m.check("x", ("a",))
    with pytest.raises(TypeError, match="positional-only"):
        cp.mech.Function(lambda a, /: a)


def test_mlp_is_a_fixed_function_of_its_seed():
    def run(seed):
        g = cp.CausalGraph([("a", "x"), ("b", "x")])
        scm = cp.SCM(
            g,
            {
                "a": cp.mech.Normal(),
                "b": cp.mech.Normal(shape=3),
                "x": cp.mech.MLPMechanism(hidden=(8, 8), out_shape=2, seed=seed),
            },
        )
        return scm.sample(50, seed=0)["x"]

    assert run(1).shape == (50, 2)
    assert torch.equal(run(1), run(1))
    assert not torch.equal(run(1), run(2))


def test_conditional_categorical_follows_softmax():
    g = cp.CausalGraph([("z", "y")])
    logits = torch.tensor([[0.0, 1.0, -1.0], [2.0, 0.0, 0.0]], dtype=torch.float64)
    scm = cp.SCM(
        g,
        {
            "z": cp.mech.Bernoulli(0.5),
            "y": cp.mech.ConditionalCategorical(lambda z: logits[z.long()], n_classes=3),
        },
    )
    b = scm.sample(N, seed=1, dtype=torch.float64)
    for z in (0, 1):
        y = b["y"][b["z"] == z].long()
        freq = torch.bincount(y, minlength=3).double() / len(y)
        assert torch.allclose(freq, torch.softmax(logits[z], 0), atol=0.01)


def test_a_parent_called_u_is_named_as_the_noise_argument():
    """A node called ``u`` feeding a mechanism with noise clashes with the noise argument: the error says so instead
    of "the mechanism takes []"."""
    graph = cp.CausalGraph([("u", "y")])
    with pytest.raises(cp.MechanismError, match="'u' is the name a mechanism's function gives its noise"):
        cp.SCM(graph, {"u": cp.mech.Normal(), "y": cp.mech.Function(lambda u: 2 * u, noise=cp.noise.Normal())})


def test_a_lossy_output_dtype_is_refused_and_an_exact_one_converted():
    """A mechanism computing in float64 under float32 sampling used to be rounded silently (issue 19 §4)."""
    graph = cp.CausalGraph([("x", "y")])

    def scm(fn):
        return cp.SCM(graph, {"x": cp.mech.Normal(), "y": cp.mech.Function(fn)})

    with pytest.raises(
        cp.MechanismError, match=r"node 'y' returned dtype torch.float64 but the SCM samples in torch.float32"
    ):
        scm(lambda x: x.double() / 3).sample(4, seed=0)
    # float32 output under float64 sampling, and booleans or integers, convert exactly
    assert scm(lambda x: x.float()).sample(4, seed=0, dtype=torch.float64)["y"].dtype == torch.float64
    out = scm(lambda x: x > 0).sample(6, seed=0)
    assert out["y"].dtype == torch.float32 and torch.equal(out["y"], (out["x"] > 0).float())
    assert scm(lambda x: (x > 0).long() * 3).sample(4, seed=0)["y"].dtype == torch.float32


def test_an_empirical_root_resamples_the_observed_values_and_inverts():
    observed = torch.tensor([0.5, 2.0, 1.0, 4.0, 3.0], dtype=torch.float64)
    scm = cp.SCM([("t", "y")], {"t": cp.mech.Empirical(observed), "y": cp.mech.Additive(lambda t: t**0.5)})
    batch = scm.sample(4000, seed=0, dtype=torch.float64)
    assert float(batch["t"].min()) >= 0.5 and float(batch["t"].max()) <= 4.0  # never outside the observed range
    assert float(batch["t"].median()) == pytest.approx(2.0, abs=0.1)  # the observed median
    mech = scm.mechanisms["t"]
    u = mech.invert({}, batch["t"])
    assert torch.allclose(mech.evaluate({}, u, n=4000, device=torch.device("cpu"), dtype=torch.float64), batch["t"])
    plain = {k: v for k, v in batch.items()}  # no recorded noise: abduction inverts the empirical root
    cf = scm.counterfactual(plain, {"t": {"shift": 1.0}})
    assert torch.allclose(cf["y"], (batch["t"] + 1.0) ** 0.5)
    with pytest.raises(cp.ParameterError, match=r"Empirical needs >= 2 finite values, got 2 \(1 not finite\)"):
        cp.mech.Empirical([1.0, float("nan")])
