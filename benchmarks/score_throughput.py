"""End-to-end ``score_vcf`` throughput vs raw model throughput on the same variants.

Prints one JSON document. For each configuration it reports

- ``end_to_end_variants_per_s``: ``tbvar.score_vcf`` from a VCF on disk to an output file
  (VCF parsing, REF checks, window gathering, forward passes, scores, writing);
- ``model_only_variants_per_s``: ``Scorer.score`` on the already-built windows of the same
  variants with the same batch size (uint8 → device, one-hot, RC, forward, averaging);
- ``ratio``: end-to-end / model-only (1.0 = the pipeline adds no overhead).

Usage::

    python benchmarks/score_throughput.py [--n 256] [--device auto] [--sizes paper,example]
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

import tbvar
from tbvar.genome import Genome
from tbvar.model import TBiNet, TBiNetConfig
from tbvar.scoring import Scorer
from tbvar.variants import alleles_from_frame, classify
from tbvar.windows import build_windows

REPO = Path(__file__).resolve().parents[1]
GENOME = REPO / "examples" / "hg19_chr17_region_padded.fa.gz"
REAL_START, REAL_END = 7_512_445, 7_531_642
SIZES = {
    "paper": TBiNetConfig(),
    "example": TBiNetConfig(n_kernels=32, lstm_units=16, dense_units=32, n_tasks=8),
}


def make_variants(genome: Genome, n: int, seed: int = 0) -> pd.DataFrame:
    """n variants in the real part of the example genome: 80 % SNVs, 20 % small indels."""
    rng = np.random.default_rng(seed)
    codes = genome.fetch("chr17", 0, REAL_END)
    rows = []
    for pos in rng.integers(REAL_START + 600, REAL_END - 600, n):
        ref = codes[pos - 1]
        if rng.random() < 0.8:
            alt = rng.choice([b for b in "ACGT" if b != ref])
        elif rng.random() < 0.5:
            alt = ref + "".join(rng.choice(list("ACGT"), 3))
        else:
            ref, alt = codes[pos - 1:pos + 3], ref
        rows.append(("chr17", int(pos), ref, str(alt)))
    frame = pd.DataFrame(rows, columns=["chrom", "pos", "ref", "alt"])
    return frame.sort_values("pos", kind="stable").reset_index(drop=True)


def write_vcf(frame: pd.DataFrame, path: Path) -> None:
    lines = ["##fileformat=VCFv4.2", "##contig=<ID=chr17,length=81195210>",
             "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO"]
    lines += [f"chr17\t{r.pos}\t.\t{r.ref}\t{r.alt}\t.\t.\t." for r in frame.itertuples()]
    path.write_text("\n".join(lines) + "\n")


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bench(size: str, n: int, batch_size: int, device: str, precision: str, rc: bool,
          workdir: Path) -> dict:
    torch.manual_seed(0)
    model = TBiNet(SIZES[size]).eval()
    genome = Genome(GENOME, cache_dir=workdir / "cache")
    variants = make_variants(genome, n)
    vcf = workdir / f"bench_{n}.vcf"
    write_vcf(variants, vcf)
    alleles = classify(alleles_from_frame(variants), genome)
    windows = build_windows(genome, alleles, model.config.sequence_length)
    ref_w, alt_w = windows.ref, windows.alt
    scorer = Scorer(model, device=device, batch_size=batch_size, precision=precision,
                    reverse_complement=rc)
    scorer.score(ref_w[:batch_size], alt_w[:batch_size])  # warm-up (kernels, caches)
    model_s = timed(lambda: scorer.score(ref_w, alt_w))
    out = workdir / "out.tsv"
    e2e_s = timed(lambda: tbvar.score_vcf(vcf, genome, model, output=out, device=device,
                                          batch_size=batch_size, precision=precision,
                                          reverse_complement=rc, scores=("lod",)))
    return {
        "model": size, "n_variants": n, "batch_size": batch_size, "device": str(scorer.device),
        "precision": precision, "reverse_complement": rc,
        "sequences_per_variant": 4 if rc else 2,
        "end_to_end_variants_per_s": round(n / e2e_s, 2),
        "model_only_variants_per_s": round(n / model_s, 2),
        "ratio": round(model_s / e2e_s, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=256, help="variants per run")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--sizes", default="paper,example")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes.split(","):
            for rc in (True, False):
                results.append(bench(size, args.n, args.batch_size, args.device,
                                     args.precision, rc, Path(tmp)))
    print(json.dumps({
        "benchmark": "score_throughput", "torch": torch.__version__,
        "threads": torch.get_num_threads(), "machine": platform.processor() or platform.machine(),
        "results": results,
    }, indent=2))


if __name__ == "__main__":
    main()
