"""SCMBenchmark: any SCM as a benchmark — shapes, determinism, the oracle cut, counterfactual views and pairs, the
generic Interventions shift, every bad key named, and a user's own SCM function through the Hydra harness."""

import csv
import json
import textwrap

import pytest
import torch
from hydra import compose, initialize_config_dir

import causalphys as cp
from causalphys.data.spectrometer import spectrometer_scm
from causalphys.run import CONF_DIR, build, run
from causalphys.scm.oracle import COPY, cut_instrument_parents

PATTERN = torch.arange(20.0).view(4, 5) / 20.0


def toy_scm() -> cp.SCM:
    """season -> weather (confounder) -> label, weather -> stray (instrument) <- gain (instrument); label, stray,
    gain and a sample node ``grain`` make a scalar, a vector and an image reading (``other`` role)."""
    graph = cp.CausalGraph(
        [
            ("season", "weather"),
            ("weather", "label"),
            ("weather", "stray"),
            ("gain", "stray"),
            *[(p, x) for p in ("label", "stray", "grain") for x in ("scalar", "vector", "image")],
        ],
        roles={"season": "confounder", "weather": "confounder", "label": "label", "grain": "sample"}
        | {"stray": "instrument", "gain": "instrument"},
    )
    return cp.SCM(
        graph,
        {
            "season": cp.mech.Normal(0.0, 1.0),
            "weather": cp.mech.Linear({"season": 1.0}, noise=cp.noise.Normal(0, 0.5)),
            "label": cp.mech.Function(lambda weather, u: (u < torch.sigmoid(2 * weather)).float(), cp.noise.Uniform()),
            "gain": cp.mech.Constant(1.0),
            "stray": cp.mech.Additive(lambda weather, gain: gain * weather, cp.noise.Normal(0, 0.3)),
            "grain": cp.mech.Uniform(0.0, 1.0),
            "scalar": cp.mech.Additive(lambda label, stray, grain: label + stray + grain, cp.noise.Normal(0, 0.1)),
            "vector": cp.mech.Additive(
                lambda label, stray, grain: torch.stack([label, stray, grain], dim=1), cp.noise.Normal(0, 0.1, shape=3)
            ),
            "image": cp.mech.Additive(
                lambda label, stray, grain: 3 + (label + grain)[:, None, None] * PATTERN + stray[:, None, None],
                cp.noise.Normal(0, 0.1, shape=(4, 5)),
            ),
        },
    )


ENVS = {"a": {"role": "train", "do": {"gain": 1.0}}, "b": {"role": "train", "do": {"gain": 2.0}}}
SMALL = {"n_train": 60, "n_val": 20, "n_test": 30, "n_counterfactual": 16, "chunk": 25}


def bench(**settings) -> cp.data.SCMBenchmark:
    return cp.data.SCMBenchmark(
        **{"scm": toy_scm(), "environments": ENVS, "inputs": "vector", "target": "label"} | SMALL | settings
    )


@pytest.mark.parametrize(
    "inputs, shape",
    [("scalar", (1,)), ("vector", (3,)), ("image", (1, 4, 5)), (["scalar", "vector", "grain"], (5,))],
)
def test_inputs_by_per_unit_shape(inputs, shape):
    envs = ENVS | {"far": {"role": "test", "do": {"gain": -1.0}}}
    data = bench(inputs=inputs, environments=envs).load(0)
    assert set(data.train) == {"a", "b"} and set(data.test) == {"far"} and data.task == "classification"
    for split, n in ((data.train, 60), (data.val, 20), (data.test, 30)):
        for x, y in split.values():
            assert x.shape == (n, *shape) and y.shape == (n,) and y.dtype == torch.long
    assert data.input_shape == shape and data.n_outputs == 2
    assert [v.shape for v in data.counterfactual["a"]] == [(16, *shape)] * 2
    if inputs == "image":  # standardised per image
        torch.testing.assert_close(data.train["a"][0].mean((1, 2, 3)), torch.zeros(60), atol=1e-5, rtol=0)


def test_same_seed_same_tensors_and_another_seed_other_tensors():
    first, again, other = bench().load(3), bench().load(3), bench().load(4)
    for env in ("a", "b"):
        assert torch.equal(first.train[env][0], again.train[env][0])
        assert torch.equal(first.val[env][1], again.val[env][1])
        assert all(torch.equal(u, v) for u, v in zip(first.counterfactual[env], again.counterfactual[env]))
        assert not torch.equal(first.train[env][0], other.train[env][0])


def test_regression_target_stays_float():
    data = bench(target="grain", inputs="image", task="regression").load(0)
    assert data.train["a"][1].dtype == torch.float32 and data.n_outputs == 1


def test_oracle_makes_label_independent_of_the_instrument_and_leaves_tests_unchanged():
    envs = ENVS | {"far": {"role": "test", "do": {"gain": -1.0}}}
    observed, oracle = bench(environments=envs), bench(environments=envs, oracle=True)
    for env in ("a", "b"):
        units = {
            "observed": observed.environments()[0][env].sample(4000, seed=7),
            "oracle": oracle.environments()[0][env].sample(4000, seed=7),
        }
        corr = {k: float(torch.corrcoef(torch.stack([b["stray"], b["label"]]))[0, 1]) for k, b in units.items()}
        assert corr["observed"] > 0.3 and abs(corr["oracle"]) < 0.06, corr
        # the label's own draw is the same: only the instrument's view of the weather changed
        assert torch.equal(units["observed"]["label"], units["oracle"]["label"])
        assert not torch.equal(units["observed"]["stray"], units["oracle"]["stray"])
    a, b = observed.load(0), oracle.load(0)
    assert torch.equal(a.test["far"][0], b.test["far"][0]) and torch.equal(a.test["far"][1], b.test["far"][1])
    assert torch.equal(a.train["a"][1], b.train["a"][1]) and not torch.equal(a.train["a"][0], b.train["a"][0])
    assert "oracle" in b.info["a"].description and "oracle" not in b.info["far"].description


def test_the_oracle_cut_copies_the_cut_parents_and_their_ancestors():
    cut = cut_instrument_parents(toy_scm().do(gain=2.0))
    season, weather = COPY.format(node="season"), COPY.format(node="weather")
    assert set(cut.graph.parents("stray")) == {weather, "gain"}
    assert cut.graph.parents(weather) == (season,) and cut.graph.parents("label") == ("weather",)
    assert cut.graph.role(weather) == "other" and cut.graph.role("stray") == "instrument"
    units = cut.sample(3000, seed=1)
    assert float(units[weather].std()) == pytest.approx(float(units["weather"].std()), rel=0.1)  # its marginal
    assert abs(float(torch.corrcoef(torch.stack([units[weather], units["weather"]]))[0, 1])) < 0.06
    # stray = gain * weather' + noise, with the recorded noise: exactly the mechanism, on the copy
    recorded = cut.sample(5, seed=2, return_noise=True)
    torch.testing.assert_close(recorded["stray"], 2.0 * recorded[weather] + recorded.noise["stray"])
    assert (
        cut_instrument_parents(spectrometer_scm().do(baseline=0.0)).nodes == spectrometer_scm().do(baseline=0.0).nodes
    )


def test_counterfactual_views_change_only_the_instrument_and_what_it_causes():
    b = bench()
    train, _, _ = b.environments()
    views = b.counterfactual_batches(train, "a", seed=0, n=40)
    assert len(views) == 2  # one per training environment
    for node in ("season", "weather", "label", "grain"):  # not descendants of an instrument node
        assert torch.equal(views[0][node], views[1][node]), node
    # view j carries the instrument of training environment j (gain 1 in a, 2 in b)
    assert torch.equal(views[0]["gain"], torch.ones(40)) and torch.equal(views[1]["gain"], torch.full((40,), 2.0))
    assert not torch.equal(views[0]["stray"], views[1]["stray"])
    # the reading keeps its own noise: label and grain components agree exactly, the stray one moves
    assert torch.equal(views[0]["vector"][:, [0, 2]], views[1]["vector"][:, [0, 2]])
    assert not torch.equal(views[0]["vector"][:, 1], views[1]["vector"][:, 1])
    data = b.load(0)
    assert torch.equal(data.counterfactual["a"][0], b.counterfactual_batches(train, "a", seed=0, n=16)[0]["vector"])


def test_one_training_environment_gets_two_views_and_pairs_redraw_the_measurement():
    b = bench(environments={"a": ENVS["a"]}, n_pairs=30)
    data = b.load(0)
    assert [v.shape for v in data.pairs["a"]] == [(30, 3)] * 2
    assert [v.shape for v in data.counterfactual["a"]] == [(16, 3)] * 2
    cf, pairs = data.counterfactual["a"], data.pairs["a"]
    assert torch.equal(cf[0][:, 0], cf[1][:, 0])  # the same measurement noise: the label component agrees
    assert not torch.equal(pairs[0][:, 0], pairs[1][:, 0])  # a new session: its noise is drawn again
    assert float((pairs[0][:, 0] - pairs[1][:, 0]).std()) == pytest.approx(0.1 * 2**0.5, rel=0.3)
    train, _, _ = b.environments()
    sessions = b.counterfactual_batches(train, "a", seed=0, n=30, stream="pairs", session=True)
    for node in ("label", "grain"):  # the sample is kept
        assert torch.equal(sessions[0][node], sessions[1][node]), node


def test_interventions_shift_makes_test_environments_on_a_base_environment():
    levels = [{"grain": 0.5}, {"grain": 0.5, "gain": {"scale": 3.0}}]
    by_spec = cp.evaluation.Interventions(levels=levels, base="b", name="mix")
    by_node = cp.evaluation.Interventions(node="gain", levels=[0.0, -1.0])
    b = bench(shifts={"mix": by_spec, "gain": by_node})
    _, test, info = b.environments()
    assert list(test) == ["mix=0", "mix=1", "gain=0", "gain=-1"]
    assert test.interventions["mix=1"] == {"gain": {"scale": 3.0}, "grain": 0.5}
    assert test.interventions["gain=-1"] == {"gain": -1.0}
    assert info["mix=1"] == cp.data.EnvironmentInfo(
        "test", "mix", 1.0, "gain *= 3.0, do(grain := 0.5) (on environment b)"
    )
    assert info["gain=-1"].shift == "gain" and info["gain=-1"].level == -1.0 and info["gain=-1"].role == "test"
    data = b.load(0)
    assert torch.equal(data.test["gain=0"][1], data.test["gain=-1"][1])  # one stream: the same units per level
    assert float((data.test["mix=0"][0][:, 2] - 0.5).abs().max()) < 0.5  # do(grain := 0.5), plus noise sd 0.1
    assert float(data.test["gain=0"][0][:, 2].std()) > 0.2  # grain ~ U(0, 1) there


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: cp.evaluation.Interventions(levels=[]), "levels must be a non-empty list"),
        (lambda: cp.evaluation.Interventions(levels=[{}]), r"levels\[0\] must be a non-empty mapping"),
        (lambda: cp.evaluation.Interventions(levels=[{"x": {"bogus": 1}}]), r"levels\[0\]: .*exactly one of the keys"),
        (lambda: cp.evaluation.Interventions(node="x", levels=[1.0, 1.0]), "the same environment twice"),
        (lambda: cp.evaluation.Interventions(node="x", levels=["a"]), "levels must be finite numbers"),
    ],
)
def test_interventions_shift_rejects_bad_levels(make, message):
    with pytest.raises(cp.ParameterError, match=message):
        make()


NODES = r"nodes are \['season'"
GAIN = cp.evaluation.Interventions(node="gain", levels=[1.0])


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"scm": {"edges": []}}, r"benchmark.scm must be a causalphys SCM .*got dict"),
        (
            {"environments": ENVS | {"lab_b": {"role": "test", "do": {"x": 1.0}}}},
            r"benchmark.environments.lab_b.do: node 'x' is not in the SCM; " + NODES,
        ),
        (
            {"environments": {"a": {"role": "training"}}},
            r"benchmark.environments.a.role must be one of \['train', 'test'\], got 'training'",
        ),
        (
            {"environments": {"a": {"role": "train", "dose": 3}}},
            r"benchmark.environments.a: unknown key\(s\) \['dose'\]",
        ),
        ({"environments": {"a": {"role": "test"}}}, "benchmark.environments needs an environment with role 'train'"),
        (
            {"environments": {"a": {"role": "train", "do": {"gain": {"shift": "up"}}}}},
            r"benchmark.environments.a.do: .*shift must be a number",
        ),
        ({"environments": {}}, "benchmark.environments must map names"),
        ({"inputs": "spectrum"}, "benchmark.inputs: node 'spectrum' is not in the SCM; " + NODES),
        ({"inputs": []}, "benchmark.inputs must be a node or a non-empty list"),
        ({"target": "conc"}, "benchmark.target: node 'conc' is not in the SCM; " + NODES),
        ({"inputs": ["vector", "label"]}, r"benchmark.target 'label' is also one of benchmark.inputs"),
        ({"inputs": ["vector", "image"]}, r"benchmark.inputs: node 'image' has per-unit shape \(4, 5\)"),
        ({"task": "segmentation"}, r"benchmark.task must be one of \['classification', 'regression'\]"),
        ({"n_train": 0}, "benchmark.n_train must be a positive integer, got 0"),
        ({"n_pairs": -1}, "benchmark.n_pairs must be a non-negative integer"),
        ({"oracle": "yes"}, "benchmark.oracle must be true or false"),
        ({"shifts": [object()]}, r"benchmark.shifts.0 must be a shift"),
        (
            {"shifts": [cp.evaluation.Interventions(node="dose", levels=[1.0])]},
            r"shift 'dose': levels\[0\] names node\(s\) \['dose'\]",
        ),
        (
            {"shifts": [cp.evaluation.Interventions(node="gain", levels=[1.0], base="c")]},
            r"shift 'gain': unknown environment 'c'; environments are \['a', 'b'\]",
        ),
        ({"shifts": [GAIN, GAIN]}, r"shift 'gain' makes environment\(s\) \['gain=1'\], which already exist"),
        (
            {"shifts": [cp.evaluation.NodeValues(node="gain", levels=[1.0])]},
            "asks the benchmark for 'lab_index', which an SCMBenchmark does not have",
        ),
    ],
)
def test_every_bad_key_is_named_before_any_sampling(settings, message, monkeypatch):
    b = bench(**settings)
    monkeypatch.setattr(cp.SCM, "sample", lambda *a, **k: pytest.fail("sampled before the check"))
    with pytest.raises(cp.ParameterError, match=message):
        b.load(0)


def test_missing_roles_and_bad_values_found_while_drawing_are_named():
    roleless = cp.SCM(cp.CausalGraph([("x", "y")]), {"x": cp.mech.Normal(), "y": cp.mech.Linear({"x": 1.0})})
    with pytest.raises(cp.ParameterError, match="benchmark.oracle: the SCM has no node with role 'instrument'"):
        cp.data.SCMBenchmark(roleless, {"e": {"role": "train"}}, "x", "y", oracle=True).check()
    with pytest.raises(cp.ParameterError, match="benchmark.n_counterfactual: the SCM has no node with role"):
        cp.data.SCMBenchmark(roleless, {"e": {"role": "train"}}, "x", "y").check()
    with pytest.raises(
        cp.ParameterError, match=r"node 'grain' \(environment 'a'\) has values that are not class labels"
    ):
        bench(target="grain").load(0)


def _rows(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def _compose(overrides):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides))


HARNESS = ["benchmark=spectrometer", "net=mlp", "+tiny=spectrometer"]  # the trainer takes the task from the data


def test_the_spectrometer_yaml_runs_through_the_harness(tmp_path):
    cfg = _compose(HARNESS)
    cfg.results_dir = str(tmp_path)
    parts = build(cfg)
    assert parts["benchmark"].name == "spectrometer" and parts["benchmark"].task == "regression"
    rows = _rows(run(cfg, tmp_path / "r", "r", "erm"))
    tested = {r["env"] for r in rows if r["split"] == "test" and r["metric"] == "r2"}
    assert tested == {"drift_rate=0.05", "drift_rate=0.02", "drift_rate=0", "drift_rate=-0.05", "drift_rate=-0.1"}
    assert {r["env"] for r in rows if r["metric"] == "cf_change"} == {"lab_a", "lab_b"}
    meta = json.loads((tmp_path / "r" / "run.json").read_text())
    assert meta["environments"]["drift_rate=-0.1"]["level"] == -0.1
    assert build(_compose([*HARNESS, "trainer=oracle"]))["benchmark"].oracle


def test_a_users_own_scm_function_plugs_in_through_the_yaml(tmp_path, monkeypatch):
    module = tmp_path / "my_lab_scm.py"
    module.write_text(
        textwrap.dedent(
            """
            import torch
            import causalphys as cp

            def make_scm(n_wavelengths=8, spread=1.0):
                graph = cp.CausalGraph(
                    [("temperature", "concentration"), ("temperature", "baseline"), ("drift_rate", "baseline"),
                     ("concentration", "spectrum"), ("baseline", "spectrum")],
                    roles={"baseline": "instrument", "drift_rate": "instrument", "concentration": "label"},
                )
                band = torch.linspace(0, 1, n_wavelengths)
                return cp.SCM(graph, {
                    "temperature": cp.mech.Normal(0.0, spread),
                    "concentration": cp.mech.Linear({"temperature": 0.5}, noise=cp.noise.Normal(0, 0.3)),
                    "drift_rate": cp.mech.Constant(1.0),
                    "baseline": cp.mech.Additive(lambda temperature, drift_rate: drift_rate * temperature),
                    "spectrum": cp.mech.Additive(
                        lambda concentration, baseline: concentration[:, None] * (1 - band) + baseline[:, None] * band,
                        cp.noise.Normal(0, 0.05, shape=n_wavelengths)),
                })

            def not_an_scm(n_wavelengths=8):
                return {"edges": []}
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    mine = [
        *HARNESS,
        "benchmark.scm._target_=my_lab_scm.make_scm",
        "benchmark.scm.n_wavelengths=8",
        "+benchmark.scm.spread=2.0",
    ]
    cfg = _compose(mine)
    cfg.results_dir = str(tmp_path / "results")
    parts = build(cfg)
    assert parts["benchmark"].scm.mechanisms["temperature"].std == 2.0
    rows = _rows(run(cfg, tmp_path / "mine", "mine", "erm"))
    assert {r["env"] for r in rows if r["split"] == "val" and r["metric"] == "r2"} == {"lab_a", "lab_b"}
    assert any(r["env"] == "drift_rate=-0.1" and r["split"] == "test" for r in rows)
    with pytest.raises(cp.ParameterError, match="benchmark.scm must be a causalphys SCM .*got dict"):
        build(_compose([*HARNESS, "benchmark.scm._target_=my_lab_scm.not_an_scm"]))
