"""Forward throughput of TBiNet with hard-sigmoid (Keras) vs sigmoid (``nn.LSTM``) gates.

Runs both recurrent activations on the same weights at the paper's sizes and prints one JSON
document with sequences/s per configuration and their ratio. Also reports how much of the
forward pass the BiLSTM takes in each configuration.

Usage::

    python benchmarks/lstm_activation_throughput.py [--batch 64] [--repeats 5] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Callable

import torch

from tbvar.model import TBiNet, TBiNetConfig


def _best_seconds(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Best wall time of each function; repeats are interleaved so load changes hit all alike."""
    for fn in fns.values():
        fn()  # warm-up
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


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
    codes = torch.randint(0, 4, (args.batch, sigmoid.config.sequence_length), dtype=torch.uint8)
    bins = torch.randn(args.batch, sigmoid.config.n_bins, sigmoid.config.n_kernels)
    with torch.inference_mode():
        times = _best_seconds({
            "sigmoid_full": lambda: sigmoid(codes),
            "hard_full": lambda: hard(codes),
            "sigmoid_bilstm": lambda: sigmoid.lstm(bins),
            "hard_bilstm": lambda: hard._hard_sigmoid_bilstm(bins),
        }, args.repeats)
    results = {}
    for name, key in (("sigmoid_nn_lstm", "sigmoid"), ("hard_sigmoid_keras", "hard")):
        full, lstm = times[f"{key}_full"], times[f"{key}_bilstm"]
        results[name] = {
            "seconds_per_batch": round(full, 4),
            "sequences_per_s": round(args.batch / full, 1),
            "bilstm_seconds_per_batch": round(lstm, 4),
            "bilstm_share": round(lstm / full, 3),
        }
    print(json.dumps({
        "benchmark": "lstm_activation_throughput",
        "device": "cpu",
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "machine": platform.machine(),
        "batch": args.batch,
        "config": "paper sizes (L=1000, 320 kernels, BiLSTM 320, dense 695, 690 tasks)",
        "results": results,
        "ratio_hard_over_sigmoid_throughput": round(
            results["hard_sigmoid_keras"]["sequences_per_s"]
            / results["sigmoid_nn_lstm"]["sequences_per_s"], 3),
    }, indent=2))


if __name__ == "__main__":
    main()
