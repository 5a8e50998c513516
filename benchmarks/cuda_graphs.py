"""Model-only scoring with and without CUDA graphs (``--cuda-graphs``), interleaved.

For each model (``paper``: sigmoid gates, ``nn.LSTM``; ``paper-hard``: Keras hard-sigmoid
gates, the explicit recurrence of ~12 kernels per step), precision and batch size, it scores
the same random variants with ``Scorer.score`` (RC, shared windows) with graphs off and on,
``--repeats`` times in alternating order, and prints one JSON document: variants/s of each,
the ratio on/off (median of the per-repeat ratios), how many passes were replayed from the
graph, why graphs were turned off if they were, and whether the outputs are equal bit for bit
(max |Δ| of probabilities and attention otherwise).

``--stand-in`` runs the same code without CUDA (``cuda_graphs.StandInRecorder``: each replay
is an eager pass), to test this script on a CPU; its timings mean nothing.

Usage::

    python benchmarks/cuda_graphs.py --device cuda --batches 64,256,1024
    python benchmarks/cuda_graphs.py --device cpu --stand-in --n 64 --batches 8 \\
        --models paper-hard --repeats 1
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import numpy as np
import torch
from device_agreement import make_model

from tbvar.cuda_graphs import CudaGraphRecorder, GraphedPasses, StandInRecorder
from tbvar.scores import VariantScores
from tbvar.scoring import Scorer


def random_windows(n: int, length: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """REF and ALT windows ``(n, L)`` of random SNVs at the window's centre."""
    rng = np.random.default_rng(seed)
    ref = rng.integers(0, 4, (n, length), dtype=np.uint8)
    alt = ref.copy()
    alt[:, length // 2] = (alt[:, length // 2] + rng.integers(1, 4, n)) % 4
    return ref, alt


def timed(scorer: Scorer, ref: np.ndarray, alt: np.ndarray) -> tuple[float, VariantScores]:
    """Seconds of one ``score`` call (the device synchronised), and its scores."""
    if scorer.device.type == "cuda":
        torch.cuda.synchronize(scorer.device)
    start = time.perf_counter()
    scores = scorer.score(ref, alt)
    if scorer.device.type == "cuda":
        torch.cuda.synchronize(scorer.device)
    return time.perf_counter() - start, scores


def largest_difference(one: VariantScores, two: VariantScores) -> float:
    """Max |Δ| over probabilities and attention of two scorings of the same variants."""
    pairs = [(one.ref, two.ref), (one.alt, two.alt)]
    if one.ref_attention is not None:
        pairs += [(one.ref_attention, two.ref_attention), (one.alt_attention, two.alt_attention)]
    return max(float(np.abs(a - b).max(initial=0.0)) for a, b in pairs)


def compare(model: torch.nn.Module, args: argparse.Namespace, precision: str,
            batch: int) -> dict:
    """Graphs off and on for one model, precision and batch size."""
    ref, alt = random_windows(args.n, model.config.sequence_length)
    scorers = {name: Scorer(model, device=args.device, batch_size=batch, precision=precision)
               for name in ("off", "on")}
    graphed = scorers["on"]
    recorder = StandInRecorder if args.stand_in else (lambda: CudaGraphRecorder(graphed.device))
    graphed.passes = GraphedPasses(model, graphed.full_pass_rows, recorder)
    for scorer in scorers.values():  # warm-up: allocator, cuDNN plans, the capture
        timed(scorer, ref[:batch], alt[:batch])
    seconds: dict[str, list[float]] = {"off": [], "on": []}
    scores: dict[str, VariantScores] = {}
    for repeat in range(args.repeats):
        for name in ("off", "on") if repeat % 2 == 0 else ("on", "off"):
            elapsed, scores[name] = timed(scorers[name], ref, alt)
            seconds[name].append(elapsed)
    ratios = [off / on for off, on in zip(seconds["off"], seconds["on"], strict=True)]
    passes = graphed.passes
    return {"variants_per_s_off": round(args.n / statistics.median(seconds["off"]), 1),
            "variants_per_s_on": round(args.n / statistics.median(seconds["on"]), 1),
            "ratio_on_off": round(statistics.median(ratios), 3),
            "ratios": [round(r, 3) for r in ratios],
            "full_pass_rows": graphed.full_pass_rows, "replays": passes.replays,
            "graphs_off_reason": passes.off_reason,
            "bitwise_equal": largest_difference(scores["off"], scores["on"]) == 0.0,
            "max_abs_difference": largest_difference(scores["off"], scores["on"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--n", type=int, default=8192, help="variants per repeat")
    parser.add_argument("--models", default="paper,paper-hard")
    parser.add_argument("--precisions", default="fp32,bf16")
    parser.add_argument("--batches", default="64,256,1024", help="variants per pass")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--stand-in", action="store_true", help="no CUDA: replays are eager "
                        "passes (tests the script; timings mean nothing)")
    args = parser.parse_args()
    results: dict[str, dict] = {}
    for spec in args.models.split(","):
        model = make_model(spec)
        for precision in args.precisions.split(","):
            for batch in (int(b) for b in args.batches.split(",")):
                results[f"{spec}/{precision}/batch_{batch}"] = compare(model, args, precision,
                                                                       batch)
    device = (torch.cuda.get_device_name(torch.device(args.device))
              if torch.device(args.device).type == "cuda" else platform.processor())
    print(json.dumps({"benchmark": "cuda_graphs", "device": device, "stand_in": args.stand_in,
                      "variants": args.n, "torch": torch.__version__,
                      "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "results": results},
                     indent=2))


if __name__ == "__main__":
    main()
