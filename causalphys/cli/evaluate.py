"""`causalphys evaluate model=PATH [benchmark=...] [shift=...] [seed=...] [results_dir=...]`: score a model the
harness did not train, into a run folder that `causalphys report` shows beside the trained runs.

    causalphys evaluate model=my_net.ts shift=severity results_dir=results/mine
    causalphys trainer=erm save_model=true shift=severity results_dir=results/mine   # a trained run, with its net
    causalphys evaluate "model='results/mine/save_model=true,shift=severity,trainer=erm'" shift=severity \
        results_dir=results/mine   # its net, scored as a model from outside (quoted: the path holds = and ,)
    causalphys evaluate -m model=a.pt2,b.ts seed=0,1
    causalphys report results/mine

`model` is a TorchScript file, a torch.export file (.pt2), a torch.save(module) file (unpickled: it executes code,
load only files you trust), a causalphys run folder saved with save_model=true (or its model.pt), or
"package.module:function" (see causalphys.evaluation.external.load_model). The root config is conf/evaluate.yaml;
benchmark= and shift= are the training runs' groups, so the same overrides and seed score the model on the same
data and test splits. The model is checked against the benchmark (input shape, channels, outputs) before any
scoring.

The run folder `<results_dir>/<overrides>/` holds run.json (kind "external", the model's path and sha256, the
benchmark config) and results.csv (the tidy rows of a trained run, trainer = model_name: the file's stem unless
set). Rerunning the same config on the same file skips it (finished). A changed file (another sha256) in a folder
holding the old file's results is an error — one report row must not mix two models: delete that folder to rescore,
or give the new file another model_name= or results_dir=. For the same reason a model_name that another run of the
sweep folder already has is refused: a trainer's name, or another file's scored with the same seed (other files
under one model_name with other seeds are its seeds, e.g. one net per training seed).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from pathlib import Path

import hydra
import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from causalphys.evaluation.external import score_model, source_info
from causalphys.evaluation.harness import environment_records
from causalphys.evaluation.store import META, RESULTS, RunFolder, StoreError, config_hash
from causalphys.run import (
    CONF_DIR,
    _run_id,
    _threads,
    build_benchmark,
    check_seed,
    load_data,
    run_identity,
    run_once,
    semantic_config,
)

log = logging.getLogger("causalphys")

KIND = "external"


def model_config(cfg: DictConfig, info: dict | None = None) -> dict:
    """What an evaluate run's hash is taken over: its config and data (:func:`causalphys.run.run_identity`) with
    the model given by its content — ``model`` is the file's sha256 (``info`` from
    :func:`~causalphys.evaluation.external.source_info`), so moving the file keeps the run, changing it does not —
    and ``model_name`` the name its rows get (a default spelled out is the same run)."""
    info = info or source_info(cfg.model)
    name = cfg.get("model_name") or info["name"]
    return {**run_identity(cfg), "model": info["sha256"] or info["model"], "model_name": name}


def external_folder(cfg: DictConfig, run_dir: str | os.PathLike, info: dict | None = None) -> RunFolder:
    """The run folder of the evaluate config ``cfg`` (its hash over :func:`model_config`)."""
    return RunFolder(run_dir, config_hash(model_config(cfg, info)))


def _refuse_changed_model(folder: RunFolder, info: dict) -> None:
    """Raise :class:`StoreError` when ``folder`` holds the finished results of another version of the model."""
    if not folder.results.is_file():
        return
    try:
        meta = json.loads((folder.path / META).read_text())
    except (OSError, json.JSONDecodeError):
        return  # RunFolder.finished names the unreadable run.json
    old = meta.get("model_sha256")
    if meta.get("kind") == KIND and old != info["sha256"]:
        raise StoreError(
            f"{folder.path} holds the results of {meta.get('model')} with sha256 {old}, but the model "
            f"{info['model']} now has sha256 {info['sha256']}: the file changed. Delete that run folder to score "
            "the new file, or score it under another model_name= or results_dir="
        )


def _refuse_name_clash(sweep_dir: Path, name: str, sha256: str | None, seed: int) -> None:
    """Raise :class:`StoreError` when a finished run of ``sweep_dir`` has the ``trainer`` name ``name`` but is
    another model the report would mix with this one: a trained run, or another file scored with the same seed (the
    report averages a trainer's runs per seed; other files under one name with other seeds are its seeds)."""
    for meta_path in sorted(sweep_dir.glob(f"*/{META}")):
        if not (meta_path.parent / RESULTS).is_file():
            continue
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, json.JSONDecodeError):
            continue  # the report names unreadable run folders
        if meta.get("trainer") != name:
            continue
        external = meta.get("kind") == KIND
        if external and (meta.get("model_sha256") == sha256 or meta.get("seed") != seed):
            continue
        other = f"the model {meta.get('model')} (seed {seed})" if external else "a trained run"
        raise StoreError(
            f"model_name {name!r} is already the name of {other} in {meta_path.parent}: the report would mix the "
            "two as one; set another model_name="
        )


def evaluate(cfg: DictConfig, run_dir: str | os.PathLike, run_id: str) -> Path:
    """Score ``cfg.model`` on ``cfg.benchmark`` (with ``cfg.shift``, data seed ``cfg.seed``) into ``run_dir``,
    skipped if its results are there already; returns the results file. The plain function behind the Hydra
    entry point: tests call it with a composed config."""
    started = time.perf_counter()
    check_seed(cfg)
    info = source_info(cfg.model)
    name = cfg.get("model_name") or info["name"]
    folder = external_folder(cfg, run_dir, info)
    _refuse_changed_model(folder, info)
    _refuse_name_clash(Path(run_dir).parent, name, info["sha256"], cfg.seed)
    return run_once(folder, run_id, lambda folder: _score(cfg, folder, run_id, info, name, started))


def _score(cfg: DictConfig, folder: RunFolder, run_id: str, info: dict, name: str, started: float) -> Path:
    """The work of :func:`evaluate` in its claimed folder."""
    benchmark, bench_key = build_benchmark(cfg)
    progress = (lambda env, done, total: log.info("data: %s %d/%d", env, done, total)) if cfg.progress else False
    data = load_data(cfg, benchmark, bench_key, progress=progress)
    rows = score_model(info["model"], data, run=run_id, model_name=name, seed=cfg.seed)
    semantic = semantic_config(cfg)
    meta = {
        "run": run_id,
        "kind": KIND,
        "group": config_hash(model_config(cfg, info)),
        "benchmark": benchmark.name,
        "trainer": name,
        "model": info["model"],
        "model_sha256": info["sha256"],
        "seed": cfg.seed,
        "hparams_seed": None,
        "holdout": None,
        "task": data.task,
        "n_classes": data.n_outputs if data.task == "classification" else None,
        "train_envs": list(data.train),
        "environments": environment_records(data),
        "hparams": {},
        "seconds": time.perf_counter() - started,
        "threads": torch.get_num_threads(),
        "config": semantic,
    }
    folder.write(meta, rows)
    test = {r["env"]: r["value"] for r in rows if r["split"] == "test" and r["metric"] in ("accuracy", "r2")}
    log.info(
        "%s: %s scored in %.0f s; test %s",
        run_id,
        name,
        meta["seconds"],
        " ".join(f"{e}={v:.3f}" for e, v in test.items()),
    )
    return folder.results


@hydra.main(config_path=str(CONF_DIR), config_name="evaluate", version_base="1.3")
def hydra_main(cfg: DictConfig) -> None:
    check_seed(cfg)  # seed and threads, before torch is given the thread count
    torch.set_num_threads(_threads(cfg))
    hc = HydraConfig.get()
    evaluate(cfg, hc.runtime.output_dir, _run_id(hc.job.override_dirname))


def main(argv: list[str] | None = None) -> None:
    """``causalphys evaluate ARGS``: ``argv`` (default ``sys.argv[2:]``) are Hydra's arguments and overrides."""
    argv = sys.argv[2:] if argv is None else list(argv)
    if "--help" in argv or "-h" in argv:
        print(__doc__)
    else:
        from causalphys.cli.keys import unknown_keys

        problems = unknown_keys(argv, CONF_DIR, "evaluate")
        if problems:
            raise SystemExit("causalphys evaluate: " + "\n".join(problems))
    sys.argv = [sys.argv[0], *argv]
    hydra_main()
