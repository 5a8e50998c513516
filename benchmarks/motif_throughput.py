"""Kernel-motif extraction throughput vs the scoring engine's, same model, machine and run.

Prints one JSON document. For each model size it reports sequences per second of

- ``motif_first_layer``: :class:`tbvar.kernel_sites.SiteCounter` on already gathered windows
  (codes to the device, one-hot, convolution, maximum, site gather, base counts) — the part
  of ``tbvar motifs`` that grows with the number of sequences;
- ``motif_end_to_end``: :func:`tbvar.kernel_motifs` with ``--random N`` windows of the example
  genome, logos off (window sampling and gathering, first layer, TOMTOM, files), the second of
  two calls (the first, ``motif_end_to_end_first_call_s``, also loads memelite's compiled
  code); the TOMTOM call alone is timed again on the run's kernels (``tomtom_s``: a fixed cost
  per run, not per sequence);
- ``model_forward``: :class:`tbvar.scoring.Scorer` ``predict`` on the same windows without
  reverse complement (one full forward pass per sequence);
- ``scoring_engine``: :func:`tbvar.score_variants` end to end on SNVs at the windows' centres
  (VCF-free: DataFrame in, DataFrame out), counted as the 4 sequences per variant the engine
  runs (REF, ALT and their reverse complements).

``ratio_*`` are motif first-layer sequences/s divided by the others'.

Usage::

    python benchmarks/motif_throughput.py [--n 4096] [--sizes example,paper] [--device auto]
        [--batch-size 256] [--threads T]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

import tbvar
from tbvar.genome import CODE_TO_BASE, Genome
from tbvar.kernel_sites import SiteCounter
from tbvar.meme import read_meme
from tbvar.model import TBiNet, TBiNetConfig
from tbvar.motif_inputs import window_batches
from tbvar.motif_match import informative_core, tomtom_matches
from tbvar.motifs import DEFAULT_MIN_INFORMATION
from tbvar.random_snvs import sample_windows
from tbvar.scoring import Scorer

REPO = Path(__file__).resolve().parents[1]
GENOME = REPO / "examples" / "hg19_chr17_region_padded.fa.gz"


def model_of(size: str) -> torch.nn.Module:
    """The bundled example model, or a random-weight TBiNet of the paper's sizes."""
    if size == "example":
        return tbvar.load_model(REPO / "examples" / "model.safetensors")
    torch.manual_seed(0)
    return TBiNet(TBiNetConfig()).eval()


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bench(size: str, n: int, batch_size: int, device: str, workdir: Path) -> dict:
    net = model_of(size)
    length = net.config.sequence_length
    genome = Genome(GENOME, cache_dir=workdir / "cache")
    contigs, starts = sample_windows(genome, n, length, seed=1)
    codes = np.concatenate(list(window_batches(genome, contigs, starts, length, n)))

    counter = SiteCounter(net.conv, device)
    counter.add(codes[:batch_size])  # warm-up
    first_layer_s = timed(lambda: [counter.add(codes[i:i + batch_size])
                                   for i in range(0, n, batch_size)])

    scorer = Scorer(net, device=device, batch_size=batch_size // 2, reverse_complement=False)
    scorer.predict(codes[:batch_size])
    forward_s = timed(lambda: scorer.predict(codes))

    centre = starts + length // 2
    ref = CODE_TO_BASE[codes[:, length // 2]].view("S1").astype(str)
    variants = pd.DataFrame({"chrom": contigs, "pos": centre + 1, "ref": ref,
                             "alt": np.where(ref == "A", "C", "A")})
    n_variants = max(1, n // 4)  # 4 sequences each: the same number of sequences
    engine_s = timed(lambda: tbvar.score_variants(
        variants.iloc[:n_variants], genome, net, device=device, batch_size=batch_size // 2,
        scores=("lod",)))

    out = workdir / f"motifs_{size}"
    first_call_s, end_to_end_s = (timed(lambda: tbvar.kernel_motifs(
        net, out, genome=GENOME, random=n, seed=1, logos=False, device=device,
        batch_size=batch_size, overwrite=True)) for _ in range(2))
    kernels = read_meme(out / "kernels.meme")
    cores = [informative_core(k, DEFAULT_MIN_INFORMATION) for k in kernels]
    queried = [(k, c) for k, c in zip(kernels, cores, strict=True) if c is not None]
    database = read_meme()
    tomtom_s = timed(lambda: tomtom_matches([k for k, _ in queried], [c for _, c in queried],
                                            database, 0.05))

    first_layer = n / first_layer_s
    return {
        "model": size, "sequence_length": length, "n_kernels": net.conv.out_channels,
        "n_sequences": n, "batch_size": batch_size, "device": str(counter.device),
        "sequences_per_s": {
            "motif_first_layer": round(first_layer, 1),
            "motif_end_to_end": round(n / end_to_end_s, 1),
            "model_forward": round(n / forward_s, 1),
            "scoring_engine": round(4 * n_variants / engine_s, 1),
        },
        "motif_end_to_end_s": round(end_to_end_s, 2),
        "motif_end_to_end_first_call_s": round(first_call_s, 2),
        "tomtom_s": round(tomtom_s, 2), "tomtom_queries": len(queried),
        "ratio_first_layer_to_model_forward": round(first_layer * forward_s / n, 2),
        "ratio_first_layer_to_scoring_engine": round(first_layer * engine_s / (4 * n_variants),
                                                     2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=4096, help="sequences per measurement")
    parser.add_argument("--sizes", default="example,paper")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batch-size", type=int, default=256, help="sequences per pass")
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        results = [bench(size, args.n, args.batch_size, args.device, Path(tmp))
                   for size in args.sizes.split(",")]
    print(json.dumps({
        "benchmark": "motif_throughput", "torch": torch.__version__,
        "threads": torch.get_num_threads(), "machine": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(), "load_average_1min_at_end": round(os.getloadavg()[0], 2),
        "results": results,
    }, indent=2))


if __name__ == "__main__":
    main()
