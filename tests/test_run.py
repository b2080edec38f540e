"""The Hydra entry point: every config composes and instantiates, every experiment overlay runs a few steps, bad
values fail before any training, and a sweep (killed half-way, then rerun) finishes every run exactly once."""

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.errors import HydraException
from omegaconf import OmegaConf

from causalphys.errors import CausalPhysError
from causalphys.microscopy.shift_benchmark import ScannerShiftBenchmark
from causalphys.run import CONF_DIR, _cores, build, build_benchmark, learner_name, run, run_folder

ROOT = Path(__file__).resolve().parents[1]
TINY = ["+tiny=scanner_shift"]  # conf/tiny/: a unit test's sizes and steps, last so that they win
COLUMNS_TINY = ["+tiny=columns"]
SHIFTS = sorted(p.stem for p in (CONF_DIR / "shift").glob("*.yaml"))
EXPERIMENTS = sorted(p.stem for p in (CONF_DIR / "experiment").glob("*.yaml"))


def _compose(overrides, tmp_path=None):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=list(overrides))
    if tmp_path is not None:
        cfg.results_dir = str(tmp_path)
    return cfg


def _rows(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def test_there_are_shifts_and_experiments():
    assert {"none", "severity", "routing", "heldout_scanners", "dose"} <= set(SHIFTS)
    assert {"demo", "scanner_shift_study", "colored_mnist", "sachs"} <= set(EXPERIMENTS)


RECORDED_SHIFTS = ("degradation",)
"""Shifts of a recorded image's instrument (they move its recorded values): the real image's benchmark takes them."""


@pytest.mark.parametrize("shift", [s for s in SHIFTS if s not in RECORDED_SHIFTS])
def test_every_shift_config_instantiates_on_the_default_benchmark(shift):
    parts = build(_compose([f"shift={shift}", *TINY]))
    envs = parts["benchmark"].environments()[1]
    if shift != "none":
        assert any(env.startswith(_compose([f"shift={shift}"]).shift.name) for env in envs)


@pytest.mark.real_data
@pytest.mark.parametrize("shift", ["reimaged_dose", *RECORDED_SHIFTS])
def test_every_recorded_image_shift_makes_its_environments_on_the_real_image(shift):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="evaluate", overrides=["model=unused", "benchmark=srtio3", f"shift={shift}"])
    benchmark, _ = build_benchmark(cfg)
    data = benchmark.load(0)
    made = [env for env, info in data.info.items() if info.shift == cfg.shift.name]
    assert len(made) == len(cfg.shift.levels) and set(made) <= set(data.counterfactual)


def test_default_run_writes_config_hash_and_rows_and_is_skipped_when_rerun(tmp_path):
    cfg = _compose(["trainer=irm", "shift=severity", "shift.levels=[0.0,1.0]", *TINY], tmp_path)
    results = run(cfg, tmp_path / "r", "r", "irm")
    meta = json.loads((tmp_path / "r" / "run.json").read_text())
    assert meta["trainer"] == "irm" and meta["config"]["trainer"]["_target_"].endswith("IRM")
    assert set(meta["environments"]) >= {"train_a", "test", "severity=0", "severity=1"}
    rows = _rows(results)
    assert {r["env"] for r in rows if r["split"] == "test"} == {"test", "heldout_scanners", "severity=0", "severity=1"}
    stamp = results.stat().st_mtime_ns
    run(cfg, tmp_path / "r", "r", "irm")
    assert results.stat().st_mtime_ns == stamp  # finished: skipped, not redone


def test_hparams_seed_draws_from_the_search_space_and_is_recorded(tmp_path):
    cfg = _compose(["trainer=vrex", "hparams_seed=3", *TINY], tmp_path)
    parts = build(cfg)
    assert set(parts["hparams"]) == {"penalty_weight", "penalty_anneal_steps", "lr", "weight_decay", "batch_size"}
    assert parts["trainer"].penalty_weight == parts["hparams"]["penalty_weight"]
    assert build(cfg)["hparams"] == parts["hparams"]


def test_oracle_trainer_is_erm_on_the_unconfounded_data():
    parts = build(_compose(["trainer=oracle", *TINY]))
    assert type(parts["trainer"]).__name__ == "ERM" and parts["benchmark"].oracle
    cfg = _compose(["trainer=oracle", *TINY])
    assert "data_setting" not in cfg.trainer and cfg.trainer == _compose(["trainer=erm", *TINY]).trainer


def test_the_oracle_data_are_a_data_setting_for_any_learner():
    parts = build(_compose(["trainer=irm", "+data=oracle", *TINY]))
    assert type(parts["trainer"]).__name__ == "IRM" and parts["benchmark"].oracle
    assert learner_name({"trainer": "irm", "data": "oracle"}) == "irm (oracle data)"
    assert learner_name({"trainer": "oracle", "data": "oracle"}) == "oracle"
    assert learner_name({"trainer": "irm"}) == "irm"
    with pytest.raises(CausalPhysError, match="'columns' has no oracle data setting"):
        build(_compose(["+experiment=columns", "+data=oracle", *COLUMNS_TINY]))


def test_a_retired_trainer_key_is_named_with_what_replaced_it():
    cfg = _compose(["+trainer.data_setting=oracle", *TINY])
    with pytest.raises(CausalPhysError, match=r"trainer.data_setting is no longer read: .*\+data=oracle"):
        build(cfg)


def test_the_column_benchmark_runs_erm_and_the_randomised_learner_on_maps_with_column_metrics(tmp_path):
    for trainer in ("erm", "randomize"):
        cfg = _compose(["+experiment=columns", f"trainer={trainer}", "steps=2", "progress=false", *COLUMNS_TINY])
        cfg.results_dir = str(tmp_path)
        if trainer == "randomize":
            cfg.trainer.views.per_unit = 2
        parts = build(cfg)
        assert parts["trainer"].task == "dense" and type(parts["make_net"]((1, 32, 32), 2)).__name__ == "UNet"
        rows = _rows(run(cfg, tmp_path / trainer, trainer, trainer))
        metrics = {(r["env"], r["split"], r["metric"]) for r in rows}
        for env, split in (("low_dose", "val"), ("uncorrected_200kv", "test"), ("drifty_older", "test_val")):
            for metric in ("mse", "column_precision", "column_recall", "column_f1", "position_error_pm"):
                assert (env, split, metric) in metrics
        assert json.loads((tmp_path / trainer / "run.json").read_text())["task"] == "dense"


def test_the_content_style_trainer_asks_the_benchmark_for_pairs(tmp_path):
    assert build(_compose(["trainer=erm", "benchmark.n_pairs=6", *TINY]))["benchmark"].n_pairs == 0  # not needed
    parts = build(_compose(["trainer=content_style", *TINY]))
    assert parts["benchmark"].n_pairs == 24  # n_train / 2 by default
    cfg = _compose(["trainer=content_style", "trainer.encoder_steps=2", "benchmark.n_pairs=6", *TINY], tmp_path)
    rows = _rows(run(cfg, tmp_path / "r", "r", "content_style"))
    assert any(r["split"] == "test" and r["metric"] == "accuracy" for r in rows)


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_overlay_runs_a_few_steps(experiment, tmp_path, random_mnist):
    overrides = [f"+experiment={experiment}", "steps=2", "progress=false"]
    cfg = _compose(overrides, tmp_path)
    if cfg.benchmark._target_.endswith("ScannerShiftBenchmark"):
        cfg = _compose(overrides + TINY, tmp_path)
    if cfg.benchmark._target_.endswith("ColumnBenchmark"):
        cfg = _compose(overrides + COLUMNS_TINY, tmp_path)
    if cfg.benchmark._target_.endswith("ColoredMNISTBenchmark"):
        cfg.benchmark.path = str(random_mnist)
    if cfg.benchmark._target_.endswith("TabularBenchmark"):
        cfg.benchmark.path = str(_fake_sachs(tmp_path))
    sweep = OmegaConf.to_container(cfg.hydra.sweeper.params) if "hydra" in cfg else None
    assert sweep is None or "trainer" in OmegaConf.to_container(_compose_hydra(overrides).hydra.sweeper.params)
    rows = _rows(run(cfg, tmp_path / "run", "run", "erm"))
    assert any(r["split"] == "test" for r in rows)


def _compose_hydra(overrides):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides), return_hydra_config=True)


def _fake_sachs(tmp_path):
    import numpy as np
    import pandas as pd

    gen = np.random.default_rng(0)
    proteins = ["Raf", "Mek", "PLCg", "PIP2", "PIP3", "Erk", "Akt", "PKA", "PKC", "P38", "JNK"]
    frame = pd.DataFrame(gen.lognormal(3, 1, (9 * 20, len(proteins))), columns=proteins)
    frame.insert(0, "condition_id", np.repeat(np.arange(1, 10), 20))
    path = tmp_path / "sachs.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["benchmark.label_noise=1.5"], r"label_noise must lie in \[0, 0.5\]"),
        (["benchmark.scanners.low_dose.ranges.dose=[-100,5000]"], r"scanner 'low_dose': dose must be > 0"),
        (["benchmark.labs.test.consistency=1.2"], "labs.test"),
        (["shift=dose", "shift.levels=[1000,-5]"], r"shift .dose.: dose must be > 0, got -5"),
        (["shift=dose", "shift.node=dosage"], "node 'dosage', which is not in the SCM"),
        (["shift=routing", "shift.levels=[0.5,2]"], r"probability in \[0, 1\]"),
        (["hparams_seed=-1"], "hparams_seed"),
        (["holdout=nowhere"], "holdout must be one of the training environments"),
        (["trainer.lr=-1"], "lr"),
    ],
)
def test_bad_config_values_fail_before_training_and_name_the_key(overrides, message, tmp_path):
    cfg = _compose([*overrides, *TINY], tmp_path)
    started = time.perf_counter()
    with pytest.raises(CausalPhysError, match=message):
        run(cfg, tmp_path / "bad", "bad", "erm")
    assert not (tmp_path / "bad" / "results.csv").exists()
    assert time.perf_counter() - started < 30


def test_unknown_trainer_lists_the_allowed_ones():
    with pytest.raises(HydraException, match="Available options") as err:
        _compose(["trainer=irmv2"])
    assert "irm" in str(err.value) and "vrex" in str(err.value)


def test_the_default_launcher_is_local_joblib_with_one_job_per_core():
    launcher = _compose_hydra([]).hydra.launcher
    assert launcher._target_.endswith("JoblibLauncher") and launcher.n_jobs == -1


def test_the_slurm_launcher_takes_its_settings_from_the_local_cluster_config(tmp_path):
    conf = tmp_path / "conf"  # a copy of conf/ without a developer's own local/cluster.yaml
    shutil.copytree(CONF_DIR, conf, ignore=shutil.ignore_patterns("cluster.yaml"))

    def launcher(*overrides):
        with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
            overrides = ["hydra/launcher=slurm", *overrides]
            return compose(config_name="config", overrides=overrides, return_hydra_config=True).hydra.launcher

    default = launcher()
    assert default._target_ == "hydra_plugins.causalphys_launcher.slurm.SlurmLauncher"
    assert (default.partition, default.cpus_per_task, default.mem_gb) == (None, 2, 4)
    (conf / "local" / "cluster.yaml").write_text("partition: gpu\ncpus_per_task: 7\n")
    assert (launcher().partition, launcher().cpus_per_task, launcher().mem_gb) == ("gpu", 7, 4)
    assert launcher("hydra.launcher.partition=debug").partition == "debug"  # the command line wins


def test_a_slurm_job_uses_the_cpus_it_was_given(monkeypatch):
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "3")
    assert _cores() == 3
    monkeypatch.delenv("SLURM_CPUS_PER_TASK")
    assert _cores() == os.cpu_count()


SWEEP = [
    "-m",
    "trainer=erm,vrex",
    "seed=0,1",
    "shift=severity",
    "shift.levels=[0.0,1.0]",
    "hydra.launcher.n_jobs=1",
    *TINY,
]


def _sweep(results, *extra, wait=True):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "causalphys.run", *SWEEP, f"results_dir={results}", *extra]
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    if wait:
        out, _ = proc.communicate(timeout=600)
        assert proc.returncode == 0, out
        return out
    return proc


def test_a_killed_sweep_resumes_without_redoing_finished_runs(tmp_path):
    results = tmp_path / "sweep"
    proc = _sweep(results, wait=False)
    deadline = time.time() + 300
    while time.time() < deadline and len(list(results.glob("*/results.csv"))) < 1:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)  # the whole sweep, mid-way through its second run
    proc.wait()
    finished = {p.parent.name: p.stat().st_mtime_ns for p in results.glob("*/results.csv")}
    assert 1 <= len(finished) < 4
    out = _sweep(results)
    assert out.count("already done, skipped") == len(finished)
    runs = sorted(json.loads((p.parent / "run.json").read_text())["run"] for p in results.glob("*/results.csv"))
    assert len(runs) == 4  # run folders are named by the overrides (Hydra's override_dirname)
    assert {(r.split("seed=")[1][0], r.split("trainer=")[1]) for r in runs} == {
        (s, t) for t in ("erm", "vrex") for s in "01"
    }
    assert all(results.joinpath(r, "results.csv").stat().st_mtime_ns == t for r, t in finished.items())

    from causalphys.cli.report import main as report

    report([str(results), "--out", str(tmp_path / "report")])
    text = (tmp_path / "report" / "report.md").read_text()
    assert "severity=1" in text and "| vrex | training-domain validation" in text
    assert (tmp_path / "report" / "severity.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


BENCHMARKS = sorted(p.stem for p in (CONF_DIR / "benchmark").glob("*.yaml"))


@pytest.mark.parametrize(
    "benchmark", [pytest.param(b, marks=pytest.mark.real_data) if b == "srtio3" else b for b in BENCHMARKS]
)
def test_every_benchmark_config_instantiates_and_checks(benchmark):
    """Every conf/benchmark/*.yaml builds and passes check(); `images` waits for the user's files and says so."""
    cfg = _compose([f"benchmark={benchmark}"])
    if benchmark == "images":
        with pytest.raises(CausalPhysError, match="set exactly one of manifest and root"):
            build_benchmark(cfg)
        return
    bench, key = build_benchmark(cfg)
    assert bench.name == benchmark and len(key) == 16


def test_checkpointing_is_switched_on_per_run_and_lands_in_the_run_folder(tmp_path):
    """``trainer.checkpoint_every=N`` without a checkpoint_dir checkpoints into the run's own folder (it failed with
    "needs a checkpoint_dir" before the run could give it one)."""
    cfg = _compose(["trainer.checkpoint_every=2", *TINY], tmp_path)
    run(cfg, tmp_path / "r", "r", "erm")
    assert [p.name for p in (tmp_path / "r" / "checkpoints").iterdir()] == ["step_00000003.pt"]


@pytest.mark.parametrize(
    "override, message",
    [
        ("steps=0", "steps=0 trains nothing"),
        ("trainer.device=cuda", "sees no CUDA device"),
        ("threads=0", "threads must be null"),
        ("threads=-2", "threads must be null"),
    ],
)
def test_run_settings_that_cannot_work_fail_before_any_data_are_made(override, message, tmp_path, monkeypatch):
    """Each failed late before (an untrained net scored, CUDA asked for after the data were drawn, threads=0
    ignored, threads=-2 a raw torch error): now a named error before the benchmark draws anything."""
    if override.startswith("trainer.device"):
        monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(ScannerShiftBenchmark, "load", lambda *a, **k: pytest.fail("data were made"))
    with pytest.raises(CausalPhysError, match=message):
        run(_compose([*TINY, override], tmp_path), tmp_path / "r", "r", "erm")


def test_two_processes_on_one_run_folder_neither_compute_it_twice_nor_mix_configs(tmp_path, monkeypatch):
    """While another process holds a run's folder, the same run is skipped (an identical sweep started twice trains
    each run once) and another configuration mapping to that folder fails before any data are made."""
    from causalphys.evaluation.store import RunFolder

    monkeypatch.setattr(ScannerShiftBenchmark, "load", lambda *a, **k: pytest.fail("data were made"))
    cfg = _compose(TINY, tmp_path)
    busy = run_folder(cfg, tmp_path / "r")
    with busy.claim():
        assert run(cfg, tmp_path / "r", "r", "erm") == busy.results and not busy.results.exists()
    with RunFolder(tmp_path / "r", "0123456789abcdef").claim():
        with pytest.raises(CausalPhysError, match="another configuration"):
            run(cfg, tmp_path / "r", "r", "erm")


def test_a_benchmark_too_big_for_the_memory_fails_before_any_data_are_made(tmp_path, monkeypatch):
    """``benchmark.n_train=100000000`` grew memory without bound; now the estimate is refused, naming the keys."""
    monkeypatch.setattr("causalphys.run.available_memory", lambda: 8 * 2**30)
    cfg = _compose([*TINY, "benchmark.n_train=100000000"], tmp_path)
    message = r"would hold \d+\.\d GiB of data \(benchmark.n_train=100000000.*has 8.0 GiB available"
    with pytest.raises(CausalPhysError, match=message):
        build(cfg)
    assert build(_compose(TINY))["benchmark"].data_bytes() < 2**30  # the unit tests' size fits


# Run in a subprocess where the run folder is "read-only" in the three ways Hydra and the run touch it before the
# results are looked at: os.access, the job-log file and Hydra's .hydra/ copies (the tests may run as root, whom a
# folder's mode does not stop, so the refusal is made by patching those three).
_READ_ONLY_CLI = r"""
import logging, os, sys
import hydra.core.utils
folder = os.path.realpath(sys.argv[1])
def refuse(path):
    if os.path.realpath(str(path)).startswith(folder):
        raise PermissionError(13, "Permission denied (read-only for this test)", str(path))
real_access, real_open, real_save = os.access, logging.FileHandler._open, hydra.core.utils._save_config
os.access = lambda p, mode, **k: False if os.path.realpath(str(p)).startswith(folder) else real_access(p, mode, **k)
def _open(self):
    refuse(self.baseFilename)
    return real_open(self)
logging.FileHandler._open = _open
def _save(cfg, filename, output_dir):
    refuse(output_dir)
    return real_save(cfg, filename, output_dir)
hydra.core.utils._save_config = _save
sys.argv = ["causalphys"] + sys.argv[2:]
from causalphys.run import main
main()
"""


def test_a_finished_run_in_a_read_only_folder_is_skipped_not_failed(tmp_path):
    """Hydra's job log and .hydra/ copies were written before the run looked at its results, so a finished run in a
    read-only results folder (a colleague's, an archive) failed with a logging-handler error (issue 19 §6)."""
    args = ["+tiny=scanner_shift", "benchmark.n_test=16", "steps=1"]
    args += [f"results_dir={tmp_path / 'res'}", "cache_dir=null"]
    env = dict(os.environ, CAUSALPHYS_THREADS="1")
    first = subprocess.run([sys.executable, "-m", "causalphys.run", *args], cwd=ROOT, env=env, capture_output=True)
    assert first.returncode == 0, first.stderr.decode()[-2000:]
    (run_dir,) = (tmp_path / "res").iterdir()
    before = {p: p.stat().st_mtime_ns for p in run_dir.rglob("*")}
    again = subprocess.run(
        [sys.executable, "-c", _READ_ONLY_CLI, str(tmp_path / "res"), *args], cwd=ROOT, env=env, capture_output=True
    )
    out = (again.stdout + again.stderr).decode()
    assert again.returncode == 0, out[-2000:]
    assert "already done, skipped" in out
    assert {p: p.stat().st_mtime_ns for p in run_dir.rglob("*")} == before  # nothing written


@pytest.mark.parametrize("trainer", ["randomize", "cf_invariance"])
def test_the_physics_learners_run_through_the_harness_with_their_views(trainer, tmp_path):
    """Issue 20: the trainer yaml's views block reaches the benchmark (benchmark.views), the run trains on the
    views, and the config records the prior it drew from."""
    cfg = _compose([f"trainer={trainer}", "trainer.views.units=16", "trainer.views.per_unit=2", *TINY], tmp_path)
    results = run(cfg, tmp_path / "r", "r", trainer)
    meta = json.loads((tmp_path / "r" / "run.json").read_text())
    assert meta["config"]["trainer"]["views"]["prior"]["name"] == "physics_prior"
    assert {r["env"] for r in _rows(results)} >= {"test", "heldout_scanners"}
    built = build(cfg)
    assert built["benchmark"].views["prior"].name == "physics_prior" and "views" not in built["trainer"].get_params()


def test_views_on_colored_mnist_are_its_colours_and_other_sources_are_refused(tmp_path, random_mnist):
    """Colored MNIST as the control of issue 20: colour is the randomised instrument (trainer.views.source=colour);
    a prior or the labs' scanners mean nothing there and are refused with the key to set."""
    base = ["benchmark=colored_mnist", "net=mlp", f"benchmark.path={random_mnist}", "steps=3", "progress=false"]
    with pytest.raises(CausalPhysError, match="its instrument is the colour.*trainer.views.source=colour"):
        build(_compose(["trainer=randomize", *base], tmp_path))
    cfg = _compose(["trainer=cf_invariance", "trainer.views.source=colour", *base], tmp_path)
    data = build(cfg)["benchmark"].load(0)
    x, y = data.views["train_0.2"]
    assert x.shape[1:] == (2, 2, 14, 14) and torch.equal(y, data.train["train_0.2"][1])
    assert torch.equal(x[:, 0].sum(1), x[:, 1].sum(1)) and torch.equal(x[:, 0, 1], torch.zeros_like(x[:, 0, 1]))
    run(cfg, tmp_path / "r", "r", "cf_invariance")
    assert (tmp_path / "r" / "results.csv").is_file()


@pytest.mark.parametrize("preset", sorted(p.stem for p in (CONF_DIR / "tiny").glob("*.yaml")))
def test_every_tiny_preset_picks_its_benchmark_and_makes_a_small_quick_run(preset):
    cfg = _compose([f"+tiny={preset}"])
    assert cfg.steps == 3 and cfg.progress is False
    parts = build(cfg)
    if preset == "active":  # a loop of a few rounds of a few images, on the scanner-shift SCM
        assert cfg.active.budget <= 64 and parts["benchmark"].name == "scanner_shift"
    else:  # the preset is named after the benchmark it shrinks to a unit test's data (under 32 MiB where estimated)
        assert parts["benchmark"].name == preset and cfg.benchmark.n_train <= 64
        assert parts["benchmark"].data_bytes() is None or parts["benchmark"].data_bytes() < 2**25
    # the preset's sizes win over an experiment's when given after it (conf/tiny/*.yaml)
    if preset == "columns":
        assert _compose(["+experiment=columns", "+tiny=columns"]).benchmark.n_train == 16
