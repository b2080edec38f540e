"""Scoring a model the harness did not train: load it, check it against a benchmark, measure it as a trained run.

A microscopist asks "will MY model still work on MY next instrument?". :func:`load_model` turns the model they
have into a callable ``x (n, *input_shape) -> outputs``; :func:`check_model` runs it on 2 inputs of the benchmark
and fails, before any scoring, when their shape, channels or its outputs do not fit; :func:`score_model` returns
the tidy rows ``run, trainer, env, split, metric, value, selection`` that
:func:`~causalphys.evaluation.harness.evaluate_run` gives a trained model — measured by the same
:func:`~causalphys.evaluation.harness.measure` — so ``causalphys report`` shows it beside ERM, IRM and the oracle.

What a model must compute, for inputs ``x`` ``(n, *input_shape)`` (float32, as the benchmark makes them):

- classification with ``k`` classes: class scores ``(n, k)`` (logits or log-probabilities: accuracy takes their
  argmax, NLL and ECE their softmax), or for ``k = 2`` one binary logit ``(n,)`` / ``(n, 1)``. Class indices are
  refused: NLL and calibration need scores (wrap such a model to return ``log`` of one-hot or of its probabilities);
- regression with ``d`` targets: ``(n,)`` or ``(n, 1)`` for ``d = 1``, ``(n, d)`` otherwise.

Plain functions: no Hydra, no files written (``causalphys evaluate``, :mod:`causalphys.cli.evaluate`, writes the
run folder). Everything is loaded onto the CPU.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import inspect
import json
import os
import pickle
import re
import time
import warnings
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path

import torch
from torch import nn

from causalphys.data.benchmark import BenchmarkData
from causalphys.errors import CausalPhysError
from causalphys.evaluation.harness import import_object, measure, net_from_config, tidy_row
from causalphys.evaluation.store import META
from causalphys.nets.modes import evaluating
from causalphys.trainers.base import Trainer
from causalphys.trainers.checkpoint import read_checkpoint

MODEL_FILE = "model.pt"
"""The trained net's checkpoint (:meth:`Trainer.save`) in a run folder, written when ``save_model=true``."""

KINDS = (
    "an nn.Module, a fitted causalphys trainer or any Python callable; 'package.module:function'; a TorchScript "
    "file (torch.jit.save); a torch.export file (torch.export.save, .pt2); a torch.save(module) file; a causalphys "
    f"run folder with {MODEL_FILE} (save_model=true) or a trainer checkpoint in it; a trainer checkpoint or a "
    "state_dict file with net="
)
"""What :func:`load_model` accepts, as its error messages say it."""

_REFERENCE = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*")

Model = Callable[[torch.Tensor], torch.Tensor]
NetSpec = nn.Module | Callable[[tuple[int, ...], int], nn.Module]


class ExternalModelError(CausalPhysError, ValueError):
    """A model cannot be loaded, or does not fit the benchmark it is to be scored on; the message names the file
    (or the model) and what was expected."""


# ------------------------------------------------------------------------------------------------------- loading
def load_model(source: object, *, net: NetSpec | None = None) -> Model:
    """A callable ``x (n, *input_shape) -> outputs`` made from ``source``:

    - an ``nn.Module`` or any other Python callable: itself; a fitted causalphys trainer: its ``predict``;
    - ``"package.module:function"``: that object, imported (the part after ``:`` may be dotted);
    - a TorchScript file (``torch.jit.save``): ``torch.jit.load``;
    - a ``torch.export`` file (``torch.export.save``, ``.pt2``): ``torch.export.load(path).module()``. An exported
      program runs the graph it was exported with: export it from eval mode, with a dynamic batch dimension;
    - a file written by ``torch.save(module)`` (a whole module): loaded with ``weights_only=False``. **This
      unpickles, i.e. executes, code stored in the file: load only files you trust.** (Files of plain tensors and
      numbers are read with ``weights_only=True`` first.)
    - a causalphys trainer checkpoint (:meth:`~causalphys.trainers.base.Trainer.save`): its net's architecture
      comes from ``net=`` when given — an ``nn.Module`` to load the weights into, or a factory
      ``(input_shape, n_outputs) -> nn.Module`` such as :func:`~causalphys.evaluation.harness.net_factory` — and
      the model is that net. Without ``net=`` the checkpoint must lie in its run folder (beside ``run.json``, or in
      the folder's ``checkpoints/``): ``run.json``'s resolved config names the net and the trainer, and the model
      is the trainer's ``predict`` — exactly what the run measured (a learner that predicts through its own codes,
      such as content_style's normalised encoder, included);
    - a causalphys run folder: its ``model.pt`` (written by ``causalphys ... save_model=true``), as above;
    - a ``state_dict`` file (tensors by parameter name) with ``net=``: the net with those weights.

    Errors (:class:`ExternalModelError`) name the file and list the kinds accepted.
    """
    if isinstance(source, nn.Module):
        _no_net(net, "an nn.Module")
        return source
    if isinstance(source, Trainer):
        _no_net(net, f"the trainer {type(source).__name__}")
        _check_predictor(type(source), f"the trainer {type(source).__name__}")
        return source.predict
    if isinstance(source, str) and _REFERENCE.fullmatch(source) and not Path(source).exists():
        _no_net(net, f"the callable {source!r}")
        try:
            obj = import_object(source)
        except CausalPhysError as err:
            raise ExternalModelError(f"model {source!r}: {err}") from err
        if not callable(obj):
            raise ExternalModelError(f"model {source!r} is a {type(obj).__name__}, not a callable; accepted: {KINDS}")
        return obj
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if path.is_dir():
            return _from_checkpoint(path / MODEL_FILE, net, folder=path)
        if not path.is_file():
            raise ExternalModelError(f"no model file or run folder at {str(path)!r}; accepted: {KINDS}")
        return _from_file(path, net)
    if callable(source):
        _no_net(net, f"the callable {source!r}")
        return source
    raise ExternalModelError(f"cannot make a model of {source!r} (of type {type(source).__name__}); accepted: {KINDS}")


def _no_net(net: object, what: str) -> None:
    if net is not None:
        raise ExternalModelError(f"net= is for a trainer checkpoint or a state_dict file, not for {what}")


def _archive_kind(path: Path) -> str:
    """``"export"``, ``"torchscript"`` or ``"torch.save"`` from the members of a zip archive (all three are zip
    archives: torch.export writes ``archive_format``, TorchScript ``code/`` and ``constants.pkl``); ``"torch.save"``
    for anything else, which :func:`torch.load` then judges."""
    if not zipfile.is_zipfile(path):
        return "torch.save"
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError):
        return "torch.save"
    if any(n.endswith("/archive_format") for n in names):
        return "export"
    if any(n.endswith("/constants.pkl") or "/code/__torch__/" in n for n in names):
        return "torchscript"
    return "torch.save"


def _from_file(path: Path, net: NetSpec | None) -> Model:
    kind = _archive_kind(path)
    if kind == "export":
        _no_net(net, f"the torch.export file {str(path)!r}")
        try:
            return torch.export.load(path).module()
        except Exception as err:
            raise ExternalModelError(f"cannot load {str(path)!r} as a torch.export program: {err}") from err
    if kind == "torchscript":
        _no_net(net, f"the TorchScript file {str(path)!r}")
        try:
            with warnings.catch_warnings():  # torch >= 2.10 deprecates TorchScript; its files remain a model format
                warnings.simplefilter("ignore", DeprecationWarning)
                return torch.jit.load(str(path), map_location="cpu")
        except Exception as err:
            raise ExternalModelError(f"cannot load {str(path)!r} as a TorchScript module: {err}") from err
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:  # more than tensors and numbers: a pickled module (trusted files only)
        try:
            obj = torch.load(path, map_location="cpu", weights_only=False)
        except Exception as err:
            raise ExternalModelError(f"torch cannot read {str(path)!r} ({err}); accepted: {KINDS}") from err
    except Exception as err:
        raise ExternalModelError(f"torch cannot read {str(path)!r} ({err}); accepted: {KINDS}") from err
    if isinstance(obj, Mapping) and {"format", "net", "trainer"} <= set(obj):
        return _from_checkpoint(path, net, folder=_run_folder_of(path))
    if isinstance(obj, nn.Module) or (callable(obj) and not isinstance(obj, Mapping)):
        _no_net(net, f"the module saved in {str(path)!r}")
        return obj
    if isinstance(obj, Mapping) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        if net is None:
            raise ExternalModelError(
                f"{str(path)!r} holds only weights (a state_dict of {len(obj)} tensors): pass net=, the nn.Module "
                "to load them into"
            )
        if not isinstance(net, nn.Module):
            raise ExternalModelError(f"{str(path)!r} is a state_dict: net= must be an nn.Module, not a factory")
        return _with_weights(net, obj, path)
    raise ExternalModelError(f"{str(path)!r} holds a {type(obj).__name__}, not a model; accepted: {KINDS}")


def _run_folder_of(path: Path) -> Path | None:
    """The run folder of a checkpoint: its own folder, or the one above its ``checkpoints/``, if ``run.json`` is
    there."""
    for folder in (path.parent, path.parent.parent if path.parent.name == "checkpoints" else None):
        if folder is not None and (folder / META).is_file():
            return folder
    return None


def _with_weights(module: nn.Module, state: Mapping, path: Path) -> nn.Module:
    try:
        module.load_state_dict(state)
    except RuntimeError as err:
        raise ExternalModelError(
            f"the weights of {str(path)!r} do not fit net= ({type(module).__name__}): {err}"
        ) from err
    return module


def _from_checkpoint(path: Path, net: NetSpec | None, folder: Path | None) -> Model:
    """The model of a trainer checkpoint: net= with its weights, or the run folder's trainer (:func:`load_model`)."""
    if not path.is_file():
        raise ExternalModelError(
            f"the run folder {str(path.parent)!r} holds no {MODEL_FILE}: rerun it with save_model=true (or pass a "
            f"model file); accepted: {KINDS}"
        )
    ckpt = read_checkpoint(path)
    if isinstance(ckpt["n_outputs"], list):
        raise ExternalModelError(
            f"{str(path)!r} is a dense-task checkpoint (per-sample outputs {tuple(ckpt['n_outputs'])}): scoring dense "
            "models is not part of the harness yet; load it with trainer.load(path, net) and call predict"
        )
    shape, n_outputs = tuple(ckpt["input_shape"]), int(ckpt["n_outputs"])
    if net is not None:
        module = net if isinstance(net, nn.Module) else net(shape, n_outputs)
        return _with_weights(module, ckpt["net"], path)
    if folder is None:
        raise ExternalModelError(
            f"{str(path)!r} is a causalphys checkpoint (trainer {ckpt['trainer']}) outside its run folder: pass "
            "net= (the architecture: an nn.Module or a factory (input_shape, n_outputs) -> nn.Module), or keep it "
            f"beside the run's {META}"
        )
    meta_path = folder / META
    try:
        config = json.loads(meta_path.read_text()).get("config") or {}
    except (OSError, json.JSONDecodeError, AttributeError) as err:
        raise ExternalModelError(f"cannot read the run description {str(meta_path)!r}: {err}") from err
    if not isinstance(config.get("net"), Mapping) or not isinstance(config.get("trainer"), Mapping):
        raise ExternalModelError(
            f"{str(meta_path)!r} names no net and trainer (config.net, config.trainer): not a training run's folder; "
            f"pass net= to load {str(path)!r}"
        )
    trainer_class = import_object(str(config["trainer"].get("_target_")))
    if not (isinstance(trainer_class, type) and issubclass(trainer_class, Trainer)):
        raise ExternalModelError(f"{str(meta_path)!r}: config.trainer._target_ names no causalphys Trainer")
    _check_predictor(trainer_class, f"{str(path)!r} (a {trainer_class.__name__} checkpoint)")
    names = trainer_class.param_names()
    params = {k: v for k, v in ckpt["hparams"].items() if k in names}
    params.update(device="cpu", progress=False, checkpoint_every=0, checkpoint_dir=None)
    trainer = trainer_class(**params)
    trainer.load(path, net_from_config(config["net"])(shape, n_outputs))
    return trainer.predict


def _check_predictor(trainer_class: type[Trainer], what: str) -> None:
    if trainer_class.learns_representation:
        raise ExternalModelError(
            f"{what} learns a representation (its predict gives latents, not predictions): score it against true "
            "latents (causalphys.evaluation.latents), not here"
        )


# ------------------------------------------------------------------------------------------------ identifying
def source_info(source: str | os.PathLike) -> dict:
    """What a model given by path or reference is, for a run's ``run.json``: ``model`` (the absolute path, or the
    ``"package.module:function"`` reference), ``sha256`` of its bytes (of ``model.pt`` for a run folder, of the
    defining source file for a reference; ``None`` where there is none) and ``name``: the file's stem, the run
    folder's name, or the function's name."""
    text = os.fspath(source)
    if _REFERENCE.fullmatch(text) and not Path(text).exists():
        obj = load_model(text)
        try:
            origin = inspect.getsourcefile(obj)
        except TypeError:
            origin = None
        digest = _sha256(Path(origin)) if origin and Path(origin).is_file() else None
        return {"model": text, "sha256": digest, "name": text.rpartition(":")[2].rpartition(".")[2]}
    path = Path(text).resolve()
    if path.is_dir():
        file, name = path / MODEL_FILE, path.name
    else:
        file, name = path, path.stem
    if not file.is_file():
        raise ExternalModelError(f"no model file at {str(file)!r}; accepted: {KINDS}")
    return {"model": str(path), "sha256": _sha256(file), "name": name}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# ------------------------------------------------------------------------------------------------- running it
def _eval_switchable(module: nn.Module) -> bool:
    """Whether ``module`` can be put in eval mode (an exported program's module cannot: it raises)."""
    try:
        module.train(module.training)
    except NotImplementedError:
        return False
    return True


def predict(model: Model, x: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    """``model``'s outputs for ``x`` ``(n, *input_shape)``, ``batch_size`` rows at a time, without gradients and,
    for an ``nn.Module``, in eval mode (its training flags restored after) with ``x`` moved to the device and dtype
    of its first parameter — as :meth:`Trainer.predict <causalphys.trainers.base.Trainer.predict>` runs a trained
    net. The outputs are returned on ``x``'s device."""
    device, dtype = x.device, x.dtype
    mode = contextlib.nullcontext()
    if isinstance(model, nn.Module):
        param = next(model.parameters(), None)
        if param is not None:
            device, dtype = param.device, param.dtype
        if _eval_switchable(model):
            mode = evaluating(model)
    with mode, torch.no_grad():
        outs = [model(chunk.to(device, dtype)) for chunk in x.split(batch_size)]
    if not all(isinstance(o, torch.Tensor) for o in outs):
        got = next(type(o).__name__ for o in outs if not isinstance(o, torch.Tensor))
        raise ExternalModelError(f"the model returned a {got}, not a tensor of outputs")
    return torch.cat(outs).to(x.device)


def _input_words(shape: tuple[int, ...]) -> str:
    if len(shape) == 3:
        c, h, w = shape
        return f"images (c, h, w) = {shape}: {c} channel(s) of {h}x{w} pixels"
    return f"inputs of per-sample shape {shape}"


def expected_outputs(data: BenchmarkData) -> list[tuple[int, ...]]:
    """The output shapes (without the batch dimension) a model may give on ``data`` (module docstring)."""
    k = data.n_outputs
    if data.task == "classification":
        return [(k,), (), (1,)] if k == 2 else [(k,)]
    return [(), (1,)] if k == 1 else [(k,)]


def check_model(model: Model, data: BenchmarkData, *, name: str = "the model") -> None:
    """Run ``model`` on 2 inputs of ``data`` (its first training environment's, else its first test one's) and raise
    :class:`ExternalModelError`, saying what was expected and what came, unless it takes them and returns finite
    float outputs of a shape in :func:`expected_outputs` — before any scoring."""
    x = next(iter({**data.train, **data.test}.values()))[0][:2]
    given = f"{len(x)} {_input_words(tuple(x.shape[1:]))}"
    try:
        out = predict(model, x)
    except ExternalModelError as err:
        raise ExternalModelError(f"{name}, run on {given}: {err}") from err
    except Exception as err:
        raise ExternalModelError(
            f"{name} fails on {given} (x of shape {tuple(x.shape)}), the inputs of the benchmark: "
            f"{type(err).__name__}: {err}"
        ) from err
    shapes = expected_outputs(data)
    wanted = " or ".join(str((len(x), *s)) for s in shapes)
    what = f"{data.n_outputs} classes" if data.task == "classification" else f"{data.n_outputs} target(s)"
    if data.task == "classification" and not out.is_floating_point():
        raise ExternalModelError(
            f"{name} returned {out.dtype} outputs {tuple(out.shape)} (class indices?); expected class scores "
            f"{wanted} for the {what} of the benchmark — NLL and calibration need scores: return logits or "
            "log-probabilities"
        )
    if not out.is_floating_point():
        raise ExternalModelError(f"{name} returned {out.dtype} outputs; expected float predictions {wanted}")
    if len(out) != len(x) or tuple(out.shape[1:]) not in shapes:
        kind = "class scores (logits)" if data.task == "classification" else "predictions"
        raise ExternalModelError(
            f"{name} returned outputs of shape {tuple(out.shape)} for {len(x)} inputs; expected {kind} {wanted} "
            f"for the {what} of the benchmark ({data.task})"
        )
    if not bool(torch.isfinite(out).all()):
        raise ExternalModelError(f"{name} returned non-finite outputs (NaN or inf) on {given}")


def score_model(
    model: Model | Trainer | str | os.PathLike,
    data: BenchmarkData,
    *,
    run: str,
    model_name: str,
    seed: int,
    batch_size: int = 1024,
) -> list[dict]:
    """The tidy rows of ``model`` (anything :func:`load_model` accepts) on ``data``, with ``trainer = model_name``:
    :func:`check_model` first, then :func:`~causalphys.evaluation.harness.measure` — ``train``/``val`` of each
    training environment, ``test``/``test_val`` of each test environment (the seeded split of ``seed``, as for
    trained runs), ``cf_flip_rate``/``cf_change`` of the counterfactual views — without training: eval mode, no
    gradients, ``batch_size`` rows at a time. The last row is the wall-clock ``seconds`` of the scoring (env
    ``all``, split ``train``, as :func:`~causalphys.evaluation.harness.evaluate_run`'s)."""
    started = time.perf_counter()
    model = load_model(model)  # a module or callable as it is; a trainer's predict; a file or reference loaded
    check_model(model, data, name=f"model {model_name!r}")
    run_model = functools.partial(predict, model, batch_size=batch_size)
    rows = measure(data, run_model, run=run, trainer_name=model_name, seed=seed)
    rows.append(tidy_row(run, model_name, "all", "train", "seconds", time.perf_counter() - started))
    return rows
