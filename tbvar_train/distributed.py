"""Process-group plumbing for data-parallel training under ``torchrun``.

One process per device: :func:`start` reads ``WORLD_SIZE``/``LOCAL_RANK``, picks the device and
joins the process group (NCCL on CUDA, gloo on CPU); the collectives here are no-ops for a
single process; :func:`shut_down` leaves the group cleanly.
"""

from __future__ import annotations

import gc
import hashlib
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from tbvar import scoring


@dataclass
class DistEnv:
    """This process' rank, the number of processes and its device."""

    rank: int
    world_size: int
    device: torch.device

    @property
    def main(self) -> bool:
        """Whether this is rank 0 (the process that writes files)."""
        return self.rank == 0


def resolve_device(device: str, local_rank: int = 0) -> torch.device:
    """:func:`tbvar.scoring.resolve_device`; a CUDA device without index → ``cuda:<local_rank>``."""
    resolved = scoring.resolve_device(device)
    if resolved.type == "cuda" and resolved.index is None:
        resolved = torch.device("cuda", local_rank)
    return resolved


def start(device_name: str) -> DistEnv:
    """Device and rank of this process; joins the process group when ``WORLD_SIZE`` > 1."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(device_name, local_rank)
    if world_size > 1 and not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed input shapes; exactness is a CPU promise
    rank = dist.get_rank() if world_size > 1 else 0
    return DistEnv(rank=rank, world_size=world_size, device=device)


def all_reduce(values: list[float], env: DistEnv) -> list[float]:
    """Sums of ``values`` over all ranks (float64)."""
    tensor = torch.tensor(values, dtype=torch.float64, device=env.device)
    if env.world_size > 1:
        dist.all_reduce(tensor)
    return tensor.tolist()


def barrier(env: DistEnv) -> None:
    """Wait until every rank gets here."""
    if env.world_size > 1:
        dist.barrier()


def rng_states(env: DistEnv) -> dict[str, torch.Tensor]:
    """Every rank's torch (and CUDA) RNG state, gathered on all ranks."""
    local = {"torch": torch.get_rng_state()}
    if env.device.type == "cuda":
        local["cuda"] = torch.cuda.get_rng_state(env.device)
    states = {}
    for name, state in local.items():
        if env.world_size == 1:
            states[f"{name}.rank0"] = state
            continue
        state = state.to(env.device)
        gathered = [torch.empty_like(state) for _ in range(env.world_size)]
        dist.all_gather(gathered, state)
        states.update({f"{name}.rank{r}": g.cpu() for r, g in enumerate(gathered)})
    return states


def weight_digests(model: nn.Module, env: DistEnv) -> list[str]:
    """SHA-256 of this rank's weights, gathered from all ranks (equal when in sync)."""
    digest = hashlib.sha256()
    for name, value in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(value.detach().cpu().contiguous().numpy().tobytes())
    local = torch.tensor(list(digest.digest()), dtype=torch.uint8, device=env.device)
    gathered = [local]
    if env.world_size > 1:
        gathered = [torch.empty_like(local) for _ in range(env.world_size)]
        dist.all_gather(gathered, local)
    return [bytes(t.cpu().tolist()).hex() for t in gathered]


def shut_down(env: DistEnv) -> None:
    """Destroy the process group once nothing refers to it any more.

    ``DistributedDataParallel`` sits in reference cycles, so without a collection its reducer
    (which owns the gloo/NCCL backend) lives on until interpreter shutdown, where freeing the
    backend's worker threads aborts the process ("terminate called without an active
    exception"). Collecting first frees it here, while the interpreter is intact.
    """
    if env.world_size > 1 and dist.is_initialized():
        gc.collect()
        dist.destroy_process_group()
