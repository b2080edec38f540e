"""Content-style learning from counterfactual pairs: InfoNCE against a hand computation, the content isolated on a
toy problem whose style predicts the label in training, and bad pairs rejected."""

import math

import pytest
import torch

from causalphys.errors import ParameterError
from causalphys.nets import MLP
from causalphys.trainers import ERM, DataError
from causalphys.trainers.content_style import ContentStyle, info_nce, view_gap


def test_info_nce_equals_a_hand_computation():
    g = torch.Generator().manual_seed(0)
    za, zb = torch.randn(5, 3, generator=g, dtype=torch.float64), torch.randn(5, 3, generator=g, dtype=torch.float64)
    t = 0.3
    cos = [[torch.dot(za[i], zb[j]).item() / (za[i].norm() * zb[j].norm()).item() for j in range(5)] for i in range(5)]
    ab = sum(-cos[i][i] / t + math.log(sum(math.exp(cos[i][j] / t) for j in range(5))) for i in range(5)) / 5
    ba = sum(-cos[i][i] / t + math.log(sum(math.exp(cos[j][i] / t) for j in range(5))) for i in range(5)) / 5
    assert info_nce(za, zb, t).item() == pytest.approx(0.5 * (ab + ba), rel=1e-10)
    assert info_nce(za, za, 0.05) < info_nce(za, zb, 0.05)  # aligned pairs cost less


def _toy(n: int, flip: float, seed: int):
    """Content ``c`` (2 dims) decides the label (``y = [c_0 > 0]``, flipped 20 % of the time); the "scanner"
    ``k = y`` with probability ``1 - flip`` sets the style ``s = (2 (2k - 1) + noise, noise)``; ``x = A [c, s]``.
    The pair is the unit under ``k = 0`` and under ``k = 1`` (its content kept, its style noise re-drawn)."""
    g = torch.Generator().manual_seed(seed)
    mix = torch.tensor([[1.0, 0.3, 0.5, -0.2], [0.2, 1.0, -0.4, 0.3], [0.4, -0.3, 1.0, 0.1], [-0.1, 0.2, 0.3, 1.0]])
    c = torch.randn(n, 2, generator=g)
    y = (c[:, 0] > 0).long() ^ (torch.rand(n, generator=g) < 0.2).long()

    def image(k):
        s = torch.stack([2 * (2 * k - 1) + 0.3 * torch.randn(n, generator=g), torch.randn(n, generator=g)], 1)
        return torch.cat([c, s], 1) @ mix.T, s

    k = torch.where(torch.rand(n, generator=g) >= flip, y, 1 - y).float()
    x, s = image(k)
    pair = [image(torch.zeros(n))[0], image(torch.ones(n))[0]]
    return x, y, pair, c, s


def _r2(features: torch.Tensor, target: torch.Tensor) -> float:
    design = torch.cat([features, torch.ones(len(features), 1)], 1).double()
    coef = torch.linalg.lstsq(design, target.double().unsqueeze(1), driver="gelsd").solution
    resid = target.double() - (design @ coef)[:, 0]
    return 1 - resid.var().item() / target.double().var().item()


def test_the_content_is_isolated_and_the_head_ignores_the_style():
    torch.manual_seed(0)
    envs, pairs = {}, {}
    for i, flip in enumerate((0.05, 0.1)):
        x, y, pair, _, _ = _toy(512, flip, seed=i)
        envs[f"env{i}"], pairs[f"env{i}"] = (x, y), pair
    x_test, y_test, _, c_test, s_test = _toy(1000, 0.95, seed=9)  # the style-label association reversed
    settings = dict(lr=3e-3, batch_size=64, progress=False, seed=0)
    learner = ContentStyle(steps=700, encoder_steps=500, pair_batch_size=128, temperature=0.2, **settings)
    learner.fit(MLP(4, 2, hidden=(32, 8)), envs, pairs=pairs)
    codes = learner.transform(x_test)
    assert codes.shape == (1000, 8)
    assert min(_r2(codes, c_test[:, k]) for k in range(2)) > 0.85  # content kept
    # style dropped: none of the free style; of the scanner-tied style no more than the content itself tells
    assert _r2(codes, s_test[:, 1]) < 0.05
    content_only = torch.stack([c_test[:, 0], (c_test[:, 0] > 0).double(), c_test[:, 1]], 1)
    assert _r2(codes, s_test[:, 0]) < _r2(content_only, s_test[:, 0]) + 0.05
    erm = ERM(steps=200, **settings).fit(MLP(4, 2, hidden=(32, 8)), envs)

    def acc(trainer):
        return (trainer.predict(x_test).argmax(1) == y_test).float().mean().item()

    assert (
        acc(erm) < 0.3 and acc(learner) > 0.65
    )  # (the content's best is 0.8)  # ERM follows the style; the content head does not
    stages = [h for h in learner.history_ if "contrastive" in h], [h for h in learner.history_ if "risk" in h]
    assert len(stages[0]) == 500 and len(stages[1]) == 200
    assert stages[0][-1]["alignment"] > stages[0][0]["alignment"]


def test_bad_pairs_and_settings_are_named():
    envs = {"a": (torch.randn(8, 4), torch.randint(0, 2, (8,)))}
    learner = ContentStyle(steps=2, encoder_steps=1, batch_size=4, progress=False)
    with pytest.raises(DataError, match="the harness asks the benchmark for them"):
        learner.fit(MLP(4, 2, hidden=(8,)), envs)
    with pytest.raises(DataError, match="need a list of >= 2 views"):
        learner.fit(MLP(4, 2, hidden=(8,)), envs, pairs={"a": [torch.randn(8, 4)]})
    with pytest.raises(DataError, match=r"per-sample shape \(5,\)"):
        learner.fit(MLP(4, 2, hidden=(8,)), envs, pairs={"a": [torch.randn(8, 5), torch.randn(8, 5)]})
    with pytest.raises(DataError, match="differ in shape"):
        learner.fit(MLP(4, 2, hidden=(8,)), envs, pairs={"a": [torch.randn(8, 4), torch.randn(6, 4)]})
    with pytest.raises(DataError, match="NaN"):
        learner.fit(MLP(4, 2, hidden=(8,)), envs, pairs={"a": [torch.full((8, 4), math.nan), torch.randn(8, 4)]})
    with pytest.raises(ParameterError, match="pair_batch_size must be >= 2"):
        ContentStyle(pair_batch_size=1)
    with pytest.raises(ParameterError, match="temperature"):
        ContentStyle(temperature=0.0)
    ContentStyle(steps=2, encoder_steps=0, batch_size=4, progress=False).fit(MLP(4, 2, hidden=(8,)), envs)  # head only


def test_normalized_content_codes_are_the_features_direction_and_feed_the_head():
    envs, pairs = {}, {}
    for i, flip in enumerate((0.05, 0.1)):
        x, y, pair, _, _ = _toy(256, flip, seed=i)
        envs[f"env{i}"], pairs[f"env{i}"] = (x, y), pair
    x_test, _, _, c_test, _ = _toy(500, 0.95, seed=9)
    settings = dict(steps=400, encoder_steps=300, pair_batch_size=64, temperature=0.2, lr=3e-3, progress=False)
    learner = ContentStyle(normalize=True, seed=0, **settings).fit(MLP(4, 2, hidden=(32, 8)), envs, pairs=pairs)
    codes = learner.transform(x_test)
    features = learner.net_.features(x_test).detach()
    assert torch.allclose(codes.norm(dim=1), torch.ones(500), atol=1e-5)
    assert torch.allclose(codes, features / features.norm(dim=1, keepdim=True), atol=1e-6)
    assert torch.allclose(learner.predict(x_test), learner.net_.head(codes).detach(), atol=1e-6)
    assert not torch.allclose(learner.predict(x_test), learner.net_(x_test).detach(), atol=1e-3)  # not the raw head
    assert min(_r2(codes, c_test[:, k]) for k in range(2)) > 0.8  # the content survives on the sphere
    # the encoder stage is the same computation with or without normalize: same seed, same features
    raw = ContentStyle(normalize=False, seed=0, **{**settings, "steps": 300})
    raw.fit(MLP(4, 2, hidden=(32, 8)), envs, pairs=pairs)
    assert torch.equal(raw.net_.features(x_test), learner.net_.features(x_test))
    with pytest.raises(ParameterError, match="normalize must be true or false"):
        ContentStyle(normalize="yes")


def test_view_gap_equals_a_hand_computation():
    za = torch.tensor([[3.0, 4.0], [1.0, 0.0], [0.0, 2.0]])
    zb = torch.tensor([[0.0, 1.0], [0.0, 5.0], [2.0, 0.0]])
    groups = torch.tensor([0, 0, 1])
    # mean unit codes, group 0: a -> ((0.6 + 1) / 2, (0.8 + 0) / 2) = (0.8, 0.4), b -> (0, 1): gap 0.8² + 0.6²;
    # group 1: a -> (0, 1), b -> (1, 0): gap 2
    expected = ((0.8**2 + 0.6**2) + 2.0) / 2
    assert view_gap(za, zb, groups).item() == pytest.approx(expected)
    assert view_gap(za, za * 7.0, groups).item() == pytest.approx(0.0)  # lengths do not count


def test_style_penalty_closes_the_gap_between_the_views():
    envs, pairs = {}, {}
    for i, flip in enumerate((0.05, 0.1)):
        x, y, pair, _, _ = _toy(256, flip, seed=i)
        envs[f"env{i}"], pairs[f"env{i}"] = (x, y), pair
    settings = dict(steps=300, encoder_steps=300, pair_batch_size=64, temperature=0.5, lr=3e-3, progress=False, seed=0)
    _, _, test_pair, _, _ = _toy(500, 0.5, seed=9)
    gaps = {}
    for weight in (0.0, 10.0):
        learner = ContentStyle(style_penalty=weight, **settings).fit(MLP(4, 2, hidden=(32, 8)), envs, pairs=pairs)
        codes = [learner.transform(v) for v in test_pair]
        gaps[weight] = view_gap(codes[0], codes[1], torch.zeros(500, dtype=torch.long)).item()
        assert ("view_gap" in learner.history_[-1]) == (weight > 0)
    assert gaps[10.0] < 0.5 * gaps[0.0]
    with pytest.raises(ParameterError, match="style_penalty"):
        ContentStyle(style_penalty=-1.0)
