"""The training loop of ``tbvar-train fit``.

Defaults reproduce the TBiNet paper's reference training: binary cross-entropy, Adam
(lr 1e-3, β 0.9/0.999, ε 1e-7 as in Keras), batch 100, no weight decay, up to 60 epochs with
early stopping on the validation loss (patience 10); the best epoch's weights are exported.

- ``init_from``: start from the weights of a tbvar model file wherever name and shape match
  (:func:`tbvar_train.initialise.warm_start`), e.g. a TBiNet of another window length.
- Precision: ``auto`` = bf16 autocast on CUDA, fp32 on CPU; ``fp16`` (CUDA only) uses a
  gradient scaler. The loss is always computed in fp32.
- Checkpoints (:mod:`tbvar_train.checkpointing`) after every epoch and optionally every
  ``checkpoint_every`` steps; ``resume`` continues exactly: on CPU the final weights are
  bit-identical to an uninterrupted run with the same seed. The torch RNG is reseeded from
  ``(seed, epoch, rank)`` at every epoch start and its state saved for mid-epoch resumes.
- Data parallel: launched with ``torchrun`` (``WORLD_SIZE`` > 1) the model is wrapped in
  ``DistributedDataParallel`` (NCCL on CUDA, gloo on CPU). ``batch_size`` is per process; the
  effective batch is ``batch_size × world_size`` (the learning rate is not rescaled).
"""

from __future__ import annotations

import dataclasses
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from tbvar.architectures import architecture
from tbvar.checkpoint import load_model
from tbvar_train.architectures import build_model, make_config
from tbvar_train.checkpointing import (
    flatten_optimizer,
    load_checkpoint,
    save_checkpoint,
    unflatten_optimizer,
)
from tbvar_train.dataset import Batch, ShardLoader, ShardSplit
from tbvar_train.distributed import (
    DistEnv,
    all_reduce,
    barrier,
    rng_states,
    shut_down,
    start,
    weight_digests,
)
from tbvar_train.export import export_best, write_metrics
from tbvar_train.initialise import warm_start

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
_AMP_DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
#: Options that must not change when a run is resumed.
RESUME_FIXED = ("arch", "batch_size", "lr", "seed", "model_config", "max_steps_per_epoch",
                "init", "init_from")


@dataclass
class FitOptions:
    """Options of :func:`fit` (the ``tbvar-train fit`` command line)."""

    data: str
    out: str
    arch: str = "tbinet"
    init: str = "keras"
    epochs: int = 60
    patience: int = 10
    batch_size: int = 100
    lr: float = 1e-3
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"
    model_config: dict[str, Any] = field(default_factory=dict)
    init_from: str | None = None
    max_steps_per_epoch: int | None = None
    checkpoint_every: int = 0
    resume: bool = False
    prefetch: int = 4
    progress: bool | None = None


def resolve_precision(precision: str, device: torch.device) -> str:
    """``auto`` → ``bf16`` on CUDA, ``fp32`` elsewhere; ``fp16`` needs CUDA."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "auto":
        return "bf16" if device.type == "cuda" else "fp32"
    if precision == "fp16" and device.type != "cuda":
        raise ValueError("fp16 training needs a CUDA device (use fp32 or bf16 on CPU)")
    return precision


def make_optimizer(model: nn.Module, lr: float, device: torch.device) -> torch.optim.Adam:
    """The paper's Adam (β 0.9/0.999, ε 1e-7 as Keras, no weight decay); fused on CUDA."""
    return torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr,
                            betas=(0.9, 0.999), eps=1e-7, weight_decay=0.0,
                            fused=device.type == "cuda")


def train_step(model: nn.Module, batch: Batch, optimizer: torch.optim.Optimizer,
               scaler: torch.amp.GradScaler | None, amp_dtype: torch.dtype | None
               ) -> torch.Tensor:
    """One optimisation step on ``batch``; returns the (detached) mean BCE loss."""
    with torch.autocast(batch.x.device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
        logits, _ = model(batch.x)
    loss = nn.functional.binary_cross_entropy_with_logits(logits.float(), batch.y)
    optimizer.zero_grad(set_to_none=True)
    if scaler is None:
        loss.backward()
        optimizer.step()
    else:
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
    return loss.detach()


@torch.no_grad()
def validation_loss(model: nn.Module, loader: ShardLoader, amp_dtype: torch.dtype | None,
                    env: DistEnv) -> float:
    """Mean BCE over the whole split (exact over ranks: sums are all-reduced)."""
    model.eval()
    total = torch.zeros((), dtype=torch.float64, device=env.device)
    count = 0
    for batch in loader.iterate():
        with torch.autocast(batch.x.device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            logits, _ = model(batch.x)
        losses = nn.functional.binary_cross_entropy_with_logits(logits.float(), batch.y,
                                                               reduction="none")
        total += losses.mean(dim=1).double().sum()
        count += len(batch)
    loss_sum, n = all_reduce([total.item(), count], env)
    return loss_sum / max(n, 1)


def _seed_epoch(seed: int, epoch: int, rank: int) -> None:
    torch.manual_seed(int(np.random.SeedSequence([seed, epoch, rank]).generate_state(1)[0]))


class _Trainer:
    """State and steps of one run (one process of a possibly distributed job)."""

    def __init__(self, options: FitOptions, env: DistEnv) -> None:
        self.options, self.env = options, env
        self.precision = resolve_precision(options.precision, env.device)
        self.amp_dtype = _AMP_DTYPES[self.precision]
        self.train_split = ShardSplit(options.data, "train")
        valid_split = ShardSplit(options.data, "valid")
        if len(valid_split) == 0:
            raise ValueError(f"{options.data}: the valid split is empty (needed for early "
                             "stopping and for choosing the best epoch)")
        meta = self.meta = self.train_split.meta
        self.config = make_config(options.arch, meta["sequence_length"], meta["n_tasks"],
                                  options.model_config)
        torch.manual_seed(options.seed)
        self.model = build_model(self.config, options.init)
        if options.init_from:
            warm_start(self.model, load_model(options.init_from)[0])
        self.model.to(env.device)
        self.optimizer = make_optimizer(self.model, options.lr, env.device)
        self.scaler = torch.amp.GradScaler("cuda") if self.precision == "fp16" else None
        self.out = Path(options.out)
        self.checkpoint_path = self.out / "checkpoint.safetensors"
        loader_args = dict(rank=env.rank, world_size=env.world_size, device=env.device,
                           prefetch=options.prefetch)
        self.train_loader = ShardLoader(self.train_split, options.batch_size, shuffle=True,
                                        seed=options.seed, **loader_args)
        self.valid_loader = ShardLoader(valid_split, options.batch_size, shuffle=False,
                                        **loader_args)
        self.steps = len(self.train_loader)
        if options.max_steps_per_epoch:
            self.steps = min(self.steps, options.max_steps_per_epoch)
        self.best: dict[str, torch.Tensor] | None = None
        self.state: dict[str, Any] = {
            "epoch": 0, "step": 0, "best_valid_loss": None, "best_epoch": None,
            "bad_epochs": 0, "stopped": False, "history": [], "partial_loss": [0.0, 0.0],
            "epoch_seconds": 0.0, "world_size": env.world_size, "precision": self.precision,
            "options": dataclasses.asdict(options), "config": self.config.to_dict(),
            "data": {k: meta[k] for k in ("sequence_length", "n_tasks", "splits")},
        }

    # -- checkpoints -------------------------------------------------------------------------
    def save(self) -> None:
        """Write the checkpoint (collective: every rank must call it)."""
        rng = rng_states(self.env)
        if not self.env.main:
            return
        optim_tensors, optim_doc = flatten_optimizer(self.optimizer.state_dict())
        groups = {"model": self.model.state_dict(), "optim": optim_tensors, "rng": rng}
        if self.best is not None:
            groups["best"] = self.best
        state = dict(self.state, optimizer=optim_doc,
                     scaler=self.scaler.state_dict() if self.scaler else None)
        save_checkpoint(self.checkpoint_path, groups, state)

    def restore(self) -> None:
        """Load the checkpoint; refuse one from a run with different fixed options."""
        groups, saved = load_checkpoint(self.checkpoint_path)
        now = dataclasses.asdict(self.options)
        changed = [k for k in RESUME_FIXED if saved["options"].get(k) != now[k]]
        for key in ("data", "precision"):
            if saved[key] != self.state[key]:
                changed.append(key)
        if changed:
            raise ValueError(f"{self.checkpoint_path}: cannot resume, {changed} differ from "
                             "the checkpointed run (use a new --out to start another run)")
        if saved["step"] and saved["world_size"] != self.env.world_size:
            raise ValueError(f"{self.checkpoint_path}: written mid-epoch by "
                             f"{saved['world_size']} processes; resume with the same number")
        self.model.load_state_dict(groups["model"])
        self.optimizer.load_state_dict(unflatten_optimizer(groups.get("optim", {}),
                                                           saved.pop("optimizer")))
        scaler_state = saved.pop("scaler")
        if self.scaler is not None and scaler_state:
            self.scaler.load_state_dict(scaler_state)
        self.best = groups.get("best")
        if saved["step"]:
            rng = groups["rng"]
            torch.set_rng_state(rng[f"torch.rank{self.env.rank}"])
            if self.env.device.type == "cuda":
                torch.cuda.set_rng_state(rng[f"cuda.rank{self.env.rank}"], self.env.device)
            if not self.env.main:  # the saved partial loss is the sum over ranks
                saved["partial_loss"] = [0.0, 0.0]
        saved.update(options=now, world_size=self.env.world_size)
        self.state = saved

    # -- training ----------------------------------------------------------------------------
    def run_epoch(self, model: nn.Module) -> None:
        """Train the rest of the current epoch, validate, update early stopping, checkpoint."""
        state, options, env = self.state, self.options, self.env
        epoch = state["epoch"]
        self.train_loader.set_epoch(epoch)
        if state["step"] == 0:
            _seed_epoch(options.seed, epoch, env.rank)
            state["partial_loss"], state["epoch_seconds"] = [0.0, 0.0], 0.0
        loss_sum = torch.tensor(state["partial_loss"][0], dtype=torch.float64, device=env.device)
        count = state["partial_loss"][1]
        model.train()
        quiet = not env.main or options.progress is False
        bar = tqdm(total=self.steps, initial=state["step"], unit="batch",
                   desc=f"epoch {epoch + 1}/{options.epochs}",
                   disable=True if quiet else (None if options.progress is None else False))
        start, seen = time.perf_counter(), 0
        for step, batch in enumerate(self.train_loader.iterate(state["step"], self.steps),
                                     start=state["step"]):
            loss = train_step(model, batch, self.optimizer, self.scaler, self.amp_dtype)
            loss_sum += loss.double() * len(batch)
            count += len(batch)
            seen += len(batch) * env.world_size
            bar.update(1)
            if (step + 1) % 20 == 0 or step + 1 == self.steps:
                rate = seen / max(time.perf_counter() - start, 1e-9)
                bar.set_postfix(loss=f"{loss_sum.item() / count:.4f}", samples_s=f"{rate:.0f}")
            if options.checkpoint_every and (step + 1) % options.checkpoint_every == 0 \
                    and step + 1 < self.steps:
                state["step"] = step + 1
                state["partial_loss"] = all_reduce([loss_sum.item(), count], env)
                state["epoch_seconds"] += time.perf_counter() - start
                start, seen = time.perf_counter(), 0
                self.save()
        bar.close()
        state["epoch_seconds"] += time.perf_counter() - start
        train_sum, train_count = all_reduce([loss_sum.item(), count], env)
        valid_loss = validation_loss(model, self.valid_loader, self.amp_dtype, env)
        improved = state["best_valid_loss"] is None or valid_loss < state["best_valid_loss"]
        if improved:
            self.best = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
            state.update(best_valid_loss=valid_loss, best_epoch=epoch + 1, bad_epochs=0)
        else:
            state["bad_epochs"] += 1
        seconds = state["epoch_seconds"]
        state["history"].append({
            "epoch": epoch + 1, "train_loss": train_sum / max(train_count, 1),
            "valid_loss": valid_loss, "best_valid_loss": state["best_valid_loss"],
            "improved": improved, "train_samples": int(train_count),
            "seconds": seconds, "samples_per_s": train_count / max(seconds, 1e-9),
            "lr": self.optimizer.param_groups[0]["lr"]})
        state.update(epoch=epoch + 1, step=0, stopped=state["bad_epochs"] >= options.patience)
        self.save()
        if env.main:
            write_metrics(self.out, state["history"])
            row = state["history"][-1]
            print(f"epoch {row['epoch']}: train loss {row['train_loss']:.5f}, valid loss "
                  f"{valid_loss:.5f}{' (best)' if improved else ''}, "
                  f"{row['samples_per_s']:.0f} samples/s", file=sys.stderr)


def fit(options: FitOptions) -> dict[str, Any]:
    """Train a model on a tbvar shard directory and export the best epoch.

    Writes ``checkpoint.safetensors``, ``metrics.csv``, ``metrics.json`` and the tbvar model
    file ``model.safetensors`` (any architecture) to ``options.out``. Under ``torchrun`` every
    process calls this; rank 0 writes the files.

    Returns
    -------
    dict
        Summary: epochs run, best epoch and validation loss, output paths, weight digests of
        all ranks (identical when the ranks stayed synchronised).
    """
    architecture(options.arch)  # an unknown name is a ValueError before any work
    if options.epochs < 1 or options.patience < 1 or options.batch_size < 1:
        raise ValueError("epochs, patience and batch size must be positive")
    env = start(options.device)
    try:
        return _train_and_export(options, env)
    finally:
        shut_down(env)


def _train_and_export(options: FitOptions, env: DistEnv) -> dict[str, Any]:
    trainer = _Trainer(options, env)
    if env.main:
        trainer.out.mkdir(parents=True, exist_ok=True)
    found = options.resume and trainer.checkpoint_path.exists()
    if all_reduce([float(found)], env)[0] not in (0, env.world_size):
        raise ValueError(f"{trainer.checkpoint_path} is visible to some ranks only; "
                         "--out must be on a file system shared by all nodes")
    if found:
        trainer.restore()
    model: nn.Module = trainer.model
    if env.world_size > 1:
        model = nn.parallel.DistributedDataParallel(
            model, device_ids=[env.device] if env.device.type == "cuda" else None)
    while trainer.state["epoch"] < options.epochs and not trainer.state["stopped"]:
        trainer.run_epoch(model)
    digests = weight_digests(trainer.model, env)
    summary = {
        "epochs_run": trainer.state["epoch"], "early_stopped": trainer.state["stopped"],
        "best_epoch": trainer.state["best_epoch"],
        "best_valid_loss": trainer.state["best_valid_loss"],
        "world_size": env.world_size, "precision": trainer.precision,
        "device": str(env.device), "rank_weight_sha256": digests,
        "ranks_in_sync": len(set(digests)) == 1,
    }
    if env.main:
        summary["model"] = str(export_best(trainer, options))
        write_metrics(trainer.out, trainer.state["history"], summary)
    barrier(env)  # no rank tears down its connections while rank 0 is still exporting
    return summary
