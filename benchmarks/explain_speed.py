"""Wall time of ``tbvar explain`` for one variant (ISM ±W bp: (2W + 1) × 3 sequences, with
their reverse complements), at the paper's model size (random weights) and the example's.

Prints one JSON document. Per model: ``load_s`` (the :class:`~tbvar.explain.Explainer`: model
file, genome, options), ``explain_s`` (forward passes: REF/ALT, ISM, kernels), ``write_s``
(figures as PNG and SVG, pages, tables into a staged directory) and ``total_s``; the first run
(genome encoded into an empty cache) and the median and minimum of ``--repeats`` warm runs.
``load_average`` is the machine's 1-minute load before and after: figures taken while other
jobs load the cores are slower.

Usage::

    python benchmarks/explain_speed.py [--window 50] [--repeats 3] [--device cpu] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch

from tbvar.checkpoint import ModelInfo, save_model
from tbvar.explain import Explainer
from tbvar.explain_page import write_explanations
from tbvar.model import TBiNet, TBiNetConfig
from tbvar.tasks import tbinet_tasks

REPO = Path(__file__).resolve().parents[1]
GENOME = REPO / "examples" / "hg19_chr17_region_padded.fa.gz"
EXAMPLE_MODEL = REPO / "examples" / "model.safetensors"
VARIANT = "chr17:7517295:C:G"  # rs143393141


def paper_model(path: Path) -> Path:
    """The TBiNet default config (35.5M parameters, 690 tasks), random weights, saved."""
    torch.manual_seed(0)
    model = TBiNet(TBiNetConfig()).eval()
    save_model(model, path, ModelInfo(config=model.config, tasks=tbinet_tasks(),
                                      description="benchmark: paper size, random weights",
                                      random_weights=True))
    return path


def one_run(model: Path, window: int, device: str, out: Path) -> dict[str, float]:
    start = time.perf_counter()
    explainer = Explainer(GENOME, model, window=window, device=device)
    loaded = time.perf_counter()
    explained = explainer.explain(VARIANT)
    computed = time.perf_counter()
    write_explanations([explained], out, overwrite=True)
    written = time.perf_counter()
    return {"load_s": loaded - start, "explain_s": computed - loaded,
            "write_s": written - computed, "total_s": written - start}


def bench(name: str, model: Path, window: int, repeats: int, device: str,
          workdir: Path) -> dict:
    first = one_run(model, window, device, workdir / f"{name}-out")
    runs = [one_run(model, window, device, workdir / f"{name}-out") for _ in range(repeats)]
    summary = {key: {"median": round(statistics.median(r[key] for r in runs), 3),
                     "min": round(min(r[key] for r in runs), 3)} for key in runs[0]}
    return {"model": name, "window": window, "ism_sequences": (2 * window + 1) * 3,
            "first_run": {k: round(v, 3) for k, v in first.items()}, "warm": summary}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--window", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--sizes", default="paper,example")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: "
                        "torch's choice, one per core)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    load_before = os.getloadavg()[0]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["TBVAR_CACHE"] = str(Path(tmp) / "cache")  # the genome is encoded once
        for size in args.sizes.split(","):
            model = paper_model(Path(tmp) / "paper.safetensors") if size == "paper" \
                else EXAMPLE_MODEL
            results.append(bench(size, model, args.window, args.repeats, args.device,
                                 Path(tmp)))
    print(json.dumps({
        "benchmark": "explain_speed", "variant": VARIANT, "torch": torch.__version__,
        "threads": torch.get_num_threads(), "cpus": os.cpu_count(),
        "machine": platform.processor() or platform.machine(),
        "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "results": results,
    }, indent=2))


if __name__ == "__main__":
    main()
