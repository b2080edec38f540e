"""`causalphys evaluate`: a model the harness did not train, scored into a run folder that the report shows beside
the trained runs; reruns skip, a changed file or a clashing name is refused, a bad model fails before scoring."""

import csv
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from causalphys.cli.evaluate import evaluate
from causalphys.cli.report import main as report
from causalphys.evaluation.external import ExternalModelError, load_model
from causalphys.evaluation.harness import net_factory
from causalphys.evaluation.store import StoreError
from causalphys.nets import SmallCNN
from causalphys.run import CONF_DIR, main, run, run_folder

ROOT = Path(__file__).resolve().parents[2]
TINY_DATA = OmegaConf.load(CONF_DIR / "tiny" / "scanner_shift.yaml").benchmark  # conf/tiny/: a unit test's sizes
DATA = [f"benchmark.{k}={v}" for k, v in TINY_DATA.items()] + ["shift=severity", "shift.levels=[0.0,1.0]"]
"""The benchmark of a unit-test run, with the severity shift: the same data for the trained and the external run."""


def _compose(config, overrides, results):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name=config, overrides=list(overrides))
    cfg.results_dir = str(results)
    cfg.cache_dir = str(results / ".cache")
    return cfg


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """A sweep folder with one trained ERM run that saved its net, and that net exported to TorchScript."""
    results = tmp_path_factory.mktemp("sweep")
    cfg = _compose("config", ["trainer=erm", "save_model=true", *DATA, "steps=3", "progress=false"], results)
    run(cfg, results / "trainer=erm", "trainer=erm", "erm")
    net = load_model(results / "trainer=erm" / "model.pt", net=net_factory(SmallCNN, width=16, strides=(2, 2, 1, 1)))
    models = tmp_path_factory.mktemp("models")
    with warnings.catch_warnings():  # torch >= 2.10 deprecates TorchScript; its files stay a model format
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.jit.trace(net.eval(), torch.zeros(2, 1, 32, 32)).save(str(models / "my_net.ts"))
    return results, models / "my_net.ts"


def _rows(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def test_the_command_scores_a_file_beside_the_trained_run_and_the_report_shows_both(sweep, tmp_path):
    results, model = sweep
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "causalphys.run", "evaluate", f"model={model}", *DATA]
    command += [f"results_dir={results}", "threads=1", "progress=false"]
    out = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    folder = next(p.parent for p in results.glob("*model=*/results.csv"))
    meta = json.loads((folder / "run.json").read_text())
    assert meta["kind"] == "external" and meta["trainer"] == "my_net" and meta["model"] == str(model)
    assert len(meta["model_sha256"]) == 64 and meta["config"]["benchmark"]["image_size"] == 32
    trained_rows = _rows(results / "trainer=erm" / "results.csv")
    trained = {(r["env"], r["split"], r["metric"]): float(r["value"]) for r in trained_rows}
    scored = _rows(folder / "results.csv")
    assert {r["trainer"] for r in scored} == {"my_net"}
    for r in scored:  # the trained run's own net, exported: the same numbers (to float32 rounding)
        if r["metric"] != "seconds":
            assert float(r["value"]) == pytest.approx(trained[(r["env"], r["split"], r["metric"])], abs=1e-5)

    report([str(results), "--out", str(tmp_path / "report")])
    text = (tmp_path / "report" / "report.md").read_text()
    assert "| erm | training-domain validation" in text and "| my_net | training-domain validation" in text
    assert "severity=1" in text and (tmp_path / "report" / "severity.png").is_file()


@pytest.mark.parametrize(
    "args, phrase",
    [
        (["--help"], "causalphys evaluate model=PATH"),
        (["--help"], "causalphys report DIR"),
        (["--help"], "Documentation: README.md"),
        (["--help"], "benchmark.n_train=2000"),
        (["evaluate", "--help"], "model=PATH"),
    ],
)
def test_help_mentions_the_command(args, phrase, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["causalphys", *args])
    with pytest.raises(SystemExit) as done:
        main()
    out = capsys.readouterr().out
    assert done.value.code in (0, None) and phrase in out and "== Config ==" in out  # then Hydra's own help


def _evaluate_cfg(model, results, *extra):
    return _compose("evaluate", [f"model={model}", *DATA, "progress=false", *extra], results)


def test_a_rerun_is_skipped_and_a_changed_file_is_refused(sweep, tmp_path):
    _, model = sweep
    results = tmp_path / "sweep"
    copy = tmp_path / "mine.ts"
    copy.write_bytes(model.read_bytes())
    cfg = _evaluate_cfg(copy, results)
    path = evaluate(cfg, results / "a", "a")
    stamp = path.stat().st_mtime_ns
    assert run_folder(cfg, results / "a").finished()  # what the Slurm launcher asks: the model's sha256 included
    evaluate(cfg, results / "a", "a")
    assert path.stat().st_mtime_ns == stamp  # finished: skipped, not redone
    moved = tmp_path / "moved.ts"
    copy.rename(moved)
    assert evaluate(_evaluate_cfg(moved, results, "model_name=mine"), results / "a", "a") == path  # same bytes
    torch.save(SmallCNN(in_channels=1, n_outputs=2, width=8), copy)  # another file under the old name
    with pytest.raises(StoreError, match=r"the file changed\. Delete that run folder"):
        evaluate(cfg, results / "a", "a")
    assert path.stat().st_mtime_ns == stamp


def test_a_name_another_run_of_the_sweep_has_is_refused(sweep, tmp_path):
    results, model = sweep
    cfg = _evaluate_cfg(model, results, "model_name=erm")
    with pytest.raises(StoreError, match=r"model_name 'erm' is already the name of a trained run"):
        evaluate(cfg, results / "clash", "clash")
    assert not (results / "clash" / "results.csv").exists()
    other = tmp_path / "other.pt"
    torch.save(SmallCNN(in_channels=1, n_outputs=2, width=8), other)
    mine = tmp_path / "sweep"
    evaluate(_evaluate_cfg(model, mine, "model_name=mine"), mine / "a", "a")
    with pytest.raises(StoreError, match=r"already the name of the model .*my_net\.ts \(seed 0\)"):
        evaluate(_evaluate_cfg(other, mine, "model_name=mine"), mine / "b", "b")
    evaluate(_evaluate_cfg(other, mine, "model_name=mine", "seed=1"), mine / "c", "c")  # another seed: its seed 1
    assert (mine / "c" / "results.csv").is_file()


def test_a_model_that_does_not_fit_the_benchmark_fails_before_scoring(tmp_path):
    bad = tmp_path / "rgb_net.pt"
    torch.save(SmallCNN(in_channels=3, n_outputs=2, width=8), bad)
    cfg = _evaluate_cfg(bad, tmp_path)
    with pytest.raises(ExternalModelError, match=r"model 'rgb_net' fails on 2 images .* to have 3 channels"):
        evaluate(cfg, tmp_path / "bad", "bad")
    assert not (tmp_path / "bad" / "results.csv").exists()
    with pytest.raises(ExternalModelError, match="no model file"):
        evaluate(_evaluate_cfg(tmp_path / "nothing.ts", tmp_path), tmp_path / "none", "none")
