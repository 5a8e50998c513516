"""Partial-run directory ``OUT.partial/``: finished chunks of a run, for atomic output and resume.

Every run that writes a file stores each finished chunk's encoded output parts here
(``chunk-000012.vcf``, ``chunk-000012.skipped``, ...) and, last, ``chunk-000012.json`` with the
chunk's counts; each file is written to a temporary name and renamed, so a chunk whose JSON
exists is complete. The final outputs are assembled from the parts in chunk order, renamed into
place, and the directory is removed. An interrupted or killed run leaves the directory (and no
output); ``--resume`` reuses its chunks when ``manifest.json`` shows the same input file (size,
modification time, SHA-256 of its first and last MiB), model, genome and options, so the
assembled output is byte-identical to an uninterrupted run.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tbvar.atomic import atomic_write

MANIFEST = "manifest.json"
FORMAT = "tbvar-partial-run"
VERSION = 2  # 2: Parquet outputs stage their chunks as Arrow IPC streams
_SAMPLE = 1 << 20


def input_fingerprint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Size, modification time and SHA-256 of the first and last MiB of a file."""
    stat = os.stat(path)
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        digest.update(handle.read(_SAMPLE))
        if stat.st_size > _SAMPLE:
            handle.seek(max(stat.st_size - _SAMPLE, _SAMPLE))
            digest.update(handle.read(_SAMPLE))
    return {"path": os.path.abspath(path), "size": stat.st_size,
            "mtime_ns": stat.st_mtime_ns, "sha256_ends": digest.hexdigest()}


def _write_atomic(path: Path, data: bytes) -> None:
    atomic_write(path, lambda tmp: tmp.write_bytes(data))


def partial_dir(output: str | os.PathLike[str]) -> Path:
    """``OUT.partial`` beside an output."""
    output = Path(output)
    return output.with_name(output.name + ".partial")


class PartDir:
    """The chunk files of a partial-run directory that another object manages: what a worker
    saving chunks into a run needs (:class:`PartialRun` creates, checks and removes the
    directory).

    Parameters
    ----------
    directory
        The partial-run directory (:func:`partial_dir` of the output).
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.dir = Path(directory)

    def _path(self, index: int, name: str) -> Path:
        return self.dir / f"chunk-{index:06d}.{name}"

    def done(self, index: int) -> bool:
        """Whether chunk ``index`` is complete."""
        return self._path(index, "json").exists()

    def save(self, index: int, parts: dict[str, bytes], info: dict[str, Any]) -> None:
        """Store a finished chunk: its output parts, then its ``info`` JSON (the commit mark)."""
        for name, data in parts.items():
            _write_atomic(self._path(index, name), data)
        _write_atomic(self._path(index, "json"), json.dumps(info, sort_keys=True).encode())

    def info(self, index: int) -> dict[str, Any]:
        """The info JSON of a finished chunk."""
        return json.loads(self._path(index, "json").read_text())


class PartialRun(PartDir):
    """The ``OUT.partial`` directory of one output.

    Parameters
    ----------
    output
        The final output path.
    key
        JSON-ready description of everything the output depends on.
    resume
        Reuse finished chunks of an earlier run with the same key; otherwise (or when the key
        differs) an existing directory is cleared.
    """

    def __init__(self, output: str | os.PathLike[str], key: dict[str, Any],
                 resume: bool = False) -> None:
        super().__init__(partial_dir(output))
        self.output = Path(output)
        self.key = {"format": FORMAT, "version": VERSION, **key}
        self.reused = 0
        self.stale_reason: str | None = None
        manifest = self.dir / MANIFEST
        if self.dir.exists():
            old = self._read_manifest(manifest)
            if resume and old == json.loads(json.dumps(self.key)):
                for leftover in self.dir.glob("*.tmp"):  # files, or an assembled dataset
                    if leftover.is_dir():
                        shutil.rmtree(leftover)
                    else:
                        leftover.unlink()
                self.reused = sum(1 for _ in self.dir.glob("chunk-*.json"))
                return
            if resume:
                self.stale_reason = ("it was made by a different input, model, genome or "
                                     "options" if old is not None else "it has no manifest")
            shutil.rmtree(self.dir)
        self.dir.mkdir()
        _write_atomic(manifest, json.dumps(self.key, indent=1, sort_keys=True).encode())

    def _read_manifest(self, manifest: Path) -> dict | None:
        if not self.dir.is_dir() or not (manifest.is_file() or not any(self.dir.iterdir())):
            raise OSError(f"{self.dir} exists and is not a tbvar partial-run directory; "
                          "move it away")
        try:
            old = json.loads(manifest.read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(old, dict) or old.get("format") != FORMAT:
            raise OSError(f"{self.dir} exists and is not a tbvar partial-run directory; "
                          "move it away")
        return old

    def parts(self, name: str, n_chunks: int) -> Iterator[Path]:
        """Paths of part ``name`` of chunks ``0 .. n_chunks-1``."""
        return (self._path(index, name) for index in range(n_chunks))

    @property
    def state_path(self) -> Path:
        """Where a run-level state (e.g. an accumulator) is kept."""
        return self.dir / "state.bin"

    def write_state(self, data: bytes) -> None:
        """Store a run-level state atomically, replacing the last one."""
        _write_atomic(self.state_path, data)

    def scratch(self, name: str) -> Path:
        """A path inside the directory for assembling an output before it is renamed."""
        return self.dir / f"assemble.{name}.tmp"

    def remove(self) -> None:
        """Delete the directory (after success, or after a run failed for good)."""
        shutil.rmtree(self.dir, ignore_errors=True)
