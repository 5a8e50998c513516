"""Training input from tbvar shards: memory-mapped, block-shuffled, prefetched, rank-sharded.

A shard directory (:mod:`tbvar_train.shards`) holds ``meta.json`` and, per split,
``{split}.x.npy`` (uint8 base codes ``(N, L)``, A=0 G=1 C=2 T=3 N=4) and ``{split}.y.npy``
(uint8 0/1 labels ``(N, T)``). The arrays are opened with ``np.load(mmap_mode="r")``, so memory
use does not depend on the dataset size (the DeepSEA training set is 4.4 GB of codes).

Sampling (training): the epoch order is a permutation of blocks of ``block_size`` contiguous
samples, then a shuffle inside each buffer of ``buffer_blocks`` blocks. Every batch therefore
reads from one buffer's region of the file (good page-cache locality) while the order is still
well mixed. With ``train_rc_augment`` the epoch runs over ``2N`` virtual samples: ``v < N`` is
sample ``v`` forward, ``v >= N`` the reverse complement of sample ``v - N``; the reverse
complement is made on the device. Batches travel as uint8 codes; models one-hot encode on the
device. A background thread reads the next batches (bounded queue) while the current one
computes. Ranks of a data-parallel job take interleaved slices of the same order, padded like
``DistributedSampler`` so every rank runs the same number of steps.

Evaluation splits (``shuffle=False``) are read in order and split into contiguous, unpadded
parts per rank, so summed losses over ranks are exact.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from tbvar.model import reverse_complement_codes
from tbvar.prefetch import prefetch
from tbvar.tasks import TASK_COLUMNS
from tbvar_train.shards import SPLITS, ShardError, load_split, read_meta


class ShardSplit:
    """One split of a shard directory, memory-mapped.

    Parameters
    ----------
    directory
        Shard directory.
    split
        ``"train"``, ``"valid"`` or ``"test"``.

    Attributes
    ----------
    x, y
        Read-only memory maps ``(N, L)`` and ``(N, T)`` (uint8).
    rc_augment
        True when reverse-complement copies are to be added on the fly (training split of a
        directory whose ``meta.json`` has ``train_rc_augment: true``).
    """

    def __init__(self, directory: str | Path, split: str) -> None:
        if split not in SPLITS:
            raise ShardError(f"unknown split {split!r}; expected one of {SPLITS}")
        self.directory = Path(directory)
        self.split = split
        self.meta = read_meta(directory)  # checks every split's arrays against meta.json
        if split not in self.meta["splits"]:
            raise ShardError(f"{self.directory / 'meta.json'}: no {split!r} split")
        self.x, self.y = load_split(directory, split)
        self.rc_augment = split == "train" and bool(self.meta["train_rc_augment"])

    def __len__(self) -> int:
        return int(self.x.shape[0])

    @property
    def tasks(self) -> pd.DataFrame:
        """Task table from ``meta.json`` (columns index, cell_type, target, treatment)."""
        tasks = pd.DataFrame(self.meta["tasks"])
        missing = [c for c in TASK_COLUMNS if c not in tasks.columns]
        if missing:
            raise ShardError(f"{self.directory / 'meta.json'}: tasks lack {missing}")
        return tasks[list(TASK_COLUMNS)].astype(
            {"index": int, "cell_type": str, "target": str, "treatment": str})

    @property
    def n_virtual(self) -> int:
        """Samples per epoch (doubled when reverse complements are added on the fly)."""
        return len(self) * (2 if self.rc_augment else 1)


def block_shuffled_order(n: int, seed: int, epoch: int, block_size: int = 1024,
                         buffer_blocks: int = 64) -> np.ndarray:
    """Permutation of ``range(n)``: shuffled blocks, then shuffled within buffers of blocks.

    Deterministic in ``(seed, epoch)``; every buffer of ``block_size * buffer_blocks``
    consecutive positions of the result holds the indices of ``buffer_blocks`` whole blocks
    (the last, possibly short, block always falls in the final, ragged buffer).
    """
    if block_size < 1 or buffer_blocks < 1:
        raise ValueError("block_size and buffer_blocks must be positive")
    rng = np.random.default_rng([seed, epoch])
    blocks = rng.permutation(n // block_size)
    order = np.concatenate([(blocks[:, None] * block_size + np.arange(block_size)).ravel(),
                            np.arange(len(blocks) * block_size, n)])  # short block last
    buffer = block_size * buffer_blocks
    n_full = len(order) // buffer * buffer
    head = rng.permuted(order[:n_full].reshape(-1, buffer), axis=1).ravel()
    return np.concatenate([head, rng.permutation(order[n_full:])])


@dataclass
class Batch:
    """A batch on the device: uint8 codes ``x`` (RC applied) and float32 labels ``y``."""

    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return int(self.x.shape[0])




class ShardLoader:
    """Batches of one split for one rank, read ahead by a background thread.

    Parameters
    ----------
    split
        The memory-mapped split.
    batch_size
        Samples per batch on this rank (the last batch may be smaller).
    shuffle
        Block-shuffled order (training) or file order (evaluation).
    seed
        Seed of the shuffled order (combined with the epoch, see :meth:`set_epoch`).
    rank, world_size
        Data-parallel position of this process.
    device
        Where batches go; on CUDA the host tensors are pinned and copied asynchronously.
    block_size, buffer_blocks
        Shuffle granularity, see :func:`block_shuffled_order`.
    prefetch
        Batches read ahead (queue size); 0 reads in the calling thread.
    """

    def __init__(self, split: ShardSplit, batch_size: int, *, shuffle: bool, seed: int = 0,
                 rank: int = 0, world_size: int = 1, device: str | torch.device = "cpu",
                 block_size: int = 1024, buffer_blocks: int = 64, prefetch: int = 4) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be positive")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} outside world size {world_size}")
        self.split, self.batch_size, self.shuffle = split, batch_size, shuffle
        self.seed, self.rank, self.world_size = seed, rank, world_size
        self.device = torch.device(device)
        self.block_size, self.buffer_blocks, self.prefetch = block_size, buffer_blocks, prefetch
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the shuffled order of ``epoch`` (like ``DistributedSampler.set_epoch``)."""
        self.epoch = epoch

    def indices(self) -> np.ndarray:
        """Virtual sample indices this rank visits in the current epoch, in order."""
        n = self.split.n_virtual
        if not self.shuffle:
            return np.arange(self.rank * n // self.world_size,
                             (self.rank + 1) * n // self.world_size)
        order = block_shuffled_order(n, self.seed, self.epoch, self.block_size,
                                     self.buffer_blocks)
        per_rank = math.ceil(n / self.world_size)
        order = np.resize(order, per_rank * self.world_size)  # pads by wrapping around
        return order[self.rank::self.world_size]

    def __len__(self) -> int:
        """Batches per epoch on this rank."""
        n = self.split.n_virtual
        per_rank = (math.ceil(n / self.world_size) if self.shuffle
                    else (self.rank + 1) * n // self.world_size - self.rank * n // self.world_size)
        return math.ceil(per_rank / self.batch_size)

    def _read(self, virtual: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        n = len(self.split)
        rows = virtual % n
        x = torch.from_numpy(np.ascontiguousarray(self.split.x[rows]))
        y = torch.from_numpy(np.ascontiguousarray(self.split.y[rows]))
        rc = torch.from_numpy(virtual >= n)
        if self.device.type == "cuda":
            x, y, rc = x.pin_memory(), y.pin_memory(), rc.pin_memory()
        return x, y, rc

    def _to_device(self, x: torch.Tensor, y: torch.Tensor, rc: torch.Tensor) -> Batch:
        x = x.to(self.device, non_blocking=True)
        if self.split.rc_augment:
            rc = rc.to(self.device, non_blocking=True)
            x = torch.where(rc[:, None], reverse_complement_codes(x), x)
        return Batch(x, y.to(self.device, non_blocking=True).float())

    def iterate(self, start: int = 0, stop: int | None = None) -> Iterator[Batch]:
        """Yield batches ``start..stop-1`` of the current epoch (resuming skips ``start``)."""
        order = self.indices()
        stop = len(self) if stop is None else min(stop, len(self))
        chunks = (order[i * self.batch_size:(i + 1) * self.batch_size]
                  for i in range(start, stop))
        for item in prefetch(chunks, self._read, self.prefetch):
            yield self._to_device(*item)
