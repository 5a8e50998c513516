"""Agreement of one device/precision with the CPU fp32 reference on real windows (JSON).

A paper-size TBiNet (seeded random weights) scores the same REF/ALT
windows of the example region on the CPU in fp32 and on ``--device`` in each precision; the
JSON gives the largest absolute differences of probabilities, lod and attention.

Usage::

    python benchmarks/device_agreement.py --device cuda [--n 256]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from tbvar.genome import Genome
from tbvar.model import TBiNet
from tbvar.scoring import Scorer
from tbvar.variants import alleles_from_frame, classify
from tbvar.windows import build_windows

REPO = Path(__file__).resolve().parents[1]
GENOME = REPO / "examples" / "hg19_chr17_region_padded.fa.gz"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--n", type=int, default=256, help="variants")
    parser.add_argument("--precisions", default="fp32,bf16,fp16")
    args = parser.parse_args()
    from score_throughput import make_variants  # same variants as the throughput benchmark

    genome = Genome(GENOME, cache_dir=False)
    alleles = classify(alleles_from_frame(make_variants(genome, args.n)), genome)
    windows = build_windows(genome, alleles, 1000)
    ref_w, alt_w = windows.ref, windows.alt
    torch.manual_seed(0)
    model = TBiNet().eval()
    reference = Scorer(model, device="cpu").score(ref_w, alt_w)
    results = []
    for precision in args.precisions.split(","):
        scorer = Scorer(model, device=args.device, precision=precision, batch_size=128)
        if precision == "fp16" and scorer.device.type == "cpu":
            continue
        got = scorer.score(ref_w, alt_w)
        results.append({
            "device": str(scorer.device), "precision": precision,
            "max_abs_diff_prob": float(np.abs(got.alt - reference.alt).max()),
            "max_abs_diff_lod": float(np.abs(got.lod - reference.lod).max()),
            "max_abs_diff_attention": float(
                np.abs(got.alt_attention - reference.alt_attention).max()),
        })
    print(json.dumps({"benchmark": "device_agreement", "n_variants": args.n,
                      "reference": "cpu fp32", "results": results}, indent=2))


if __name__ == "__main__":
    main()
