"""Peak RSS of ``tbvar score`` for VCFs of different sizes (memory must not grow with input).

Generates a random genome (one contig), a tiny random-weight model and VCFs of SNVs with
correct REF alleles, runs ``tbvar score`` on each in a fresh subprocess (CPU) and reads the
child's peak resident set size from ``os.wait4`` (``ru_maxrss``). Prints JSON with, per size,
the peak RSS in MiB, the wall time and variants/s, and the ratio of the largest to the
smallest peak RSS (target: < 1.10).

Usage::

    python benchmarks/memory_rss.py [--sizes 100000 1000000] [--output-suffix .vcf.gz]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np

from tbvar.checkpoint import ModelInfo, save_model
from tbvar.model import TBiNet, TBiNetConfig
from tbvar.tasks import generic_tasks

CONTIG_LENGTH = 4_000_000
CONFIG = TBiNetConfig(sequence_length=100, n_kernels=4, kernel_width=8, pool_size=4,
                      lstm_units=4, dense_units=8, n_tasks=4)
BASES = np.frombuffer(b"ACGT", dtype=np.uint8)


def make_inputs(root: Path, sizes: list[int], seed: int = 0,
                config: TBiNetConfig = CONFIG) -> tuple[Path, Path, dict]:
    """Genome FASTA, model file (random weights, ``config``) and one VCF per size."""
    rng = np.random.default_rng(seed)
    sequence = BASES[rng.integers(0, 4, CONTIG_LENGTH)]
    fasta = root / "genome.fa"
    with open(fasta, "wb") as out:
        out.write(b">chrB\n")
        for start in range(0, CONTIG_LENGTH, 60):
            out.write(sequence[start:start + 60].tobytes() + b"\n")
    model = root / "model.safetensors"
    save_model(TBiNet(config), model,
               ModelInfo(config=config, tasks=generic_tasks(config.n_tasks),
                         description="benchmark", random_weights=True))
    vcfs = {}
    for n in sizes:
        pos = np.sort(rng.integers(100, CONTIG_LENGTH - 100, n))
        ref = sequence[pos - 1]
        alt = BASES[(np.searchsorted(BASES, ref) + rng.integers(1, 4, n)) % 4]
        path = root / f"snv_{n}.vcf"
        with open(path, "w") as out:
            out.write(f"##fileformat=VCFv4.2\n##contig=<ID=chrB,length={CONTIG_LENGTH}>\n")
            out.write("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")
            for start in range(0, n, 100_000):
                block = zip(pos[start:start + 100_000], ref[start:start + 100_000],
                            alt[start:start + 100_000], strict=True)
                out.write("".join(f"chrB\t{p}\t.\t{chr(r)}\t{chr(a)}\t.\t.\t.\n"
                                  for p, r, a in block))
        vcfs[n] = path
    return fasta, model, vcfs


class Usage(NamedTuple):
    """Resources a finished subprocess used."""

    peak_rss_mib: float
    seconds: float
    user_seconds: float
    system_seconds: float

    @property
    def cpu_seconds(self) -> float:
        return self.user_seconds + self.system_seconds


def measure(command: list[str], env: dict) -> Usage:
    """Run ``command``; its peak RSS (MiB), wall, user and system seconds (error if it fails)."""
    start = time.perf_counter()
    proc = subprocess.Popen(command, env=env, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    stderr = proc.stderr.read().decode() if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(command[:4])} failed: {stderr}")
    return Usage(usage.ru_maxrss / 1024, seconds, usage.ru_utime, usage.ru_stime)


def run_score(vcf: Path, fasta: Path, model: Path, output: Path, env: dict) -> dict:
    """Run ``tbvar score`` in a subprocess; its peak RSS and wall time."""
    command = [sys.executable, "-m", "tbvar.cli", "score", str(vcf), "--genome", str(fasta),
               "--model", str(model), "-o", str(output), "--device", "cpu", "-q",
               "--batch-size", "512"]
    usage = measure(command, env)
    return {"peak_rss_mib": round(usage.peak_rss_mib, 1), "seconds": round(usage.seconds, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--output-suffix", default=".vcf.gz")
    parser.add_argument("--threads", type=int, default=1, help="torch/OpenMP threads of the "
                        "scoring subprocess (default 1: a tiny LSTM on a busy 2-core machine "
                        "runs >10x slower with 2)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        fasta, model, vcfs = make_inputs(root, args.sizes)
        env = {**os.environ, "TBVAR_CACHE": str(root / "cache"),
               "OMP_NUM_THREADS": str(args.threads),
               "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[1]),
                                              os.environ.get("PYTHONPATH", "")])}
        results = {}
        for n, vcf in vcfs.items():
            figures = run_score(vcf, fasta, model, root / f"out_{n}{args.output_suffix}", env)
            figures["variants_per_s"] = round(n / figures["seconds"])
            results[str(n)] = figures
        peaks = [r["peak_rss_mib"] for r in results.values()]
        print(json.dumps({
            "model": {"sequence_length": CONFIG.sequence_length, "n_kernels": CONFIG.n_kernels,
                      "lstm_units": CONFIG.lstm_units, "n_tasks": CONFIG.n_tasks},
            "output": args.output_suffix, "cpu_count": os.cpu_count(),
            "threads": args.threads, "runs": results,
            "rss_ratio_largest_to_smallest": round(peaks[-1] / peaks[0], 4),
        }, indent=1))


if __name__ == "__main__":
    main()
