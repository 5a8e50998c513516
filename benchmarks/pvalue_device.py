"""Background p-values on the model's device vs on the host: microseconds per variant.

Times, per pass of ``--batch`` variants at ``--tasks`` tasks against a background sample of
``--sample-size`` values per task (synthetic: logit differences of uniform probabilities),

- ``on_device``: :class:`tbvar.task_pvalues.ModelNull` on ``--device`` (lod, searches, Simes,
  ``min_p``'s task; results copied to the host; CUDA synchronised), with and without the
  per-task p-values (``with_p``);
- ``host``: :meth:`tbvar.task_pvalues.TaskPValues.on_host` (numpy, the definition);
- ``check``: the host's check of the device's values (:meth:`ModelPValues.checked`), the only
  p-value work left on the host with ``--p-values-on model``;

and checks that the checked device values equal the host's. Prints one JSON document.

Usage::

    python benchmarks/pvalue_device.py [--device cuda] [--passes 20]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

import numpy as np
import torch

from tbvar.background import Background
from tbvar.log_odds import log_odds_difference
from tbvar.task_pvalues import ModelNull, TaskPValues


def synthetic_background(rng: np.random.Generator, tasks: int, k: int) -> Background:
    """A background of ``k`` values per task: |lod| of uniform probabilities, sorted."""
    lod = log_odds_difference(*(rng.uniform(0, 1, (k, tasks)).astype(np.float32)
                                for _ in range(2)))
    rms = np.sqrt(np.mean(np.square(lod, dtype=np.float64), axis=0))
    return Background({"lod": np.sort(np.abs(lod), axis=0)}, {"lod": rms}, k)


def timed(fn, device: torch.device, passes: int) -> list[float]:
    """Seconds of each of ``passes`` calls (after one warm-up call)."""
    fn(0)
    times = []
    for i in range(passes):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        fn(i)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--tasks", type=int, default=690)
    parser.add_argument("--sample-size", type=int, default=8192)
    parser.add_argument("--batch", type=int, default=512, help="variants per pass")
    parser.add_argument("--passes", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    rng = np.random.default_rng(0)
    background = synthetic_background(rng, args.tasks, args.sample_size)
    columns = np.arange(args.tasks)
    probs = [rng.uniform(0, 1, (2, args.batch, args.tasks)).astype(np.float32)
             for _ in range(4)]
    on_device = [torch.from_numpy(p).to(device) for p in probs]
    host_lod = [log_odds_difference(p[0], p[1]) for p in probs]
    results: dict[str, dict] = {}
    for with_p in (True, False):
        null = ModelNull(background, columns, device, with_p=with_p)
        name = "on_device" if with_p else "on_device_without_p"
        seconds = timed(lambda i, null=null: null(*on_device[i % 4]), device, args.passes)
        results[name] = {"us_per_variant": round(statistics.median(seconds) / args.batch * 1e6,
                                                 2)}
    null = ModelNull(background, columns, device)

    def host(i: int) -> TaskPValues:
        lod = host_lod[i % 4]
        return TaskPValues.on_host(background, lod, None, background.z_scores("lod", lod))

    seconds = timed(host, torch.device("cpu"), args.passes)
    results["host"] = {"us_per_variant": round(statistics.median(seconds) / args.batch * 1e6, 2)}
    device_values = [null(*on_device[i]) for i in range(4)]

    def recompute(i: int):
        lod = host_lod[i]
        return lambda rows: TaskPValues.on_host(background, lod[rows], None,
                                                background.z_scores("lod", lod[rows]))

    def check(i: int) -> TaskPValues:
        return device_values[i % 4].checked(host_lod[i % 4], recompute(i % 4))

    seconds = timed(check, torch.device("cpu"), args.passes)
    results["check"] = {"us_per_variant": round(statistics.median(seconds) / args.batch * 1e6,
                                                2)}
    identical = [all(np.array_equal(getattr(check(i), f), getattr(host(i), f), equal_nan=True)
                     for f in ("p", "min_p", "best", "combined_p")) for i in range(4)]
    results["device_lod_equals_host"] = [bool(np.array_equal(device_values[i].lod[0],
                                                             host_lod[i])) for i in range(4)]
    print(json.dumps({"benchmark": "pvalue_device", "device": str(device),
                      "device_name": torch.cuda.get_device_name(device)
                      if device.type == "cuda" else platform.processor() or platform.machine(),
                      "tasks": args.tasks, "sample_size": args.sample_size,
                      "batch": args.batch, "passes": args.passes, "torch_threads": args.threads,
                      "cpus": len(os.sched_getaffinity(0)),
                      "identical_to_host": all(identical), **results}, indent=2))


if __name__ == "__main__":
    main()
