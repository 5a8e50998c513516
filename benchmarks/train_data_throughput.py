"""Throughput of the dataset builders (prints JSON; not a test).

* ``convert-deepsea``: a synthetic ``train.mat`` in DeepSEA's HDF5 layout, stored contiguous
  and chunked + gzip (MATLAB v7.3 compresses by default; the real file's chunk shape is not
  known here), streamed to shards; reports samples/s and the implied time for 4.4M samples.
* ``prepare``: a random genome with random peaks per task.
* ``simulate``: the default 8-task planted-motif dataset.

Usage: ``python benchmarks/train_data_throughput.py [--n-train 20000]``
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np
import scipy.io

from tbvar_train.deepsea import convert_deepsea
from tbvar_train.prepare import prepare_dataset
from tbvar_train.simulate import simulate_dataset

DEEPSEA_TRAIN = 4_400_000


def _bundle(root: Path, n: int, chunked: bool, rng: np.random.Generator) -> Path:
    bundle = root / ("chunked" if chunked else "contiguous")
    bundle.mkdir()
    codes = rng.integers(0, 4, size=(n, 1000))
    onehot = np.zeros((1000, 4, n), dtype=np.uint8)  # HDF5 (L, 4, N) as MATLAB writes
    onehot[np.arange(1000)[:, None], codes.T, np.arange(n)[None, :]] = 1
    options = {"chunks": (1000, 4, 256), "compression": "gzip", "compression_opts": 3} \
        if chunked else {}
    with h5py.File(bundle / "train.mat", "w", userblock_size=512) as h5:
        h5.create_dataset("trainxdata", data=onehot, **options)
        h5.create_dataset("traindata", data=rng.integers(0, 2, size=(919, n), dtype=np.uint8))
    small = np.transpose(onehot[:, :, :4], (2, 1, 0))
    for split in ("valid", "test"):
        rc = small[:, ::-1, ::-1]
        scipy.io.savemat(bundle / f"{split}.mat", {
            f"{split}xdata": np.concatenate([small, rc]),
            f"{split}data": np.zeros((8, 919), dtype=np.uint8)})
    return bundle


def bench_convert(root: Path, n: int) -> dict[str, float]:
    rng = np.random.default_rng(0)
    out = {}
    for chunked in (False, True):
        bundle = _bundle(root, n, chunked, rng)
        start = time.perf_counter()
        convert_deepsea(bundle, root / f"shards-{chunked}", progress=False, hash_inputs=False)
        rate = n / (time.perf_counter() - start)
        name = "chunked_gzip" if chunked else "contiguous"
        out[f"convert_{name}_samples_per_s"] = round(rate)
        out[f"convert_{name}_deepsea_train_minutes"] = round(DEEPSEA_TRAIN / rate / 60, 1)
    return out


def bench_prepare(root: Path) -> dict[str, float]:
    rng = np.random.default_rng(1)
    lengths = {"chr1": 30_000_000, "chr7": 10_000_000, "chr8": 5_000_000, "chr9": 5_000_000}
    with open(root / "g.fa", "w") as fasta:
        for name, length in lengths.items():
            seq = np.frombuffer(b"ACGT", np.uint8)[rng.integers(0, 4, length)].tobytes()
            fasta.write(f">{name}\n{seq.decode()}\n")
    rows = ["path\tcell_type\ttarget\ttreatment"]
    n_tasks, n_peaks = 50, 20_000
    for j in range(n_tasks):
        chrom = rng.choice(list(lengths), size=n_peaks)
        start = (rng.random(n_peaks) * np.array([lengths[c] for c in chrom]) * 0.99).astype(int)
        width = rng.integers(150, 400, size=n_peaks)
        lines = [f"{c}\t{s}\t{s + w}" for c, s, w in zip(chrom, start, width, strict=True)]
        (root / f"p{j}.bed").write_text("\n".join(lines) + "\n")
        rows.append(f"p{j}.bed\tcell\tTF{j}\tNone")
    (root / "tasks.tsv").write_text("\n".join(rows) + "\n")
    prepare_dataset(root / "g.fa", root / "tasks.tsv", root / "warm", cache_dir=root / "c",
                    hash_inputs=False, chroms=["chr8"], valid_chrom=None, test_chroms=())
    start = time.perf_counter()  # genome already encoded in the cache
    counts = prepare_dataset(root / "g.fa", root / "tasks.tsv", root / "prep",
                             cache_dir=root / "c", hash_inputs=False)
    seconds = time.perf_counter() - start
    return {"prepare_genome_mb": sum(lengths.values()) / 1e6, "prepare_tasks": n_tasks,
            "prepare_peaks_per_task": n_peaks, "prepare_samples": counts["kept"],
            "prepare_seconds": round(seconds, 2),
            "prepare_bins_per_s": round(counts["bins"] / seconds)}


def bench_simulate(root: Path, n_train: int) -> dict[str, float]:
    start = time.perf_counter()
    simulate_dataset(root / "sim", n_train=n_train)
    seconds = time.perf_counter() - start
    return {"simulate_n_train": n_train, "simulate_seconds": round(seconds, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-train", type=int, default=20000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        result = {**bench_convert(root, args.n_train), **bench_prepare(root),
                  **bench_simulate(root, args.n_train)}
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
