"""Tiny tbvar shard directories for the training tests (written directly with numpy + json).

Task j is positive when motif j is planted in the sequence (each motif in ~40 % of them).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

MOTIFS = (np.array([1, 0, 3, 3, 0, 2, 0]),   # GATTACA
          np.array([2, 2, 1, 2, 1, 1, 2]),   # CCGCGGC
          np.array([3, 1, 0, 2, 1, 3, 0]))   # TGACGTA
SMALL_TBINET = {"n_kernels": 16, "kernel_width": 8, "pool_size": 4, "lstm_units": 8,
                "dense_units": 16}


def planted(n: int, length: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Random sequences ``(n, length)`` with planted motifs and their 0/1 labels ``(n, 3)``."""
    x = rng.integers(0, 4, size=(n, length), dtype=np.uint8)
    y = (rng.random((n, len(MOTIFS))) < 0.4).astype(np.uint8)
    for j, motif in enumerate(MOTIFS):
        for i in np.flatnonzero(y[:, j]):
            start = rng.integers(0, length - len(motif))
            x[i, start:start + len(motif)] = motif
    return x, y


def write_shards(directory: Path, n_train: int = 400, n_valid: int = 100, n_test: int = 100,
                 length: int = 100, seed: int = 0, rc_augment: bool = True,
                 tasks: list[dict] | None = None) -> Path:
    """Write a shard directory with planted-motif data; returns ``directory``."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    tasks = tasks or [{"index": j, "cell_type": "sim", "target": f"motif{j}", "treatment": "None"}
                      for j in range(len(MOTIFS))]
    sizes = {"train": n_train, "valid": n_valid, "test": n_test}
    for split, n in sizes.items():
        x, planted_y = planted(n, length, rng)
        y = np.zeros((n, len(tasks)), np.uint8)  # tasks beyond the motifs are all negative
        k = min(len(tasks), len(MOTIFS))
        y[:, :k] = planted_y[:, :k]
        np.save(directory / f"{split}.x.npy", x)
        np.save(directory / f"{split}.y.npy", y)
    meta = {"format": "tbvar-shards", "version": 1, "sequence_length": length,
            "n_tasks": len(tasks), "tasks": tasks, "splits": sizes,
            "train_rc_augment": rc_augment, "provenance": {"source": "tests", "seed": seed}}
    (directory / "meta.json").write_text(json.dumps(meta))
    return directory
