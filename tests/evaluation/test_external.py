"""Models the harness did not train: every kind loads, bad ones fail before scoring with a message that says what
was expected, and a net the harness trained scores exactly as its run measured it."""

import csv
import json
import textwrap
import warnings

import pytest
import torch
from hydra import compose, initialize_config_dir
from torch import nn

from causalphys.data.benchmark import BenchmarkData, EnvironmentInfo
from causalphys.evaluation.external import (
    MODEL_FILE,
    ExternalModelError,
    check_model,
    load_model,
    score_model,
    source_info,
)
from causalphys.evaluation.harness import evaluate_run, net_factory
from causalphys.nets import SmallCNN
from causalphys.run import CONF_DIR, run
from causalphys.trainers import ERM

from ..test_run import TINY
from .tiny import severity, tiny_benchmark

NET = {"width": 8, "strides": (2, 2, 1, 1)}


def _net(in_channels=1, n_outputs=2):
    return SmallCNN(in_channels=in_channels, n_outputs=n_outputs, **NET)


def _strip(rows):
    return [(r["env"], r["split"], r["metric"], r["value"]) for r in rows if r["metric"] != "seconds"]


def _close(rows, reference):
    """Same rows, values equal to float32 rounding (a compiled graph may order its sums differently)."""
    assert [k[:3] for k in _strip(rows)] == [k[:3] for k in _strip(reference)]
    assert [k[3] for k in _strip(rows)] == pytest.approx([k[3] for k in _strip(reference)], abs=1e-5)


@pytest.fixture(scope="module")
def data():
    return tiny_benchmark([severity()]).load(0)


@pytest.fixture(scope="module")
def trained(data):
    """An ERM net the harness trained, and the rows evaluate_run measured for it."""
    erm = ERM(steps=5, batch_size=8, seed=0, progress=False)
    rows = evaluate_run(data, erm, net_factory(SmallCNN, **NET), run="r", trainer_name="erm", seed=0)
    return erm, rows


def _score(model, data, name="mine"):
    return score_model(model, data, run="r", model_name=name, seed=0)


def test_a_module_object_scores_exactly_as_its_trained_run(data, trained):
    erm, rows = trained
    mode = erm.net_.training
    scored = _score(erm.net_, data, name="erm")
    assert erm.net_.training == mode
    assert _strip(scored) == _strip(rows)  # identical numbers, in the same order
    assert {r["trainer"] for r in scored} == {"erm"} and all(r["selection"] == "none" for r in scored)
    assert scored[-1]["metric"] == "seconds" and (scored[-1]["env"], scored[-1]["split"]) == ("all", "train")
    splits = {(r["env"], r["split"]) for r in scored}
    assert {("train_a", "train"), ("train_b", "val"), ("severity=1", "test"), ("test", "test_val")} <= splits
    assert ("train_a", "val", "cf_flip_rate") in {k[:3] for k in _strip(scored)}
    assert _strip(_score(erm.net_, data)) == _strip(scored)  # deterministic
    assert _strip(_score(erm, data)) == _strip(rows)  # a fitted trainer: its predict


def test_a_representation_learner_is_not_scored_as_a_predictor():
    from causalphys.trainers import IVAE

    with pytest.raises(ExternalModelError, match="learns a representation"):
        load_model(IVAE(steps=1, progress=False))


def test_eval_mode_is_used_and_the_training_flag_restored(data):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Dropout(0.5), nn.Linear(32 * 32, 2)).train()
    first = _score(net, data)
    assert net.training  # restored
    assert _strip(_score(net, data)) == _strip(first)  # dropout off: the same numbers twice
    assert _strip(_score(net.eval(), data)) == _strip(first)


def test_a_torch_save_file_of_a_whole_module(tmp_path, data, trained):
    erm, rows = trained
    torch.save(erm.net_, tmp_path / "whole.pt")
    assert _strip(_score(load_model(tmp_path / "whole.pt"), data, "erm")) == _strip(rows)
    assert _strip(_score(tmp_path / "whole.pt", data, "erm")) == _strip(rows)  # score_model loads a path itself


def test_a_torchscript_file(tmp_path, data, trained):
    erm, rows = trained
    net = erm.net_.eval()
    with warnings.catch_warnings():  # torch >= 2.10 deprecates TorchScript; its files stay a model format
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)  # group_norm's size check, not the data flow
        torch.jit.trace(net, data.train["train_a"][0][:2]).save(str(tmp_path / "net.ts"))
    model = load_model(tmp_path / "net.ts")
    assert isinstance(model, torch.jit.ScriptModule)
    _close(_score(model, data), rows)


def test_a_torch_export_file(tmp_path, data, trained):
    erm, rows = trained
    x = data.train["train_a"][0][:4]
    program = torch.export.export(erm.net_.eval(), (x,), dynamic_shapes={"x": {0: torch.export.Dim("batch")}})
    torch.export.save(program, tmp_path / "net.pt2")
    _close(_score(load_model(tmp_path / "net.pt2"), data), rows)


def test_a_causalphys_checkpoint_with_its_architecture(tmp_path, data, trained):
    erm, rows = trained
    erm.save(tmp_path / "ckpt.pt")
    assert _strip(_score(load_model(tmp_path / "ckpt.pt", net=_net()), data, "erm")) == _strip(rows)
    factory = net_factory(SmallCNN, **NET)  # (input_shape, n_outputs) -> net, from the checkpoint's shapes
    assert _strip(_score(load_model(tmp_path / "ckpt.pt", net=factory), data, "erm")) == _strip(rows)
    with pytest.raises(ExternalModelError, match=r"outside its run folder: pass net="):
        load_model(tmp_path / "ckpt.pt")
    with pytest.raises(ExternalModelError, match="do not fit net="):
        load_model(tmp_path / "ckpt.pt", net=_net(n_outputs=3))
    torch.save(erm.net_.state_dict(), tmp_path / "weights.pt")
    assert _strip(_score(load_model(tmp_path / "weights.pt", net=_net()), data, "erm")) == _strip(rows)
    with pytest.raises(ExternalModelError, match=r"holds only weights \(a state_dict of \d+ tensors\): pass net="):
        load_model(tmp_path / "weights.pt")


def test_a_run_folder_saved_by_the_harness_scores_exactly_as_the_run_did(tmp_path):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=["trainer=vrex", "save_model=true", *TINY])
    cfg.results_dir = str(tmp_path)
    run_dir = tmp_path / "r"
    with open(run(cfg, run_dir, "r", "vrex")) as f:
        measured = [{**r, "value": float(r["value"])} for r in csv.DictReader(f)]
    assert (run_dir / MODEL_FILE).is_file() and json.loads((run_dir / "run.json").read_text())["model_file"]
    from causalphys.run import build, load_data

    parts = build(cfg)
    data = load_data(cfg, parts["benchmark"], parts["bench_key"])  # the run's data, from its cache
    model = load_model(run_dir)  # the trainer's predict, as the run measured it
    assert source_info(run_dir)["name"] == "r"
    assert source_info(run_dir)["sha256"] == source_info(run_dir / MODEL_FILE)["sha256"]
    assert _strip(_score(model, data, "vrex")) == _strip(measured)
    assert _strip(_score(load_model(run_dir / MODEL_FILE), data, "vrex")) == _strip(measured)
    (run_dir / MODEL_FILE).rename(tmp_path / "elsewhere.pt")
    with pytest.raises(ExternalModelError, match=r"holds no model.pt: rerun it with save_model=true"):
        load_model(run_dir)


def test_a_python_callable_by_reference_or_object(tmp_path, monkeypatch, data):
    (tmp_path / "my_lab_model.py").write_text(
        textwrap.dedent(
            """
            import torch

            def brightness(x):
                m = x.mean(dim=(1, 2, 3))
                return torch.stack([m, -m], dim=1)
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    model = load_model("my_lab_model:brightness")
    rows = _score(model, data)
    assert {r["metric"] for r in rows} >= {"accuracy", "nll", "ece", "cf_flip_rate"}
    assert _strip(_score(lambda x: model(x), data)) == _strip(rows)
    info = source_info("my_lab_model:brightness")
    assert info["name"] == "brightness" and len(info["sha256"]) == 64
    with pytest.raises(ExternalModelError, match="has no attribute 'contrast'"):
        load_model("my_lab_model:contrast")


class _Counting:
    """A model that records the batch sizes it is called with."""

    def __init__(self, fn):
        self.fn, self.calls = fn, []

    def __call__(self, x):
        self.calls.append(len(x))
        return self.fn(x)


@pytest.mark.parametrize(
    "model, message",
    [
        (_net(in_channels=3), r"fails on 2 images \(c, h, w\) = \(1, 32, 32\): 1 channel\(s\).*to have 3 channels"),
        (nn.Sequential(nn.Flatten(), nn.Linear(64 * 64, 2)), r"fails on 2 images .* of 32x32 pixels.*1024"),
        (_net(n_outputs=5), r"shape \(2, 5\) for 2 inputs; expected class scores \(logits\) \(2, 2\) or \(2,\)"),
        (lambda x: x.flatten(1).sum(1).round().long(), r"int64 outputs \(2,\) \(class indices\?\).*need scores"),
        (lambda x: x[:, 0, 0, :2] / 0.0, "non-finite outputs"),
        (lambda x: (x, x), "returned a tuple, not a tensor"),
    ],
)
def test_bad_models_fail_before_scoring_and_say_what_was_expected(data, model, message):
    counting = _Counting(model)
    with pytest.raises(ExternalModelError, match=message):
        score_model(counting, data, run="r", model_name="bad", seed=0)
    assert counting.calls == [2]  # only the check's 2 inputs: nothing was scored


def test_regression_outputs_are_checked_against_the_targets():
    x = torch.randn(10, 3, generator=torch.Generator().manual_seed(0))
    xy = (x, x.sum(1))
    info = {"a": EnvironmentInfo("train"), "b": EnvironmentInfo("test")}
    data = BenchmarkData({"a": xy}, {"a": xy}, {"b": xy}, info, task="regression")
    check_model(lambda x: x.sum(1), data)
    check_model(lambda x: x[:, :1], data)
    with pytest.raises(ExternalModelError, match=r"shape \(2, 3\).*expected predictions \(2,\) or \(2, 1\)"):
        check_model(lambda x: x, data)
    rows = score_model(lambda x: x.sum(1) + 1.0, data, run="r", model_name="offset", seed=0)
    assert {(r["split"], r["metric"]): r["value"] for r in rows}[("test", "rmse")] == pytest.approx(1.0)


def test_files_that_are_no_model_are_named_with_the_kinds_accepted(tmp_path):
    with pytest.raises(ExternalModelError, match=r"no model file or run folder at .*missing\.pt.*TorchScript"):
        load_model(tmp_path / "missing.pt")
    (tmp_path / "notes.txt").write_text("not a model")
    with pytest.raises(ExternalModelError, match=r"torch cannot read .*notes\.txt.*accepted: an nn.Module"):
        load_model(tmp_path / "notes.txt")
    torch.save({"lr": 0.1}, tmp_path / "settings.pt")
    with pytest.raises(ExternalModelError, match=r"settings\.pt' holds a dict, not a model"):
        load_model(tmp_path / "settings.pt")
    with pytest.raises(ExternalModelError, match="net= is for a trainer checkpoint"):
        load_model(_net(), net=_net())
    with pytest.raises(ExternalModelError, match=r"cannot make a model of 3 \(of type int\)"):
        load_model(3)
