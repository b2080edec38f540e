import pytest
import torch
import torch.nn.functional as F

from causalphys.errors import ParameterError
from causalphys.trainers.losses import accuracy, predicted_labels, task_loss
from causalphys.trainers.schedule import annealed_weight

G = torch.Generator().manual_seed(0)
LOGITS = torch.randn(6, 3, generator=G)
LABELS = torch.tensor([0, 1, 2, 2, 1, 0])


def test_classification_loss_is_cross_entropy_and_one_logit_is_logistic():
    assert torch.allclose(task_loss(LOGITS, LABELS, "classification"), F.cross_entropy(LOGITS, LABELS))
    per_sample = task_loss(LOGITS, LABELS, "classification", reduction="none")
    assert per_sample.shape == (6,) and torch.allclose(per_sample.mean(), F.cross_entropy(LOGITS, LABELS))
    logit, y = LOGITS[:, :1], LABELS % 2
    p = torch.sigmoid(logit[:, 0])
    expected = -(y * p.log() + (1 - y) * (1 - p).log()).mean()
    assert torch.allclose(task_loss(logit, y, "classification"), expected, atol=1e-6)


def test_regression_loss_is_the_mean_squared_error_per_sample():
    out = torch.randn(6, 2, generator=G)
    y = torch.randn(6, 2, generator=G)
    assert torch.allclose(task_loss(out, y, "regression"), F.mse_loss(out, y))
    assert torch.allclose(task_loss(out, y, "regression", "none"), ((out - y) ** 2).mean(1))
    assert torch.allclose(task_loss(out[:, :1], y[:, 0], "regression"), F.mse_loss(out[:, 0], y[:, 0]))
    with pytest.raises(ParameterError, match="task must be one of"):
        task_loss(out, y, "ranking")
    with pytest.raises(ParameterError, match="reduction"):
        task_loss(out, y, "regression", "sum")


def test_accuracy_with_several_outputs_and_one_logit():
    assert torch.equal(predicted_labels(LOGITS), LOGITS.argmax(1))
    assert accuracy(LOGITS, LOGITS.argmax(1)).item() == 1.0
    assert accuracy(torch.tensor([[2.0], [-1.0], [0.5], [-3.0]]), torch.tensor([1, 0, 0, 0])).item() == 0.75


def test_penalty_weight_is_one_until_the_anneal_step_then_the_full_weight():
    assert [annealed_weight(t, 100.0, 3) for t in range(5)] == [1.0, 1.0, 1.0, 100.0, 100.0]
    assert annealed_weight(0, 10.0, 0) == 10.0
    assert annealed_weight(1, 10.0, 5, initial_weight=0.0) == 0.0
