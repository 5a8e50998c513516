"""Agreement of one device/precision with the CPU fp32 reference on real windows (JSON).

A model scores the same REF/ALT windows of the example region (80 % SNVs, 20 % small indels)
on the CPU in fp32 and on ``--device`` in each precision. Per precision the JSON gives the
largest absolute differences of probabilities, lod and attention, and how the ranking a user
acts on agrees: the share of the fp32 top 1 % of variants by max |lod| that the other
precision also puts in its top 1 %, and the Spearman correlation of max |lod|.

``--model`` picks the weights: ``paper`` (default: paper-size TBiNet, seeded random weights,
sigmoid gates), ``paper-hard`` (the same with Keras hard-sigmoid gates) or a model file (the
bundled ``examples/model.safetensors`` is a trained 220 bp model).

Usage::

    python benchmarks/device_agreement.py --device cuda [--n 256]
    python benchmarks/device_agreement.py --device cpu --precisions bf16 --n 2000
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr

from tbvar.genome import Genome
from tbvar.model import TBiNet, TBiNetConfig
from tbvar.run_setup import load_model
from tbvar.scoring import Scorer
from tbvar.variants import alleles_from_frame, classify
from tbvar.windows import build_windows

REPO = Path(__file__).resolve().parents[1]
GENOME = REPO / "examples" / "hg19_chr17_region_padded.fa.gz"


def make_model(spec: str) -> torch.nn.Module:
    """``paper`` / ``paper-hard`` (seeded random weights) or a model file."""
    if spec in ("paper", "paper-hard"):
        torch.manual_seed(0)
        gate = "hard_sigmoid" if spec == "paper-hard" else "sigmoid"
        return TBiNet(TBiNetConfig(recurrent_activation=gate)).eval()
    return load_model(spec)


def ranking_agreement(reference: np.ndarray, other: np.ndarray) -> dict[str, float]:
    """Top-1 % overlap and Spearman correlation of per-variant max |lod| ``(n, T)`` inputs."""
    ref_max, other_max = np.abs(reference).max(axis=1), np.abs(other).max(axis=1)
    top = max(1, len(ref_max) // 100)
    shared = np.intersect1d(np.argsort(-ref_max)[:top], np.argsort(-other_max)[:top])
    return {"top1pct_variants": top, "top1pct_overlap": len(shared) / top,
            "spearman_max_abslod": float(spearmanr(ref_max, other_max).statistic)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--n", type=int, default=256, help="variants")
    parser.add_argument("--precisions", default="fp32,bf16,fp16")
    parser.add_argument("--model", default="paper",
                        help="paper, paper-hard or a model file (default paper)")
    args = parser.parse_args()
    from score_throughput import make_variants  # same variants as the throughput benchmark

    genome = Genome(GENOME, cache_dir=False)
    model = make_model(args.model)
    length = model.config.sequence_length
    alleles = classify(alleles_from_frame(make_variants(genome, args.n)), genome)
    windows = build_windows(genome, alleles, length)
    ref_w, alt_w = windows.ref, windows.alt
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
            **ranking_agreement(reference.lod, got.lod),
        })
    print(json.dumps({"benchmark": "device_agreement", "n_variants": args.n,
                      "model": args.model, "reference": "cpu fp32", "results": results},
                     indent=2))


if __name__ == "__main__":
    main()
