"""The harness's entry point: ``causalphys key=value ...`` (one run) and ``causalphys -m ...`` (a sweep).

Examples (from the repository root)::

    causalphys benchmark=scanner_shift trainer=irm seed=0
    causalphys -m trainer=erm,irm,vrex,oracle seed=0,1,2 shift=severity
    causalphys -m +experiment=demo
    causalphys report results/default
    causalphys evaluate model=my_net.ts shift=severity   # a model the harness did not train (causalphys.cli.evaluate)

Every run writes its folder ``<results_dir>/<overrides>/`` (``run.json`` with the resolved config and its hash,
then ``results.csv``: see :mod:`causalphys.evaluation.store`); a run whose results are already there is skipped,
so rerunning an interrupted sweep redoes only what is missing. With ``save_model=true`` a run also writes its
trained net (``model.pt``, the trainer's checkpoint) before its results, for ``causalphys evaluate model=RUN_DIR``.
:func:`run` is the plain function behind the Hydra wrapper: tests call it with a composed config.

A sweep runs on the local cores (``hydra/launcher=local``, the default: Hydra's joblib launcher) or on a Slurm
cluster (``hydra/launcher=slurm``: Hydra's submitit launcher, which submits only the unfinished runs;
``hydra_plugins/causalphys_launcher``). Either way each run gets ``threads`` torch threads: by default the cores
it was given (``SLURM_CPUS_PER_TASK`` in a Slurm job) divided by the runs in parallel beside it.
"""

from __future__ import annotations

import inspect
import logging
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import hydra
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from hydra.types import RunMode
from hydra.utils import get_class, instantiate
from omegaconf import DictConfig, OmegaConf

from causalphys import checks
from causalphys.cli.run_folder import run_id as _run_id
from causalphys.data.benchmark import Benchmark, BenchmarkData, DataRequest
from causalphys.errors import CausalPhysError, ParameterError
from causalphys.evaluation.external import MODEL_FILE
from causalphys.evaluation.harness import environment_records, evaluate_run, net_from_config
from causalphys.evaluation.metrics import selection_metric
from causalphys.evaluation.store import RESULTS, RunBusy, RunFolder, cached_data, config_hash
from causalphys.trainers.base import Trainer
from causalphys.trainers.search_space import SEARCH_SPACE_KEY, check_search_space, sample_search_space

log = logging.getLogger("causalphys")

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"
VIEWS_KEY = "views"  # a physics learner's yaml: what the benchmark makes for it (labelled views), not an argument
RETIRED_KEYS = {
    "data_setting": "what a trainer trains on beside the factual data comes from its class (needs_pairs, "
    "needs_views); the oracle data are a benchmark setting: trainer=oracle, or +data=oracle with any trainer",
}
NON_SEMANTIC = (
    "progress",
    "threads",
    "results_dir",
    "cache_dir",
    "sweep_name",
    "selection",
    "save_model",
)  # do not change a run's numbers


def semantic_config(cfg: DictConfig) -> dict:
    """The resolved config without the keys that cannot change a run's numbers (``hydra``, progress, threads,
    folders): what the run hash is taken over."""
    plain = OmegaConf.to_container(cfg, resolve=True)
    return {k: v for k, v in plain.items() if k not in NON_SEMANTIC and k != "hydra"}


def _instantiate(config: dict, key: str):
    """``hydra.utils.instantiate`` that lets the project's own errors through, prefixed with the config key
    (Hydra would wrap them in an ``InstantiationException``)."""
    try:
        return instantiate(config, _convert_="all")
    except InstantiationException as err:
        cause = err.__cause__
        if isinstance(cause, CausalPhysError):
            raise type(cause)(f"{key}: {cause}") from err
        raise


def check_seed(cfg: DictConfig) -> None:
    """``seed`` must be a non-negative integer (it seeds the data, the test split and training); ``threads``
    null or a positive integer."""
    checks.nonnegative_int("seed", cfg.seed)
    threads = cfg.get("threads")
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise ParameterError(f"threads must be null (the cores / parallel runs) or a positive integer, got {threads!r}")


def trainer_needs(cfg: DictConfig) -> str:
    """What the trainer of ``cfg.trainer`` trains on beside the factual data, from its class
    (:meth:`~causalphys.trainers.base.Trainer.data_needs`): ``observed`` (nothing more), ``pairs`` or ``views``."""
    for key, why in RETIRED_KEYS.items():
        if key in cfg.trainer:
            raise ParameterError(f"trainer.{key} is no longer read: {why}")
    target = cfg.trainer.get("_target_")
    try:
        trainer_class = get_class(str(target))
    except Exception as err:
        raise ParameterError(f"trainer._target_ {target!r} is not an importable class: {err}") from err
    if not (isinstance(trainer_class, type) and issubclass(trainer_class, Trainer)):
        raise ParameterError(f"trainer._target_ {target!r} is not a causalphys Trainer")
    return trainer_class.data_needs()


def trainer_config(name: str) -> dict:
    """``conf/trainer/<name>.yaml`` as a run composes it (its defaults list: ``_base.yaml``, a physics learner's
    prior), with its ``search_space`` and ``views`` blocks: ``{"_target_": ..., hyper-parameters..., ...}``."""
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return OmegaConf.to_container(compose("config", overrides=[f"trainer={name}"]).trainer, resolve=True)


def build_trainer(cfg: DictConfig, task: str, run_dir: str | os.PathLike | None = None) -> tuple[Trainer, dict]:
    """The trainer of ``cfg.trainer`` (with its hyper-parameter draw ``hparams_seed``, ``steps``, ``seed`` and
    ``progress``) for the benchmark's ``task`` — the data decide between classification and regression, so a
    trainer yaml's ``task`` is replaced by it — and the drawn hyper-parameters. A trainer that checkpoints
    (``trainer.checkpoint_every``) without a ``checkpoint_dir`` writes to the run's ``<run_dir>/checkpoints``."""
    trainer_cfg = OmegaConf.to_container(cfg.trainer, resolve=True)
    space = trainer_cfg.pop(SEARCH_SPACE_KEY, None) or {}
    trainer_cfg.pop(VIEWS_KEY, None)  # the benchmark's (build_benchmark)
    trainer_class = get_class(trainer_cfg.pop("_target_"))
    check_search_space(space, trainer_class.param_names())
    hparams = {}
    if cfg.hparams_seed is not None:
        if not isinstance(cfg.hparams_seed, int) or cfg.hparams_seed < 0:
            raise ParameterError(f"hparams_seed must be null or a non-negative integer, got {cfg.hparams_seed!r}")
        hparams = sample_search_space(space, cfg.hparams_seed)
    trainer_cfg.update(hparams)
    if cfg.get("steps") is not None:
        trainer_cfg["steps"] = cfg.steps
    trainer_cfg.update(seed=cfg.seed, progress=bool(cfg.progress), task=task)
    if trainer_cfg.get("steps") == 0:
        raise ParameterError(
            "steps=0 trains nothing: the run would score the net's random initialisation. Give steps >= 1, or score "
            "a trained model without training with causalphys evaluate"
        )
    device = str(trainer_cfg.get("device", "cpu"))
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ParameterError(
            f"trainer.device={device}, but torch {torch.__version__} sees no CUDA device on this machine; use "
            "trainer.device=cpu (or install a CUDA build of torch: make install TORCH_SPEC=...)"
        )
    if trainer_cfg.get("checkpoint_every") and trainer_cfg.get("checkpoint_dir") is None and run_dir is not None:
        trainer_cfg["checkpoint_dir"] = str(Path(run_dir) / "checkpoints")
    return trainer_class(**trainer_cfg), hparams


def build_benchmark(cfg: DictConfig, needs: str = "observed") -> tuple[Benchmark, str]:
    """The benchmark of ``cfg.benchmark`` as the run asks for it (:class:`~causalphys.data.benchmark.DataRequest`:
    the test environments of ``cfg.shift``, and what the trainer ``needs`` beside the factual data — ``observed``
    for a model the harness did not train — with the trainer's ``views`` block), checked; and the key of its data
    in the cache (the benchmark config, the request and the seed: runs that see the same data share it)."""
    bench_cfg = OmegaConf.to_container(cfg.benchmark, resolve=True)
    if bench_cfg.get("oracle") and "oracle" not in inspect.signature(get_class(bench_cfg["_target_"])).parameters:
        raise ParameterError(
            f"benchmark {bench_cfg.get('name', bench_cfg['_target_'])!r} has no oracle data setting (trainer=oracle, "
            "+data=oracle): only a benchmark with an SCM behind it can cut its spurious path"
        )
    shift_cfg = OmegaConf.to_container(cfg.shift, resolve=True) if cfg.get("shift") is not None else None
    views_cfg = None
    if needs == "views":
        if cfg.trainer.get(VIEWS_KEY) is None:
            raise ParameterError(
                f"trainer {cfg.trainer._target_} trains on labelled views: it needs a trainer.{VIEWS_KEY} block "
                "(source, prior, ...)"
            )
        views_cfg = OmegaConf.to_container(cfg.trainer[VIEWS_KEY], resolve=True)
    request = DataRequest(
        shifts=() if shift_cfg is None else (_instantiate(shift_cfg, "shift"),),
        needs=needs,
        views=None if views_cfg is None else _instantiate(views_cfg, f"trainer.{VIEWS_KEY}"),
    )
    benchmark = _instantiate(bench_cfg, "benchmark").requesting(request)
    benchmark.check()
    check_fits_in_memory(benchmark, bench_cfg)
    key = {"benchmark": bench_cfg, "seed": cfg.seed}
    if shift_cfg is not None or needs != "observed":  # (a plain run's key is the benchmark config and the seed)
        key["request"] = {"shift": shift_cfg, "needs": needs, "views": views_cfg}
    fingerprint = benchmark.fingerprint()
    if fingerprint:  # data read from files: their contents are part of the key
        key["data"] = fingerprint
    return benchmark, config_hash(key)


def available_memory() -> int | None:
    """Bytes of memory this machine can still give (``MemAvailable`` of ``/proc/meminfo``); ``None`` elsewhere."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def check_fits_in_memory(benchmark: Benchmark, bench_cfg: dict) -> None:
    """Refuse, before any data are made, a benchmark whose data (:meth:`~causalphys.data.benchmark.Benchmark.
    data_bytes`) would not fit in the memory available, naming the size keys that make it big."""
    need, have = benchmark.data_bytes(), available_memory()
    if need is None or have is None or need <= have:
        return
    sizes = ", ".join(f"benchmark.{k}={v}" for k, v in bench_cfg.items() if k.startswith("n_") and v)
    raise ParameterError(
        f"benchmark {benchmark.name!r} would hold {need / 2**30:.1f} GiB of data ({sizes}), but this machine has "
        f"{have / 2**30:.1f} GiB available: make the sizes smaller"
    )


def load_data(cfg: DictConfig, benchmark: Benchmark, bench_key: str, progress=False) -> BenchmarkData:
    """``benchmark.load(seed, progress=progress)``, through the data cache ``cache_dir`` (``null``: none)."""
    return cached_data(
        cfg.get("cache_dir"), f"{benchmark.name}-{bench_key}", lambda: benchmark.load(cfg.seed, progress=progress)
    )


def build(cfg: DictConfig, run_dir: str | os.PathLike | None = None) -> dict:
    """Instantiate and check everything a run needs, before any work: benchmark, shift, trainer (with its
    hyper-parameter draw), net. Errors name the config key and the allowed values."""
    check_seed(cfg)
    benchmark, bench_key = build_benchmark(cfg, trainer_needs(cfg))
    trainer, hparams = build_trainer(cfg, benchmark.task, run_dir)
    return {
        "trainer": trainer,
        "benchmark": benchmark,
        "make_net": net_from_config(OmegaConf.to_container(cfg.net, resolve=True)),
        "hparams": hparams,
        "bench_key": bench_key,
    }


def run_folder(cfg: DictConfig, run_dir: str | os.PathLike) -> RunFolder:
    """The folder of the run that ``cfg`` (a task config, without ``hydra``) describes. ``.finished()`` tells
    whether its results are there already; the Slurm launcher asks it before submitting a run. An evaluate config
    (conf/evaluate.yaml: a ``model``, no trainer) is hashed with its model's sha256 (:mod:`causalphys.cli.evaluate`)."""
    if "model" in cfg and "trainer" not in cfg:
        from causalphys.cli.evaluate import external_folder

        return external_folder(cfg, run_dir)
    return RunFolder(run_dir, config_hash(run_identity(cfg)))


def run_identity(cfg: DictConfig) -> dict:
    """What a run's hash is taken over: its semantic config, and for a benchmark that reads files the fingerprint
    of their contents (:meth:`~causalphys.data.benchmark.Benchmark.fingerprint`), so that a run over files that have
    changed since is not taken for finished."""
    identity = semantic_config(cfg)
    fingerprint = _instantiate(OmegaConf.to_container(cfg.benchmark, resolve=True), "benchmark").fingerprint()
    if fingerprint:
        identity["data"] = fingerprint
    return identity


def run(cfg: DictConfig, run_dir: str | os.PathLike, run_id: str, trainer_name: str) -> Path:
    """One run into ``run_dir`` (skipped if its results are there already, or if another process is computing it
    right now); returns the results file."""
    return run_once(run_folder(cfg, run_dir), run_id, lambda folder: _run(cfg, folder, run_id, trainer_name))


def run_once(folder: RunFolder, run_id: str, work) -> Path:
    """``work(folder)`` while holding ``folder`` (:meth:`RunFolder.claim`), unless its results are there already or
    another process is computing the same run (both logged and skipped); returns the results file. A folder held
    for another configuration raises :class:`~causalphys.evaluation.store.StoreError`."""
    if folder.finished():  # nothing is written to a finished folder (it may be read-only)
        log.info("%s: already done, skipped (%s)", run_id, folder.results)
        return folder.results
    try:
        with folder.claim():
            if folder.finished():  # finished by another process between the two looks
                log.info("%s: already done, skipped (%s)", run_id, folder.results)
                return folder.results
            return work(folder)
    except RunBusy as busy:
        log.info("%s: %s; skipped here", run_id, busy)
        return folder.results


@dataclass
class RunRecord:
    """What a run's ``run.json`` says of it, beside what the store adds (its hash, row count and digest): the run,
    the ``group`` it is a candidate in (its semantic config without the keys model selection varies, hashed), the
    benchmark, learner, task, seed, hyper-parameter draw and holdout of ``cfg``, the ``details`` of its kind
    (a training run's environments and drawn hyper-parameters, an experiment loop's choices), its wall time since
    ``started`` and threads, and the semantic config. One record for both kinds of run (an experiment loop holds
    no environment out: ``holdout`` None)."""

    run: str
    group: dict
    benchmark: str
    trainer: str
    task: str
    cfg: DictConfig
    started: float
    holdout: str | None
    details: dict = field(default_factory=dict)

    def meta(self) -> dict:
        """The record as ``run.json``'s fields (the wall time taken now)."""
        return {
            "run": self.run,
            "group": config_hash(self.group),
            "benchmark": self.benchmark,
            "trainer": self.trainer,
            "task": self.task,
            "seed": self.cfg.seed,
            "hparams_seed": self.cfg.hparams_seed,
            "holdout": self.holdout,
            **self.details,
            "seconds": time.perf_counter() - self.started,
            "threads": torch.get_num_threads(),
            "config": semantic_config(self.cfg),
        }


def _run(cfg: DictConfig, folder: RunFolder, run_id: str, trainer_name: str) -> Path:
    """The work of :func:`run` in its claimed folder."""
    started = time.perf_counter()
    semantic = semantic_config(cfg)
    run_dir = folder.path
    parts = build(cfg, run_dir)
    if cfg.get("active") is not None:
        if cfg.get("save_model"):
            raise ParameterError("save_model saves a training run's net; an experiment loop (active=...) has many")
        return _run_active(cfg, parts, folder, run_id, trainer_name, started)
    trainer, benchmark = parts["trainer"], parts["benchmark"]
    data = load_data(cfg, benchmark, parts["bench_key"])
    rows = evaluate_run(
        data,
        trainer,
        parts["make_net"],
        run=run_id,
        trainer_name=trainer_name,
        seed=cfg.seed,
        holdout=cfg.holdout,
    )
    record = RunRecord(
        run_id,
        group={k: v for k, v in semantic.items() if k not in ("hparams_seed", "holdout")},
        benchmark=benchmark.name,
        trainer=trainer_name,
        task=data.task,
        cfg=cfg,
        started=started,
        holdout=cfg.holdout,
        details={
            "n_classes": data.n_outputs if data.task == "classification" else None,
            "train_envs": list(data.train),
            "environments": environment_records(data),
            "hparams": parts["hparams"],
        },
    )
    meta = record.meta()
    if cfg.get("save_model"):  # before results.csv: a finished run has its model (causalphys evaluate model=DIR)
        meta["model_file"] = trainer.save(folder.path / MODEL_FILE).name
    folder.write(meta, rows)
    metric = "r2" if data.task == "regression" else selection_metric(data.task)
    summary = {(r["env"], r["split"]): r["value"] for r in rows if r["metric"] == metric}
    val = [v for (e, s), v in summary.items() if s == "val"]
    test = {e: v for (e, s), v in summary.items() if s == "test"}
    done = len(list(Path(run_dir).parent.glob(f"*/{RESULTS}")))
    log.info(
        "%s: done in %.0f s (%d run(s) finished in %s); val %s %.3f; test %s",
        run_id,
        meta["seconds"],
        done,
        cfg.get("results_dir") or Path(run_dir).parent,  # the folder as given: no machine path in a committed log
        metric,
        sum(val) / max(len(val), 1),
        " ".join(f"{e}={v:.3f}" for e, v in test.items()),
    )
    return folder.results


def _run_active(cfg: DictConfig, parts: dict, folder: RunFolder, run_id: str, trainer_name: str, started: float):
    """An experiment loop (``active=NAME``, conf/active/): the trainer, net and benchmark of the run, the strategy,
    budget and candidate experiments of ``cfg.active``. Rounds are recorded in ``<run_dir>/active/`` as they finish
    (an interrupted run resumes from its last round); ``results.csv`` — the run's tidy rows plus ``round``,
    ``labelled`` and ``candidate`` — is written at the end, as for every run."""
    from causalphys.active.loop import ACTIVE_FIELDS
    from causalphys.active.study import benchmark_loop

    active = OmegaConf.to_container(cfg.active, resolve=True)
    unknown = sorted(set(active) - {"strategy", "candidates", "budget", "batch_size", "evaluate_on", "n_eval"})
    if unknown:
        raise ParameterError(
            f"active: unknown key(s) {unknown}; allowed: strategy, candidates, budget, batch_size, evaluate_on, n_eval"
        )
    strategy = _instantiate(active["strategy"], "active.strategy")
    trainer = parts["trainer"]
    params = trainer.get_params()

    def fresh(seed: int):
        return type(trainer)(**{**params, "seed": seed, "progress": False})

    def erm(seed: int):  # while a multi-environment trainer has one experiment: ERM with its shared settings
        from causalphys.trainers import ERM

        shared = {k: v for k, v in params.items() if k in inspect.signature(ERM).parameters}
        return ERM(**{**shared, "seed": seed, "progress": False})

    loop = benchmark_loop(
        parts["benchmark"],
        active["candidates"],
        strategy,
        fresh,
        parts["make_net"],
        budget=active["budget"],
        batch_size=active["batch_size"],
        seed=cfg.seed,
        evaluate_on=active.get("evaluate_on"),
        n_eval=active.get("n_eval", 1000),
        out=folder.path / "active",
        run=run_id,
        progress=bool(cfg.progress),
        until_enough=erm if trainer.min_envs > 1 else None,
    )
    result = loop.run()
    rows = [{**r, "trainer": strategy.name} for r in result.rows]
    record = RunRecord(
        run_id,
        group={k: v for k, v in semantic_config(cfg).items() if k != "seed"},
        benchmark=parts["benchmark"].name,
        trainer=trainer_name,
        task="classification",
        cfg=cfg,
        started=started,
        holdout=None,
        details={"kind": "active", "strategy": strategy.name, "choices": result.choices, "counts": result.counts},
    )
    meta = record.meta()
    folder.write(meta, rows, ACTIVE_FIELDS)
    last = {r["env"]: r["value"] for r in rows if int(r["round"]) == len(result.choices) - 1}
    log.info(
        "%s: %s spent %d labels in %d rounds (%s); last round %s",
        run_id,
        strategy.name,
        sum(result.counts.values()),
        len(result.choices),
        ", ".join(f"{c} {n}" for c, n in result.counts.items()),
        " ".join(f"{e}={float(v):.3f}" for e, v in last.items()),
    )
    return folder.results


def _cores() -> int:
    """The cores this process may use: ``SLURM_CPUS_PER_TASK`` in a Slurm job (Slurm need not confine threads to
    them: with ``TaskPlugin=task/none`` it does not), else all the machine's."""
    slurm = os.environ.get("SLURM_CPUS_PER_TASK", "")
    if slurm.isdigit() and int(slurm) > 0:
        return int(slurm)
    return os.cpu_count() or 1


def _threads(cfg: DictConfig) -> int:
    """Torch threads for one run: ``threads`` if set, else the cores divided by the runs in parallel on them
    (joblib's ``n_jobs``; a Slurm job has its cores to itself)."""
    if cfg.get("threads") is not None:
        return int(cfg.threads)
    cores = _cores()
    hc = HydraConfig.get()
    if hc.mode == RunMode.MULTIRUN:
        jobs = hc.launcher.get("n_jobs", 1) if "launcher" in hc else 1
        jobs = cores if jobs is None or jobs < 1 else min(int(jobs), cores)
        return max(1, cores // jobs)
    return cores


@hydra.main(config_path=str(CONF_DIR), config_name="config", version_base="1.3")
def hydra_main(cfg: DictConfig) -> None:
    check_seed(cfg)  # seed and threads, before torch is given the thread count
    torch.set_num_threads(_threads(cfg))
    hc = HydraConfig.get()
    run(cfg, hc.runtime.output_dir, _run_id(hc.job.override_dirname), learner_name(hc.runtime.choices))


def learner_name(choices) -> str:
    """The run's learner as the results and reports name it: the trainer choice, with ``(oracle data)`` after it
    where ``+data=oracle`` trains a learner other than ``trainer=oracle`` (ERM on those data) on the oracle data."""
    trainer = choices.get("trainer", "trainer")
    if choices.get("data") == "oracle" and trainer != "oracle":
        return f"{trainer} (oracle data)"
    return trainer


HELP = """causalphys: train learners on benchmarks whose instrument shifts, and measure how each one degrades.

Commands:
  causalphys key=value ...          one run (train, then score every environment) into results/<sweep>/<overrides>/
  causalphys -m key=a,b seed=0,1    a sweep: one run per combination, on the local cores (or hydra/launcher=slurm)
  causalphys report DIR [--out D]   tables, model selection by every rule, severity plot (no rerun)
  causalphys evaluate model=PATH    score a model the harness did not train (TorchScript, torch.export, a run folder)

Common keys for a small run:
  trainer=erm|irm|vrex|...  benchmark=scanner_shift|colored_mnist|...  shift=severity|routing|dose|...
  seed=0  steps=200  benchmark.n_train=2000  benchmark.n_test=1000  sweep_name=NAME  progress=false
  save_model=true  threads=2  +experiment=demo (a whole study)

Example: causalphys trainer=irm steps=200 benchmark.n_train=2000 shift=severity
Documentation: README.md of the repository (section "Running a study: the OOD harness").
Hydra's own help (config groups and the composed config) follows.
"""


def main() -> None:
    """Console script: ``causalphys report DIR`` goes to the report, ``causalphys evaluate ...`` scores a model the
    harness did not train (:mod:`causalphys.cli.evaluate`, root config ``conf/evaluate.yaml``); anything else is a
    Hydra run or sweep (``--help`` prints this module's docstring before Hydra's help)."""
    command = sys.argv[1] if len(sys.argv) > 1 else None
    if command == "report":
        from causalphys.cli.report import main as report_main

        report_main(sys.argv[2:])
        return
    if command == "evaluate":
        from causalphys.cli.evaluate import main as evaluate_main

        evaluate_main(sys.argv[2:])
        return
    if "--help" in sys.argv[1:] or "-h" in sys.argv[1:]:
        print(HELP)
    else:
        from causalphys.cli.keys import unknown_keys

        problems = unknown_keys(sys.argv[1:], CONF_DIR)
        if problems:
            raise SystemExit("causalphys: " + "\n".join(problems))
    hydra_main()


if __name__ == "__main__":
    # `python -m causalphys.run`: run the imported module, not this `__main__` copy, so that the task function a
    # Slurm job unpickles is `causalphys.run`'s (whose import registers the `run_id` resolver).
    from causalphys.run import main as _main

    _main()
