"""End-to-end ``score_vcf`` throughput vs raw model throughput on the same variants.

Prints one JSON document. For each configuration it reports

- ``end_to_end_variants_per_s``: ``tbvar.score_vcf`` from a VCF on disk to an output file
  (VCF parsing, REF checks, window gathering, forward passes, scores, writing);
- ``model_only_variants_per_s``: ``Scorer.score`` on the already-built windows of the same
  variants with the same batch size (uint8 → device, one-hot, RC, forward, averaging);
- ``ratio``: end-to-end / model-only (1.0 = the pipeline adds no overhead).

With ``--libraries NAME=DIR,...`` it instead compares ``tbvar score`` (CPU, RC, paper-size
model with random weights, ``--n`` variants, the CLI's default batch size) run in
subprocesses with each ``DIR`` first on ``PYTHONPATH`` (e.g. the ``tbvar`` package of an
earlier commit: ``git archive COMMIT tbvar | tar -x -C DIR``), repeats interleaved in a
rotating order: per run wall time, variants/s, user and system CPU seconds, the system share
of CPU time and peak RSS; per library the medians, and the median per-repeat ratio of each
library's variants/s to the first's.

Usage::

    python benchmarks/score_throughput.py [--n 256] [--device auto] [--sizes paper,example]
    python benchmarks/score_throughput.py --n 2000 --libraries base=/tmp/base_tree,new=. \\
        --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from memory_rss import measure

import tbvar
from tbvar.batch_size import resolve_batch_size
from tbvar.checkpoint import ModelInfo, save_model
from tbvar.engine_cli import batch_size as batch_size_arg
from tbvar.genome import Genome
from tbvar.model import TBiNet, TBiNetConfig
from tbvar.options import RunOptions, ScoreOptions
from tbvar.scoring import Scorer
from tbvar.tasks import generic_tasks
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


def bench(size: str, n: int, batch_size: int | str, device: str, precision: str, rc: bool,
          workdir: Path, cuda_graphs: bool = False) -> dict:
    torch.manual_seed(0)
    model = TBiNet(SIZES[size]).eval()
    batch_size = resolve_batch_size(model, ScoreOptions(reverse_complement=rc), RunOptions(
        device=device, batch_size=batch_size, precision=precision,
        cuda_graphs=cuda_graphs)).batch_size
    genome = Genome(GENOME, cache_dir=workdir / "cache")
    variants = make_variants(genome, n)
    vcf = workdir / f"bench_{n}.vcf"
    write_vcf(variants, vcf)
    alleles = classify(alleles_from_frame(variants), genome)
    windows = build_windows(genome, alleles, model.config.sequence_length)
    ref_w, alt_w = windows.ref, windows.alt
    scorer = Scorer(model, device=device, batch_size=batch_size, precision=precision,
                    reverse_complement=rc, cuda_graphs=cuda_graphs)
    scorer.score(ref_w[:batch_size], alt_w[:batch_size])  # warm-up (kernels, caches)
    model_s = timed(lambda: scorer.score(ref_w, alt_w))
    out = workdir / "out.tsv"
    e2e_s = timed(lambda: tbvar.score_vcf(vcf, genome, model, output=out, device=device,
                                          batch_size=batch_size, precision=precision,
                                          reverse_complement=rc, scores=("lod",),
                                          cuda_graphs=cuda_graphs))
    return {
        "model": size, "n_variants": n, "batch_size": batch_size, "device": str(scorer.device),
        "precision": precision, "reverse_complement": rc, "cuda_graphs": cuda_graphs,
        "graphs_off_reason": getattr(scorer.passes, "off_reason", None),
        "sequences_per_variant": 4 if rc else 2,
        "end_to_end_variants_per_s": round(n / e2e_s, 2),
        "model_only_variants_per_s": round(n / model_s, 2),
        "ratio": round(model_s / e2e_s, 3),
    }


def compare_libraries(libraries: dict[str, Path], n: int, repeats: int, workdir: Path) -> dict:
    """``tbvar score`` of n variants with each library, repeats interleaved (see module doc)."""
    config = SIZES["paper"]
    torch.manual_seed(0)
    model = workdir / "paper.safetensors"
    save_model(TBiNet(config), model, ModelInfo(config=config, tasks=generic_tasks(config.n_tasks),
                                                description="benchmark", random_weights=True))
    variants = make_variants(Genome(GENOME, cache_dir=workdir / "cache"), n)
    vcf, warm_up = workdir / f"bench_{n}.vcf", workdir / "warm_up.vcf"
    write_vcf(variants, vcf)
    write_vcf(variants.head(32), warm_up)
    env = {name: {**os.environ, "TBVAR_CACHE": str(workdir / "cache"),
                  "PYTHONPATH": os.pathsep.join([str(tree.resolve()), str(REPO)])}
           for name, tree in libraries.items()}
    imported = {name: subprocess.run([sys.executable, "-c", "import tbvar; print(tbvar.__file__)"],
                                     env=e, capture_output=True, text=True, check=True
                                     ).stdout.strip() for name, e in env.items()}
    command = [sys.executable, "-m", "tbvar.cli", "score", "--genome", str(GENOME),
               "--model", str(model), "--device", "cpu", "-q", "--scores", "lod"]
    runs: dict[str, list[dict]] = {name: [] for name in libraries}
    names = list(libraries)
    for name in names:  # warm-up: genome cache, page cache
        measure([*command, str(warm_up), "-o", str(workdir / f"warm_{name}.tsv")], env[name])
    for repeat in range(repeats):
        for name in names[repeat % len(names):] + names[:repeat % len(names)]:
            usage = measure([*command, str(vcf), "-o", str(workdir / f"out_{name}.tsv")],
                            env[name])
            runs[name].append({
                "seconds": round(usage.seconds, 2),
                "variants_per_s": round(n / usage.seconds, 2),
                "user_s": round(usage.user_seconds, 2),
                "system_s": round(usage.system_seconds, 2),
                "system_share": round(usage.system_seconds / usage.cpu_seconds, 4),
                "peak_rss_mib": round(usage.peak_rss_mib, 1),
                "load_1min": os.getloadavg()[0],
            })
    first = names[0]
    return {
        "n_variants": n, "repeats": repeats, "imported": imported,
        "runs": runs,
        "median": {name: {key: statistics.median(r[key] for r in rs)
                          for key in ("variants_per_s", "system_share", "peak_rss_mib")}
                   for name, rs in runs.items()},
        f"median_ratio_variants_per_s_over_{first}": {
            name: round(statistics.median(r["variants_per_s"] / b["variants_per_s"]
                                          for r, b in zip(rs, runs[first], strict=True)), 3)
            for name, rs in runs.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=256, help="variants per run")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--batch-size", type=batch_size_arg, default=64,
                        help="variants per batch, or auto (tbvar.batch_size)")
    parser.add_argument("--sizes", default="paper,example")
    parser.add_argument("--libraries", default=None,
                        help="NAME=DIR,...: compare `tbvar score` with these library trees")
    parser.add_argument("--repeats", type=int, default=3, help="with --libraries")
    parser.add_argument("--cuda-graphs", action="store_true",
                        help="replay full passes from CUDA graphs (tbvar score --cuda-graphs)")
    args = parser.parse_args()
    if args.libraries:
        libraries = {name: Path(tree) for name, tree in
                     (item.split("=", 1) for item in args.libraries.split(","))}
        with tempfile.TemporaryDirectory() as tmp:
            result = compare_libraries(libraries, args.n, args.repeats, Path(tmp))
        print(json.dumps({"benchmark": "score_throughput_libraries", "torch": torch.__version__,
                          "cpu_count": os.cpu_count(), **result}, indent=2))
        return
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes.split(","):
            for rc in (True, False):
                results.append(bench(size, args.n, args.batch_size, args.device,
                                     args.precision, rc, Path(tmp), args.cuda_graphs))
    print(json.dumps({
        "benchmark": "score_throughput", "torch": torch.__version__,
        "threads": torch.get_num_threads(), "machine": platform.processor() or platform.machine(),
        "results": results,
    }, indent=2))


if __name__ == "__main__":
    main()
