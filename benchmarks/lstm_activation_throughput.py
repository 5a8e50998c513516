"""Forward throughput of TBiNet: hard-sigmoid (Keras) vs sigmoid gates, fast vs reference path.

Runs, on the same weights and windows at the paper's sizes (CPU, fp32, inference mode), the
reference forward (``model.fast_inference = False``: conv1d, ``nn.LSTM`` for sigmoid gates, the
explicit recurrence for hard-sigmoid gates) and the fast CPU forward (:mod:`tbvar.fast_forward`)
for both gate types, repeats interleaved so load changes hit all alike. Prints one JSON
document: per configuration the best and median sequences/s and the median minor page faults
per batch, how much of the reference forward the BiLSTM takes, and the median over repeats of
the per-repeat throughput ratios (fast / reference per gate type, hard / sigmoid per path).

Usage::

    python benchmarks/lstm_activation_throughput.py [--batch 64] [--repeats 5] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import time
from collections.abc import Callable

import torch

from tbvar.model import TBiNet, TBiNetConfig


def _interleaved_seconds(fns: dict[str, Callable[[], object]], repeats: int
                         ) -> tuple[dict[str, list[float]], dict[str, list[int]]]:
    """Wall times and minor page faults of each function per repeat; repeats interleaved,
    order rotated each time."""
    for fn in fns.values():
        fn()  # warm-up
    names = list(fns)
    seconds: dict[str, list[float]] = {name: [] for name in names}
    faults: dict[str, list[int]] = {name: [] for name in names}
    for repeat in range(repeats):
        for name in names[repeat % len(names):] + names[:repeat % len(names)]:
            before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            start = time.perf_counter()
            fns[name]()
            seconds[name].append(time.perf_counter() - start)
            faults[name].append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    return seconds, faults


def _forward(model: TBiNet, codes: torch.Tensor, fast: bool) -> Callable[[], object]:
    def run() -> object:
        model.fast_inference = fast
        return model(codes)
    return run


def _median_ratio(numerator: list[float], denominator: list[float]) -> float:
    """Median over repeats of throughput(numerator) / throughput(denominator)."""
    return round(statistics.median(d / n for n, d in zip(numerator, denominator, strict=True)), 3)


def main() -> None:
    """Run the benchmark and print JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    sigmoid = TBiNet(TBiNetConfig(recurrent_activation="sigmoid")).eval()
    hard = TBiNet(TBiNetConfig(recurrent_activation="hard_sigmoid")).eval()
    hard.load_state_dict(sigmoid.state_dict())
    codes = torch.randint(0, 5, (args.batch, sigmoid.config.sequence_length), dtype=torch.uint8)
    bins = torch.randn(args.batch, sigmoid.config.n_bins, sigmoid.config.n_kernels)
    load_before = os.getloadavg()
    with torch.inference_mode():
        times, faults = _interleaved_seconds({
            "sigmoid_reference": _forward(sigmoid, codes, fast=False),
            "hard_reference": _forward(hard, codes, fast=False),
            "sigmoid_fast": _forward(sigmoid, codes, fast=True),
            "hard_fast": _forward(hard, codes, fast=True),
            "sigmoid_bilstm": lambda: sigmoid.lstm(bins),
            "hard_bilstm": lambda: hard._hard_sigmoid_bilstm(bins),
        }, args.repeats)
    results = {}
    for name in ("sigmoid_reference", "hard_reference", "sigmoid_fast", "hard_fast"):
        best, median = min(times[name]), statistics.median(times[name])
        results[name] = {"best_seconds_per_batch": round(best, 4),
                         "sequences_per_s_best": round(args.batch / best, 1),
                         "sequences_per_s_median": round(args.batch / median, 1),
                         "minor_page_faults_per_batch": statistics.median(faults[name])}
    for gate in ("sigmoid", "hard"):
        results[f"{gate}_reference"]["bilstm_share"] = round(
            min(times[f"{gate}_bilstm"]) / min(times[f"{gate}_reference"]), 3)
    print(json.dumps({
        "benchmark": "lstm_activation_throughput",
        "device": "cpu",
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "machine": platform.machine(),
        "batch": args.batch,
        "repeats": args.repeats,
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "config": "paper sizes (L=1000, 320 kernels, BiLSTM 320, dense 695, 690 tasks)",
        "results": results,
        "median_ratios": {
            "sigmoid_fast_over_reference": _median_ratio(times["sigmoid_fast"],
                                                         times["sigmoid_reference"]),
            "hard_fast_over_reference": _median_ratio(times["hard_fast"],
                                                      times["hard_reference"]),
            "hard_over_sigmoid_fast": _median_ratio(times["hard_fast"], times["sigmoid_fast"]),
            "hard_over_sigmoid_reference": _median_ratio(times["hard_reference"],
                                                         times["sigmoid_reference"]),
        },
    }, indent=2))


if __name__ == "__main__":
    main()
