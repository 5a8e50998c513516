"""Peak RSS of ``tbvar calibrate`` for different numbers of background variants (must be flat).

Builds the random genome (one 4 Mb contig) and a random-weight model with ``--tasks`` tasks
(:func:`memory_rss.make_inputs`), then runs ``tbvar calibrate --random N`` for each N in a
fresh subprocess whose model forward pass is the stub of :mod:`pipeline_capacity` (precomputed
outputs: the figures are the pipeline's, not the model's). The subprocess is this script run
with ``--child``: it installs the stub, then calls :func:`tbvar.cli.main`. The child's peak
resident set size comes from ``os.wait4`` (``ru_maxrss``).

Prints JSON with, per N, the peak RSS in MiB, the wall time, variants/s and the background
file's size, and the ratio of the largest to the smallest peak RSS.

Usage::

    python benchmarks/calibrate_rss.py [--sizes 100000 1000000] [--tasks 690]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from memory_rss import measure

REPO = Path(__file__).resolve().parents[1]


def child(argv: list[str]) -> int:
    """``--child TASKS BATCH THREADS -- tbvar arguments``: stubbed forward, then tbvar."""
    import torch
    from memory_rss import CONFIG
    from pipeline_capacity import stub_forward

    from tbvar.cli import main

    tasks, batch_size, threads = (int(v) for v in argv[:3])
    torch.set_num_threads(threads)
    stub_forward(batch_size, dataclasses.replace(CONFIG, n_tasks=tasks))
    return main(argv[4:] if argv[3:4] == ["--"] else argv[3:])


def run_calibrate(n: int, fasta: Path, model: Path, output: Path, args: argparse.Namespace,
                  env: dict) -> dict:
    """``tbvar calibrate --random n`` in a stubbed subprocess; peak RSS, time, file size."""
    command = [sys.executable, str(Path(__file__).resolve()), "--child", str(args.tasks),
               str(args.batch_size), str(args.threads), "--", "calibrate", "--random", str(n),
               "--genome", str(fasta), "--model", str(model), "-o", str(output),
               "--device", "cpu", "-q", "--batch-size", str(args.batch_size),
               "--sample-size", str(args.sample_size)]
    usage = measure(command, env)
    return {"peak_rss_mib": round(usage.peak_rss_mib, 1), "seconds": round(usage.seconds, 1),
            "variants_per_s": round(n / usage.seconds), "cpu_seconds": round(usage.cpu_seconds, 1),
            "background_bytes": output.stat().st_size}


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        sys.exit(child(sys.argv[2:]))
    from memory_rss import CONFIG, make_inputs

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--tasks", type=int, default=690, help="model tasks (default 690)")
    parser.add_argument("--sample-size", type=int, default=8192, help="k (tbvar's default)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--threads", type=int, default=1, help="torch threads of the child")
    args = parser.parse_args()
    config = dataclasses.replace(CONFIG, n_tasks=args.tasks)
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        fasta, model, _ = make_inputs(root, [], config=config)
        env = {**os.environ, "TBVAR_CACHE": str(root / "cache"),
               "OMP_NUM_THREADS": str(args.threads),
               "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
        runs = {str(n): run_calibrate(n, fasta, model, root / f"bg_{n}.safetensors", args, env)
                for n in args.sizes}
    peaks = [r["peak_rss_mib"] for r in runs.values()]
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    print(json.dumps({
        "benchmark": "calibrate_rss", "commit": commit, "tasks": args.tasks,
        "sample_size": args.sample_size, "batch_size": args.batch_size,
        "torch_threads": args.threads, "machine": platform.machine(),
        "cpus": len(os.sched_getaffinity(0)),
        "loadavg_start": [round(x, 2) for x in load_start],
        "loadavg_end": [round(x, 2) for x in os.getloadavg()],
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "runs": runs,
        "rss_ratio_largest_to_smallest": round(max(peaks) / min(peaks), 4),
    }, indent=1))


if __name__ == "__main__":
    main()
