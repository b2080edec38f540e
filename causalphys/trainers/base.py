"""The base trainer: the ``fit`` loop, minibatches, prediction and checkpoints shared by every learner.

A learner subclasses :class:`Trainer`, takes its own hyper-parameters as keyword arguments of ``__init__`` (stored
under the same names, then ``super().__init__(**kwargs)``) and implements :meth:`Trainer.update`.
"""

from __future__ import annotations

import abc
import inspect
import os
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn
from tqdm import tqdm

from causalphys import checks
from causalphys.atomic import save_torch
from causalphys.data.benchmark import LEARNING_TASKS
from causalphys.errors import ParameterError
from causalphys.nets.init import reinitialize
from causalphys.nets.modes import evaluating
from causalphys.seeding import derive_seed, make_generator
from causalphys.trainers import checkpoint as ckpt_files
from causalphys.trainers.errors import CheckpointError, DataError, DataTypeError, NotFittedError
from causalphys.trainers.losses import task_loss
from causalphys.trainers.validation import check_envs, check_net, check_targets, count_outputs

__all__ = ["DataError", "Trainer"]

CHECKPOINT_FORMAT = 1
FUSE_ROWS = 4096
"""Minibatches of at most this many rows in all are pooled into one forward pass; larger ones (full-batch training)
go through the net one environment at a time, so that no pooled copy of the inputs is kept for the backward pass."""
# Settings that may change between an interrupted fit and its resumption; any other difference is an error.
RESUMABLE_CHANGES = frozenset({"steps", "progress", "checkpoint_every", "checkpoint_dir", "device", "reset_net"})

Minibatch = tuple[torch.Tensor, torch.Tensor]
"""One training environment's minibatch ``(x, y)`` in :meth:`Trainer.update` (not :class:`causalphys.scm.batch.Batch`,
an SCM's sample)."""


class Trainer(abc.ABC):
    """Trains a net on several environments: ``update`` does one step from one minibatch per environment.

    Hyper-parameters (stored unchanged, scikit-learn style; learned state ends in ``_``):

    - ``lr``, ``weight_decay``: Adam's learning rate and (L2, coupled) weight decay.
    - ``l2``: ``l2 · Σ ||W||²`` over the weight matrices (not the biases) added to the objective, the IRM
      reference implementation's regulariser without its biases (:meth:`regularized`).
    - ``batch_size``: samples drawn per environment and step, uniformly **with replacement** (as DomainBed's
      infinite loaders), from a CPU generator seeded with ``derive_seed(seed, "batches")``; ``None`` uses each
      environment's full data every step (full-batch training, as the IRM reference).
    - ``steps``: number of updates ``fit`` runs.
    - ``task``: ``"classification"`` (cross-entropy, or a binary logistic loss for a net with one output),
      ``"regression"`` (mean squared error) or ``"dense"`` (per-pixel squared error of output maps, e.g. a U-Net's;
      ``n_outputs_`` is then the per-sample output shape); see :mod:`causalphys.trainers.losses`.
    - ``seed``: the run seed. The net's weights are re-drawn from ``derive_seed(seed, "init")`` (on the CPU, then
      moved to ``device``) unless ``reset_net=False``; the global torch RNG used inside ``fit`` (dropout) is seeded
      with ``derive_seed(seed, "train")`` under :func:`torch.random.fork_rng`, so the caller's RNG state is untouched.
    - ``device``: where the net and the data live during ``fit`` (the data are moved there once).
    - ``checkpoint_every``, ``checkpoint_dir``: with ``checkpoint_every = k > 0``, ``fit`` writes
      ``checkpoint_dir/step_XXXXXXXX.pt`` every ``k`` steps and at the end (keeping only the newest), and starts by
      resuming from the newest checkpoint there, if any. A resumed run ends with the same weights as an
      uninterrupted one (the RNG states are checkpointed too).
    - ``progress``: show a tqdm progress bar with the loss.
    - ``reset_net``: re-draw the net's weights from ``seed`` at the start of ``fit`` (``False`` keeps the weights it
      has, e.g. to fine-tune).

    Learned state after ``fit``: ``net_`` (the net passed in, trained in place), ``optimizer_``, ``step_`` (updates
    done), ``history_`` (one dict per step: ``{"step": t, **metrics}``), ``env_names_``, ``input_shape_``,
    ``n_outputs_``, ``batch_generator_``.

    Subclasses implement :meth:`update`, declare what they need in the class attributes below, and where they keep
    state besides the net's and the optimizer's (GroupDRO's group weights) override :meth:`prepare`,
    :meth:`extra_state` and :meth:`load_extra_state`.

    Capabilities (class attributes, read by the harness and the experiment loops):

    - ``min_envs``: the training environments the method needs (a penalty across environments: 2).
    - ``needs_pairs``: ``fit`` takes ``pairs=`` (each training unit imaged twice; the benchmark makes them).
    - ``needs_views``: ``fit`` takes ``views=`` (labelled views of each training unit under other instruments).
    - ``learns_representation``: ``predict`` gives latents, not predictions (the harness refuses to score it).
    """

    min_envs: int = 1
    needs_pairs: bool = False
    needs_views: bool = False
    learns_representation: bool = False

    @classmethod
    def data_needs(cls) -> str:
        """What the trainer trains on beside the factual data: ``"pairs"``, ``"views"`` or ``"observed"`` (nothing
        more) — what the harness asks the benchmark to make."""
        return "pairs" if cls.needs_pairs else "views" if cls.needs_views else "observed"

    def __init__(
        self,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        l2: float = 0.0,
        batch_size: int | None = 64,
        steps: int = 1000,
        task: str = "classification",
        seed: int = 0,
        device: str | torch.device = "cpu",
        checkpoint_every: int = 0,
        checkpoint_dir: str | os.PathLike | None = None,
        progress: bool = True,
        reset_net: bool = True,
    ):
        owner = type(self).__name__
        self.lr = checks.positive_float(f"{owner} lr", lr)
        self.weight_decay = checks.nonnegative_float(f"{owner} weight_decay", weight_decay)
        self.l2 = checks.nonnegative_float(f"{owner} l2", l2)
        self.batch_size = checks.positive_int(f"{owner} batch_size", batch_size, none_ok=True)
        self.steps = checks.nonnegative_int(f"{owner} steps", steps)
        self.task = checks.choice(f"{owner} task", task, LEARNING_TASKS)
        self.seed = checks.integer(f"{owner} seed", seed)
        try:
            torch.device(device)
        except (RuntimeError, TypeError) as e:
            raise ParameterError(f"{owner} device {device!r} is not a torch device: {e}") from e
        self.device = device
        self.checkpoint_every = checks.nonnegative_int(f"{owner} checkpoint_every", checkpoint_every)
        if self.checkpoint_every and checkpoint_dir is None:
            raise ParameterError(f"{owner} checkpoint_every={checkpoint_every} needs a checkpoint_dir")
        if self.checkpoint_every and Path(checkpoint_dir).exists() and not Path(checkpoint_dir).is_dir():
            raise ParameterError(f"{owner} checkpoint_dir {str(checkpoint_dir)!r} is a file, not a folder")
        self.checkpoint_dir = checkpoint_dir
        self.progress = checks.boolean(f"{owner} progress", progress)
        self.reset_net = checks.boolean(f"{owner} reset_net", reset_net)
        self._fitting = False
        self._rng_state: dict[str, torch.Tensor] = {}

    # ----------------------------------------------------------------------------------------------- parameters
    @classmethod
    def param_defaults(cls) -> dict[str, object]:
        """The hyper-parameters and their defaults: the named arguments of ``__init__`` of this class and its bases,
        a subclass's own default before its bases' (``inspect.Parameter.empty`` where there is none)."""
        params: dict[str, object] = {}
        for klass in cls.__mro__:
            init = klass.__dict__.get("__init__")
            if init is None or klass is object:
                continue
            for p in inspect.signature(init).parameters.values():
                if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and p.name not in params:
                    params[p.name] = p.default
        return params

    @classmethod
    def param_names(cls) -> list[str]:
        """The hyper-parameter names (:meth:`param_defaults`' keys)."""
        return list(cls.param_defaults())

    def get_params(self) -> dict[str, object]:
        """The hyper-parameters as given to the constructor, by name."""
        return {name: getattr(self, name) for name in self.param_names()}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    # -------------------------------------------------------------------------------------- what a learner adds
    @abc.abstractmethod
    def update(self, batches: list[Minibatch]) -> dict[str, float]:
        """One optimisation step from one minibatch ``(x, y)`` per training environment (in ``env_names_`` order).

        ``x`` is ``(b, *input_shape)`` on ``device`` in the net's dtype; ``y`` is ``(b,)`` long labels or ``(b,)`` /
        ``(b, k)`` float targets. ``step_`` is the 0-based index of this step. Returns metrics as floats, at least
        ``"loss"`` (the objective minimised, penalties included).
        """

    def prepare(self, env_names: list[object]) -> None:
        """Set up learner state before the first step (called by ``fit`` after ``net_`` and ``optimizer_`` exist)."""
        return None

    def extra_state(self) -> dict:
        """Learner state to checkpoint besides the net's and the optimizer's (tensors, numbers, lists, dicts)."""
        return {}

    def load_extra_state(self, state: dict) -> None:
        """Restore what :meth:`extra_state` returned."""
        return None

    def build_optimizer(self, parameters) -> torch.optim.Optimizer:
        """Adam with ``lr`` and ``weight_decay``; learners that restart their optimizer call this again."""
        return torch.optim.Adam(parameters, lr=self.lr, weight_decay=self.weight_decay)

    # ------------------------------------------------------------------------------------------ helpers for update
    def task_loss(self, outputs: torch.Tensor, y: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
        """Cross-entropy or MSE of ``outputs`` against ``y`` for this trainer's ``task`` (see ``losses``)."""
        return task_loss(outputs, y, self.task, reduction)

    def regularized(self, loss: torch.Tensor) -> torch.Tensor:
        """``loss + l2 · Σ ||W||²`` over the parameters with two or more dimensions (weights, not biases)."""
        if self.l2 == 0.0:
            return loss
        norm = sum(p.pow(2).sum() for p in self.net_.parameters() if p.dim() > 1)
        return loss + self.l2 * norm

    def optimizer_step(self, loss: torch.Tensor) -> None:
        """``zero_grad``, ``loss.backward()`` and one step of ``optimizer_``."""
        self.optimizer_.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer_.step()

    # --------------------------------------------------------------------------------------------------- fitting
    def fit(self, net: nn.Module, envs: Mapping[object, tuple[torch.Tensor, torch.Tensor]]) -> Trainer:
        """Train ``net`` (in place) on the environments ``envs`` (name -> ``(x, y)``) for ``steps`` steps.

        Checks the data first (see :mod:`causalphys.trainers.validation`; errors name the environment), then
        resumes from ``checkpoint_dir`` if it holds a checkpoint. Returns ``self``.
        """
        owner = type(self).__name__
        check_net(net, owner)
        names, input_shape = check_envs(envs, self.task, self.min_envs, owner)
        device = torch.device(self.device)
        if self.reset_net:
            reinitialize(net.to("cpu"), derive_seed(self.seed, "init"))
        net.to(device)
        dtype = next((p.dtype for p in net.parameters() if p.is_floating_point()), torch.get_default_dtype())
        data = []
        for name in names:
            x, y = envs[name]
            y = y.to(device, torch.long if self.task == "classification" else dtype)
            data.append((x.to(device, dtype), y))
        n_outputs = count_outputs(net, data[0][0], names[0], self.task)
        check_targets(dict(zip(names, data)), self.task, n_outputs)

        self.net_ = net
        self.data_ = self.data_digest({name: envs[name] for name in names}) if self.checkpoint_every else None
        self.env_names_ = names
        self.input_shape_ = input_shape
        self.n_outputs_ = n_outputs
        self.optimizer_ = self.build_optimizer(net.parameters())
        self.step_ = 0
        self.history_: list[dict[str, float]] = []
        self.batch_generator_ = make_generator(derive_seed(self.seed, "batches"))
        self.prepare(names)

        devices = [device.index or 0] if device.type == "cuda" else []
        self._fitting = True
        try:
            with torch.random.fork_rng(devices=devices):
                torch.manual_seed(derive_seed(self.seed, "train"))
                latest = ckpt_files.latest_checkpoint(self.checkpoint_dir) if self.checkpoint_every else None
                if latest is not None:
                    self._resume(latest)
                self._train(data)
                self._rng_state = self._global_rng_state()
        finally:
            self._fitting = False
        return self

    def data_digest(self, envs: Mapping[object, tuple[torch.Tensor, torch.Tensor]]) -> str:
        """What a checkpoint records of the training data (a resume on other data is refused): the digest of
        ``envs``; a learner trained on more than ``envs`` (views, pairs) adds those."""
        return ckpt_files.data_digest(envs)

    def _draw(self, data: list[Minibatch]) -> list[Minibatch]:
        """One minibatch per environment: ``batch_size`` indices drawn uniformly with replacement."""
        if self.batch_size is None:
            return data
        batches = []
        for x, y in data:
            idx = torch.randint(len(x), (self.batch_size,), generator=self.batch_generator_).to(x.device)
            batches.append((x[idx], y[idx]))
        return batches

    def _train(self, data: list[Minibatch]) -> None:
        self.net_.train()
        bar = tqdm(
            total=self.steps, initial=self.step_, disable=not self.progress, desc=type(self).__name__, unit="step"
        )
        with bar:
            while self.step_ < self.steps:
                metrics = self.update(self._draw(data))
                record = {"step": self.step_, **{k: float(v) for k, v in metrics.items()}}
                self.history_.append(record)
                self.step_ += 1
                bar.update(1)
                if "loss" in record:
                    bar.set_postfix(loss=f"{record['loss']:.4g}", refresh=False)
                if self.checkpoint_every and (self.step_ % self.checkpoint_every == 0 or self.step_ == self.steps):
                    path = ckpt_files.step_checkpoint_path(self.checkpoint_dir, self.step_)
                    self.save(path)
                    ckpt_files.remove_older_checkpoints(self.checkpoint_dir, self.step_)

    # ------------------------------------------------------------------------------------------------ predicting
    def _check_fitted(self, what: str) -> None:
        if getattr(self, "net_", None) is None:
            raise NotFittedError(f"{type(self).__name__}.{what} needs a net: call fit(net, envs) or load(path, net)")

    def _check_inputs(self, x: object, what: str) -> None:
        """``x`` must be a floating tensor ``(n, *input_shape_)`` — for a dense task ``(n, channels, ...)`` of any size
        (a fully convolutional net maps a whole recording as it mapped tiles); errors start with ``what``."""
        if not isinstance(x, torch.Tensor) or not x.is_floating_point():
            got = x.dtype if isinstance(x, torch.Tensor) else type(x).__name__
            raise DataTypeError(f"{what}: x must be a floating tensor, got {got}")
        if self.task == "dense":
            trained = tuple(self.input_shape_)
            if x.dim() != len(trained) + 1 or x.shape[1] != trained[0]:
                raise DataError(
                    f"{what}: x has per-sample shape {tuple(x.shape[1:])} but the net was trained on {trained} "
                    f"(a dense task takes any image size, with {trained[0]} channel(s))"
                )
            return
        if tuple(x.shape[1:]) != tuple(self.input_shape_):
            raise DataError(
                f"{what}: x has per-sample shape {tuple(x.shape[1:])} but the net was trained on "
                f"{tuple(self.input_shape_)}"
            )

    def predict(self, x: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
        """The net's outputs ``(n, n_outputs_)`` for ``x`` ``(n, *input_shape_)``: logits or regression values.

        Eval mode, no gradients, ``batch_size`` samples at a time on ``device``; returned on ``x``'s device.
        """
        self._check_fitted("predict")
        self._check_inputs(x, "predict")
        net = self.net_
        param = next(net.parameters(), None)
        device = param.device if param is not None else torch.device(self.device)
        dtype = param.dtype if param is not None else x.dtype
        with evaluating(net):
            outs = [self._outputs(chunk.to(device, dtype)).to(x.device) for chunk in x.split(batch_size)]
        if isinstance(self.n_outputs_, tuple):  # dense: the maps follow the input's size
            shape = (self.n_outputs_[0], *x.shape[2:])
        else:
            shape = (self.n_outputs_,)
        return torch.cat(outs) if outs else x.new_empty((0, *shape))

    def _outputs(self, x: torch.Tensor) -> torch.Tensor:
        """The outputs of one chunk for :meth:`predict` (in eval mode, no gradients): ``net_(x)``; a learner that
        predicts otherwise (e.g. through its own codes) overrides this, not ``predict``."""
        return self.net_(x)

    # ------------------------------------------------------------------------------------------------ checkpoints
    def _global_rng_state(self) -> dict[str, torch.Tensor]:
        state = {"torch": torch.get_rng_state()}
        device = torch.device(self.device)
        if device.type == "cuda":
            state["cuda"] = torch.cuda.get_rng_state(device)
        return state

    def state_dict(self) -> dict:
        """Everything a checkpoint holds, as plain data (see :meth:`save`)."""
        self._check_fitted("state_dict")
        rng = self._global_rng_state() if self._fitting else dict(self._rng_state)
        rng["batches"] = self.batch_generator_.get_state()
        return {
            "format": CHECKPOINT_FORMAT,
            "trainer": type(self).__name__,
            "hparams": ckpt_files.plain_data(self.get_params()),
            "step": self.step_,
            "net": self.net_.state_dict(),
            "optimizer": self.optimizer_.state_dict(),
            "history": self.history_,
            "env_names": [str(n) for n in self.env_names_],
            "input_shape": list(self.input_shape_),
            "n_outputs": self._stored_outputs(),
            "rng": rng,
            "extra": self.extra_state(),
            "data": getattr(self, "data_", None),
        }

    def save(self, path: str | os.PathLike) -> Path:
        """Write a checkpoint to ``path`` atomically (temporary file in the same folder, then ``os.replace``).

        It holds the net's and the optimizer's state, ``step_``, ``history_``, the hyper-parameters, the RNG states
        and :meth:`extra_state`; it loads with ``torch.load(..., weights_only=True)``.
        """
        return save_torch(self.state_dict(), path)

    def load(self, path: str | os.PathLike, net: nn.Module | None = None) -> Trainer:
        """Restore a checkpoint written by :meth:`save` into ``net`` (or into ``net_``); returns ``self``.

        The net must have the checkpoint's architecture; it is moved to ``device``. The trainer keeps its own
        hyper-parameters; the checkpoint must come from the same trainer class. This is for prediction and
        inspection: to continue an interrupted training run, ``fit`` with the same ``checkpoint_dir`` instead.
        """
        ckpt = ckpt_files.read_checkpoint(path)
        if ckpt["trainer"] != type(self).__name__:
            raise CheckpointError(f"{str(path)!r} was written by {ckpt['trainer']}, not {type(self).__name__}")
        if net is not None:
            self.net_ = net.to(torch.device(self.device))
            self.optimizer_ = self.build_optimizer(net.parameters())
        self._check_fitted("load")
        self._restore(ckpt, path)
        self.env_names_ = list(ckpt["env_names"])
        self._rng_state = {k: v for k, v in ckpt["rng"].items() if k != "batches"}
        return self

    def _restore(self, ckpt: dict, path: str | os.PathLike) -> None:
        try:
            self.net_.load_state_dict(ckpt["net"])
        except RuntimeError as e:
            raise CheckpointError(f"the net does not fit the checkpoint {str(path)!r}: {e}") from e
        if not hasattr(self, "optimizer_"):
            self.optimizer_ = self.build_optimizer(self.net_.parameters())
        try:
            self.optimizer_.load_state_dict(ckpt["optimizer"])
        except (ValueError, KeyError) as e:
            raise CheckpointError(f"the optimizer state of {str(path)!r} does not fit: {e}") from e
        self.step_ = int(ckpt["step"])
        self.history_ = list(ckpt["history"])
        self.input_shape_ = tuple(ckpt["input_shape"])
        stored = ckpt["n_outputs"]  # a dense task's per-sample output shape, as a list
        self.n_outputs_ = tuple(int(k) for k in stored) if isinstance(stored, list) else int(stored)
        self.batch_generator_ = make_generator(derive_seed(self.seed, "batches"))
        self.batch_generator_.set_state(ckpt["rng"]["batches"])
        self.load_extra_state(ckpt["extra"])

    def _stored_outputs(self) -> int | list[int]:
        """``n_outputs_`` as a checkpoint holds it: a number, or a dense task's output shape as a list."""
        return list(self.n_outputs_) if isinstance(self.n_outputs_, tuple) else self.n_outputs_

    def _resume(self, path: Path) -> None:
        """Continue an interrupted ``fit`` from ``path`` (inside ``fit``'s forked RNG)."""
        ckpt = ckpt_files.read_checkpoint(path)
        where = f"cannot resume from {str(path)!r}"
        if ckpt["trainer"] != type(self).__name__:
            raise CheckpointError(f"{where}: it was written by {ckpt['trainer']}, not {type(self).__name__}")
        current = {
            "hparams": ckpt_files.plain_data(self.get_params()),
            "env_names": [str(n) for n in self.env_names_],
            "input_shape": list(self.input_shape_),
            "n_outputs": self._stored_outputs(),
            "data": self.data_,
        }
        ckpt_files.check_resumable(ckpt, current, RESUMABLE_CHANGES, where)
        if ckpt["step"] > self.steps:
            raise CheckpointError(f"{where}: it is at step {ckpt['step']}, past steps={self.steps}")
        self._restore(ckpt, path)
        torch.set_rng_state(ckpt["rng"]["torch"])
        if "cuda" in ckpt["rng"] and torch.device(self.device).type == "cuda":
            torch.cuda.set_rng_state(ckpt["rng"]["cuda"], torch.device(self.device))
