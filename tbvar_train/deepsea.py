"""DeepSEA training bundle (Zhou & Troyanskaya 2015) → tbvar shards.

The bundle (``deepsea_train/``) holds three MATLAB files:

* ``train.mat`` — MATLAB v7.3 (HDF5): ``trainxdata`` with HDF5 shape (1000, 4, N) (MATLAB's
  column-major (N, 4, 1000) seen from C order) and ``traindata`` (919, N); N = 4,400,000
  including reverse-complement copies. It is streamed in chunks along N (never loaded whole).
* ``valid.mat``, ``test.mat`` — MATLAB v5 (``scipy.io.loadmat``): ``validxdata`` /
  ``testxdata`` (N, 4, 1000) and ``validdata`` / ``testdata`` (N, 919). The first half holds
  forward sequences and the second half their reverse complements in the same order; only the
  forward half is kept (checked on a sample), since evaluation adds RCs on the fly.

One-hot channels are in A, G, C, T order; an all-zero column is N. TBiNet's 690 labels are
DeepSEA columns 125..814 (``--all-919`` keeps every column).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from tbvar.tasks import TBINET_FIRST_DEEPSEA_COLUMN, deepsea_features, tbinet_tasks
from tbvar_train.shards import ShardWriter, command_line, file_provenance

N_DEEPSEA_FEATURES = 919
N_TBINET_TASKS = 690
BUNDLE_FILES = ("train.mat", "valid.mat", "test.mat")
CHUNK = 8192  # training samples per HDF5 read (~33 MB of one-hot at L = 1000)
RC_CHECK_SAMPLE = 256


class DeepSEAFormatError(ValueError):
    """A DeepSEA bundle file is missing or does not have the expected layout."""


def find_bundle(bundle: str | os.PathLike[str]) -> Path:
    """Directory holding ``train.mat``, ``valid.mat`` and ``test.mat``.

    ``bundle`` may be that directory or its parent (the tarball unpacks to ``deepsea_train/``).
    """
    root = Path(bundle)
    for candidate in (root, root / "deepsea_train"):
        if all((candidate / name).is_file() for name in BUNDLE_FILES):
            return candidate
    raise DeepSEAFormatError(f"{root}: no {', '.join(BUNDLE_FILES)} here or in "
                             f"{root / 'deepsea_train'} (run `tbvar-train fetch deepsea`)")


def onehot_to_codes(onehot: np.ndarray, axis: int, where: str) -> np.ndarray:
    """Base codes (uint8) of a one-hot array whose ``axis`` has the 4 channels A, G, C, T.

    The channel axis is removed; all-zero columns become N (4). More than one set channel
    raises :class:`DeepSEAFormatError` mentioning ``where``.
    """
    onehot = np.moveaxis(np.asarray(onehot), axis, 0)
    if onehot.shape[0] != 4:
        raise DeepSEAFormatError(f"{where}: one-hot axis has {onehot.shape[0]} channels, not 4")
    channels = [np.asarray(c, dtype=np.uint8) for c in onehot]
    if any(c.max(initial=0) > 1 for c in channels):
        raise DeepSEAFormatError(f"{where}: one-hot values other than 0/1")
    total = channels[0] + channels[1] + channels[2] + channels[3]
    if total.max(initial=0) > 1:
        raise DeepSEAFormatError(f"{where}: a position has more than one base set")
    codes = channels[1] + 2 * channels[2] + 3 * channels[3]
    codes[total == 0] = 4
    return codes


def reverse_complement(codes: np.ndarray) -> np.ndarray:
    """Reverse complement of (..., L) base codes (A↔T, G↔C, N stays N)."""
    complement = np.array([3, 2, 1, 0, 4], dtype=np.uint8)
    return complement[codes[..., ::-1]]


def label_columns(all_919: bool) -> slice:
    """DeepSEA label columns kept: all 919 or TBiNet's 125..814."""
    if all_919:
        return slice(0, N_DEEPSEA_FEATURES)
    return slice(TBINET_FIRST_DEEPSEA_COLUMN, TBINET_FIRST_DEEPSEA_COLUMN + N_TBINET_TASKS)


def _labels(y: np.ndarray, columns: slice, where: str) -> np.ndarray:
    if y.shape[1] != N_DEEPSEA_FEATURES:
        raise DeepSEAFormatError(f"{where}: {y.shape[1]} label columns, expected "
                                 f"{N_DEEPSEA_FEATURES}")
    y = y[:, columns]
    if not np.isin(y, (0, 1)).all():
        raise DeepSEAFormatError(f"{where}: labels other than 0/1")
    return y.astype(np.uint8)


def read_forward_split(path: str | os.PathLike[str], split: str, columns: slice,
                       seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Forward-strand codes (N/2, L) and labels of ``valid.mat`` / ``test.mat``.

    Checks, on a seeded sample of pairs, that row ``i + N/2`` is the reverse complement of row
    ``i`` with identical labels; raises :class:`DeepSEAFormatError` otherwise.
    """
    from scipy.io import loadmat

    try:
        mat = loadmat(str(path), variable_names=[f"{split}xdata", f"{split}data"])
    except (OSError, ValueError, NotImplementedError) as exc:
        raise DeepSEAFormatError(f"{path}: cannot be read as MATLAB v5 ({exc})") from None
    for key in (f"{split}xdata", f"{split}data"):
        if key not in mat:
            raise DeepSEAFormatError(f"{path}: no variable {key!r}")
    x, y = mat[f"{split}xdata"], mat[f"{split}data"]
    if x.ndim != 3 or x.shape[1] != 4 or y.ndim != 2 or len(x) != len(y):
        raise DeepSEAFormatError(f"{path}: {split}xdata {x.shape} / {split}data {y.shape}; "
                                 "expected (N, 4, L) and (N, 919)")
    if len(x) % 2:
        raise DeepSEAFormatError(f"{path}: odd number of samples ({len(x)}); expected forward "
                                 "sequences followed by their reverse complements")
    half = len(x) // 2
    rng = np.random.default_rng(seed)
    sample = np.sort(rng.choice(half, size=min(half, RC_CHECK_SAMPLE), replace=False))
    fwd = onehot_to_codes(x[sample], 1, f"{path}:{split}xdata")
    rev = onehot_to_codes(x[sample + half], 1, f"{path}:{split}xdata")
    bad = np.flatnonzero((reverse_complement(fwd) != rev).any(axis=1)
                         | (y[sample] != y[sample + half]).any(axis=1))
    if bad.size:
        i = int(sample[bad[0]])
        raise DeepSEAFormatError(f"{path}: sample {i + half} is not the reverse complement of "
                                 f"sample {i} (or their labels differ); expected the second "
                                 "half to be reverse complements of the first")
    codes = np.concatenate([onehot_to_codes(x[i:min(i + CHUNK, half)], 1,
                                            f"{path}:{split}xdata samples {i}..")
                            for i in range(0, half, CHUNK)] or [fwd[:0]])
    return codes, _labels(y[:half], columns, f"{path}:{split}data")


class TrainMat:
    """Chunked reader of DeepSEA's ``train.mat`` (MATLAB v7.3 / HDF5).

    Use as a context manager; :meth:`chunks` yields ``(start, codes (n, L), labels (n, T))``.
    """

    def __init__(self, path: str | os.PathLike[str], columns: slice) -> None:
        import h5py

        self.path = str(path)
        self.columns = columns
        try:
            self._file = h5py.File(self.path, "r")
        except OSError as exc:
            raise DeepSEAFormatError(f"{self.path}: cannot be read as MATLAB v7.3/HDF5 "
                                     f"({exc})") from None
        for key in ("trainxdata", "traindata"):
            if key not in self._file:
                self.close()
                raise DeepSEAFormatError(f"{self.path}: no dataset {key!r}")
        self.x, self.y = self._file["trainxdata"], self._file["traindata"]
        if (self.x.ndim != 3 or self.x.shape[1] != 4 or self.y.ndim != 2
                or self.x.shape[2] != self.y.shape[1]):
            shapes = f"trainxdata {self.x.shape} / traindata {self.y.shape}"
            self.close()
            raise DeepSEAFormatError(f"{self.path}: {shapes}; expected (L, 4, N) and (919, N)")
        self.sequence_length, _, self.n_samples = self.x.shape

    def chunks(self, chunk: int = CHUNK):
        """Yield ``(start, codes, labels)`` for consecutive blocks of ``chunk`` samples."""
        for start in range(0, self.n_samples, chunk):
            end = min(start + chunk, self.n_samples)
            where = f"{self.path}: samples {start}..{end - 1}"
            codes = onehot_to_codes(self.x[:, :, start:end], 1, where).T
            labels = _labels(np.asarray(self.y[:, start:end]).T, self.columns, where)
            yield start, np.ascontiguousarray(codes), labels

    def close(self) -> None:
        """Close the HDF5 file."""
        self._file.close()

    def __enter__(self) -> TrainMat:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def convert_deepsea(bundle: str | os.PathLike[str], out_dir: str | os.PathLike[str],
                    all_919: bool = False, chunk: int = CHUNK, hash_inputs: bool = True,
                    overwrite: bool = False, progress: bool = True,
                    command: str | None = None) -> dict[str, Any]:
    """Convert the DeepSEA bundle to tbvar shards; returns the written ``meta.json`` content.

    ``train`` keeps DeepSEA's stored reverse-complement copies (``train_rc_augment = False``);
    ``valid``/``test`` keep their forward halves.
    """
    from tqdm import tqdm

    root = find_bundle(bundle)
    columns = label_columns(all_919)
    tasks = deepsea_features() if all_919 else tbinet_tasks()
    tasks = tasks[["index", "cell_type", "target", "treatment"]]
    valid_x, valid_y = read_forward_split(root / "valid.mat", "valid", columns)
    test_x, test_y = read_forward_split(root / "test.mat", "test", columns)
    with TrainMat(root / "train.mat", columns) as train:
        for name, codes in (("valid.mat", valid_x), ("test.mat", test_x)):
            if codes.shape[1] != train.sequence_length:
                raise DeepSEAFormatError(f"{root / name}: sequence length {codes.shape[1]} "
                                         f"differs from train.mat's {train.sequence_length}")
        provenance = {
            "source": "DeepSEA training bundle (Zhou & Troyanskaya 2015), GRCh37",
            "files": {name: file_provenance(root / name, hash_inputs) for name in BUNDLE_FILES},
            "label_columns": [columns.start, columns.stop],
            "valid_test": "forward halves of valid.mat/test.mat (second halves are their RCs)",
            "command": command,
        }
        splits = {"train": train.n_samples, "valid": len(valid_x), "test": len(test_x)}
        with ShardWriter(out_dir, train.sequence_length, tasks, splits, False, provenance,
                         overwrite=overwrite) as writer:
            writer.write("valid", 0, valid_x, valid_y)
            writer.write("test", 0, test_x, test_y)
            del valid_x, valid_y, test_x, test_y
            bar = tqdm(total=train.n_samples, unit="seq", desc="train.mat",
                       disable=not progress)
            for start, codes, labels in train.chunks(chunk):
                writer.write("train", start, codes, labels)
                bar.update(len(codes))
            bar.close()
            writer.commit()
            return writer.meta


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``convert-deepsea`` to the ``tbvar-train`` parser."""
    parser = subparsers.add_parser(
        "convert-deepsea", help="convert DeepSEA's train/valid/test .mat files to tbvar shards",
        description="Stream DeepSEA's bundle (train.mat v7.3, valid/test.mat v5) into tbvar "
                    "shards (uint8 base codes, TBiNet's 690 labels unless --all-919).")
    parser.add_argument("--bundle", required=True,
                        help="directory with train.mat, valid.mat, test.mat (or its parent)")
    parser.add_argument("--out", required=True, help="shard directory to create")
    parser.add_argument("--all-919", action="store_true",
                        help="keep all 919 DeepSEA labels (default: TBiNet's columns 125..814)")
    parser.add_argument("--chunk", type=int, default=CHUNK, help="samples per HDF5 read")
    parser.add_argument("--no-sha256", action="store_true",
                        help="do not hash the input files for the provenance record")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    meta = convert_deepsea(args.bundle, args.out, all_919=args.all_919, chunk=args.chunk,
                           hash_inputs=not args.no_sha256, overwrite=args.overwrite,
                           progress=sys.stderr.isatty(), command=command_line(args.argv))
    print(f"wrote {args.out}: {meta['splits']} samples, {meta['n_tasks']} tasks, "
          f"L = {meta['sequence_length']}", file=sys.stderr)
    return 0
