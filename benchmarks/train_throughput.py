"""Training throughput of the paper-size TBiNet (1000 bp, 690 tasks) per configuration.

Runs the real training step (:func:`tbvar_train.fit.train_step`) fed by the real input pipeline
(:class:`tbvar_train.dataset.ShardLoader`, memory-mapped synthetic shards, reverse complements
made on the device) and prints JSON: samples/s per configuration, the implied time for one
DeepSEA epoch (4.4M samples), ratios to the fp32 / batch-100 baseline, and the input pipeline's
own rate without a model. The target is one DeepSEA epoch in at most 10 minutes on one
H100-class GPU (≥ 7,333 samples/s). All configurations are built first and their timed steps
interleaved (one step of each in turn), so load changes hit all alike and the ratios come from
one run; the 1-minute load average before and after is recorded.

    python benchmarks/train_throughput.py --quick          # CPU, < 3 minutes
    python benchmarks/train_throughput.py --only fp32_b100 fp32_b100_hard_sigmoid --steps 10
    python benchmarks/train_throughput.py --device cuda    # GPU: more steps, larger batches
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from tbvar.model import TBiNet, TBiNetConfig
from tbvar_train.dataset import ShardLoader, ShardSplit
from tbvar_train.distributed import resolve_device
from tbvar_train.fit import make_optimizer, train_step

DEEPSEA_EPOCH = 4_400_000
TARGET_SECONDS = 600
LENGTH, TASKS = 1000, 690


def write_synthetic_shards(directory: Path, n_train: int, seed: int = 0) -> Path:
    """Random 1000 bp codes and sparse labels in the tbvar shard layout."""
    rng = np.random.default_rng(seed)
    for split, n in (("train", n_train), ("valid", 8)):
        np.save(directory / f"{split}.x.npy", rng.integers(0, 4, (n, LENGTH), dtype=np.uint8))
        np.save(directory / f"{split}.y.npy", (rng.random((n, TASKS)) < 0.02).astype(np.uint8))
    tasks = [{"index": j, "cell_type": "NA", "target": f"t{j}", "treatment": "None"}
             for j in range(TASKS)]
    meta = {"format": "tbvar-shards", "version": 1, "sequence_length": LENGTH,
            "n_tasks": TASKS, "tasks": tasks, "splits": {"train": n_train, "valid": 8},
            "train_rc_augment": True, "provenance": {"source": "synthetic benchmark"}}
    (directory / "meta.json").write_text(json.dumps(meta))
    return directory


def configurations(device: torch.device) -> list[dict]:
    """Configurations compared (more and larger batches on CUDA)."""
    base = {"precision": "fp32", "batch_size": 100, "recurrent_activation": "sigmoid",
            "prefetch": 4}
    configs = [dict(base, name="fp32_b100"),
               dict(base, name="bf16_b100", precision="bf16"),
               dict(base, name="fp32_b256", batch_size=256),
               dict(base, name="bf16_b256", precision="bf16", batch_size=256),
               dict(base, name="fp32_b100_hard_sigmoid", recurrent_activation="hard_sigmoid"),
               dict(base, name="fp32_b100_no_prefetch", prefetch=0)]
    if device.type == "cuda":
        configs += [dict(base, name="fp16_b100", precision="fp16"),
                    dict(base, name="bf16_b512", precision="bf16", batch_size=512),
                    dict(base, name="bf16_b256_hard_sigmoid", precision="bf16",
                         batch_size=256, recurrent_activation="hard_sigmoid"),
                    dict(base, name="bf16_b256_no_prefetch", precision="bf16",
                         batch_size=256, prefetch=0)]
    return configs


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def start(config: dict, split: ShardSplit, device: torch.device, steps: int
          ) -> Callable[[], int]:
    """Build ``config``'s model, optimizer and loader; returns a function running its next
    training step (of ``steps``) and returning the batch's number of samples."""
    torch.manual_seed(0)
    model = TBiNet(TBiNetConfig(recurrent_activation=config["recurrent_activation"])).to(device)
    model.train()
    optimizer = make_optimizer(model, 1e-3, device)
    amp = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[config["precision"]]
    scaler = torch.amp.GradScaler("cuda") if config["precision"] == "fp16" else None
    loader = ShardLoader(split, config["batch_size"], shuffle=True, device=device,
                         prefetch=config["prefetch"])
    batches = loader.iterate(stop=steps)

    def step() -> int:
        batch = next(batches)
        train_step(model, batch, optimizer, scaler, amp)
        return len(batch)

    return step


def measure(configs: list[dict], split: ShardSplit, device: torch.device, warmup: int,
            steps: int) -> list[dict]:
    """Samples/s of each configuration over ``steps`` steps after ``warmup`` steps; the timed
    steps of all configurations are interleaved. ``samples_per_s_median_step`` (batch size over
    the median step time) is robust to load spikes on a shared machine."""
    runs = [start(c, split, device, warmup + steps) for c in configs]
    for run in runs:
        for _ in range(warmup):
            run()
    seconds: list[list[float]] = [[] for _ in configs]
    samples = [0] * len(configs)
    for _ in range(steps):
        for k, run in enumerate(runs):
            _sync(device)
            begin = time.perf_counter()
            samples[k] += run()
            _sync(device)
            seconds[k].append(time.perf_counter() - begin)
    results = []
    for config, step_seconds, n in zip(configs, seconds, samples, strict=True):
        rate = n / sum(step_seconds)
        median_rate = config["batch_size"] / statistics.median(step_seconds)
        results.append(dict(config, steps=steps, samples_per_s=round(rate, 2),
                            samples_per_s_median_step=round(median_rate, 2),
                            seconds_per_step=round(sum(step_seconds) / steps, 4),
                            step_seconds=[round(s, 3) for s in step_seconds],
                            deepsea_epoch_minutes=round(DEEPSEA_EPOCH / rate / 60, 1)))
    return results


def loader_rate(split: ShardSplit, device: torch.device, batch_size: int = 256) -> float:
    """Samples/s of the input pipeline alone (read, copy to device, reverse complement)."""
    loader = ShardLoader(split, batch_size, shuffle=True, device=device, prefetch=4)
    start, samples = time.perf_counter(), 0
    for batch in loader.iterate():
        samples += len(batch)
    _sync(device)
    return samples / (time.perf_counter() - start)


def main() -> None:
    """Run the benchmark and print JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--quick", action="store_true", help="few steps (CPU in < 3 minutes)")
    parser.add_argument("--steps", type=int, help="timed steps per configuration")
    parser.add_argument("--only", nargs="*", help="configuration names to run")
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's)")
    args = parser.parse_args()
    device = resolve_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.backends.cudnn.benchmark = device.type == "cuda"  # as tbvar-train fit does
    quick_steps, full_steps = (2, 30) if device.type == "cpu" else (10, 50)
    steps = args.steps or (quick_steps if args.quick else full_steps)
    warmup = 1 if args.quick else 3
    configs = [c for c in configurations(device) if not args.only or c["name"] in args.only]
    largest = max(c["batch_size"] for c in configs)
    with tempfile.TemporaryDirectory() as tmp:
        split = ShardSplit(write_synthetic_shards(Path(tmp), max(largest * (warmup + steps),
                                                                20_000)), "train")
        load_before = os.getloadavg()[0]
        results = measure(configs, split, device, warmup, steps)
        load_after = os.getloadavg()[0]
        pipeline = loader_rate(split, device)
    rates = {r["name"]: r["samples_per_s"] for r in results}
    median_rates = {r["name"]: r["samples_per_s_median_step"] for r in results}
    base = rates.get("fp32_b100")
    best = max(results, key=lambda r: r["samples_per_s"])
    print(json.dumps({
        "device": str(device), "device_name": (torch.cuda.get_device_name(device)
                                               if device.type == "cuda" else "cpu"),
        "torch": torch.__version__, "threads": torch.get_num_threads(),
        "model": "TBiNet paper size (1000 bp, 320x26 conv, BiLSTM 320, dense 695, 690 tasks)",
        "warmup_steps": warmup,
        "load_average_1min": {"before": load_before, "after": load_after}, "configs": results,
        "ratios_to_fp32_b100": ({k: round(v / base, 3) for k, v in rates.items()}
                                if base else None),
        "ratios_to_fp32_b100_median_step": (
            {k: round(v / median_rates["fp32_b100"], 3) for k, v in median_rates.items()}
            if base else None),
        "input_pipeline_samples_per_s": round(pipeline, 1),
        "deepsea_epoch_samples": DEEPSEA_EPOCH,
        "target": {"epoch_minutes": TARGET_SECONDS / 60,
                   "needed_samples_per_s": round(DEEPSEA_EPOCH / TARGET_SECONDS, 1),
                   "best_config": best["name"],
                   "best_fraction_of_target": round(
                       best["samples_per_s"] * TARGET_SECONDS / DEEPSEA_EPOCH, 4)},
    }, indent=1))


if __name__ == "__main__":
    main()
