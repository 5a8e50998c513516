"""tbvar shards: the on-disk dataset format shared by the data builders and the trainer.

Layout of a shard directory::

    DIR/meta.json        {"format": "tbvar-shards", "version": 1, "sequence_length": L,
                          "n_tasks": T, "tasks": [{"index", "cell_type", "target",
                          "treatment"}, ...], "splits": {"train": N1, "valid": N2, "test": N3},
                          "train_rc_augment": bool, "provenance": {...}}
    DIR/{split}.x.npy    uint8 (N, L) base codes A=0, G=1, C=2, T=3, N=4
    DIR/{split}.y.npy    uint8 (N, T) 0/1 labels

``valid`` and ``test`` hold forward sequences only (evaluation averages each prediction with the
reverse complement's, made on the fly). ``train_rc_augment`` says whether the trainer must add
reverse-complement copies of training sequences itself (``True``: ``prepare``/``simulate``
store forward strands only) or whether they are already stored (``False``: DeepSEA's train.mat).

:class:`ShardWriter` fills ``.npy`` memory maps in a hidden staging directory next to the
destination and renames it into place on :meth:`ShardWriter.commit`, so a shard directory
either is complete or does not exist, and memory stays bounded by the caller's chunk size.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tbvar.atomic import commit_directory, staging_directory

FORMAT = "tbvar-shards"
VERSION = 1
SPLITS = ("train", "valid", "test")
TASK_KEYS = ("index", "cell_type", "target", "treatment")


class ShardError(ValueError):
    """A shard directory is malformed, or data written to it are invalid."""


def _task_records(tasks: pd.DataFrame | Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    rows = tasks.to_dict("records") if isinstance(tasks, pd.DataFrame) else list(tasks)
    records = []
    for j, row in enumerate(rows):
        missing = [key for key in TASK_KEYS if key not in row]
        if missing:
            raise ShardError(f"task {j} lacks {', '.join(missing)}")
        records.append({"index": int(row["index"]), "cell_type": str(row["cell_type"]),
                        "target": str(row["target"]), "treatment": str(row["treatment"])})
    if not records:
        raise ShardError("a shard dataset needs at least one task")
    return records


class ShardWriter:
    """Write a tbvar shard directory incrementally and atomically.

    Parameters
    ----------
    out_dir
        Destination directory; it must not exist yet unless ``overwrite`` (an existing shard
        directory is then replaced on commit).
    sequence_length
        Length L of every input sequence.
    tasks
        One record per label column with keys ``index, cell_type, target, treatment``
        (a DataFrame or a list of mappings).
    splits
        Number of samples per split, e.g. ``{"train": 100, "valid": 10, "test": 10}``.
    train_rc_augment
        ``True`` when the trainer must add reverse-complement copies of ``train`` on the fly.
    provenance
        Free JSON describing where the data came from (files and sha256, command, parameters).
    overwrite
        Replace an existing directory at ``out_dir`` on commit.

    Use it as a context manager (the staging directory is removed if ``commit`` is not
    reached)::

        with ShardWriter(d, 1000, tasks, {"train": n, "valid": 0, "test": 0}, True, {}) as w:
            w.write("train", 0, x_codes, y)   # rows 0 .. len(x_codes) - 1 of train
            w.commit()
    """

    def __init__(self, out_dir: str | os.PathLike[str], sequence_length: int,
                 tasks: pd.DataFrame | Sequence[Mapping[str, Any]], splits: Mapping[str, int],
                 train_rc_augment: bool, provenance: Mapping[str, Any],
                 overwrite: bool = False) -> None:
        self.out_dir = Path(out_dir)
        unknown = set(splits) - set(SPLITS)
        if unknown:
            raise ShardError(f"unknown split(s) {sorted(unknown)}; use {SPLITS}")
        if int(sequence_length) < 1:
            raise ShardError("sequence_length must be positive")
        self.sequence_length = int(sequence_length)
        self.tasks = _task_records(tasks)
        self.splits = {name: int(splits.get(name, 0)) for name in SPLITS}
        if min(self.splits.values()) < 0:
            raise ShardError(f"negative split size in {self.splits}")
        self.meta = {"format": FORMAT, "version": VERSION,
                     "sequence_length": self.sequence_length, "n_tasks": len(self.tasks),
                     "tasks": self.tasks, "splits": self.splits,
                     "train_rc_augment": bool(train_rc_augment),
                     "provenance": json.loads(json.dumps(dict(provenance)))}
        #: Staging directory; extra files written here are committed with the shards.
        self.staging_dir = staging_directory(self.out_dir, overwrite)
        self._x: dict[str, np.memmap] = {}
        self._y: dict[str, np.memmap] = {}
        self._filled: dict[str, np.ndarray] = {}
        for name, n in self.splits.items():
            self._x[name] = np.lib.format.open_memmap(
                self.staging_dir / f"{name}.x.npy", mode="w+", dtype=np.uint8,
                shape=(n, self.sequence_length))
            self._y[name] = np.lib.format.open_memmap(
                self.staging_dir / f"{name}.y.npy", mode="w+", dtype=np.uint8,
                shape=(n, len(self.tasks)))
            self._filled[name] = np.zeros(n, dtype=bool)

    def write(self, split: str, start: int, x_codes: np.ndarray, y: np.ndarray) -> None:
        """Store rows ``start .. start + len(x_codes) - 1`` of ``split``.

        ``x_codes`` is uint8-compatible (n, L) with values 0..4; ``y`` is (n, T) with 0/1.
        """
        if split not in self._x:
            raise ShardError(f"unknown split {split!r}; use {SPLITS}")
        x_codes, y = np.asarray(x_codes), np.asarray(y)
        n = len(x_codes)
        if x_codes.shape != (n, self.sequence_length):
            raise ShardError(f"{split}: x has shape {x_codes.shape}, expected "
                             f"({n}, {self.sequence_length})")
        if y.shape != (n, len(self.tasks)):
            raise ShardError(f"{split}: y has shape {y.shape}, expected ({n}, {len(self.tasks)})")
        if start < 0 or start + n > self.splits[split]:
            raise ShardError(f"{split}: rows {start}..{start + n - 1} are outside "
                             f"0..{self.splits[split] - 1}")
        if n and (x_codes.min() < 0 or x_codes.max() > 4):
            raise ShardError(f"{split}: base codes must be 0..4")
        if n and not np.isin(y, (0, 1)).all():
            raise ShardError(f"{split}: labels must be 0 or 1")
        self._x[split][start:start + n] = x_codes
        self._y[split][start:start + n] = y
        self._filled[split][start:start + n] = True

    def commit(self) -> Path:
        """Check that every row was written, write ``meta.json`` and move the directory in."""
        for name, filled in self._filled.items():
            if not filled.all():
                raise ShardError(f"{self.out_dir}: split {name} has "
                                 f"{int((~filled).sum())} unwritten rows")
        for arrays in (self._x, self._y):
            for array in arrays.values():
                array.flush()
        self._x.clear()
        self._y.clear()
        with open(self.staging_dir / "meta.json", "w", encoding="utf-8") as handle:
            json.dump(self.meta, handle, indent=1)
            handle.write("\n")
        commit_directory(self.staging_dir, self.out_dir)
        return self.out_dir

    def abort(self) -> None:
        """Discard everything written so far."""
        self._x.clear()
        self._y.clear()
        shutil.rmtree(self.staging_dir, ignore_errors=True)

    def __enter__(self) -> ShardWriter:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if self.staging_dir.exists():
            self.abort()


def read_meta(shard_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Validated ``meta.json`` of a shard directory.

    Raises :class:`ShardError` naming the file when the format, version or a required key is
    wrong, or when an array file is missing or has the wrong shape/dtype.
    """
    path = Path(shard_dir) / "meta.json"
    try:
        with open(path, encoding="utf-8") as handle:
            meta = json.load(handle)
    except FileNotFoundError:
        raise ShardError(f"{path}: missing; {shard_dir} is not a tbvar shard directory") from None
    except json.JSONDecodeError as exc:
        raise ShardError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ShardError(f"{path}: format is not {FORMAT!r}")
    if meta.get("version") != VERSION:
        raise ShardError(f"{path}: unsupported version {meta.get('version')!r} (expected "
                         f"{VERSION})")
    for key in ("sequence_length", "n_tasks", "tasks", "splits", "train_rc_augment",
                "provenance"):
        if key not in meta:
            raise ShardError(f"{path}: lacks {key!r}")
    if len(meta["tasks"]) != meta["n_tasks"]:
        raise ShardError(f"{path}: n_tasks is {meta['n_tasks']} but {len(meta['tasks'])} "
                         "tasks are listed")
    for split, n in meta["splits"].items():
        expected = {"x": (n, meta["sequence_length"]), "y": (n, meta["n_tasks"])}
        for part, shape in expected.items():
            array_path = Path(shard_dir) / f"{split}.{part}.npy"
            try:
                array = np.load(array_path, mmap_mode="r")
            except (OSError, ValueError) as exc:
                raise ShardError(f"{array_path}: cannot be read ({exc})") from None
            if array.shape != shape or array.dtype != np.uint8:
                raise ShardError(f"{array_path}: {array.dtype} {array.shape}, expected uint8 "
                                 f"{shape}")
    return meta


def load_split(shard_dir: str | os.PathLike[str], split: str) -> tuple[np.ndarray, np.ndarray]:
    """Memory-mapped ``(x, y)`` arrays of one split (read-only)."""
    if split not in SPLITS:
        raise ShardError(f"unknown split {split!r}; use {SPLITS}")
    root = Path(shard_dir)
    return (np.load(root / f"{split}.x.npy", mmap_mode="r"),
            np.load(root / f"{split}.y.npy", mmap_mode="r"))


def command_line(argv: Sequence[str]) -> str:
    """The ``tbvar-train`` command line of a run, for provenance."""
    return "tbvar-train " + shlex.join(argv)


def file_provenance(path: str | os.PathLike[str], sha256: bool = True) -> dict[str, Any]:
    """``{"path", "size", "sha256"}`` of an input file (sha256 omitted when ``sha256=False``);
    the path is the file's name only, so that models trained on the data carry no paths of
    the machine that made it (size and checksum identify the content)."""
    from tbvar.checkpoint import file_sha256

    record: dict[str, Any] = {"path": os.path.basename(path), "size": os.path.getsize(path)}
    if sha256:
        record["sha256"] = file_sha256(path)
    return record
