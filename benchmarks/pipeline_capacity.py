"""Pipeline capacity of ``tbvar score``: variants/s when the model costs nothing.

On a GPU the forward pass of the paper-size model is fast enough that the CPU-side pipeline
(VCF parsing, REF checks, window gathering, scores, summaries, formatting and writing) can bound
end-to-end throughput. This benchmark measures that bound: the model's forward pass is replaced
by a stub that hands back precomputed probabilities and attention of the right shapes (random,
so summaries and top-k see realistic, tie-free values), and the whole ``tbvar score`` path runs
for each output format on the same SNV VCF (random genome, one contig, correct REF alleles).

Prints one JSON document: per format, wall seconds and variants/s. An end-to-end GPU run
cannot be faster than these figures on the same CPU. ``--device-ms`` makes every forward call
wait that long (as for a GPU) and compares the CPU pipeline with the accelerator pipeline, in
which the model runs in its own thread (``ratio_on_off``).

Usage::

    python benchmarks/pipeline_capacity.py [--n 100000] [--formats vcf.gz,tsv,parquet]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from memory_rss import CONFIG, make_inputs

import tbvar
from tbvar.model import TBiNetConfig
from tbvar.scoring import Scorer

REPO = Path(__file__).resolve().parents[1]


def stub_forward(batch_size: int, config: TBiNetConfig, device_ms: float = 0.0) -> None:
    """Replace ``Scorer._forward`` with precomputed outputs (no model work at all).

    ``device_ms`` > 0 makes each call wait that long without holding the GIL, as the host
    thread waits for a GPU's forward pass: end-to-end figures then show how well host work
    overlaps device time.
    """
    rng = np.random.default_rng(0)
    rows = 4 * batch_size
    probs = torch.from_numpy(rng.uniform(0.01, 0.99, (rows, config.n_tasks)).astype(np.float32))
    attention = torch.from_numpy(rng.dirichlet(np.ones(config.n_bins), rows).astype(np.float32))

    def forward(self: Scorer, codes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n = codes.shape[0]
        if device_ms:
            time.sleep(device_ms / 1000)
        return probs[:n], attention[:n]

    Scorer._forward = forward


def run(vcf: Path, genome: Path, model: Path, out: Path, batch_size: int,
        model_thread: bool = False) -> float:
    start = time.perf_counter()
    tbvar.score_vcf(vcf, genome, model, output=out, device="cpu", batch_size=batch_size,
                    model_thread=model_thread)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100_000, help="SNVs in the VCF")
    parser.add_argument("--formats", default="vcf,vcf.gz,tsv,tsv.gz,parquet")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--device-ms", type=float, default=0.0,
                        help="simulated device time per forward call (batch), in ms")
    parser.add_argument("--tasks", type=int, default=CONFIG.n_tasks,
                        help="model tasks (690 = the paper's; TSV/Parquet carry every task)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = dataclasses.replace(CONFIG, n_tasks=args.tasks)
    stub_forward(args.batch_size, config, args.device_ms)
    # with a simulated device, compare the CPU pipeline (model in the scoring thread) with the
    # accelerator pipeline (model in its own thread); otherwise the CPU pipeline only
    stages = {"model_thread_off": False, "model_thread_on": True} if args.device_ms else {
        "model_thread_off": False}
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        genome, model, vcfs = make_inputs(root, [args.n], config=config)
        run(vcfs[args.n], genome, model, root / "warmup.tsv", args.batch_size)  # genome cache
        for fmt in args.formats.split(","):
            for name, on in stages.items():
                seconds = run(vcfs[args.n], genome, model, root / f"out.{fmt}",
                              args.batch_size, model_thread=on)
                results.setdefault(fmt, {})[name] = {
                    "seconds": round(seconds, 3), "variants_per_s": round(args.n / seconds, 1)}
            if args.device_ms:
                row = results[fmt]
                row["ratio_on_off"] = round(row["model_thread_on"]["variants_per_s"]
                                            / row["model_thread_off"]["variants_per_s"], 3)
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    print(json.dumps({"benchmark": "pipeline_capacity", "commit": commit,
                      "variants": args.n, "tasks": args.tasks, "batch_size": args.batch_size,
                      "device_ms_per_batch": args.device_ms,
                      "torch_threads": args.threads, "machine": platform.machine(),
                      "cpus": len(os.sched_getaffinity(0)),
                      "results": results}, indent=2))


if __name__ == "__main__":
    main()
