"""Work saved by computing identical windows once (``Scorer(share_windows=...)``).

Builds a VCF of multi-allelic SNV records (each of the three other bases as ALTs: three ALT
windows and one REF window, shared by the three, per record), a share of them duplicated, on
the real sequence of the example genome, and scores its windows with the example model
(``examples/model.safetensors``, 220 bp) on the CPU with sharing on and off, interleaved.
Prints JSON: per setting, forward rows (counted at the model) and seconds of ``Scorer.score``,
the median ratio of seconds (off / on) and whether the scores are identical.

Usage::

    python benchmarks/shared_windows.py [--records 2000] [--duplicated 0.1] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from tbvar.genome import Genome
from tbvar.options import RunOptions, ScoreOptions
from tbvar.run_setup import load_model, make_stage
from tbvar.variants import iter_vcf_chunks

REPO = Path(__file__).resolve().parents[1]
GENOME = REPO / "examples" / "hg19_chr17_region_padded.fa.gz"
MODEL = REPO / "examples" / "model.safetensors"
REAL_START, REAL_END = 7_512_445, 7_531_642  # real hg19 sequence in the example genome


def write_vcf(path: Path, genome: Genome, records: int, duplicated: float, seed: int) -> int:
    """Tri-allelic SNVs at random real positions, a share written twice; alleles written."""
    rng = np.random.default_rng(seed)
    lines = []
    for pos in rng.integers(REAL_START + 200, REAL_END - 200, records):
        ref = genome.fetch("chr17", int(pos) - 1, int(pos))
        line = f"chr17\t{pos}\t.\t{ref}\t{','.join(b for b in 'ACGT' if b != ref)}\t.\t.\t."
        lines += [line] * (2 if rng.random() < duplicated else 1)
    path.write_text("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
                    + "\n".join(lines) + "\n")
    return len(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--duplicated", type=float, default=0.1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    load = os.getloadavg()
    genome = Genome(GENOME)
    model = load_model(MODEL)
    rows: list[int] = []
    forward = model.forward
    model.forward = lambda codes: rows.append(len(codes)) or forward(codes)
    stage = make_stage(model, genome, ScoreOptions(), RunOptions(
        device="cpu", batch_size=args.batch_size), None)
    with tempfile.TemporaryDirectory() as tmp:
        vcf = Path(tmp) / "multiallelic.vcf"
        n_records = write_vcf(vcf, genome, args.records, args.duplicated, seed=0)
        windows = [stage.prepare(chunk).windows for chunk in iter_vcf_chunks(vcf)]
    seconds: dict[str, list[float]] = {"shared": [], "each": []}
    counted: dict[str, int] = {}
    scores: dict[str, list] = {}
    for repeat in range(args.repeats):
        for name in (["shared", "each"] if repeat % 2 == 0 else ["each", "shared"]):
            stage.scorer.share_windows = name == "shared"
            rows.clear()
            start = time.perf_counter()
            scores[name] = [stage.scorer.score(w.ref, w.alt) for w in windows]
            seconds[name].append(time.perf_counter() - start)
            counted[name] = sum(rows)
    identical = all(np.array_equal(a.ref, b.ref) and np.array_equal(a.alt, b.alt)
                    and np.array_equal(a.ref_attention, b.ref_attention)
                    and np.array_equal(a.alt_attention, b.alt_attention)
                    for a, b in zip(scores["shared"], scores["each"], strict=True))
    ratios = [e / s for e, s in zip(seconds["each"], seconds["shared"], strict=True)]
    alleles = sum(len(w.ref) for w in windows)
    print(json.dumps({
        "benchmark": "shared_windows", "records": n_records, "alleles": alleles,
        "batch_size": args.batch_size, "torch_threads": args.threads,
        "loadavg_start": [round(x, 2) for x in load],
        "loadavg_end": [round(x, 2) for x in os.getloadavg()],
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "forward_rows": counted,
        "rows_saved": round(1 - counted["shared"] / counted["each"], 3),
        "seconds": {k: [round(s, 3) for s in v] for k, v in seconds.items()},
        "median_ratio_each_to_shared": round(statistics.median(ratios), 3),
        "ratios": [round(r, 3) for r in ratios],
        "identical": identical}, indent=2))


if __name__ == "__main__":
    main()
