"""Pipeline capacity of ``tbvar score``: variants/s when the model costs nothing.

On a GPU the forward pass of the paper-size model is fast enough that the CPU-side pipeline
(VCF parsing, REF checks, window gathering, scores, summaries, formatting and writing) can bound
end-to-end throughput. This benchmark measures that bound: the model's forward pass is replaced
by a stub that hands back precomputed probabilities and attention of the right shapes (random,
so summaries and top-k see realistic, tie-free values; each call slices a pool of 8 batches
at another offset, so a task's values vary from batch to batch), and the whole ``tbvar
score`` path runs for each output format on the same SNV VCF (random genome, one contig,
correct REF alleles).

Prints one JSON document: per format, wall seconds and variants/s. An end-to-end GPU run
cannot be faster than these figures on the same CPU. ``--device-ms`` makes every forward call
wait that long (as for a GPU) and compares the CPU pipeline with the accelerator pipeline, in
which the model runs in its own thread (``ratio_on_off``).

``--background`` measures what calibrated significance costs: the run first builds a background
with ``tbvar calibrate`` (same stub, model and genome; ``--background-n`` random SNVs), then
scores each format ``--repeats`` times in five configurations, interleaved: ``plain``
(``lod,diff``), ``background`` (``lod,diff`` + min_p, min_p_task, combined_p and the run-wide
q) and ``background_pz`` (``lod,diff,p,z`` + the same), with p-values computed on the host,
and both again with p-values computed with the model (``*_model``, ``--p-values-on model``:
device work on a GPU: computed once per pass and memoised, its CPU time measured and left out
of ``host_cpu_ratio``).
Ratios are variants/s against ``plain``, the median of the per-repeat ratios, by wall time,
process CPU time and host CPU time.

``--host-workers 1,2`` compares host worker processes (``tbvar score --host-workers``): each
format ``--repeats`` times per setting, interleaved (the order rotates per repeat), with wall
seconds, the main process's CPU seconds and the workers' (children's) CPU seconds; ratios are
variants/s against the first setting, the median of the per-repeat ratios. The per-variant CPU
costs of the main process and of the workers are the basis of a projection to more cores.

``--cores 1,2`` (one value per ``--host-workers`` setting) runs each setting on that many CPUs
(the process's affinity, inherited by the workers): ``--host-workers 1,2 --cores 1,2`` compares
a run on one core (threads in one process) with a run on two cores with two workers, which is
how the pipeline grows with cores. Without it every setting may use every CPU, and the one-
process setting's threads (read-ahead, write-behind, GIL-free encoding) use a second core too.

``--formats`` takes file suffixes and ``parquet-dataset`` (``-o DIR/``).

Usage::

    python benchmarks/pipeline_capacity.py [--n 100000] [--formats vcf.gz,tsv,parquet]
    python benchmarks/pipeline_capacity.py --n 10000 --tasks 690 --formats vcf,parquet \
        --background --repeats 5
    python benchmarks/pipeline_capacity.py --n 20000 --tasks 690 --formats vcf,parquet \
        --host-workers 1,2 --cores 1,2 --repeats 5
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import os
import platform
import resource
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from memory_rss import CONFIG, make_inputs

import tbvar
from tbvar.calibration import BackgroundSource, calibrate
from tbvar.model import TBiNetConfig
from tbvar.scoring import Scorer
from tbvar.task_pvalues import ModelNull

REPO = Path(__file__).resolve().parents[1]


#: ``--sequence-length 1000``: the paper's window geometry (the stub's outputs take its 75 bins).
PAPER_WINDOW = {"sequence_length": 1000, "kernel_width": 26, "pool_size": 13}

#: The stub's forward calls of the current run (each run starts again from 0 in :func:`run`,
#: so every configuration scores the same probabilities).
STUB_CALLS = [itertools.count()]


def stub_forward(batch_size: int, config: TBiNetConfig, device_ms: float = 0.0) -> None:
    """Replace ``Scorer._forward``, ``Scorer._model`` and ``Scorer._average`` with precomputed
    outputs (no model work at all; passes with shared windows still gather their rows).

    ``device_ms`` > 0 makes each call wait that long without holding the GIL, as the host
    thread waits for a GPU's forward pass: end-to-end figures then show how well host work
    overlaps device time.
    """
    rng = np.random.default_rng(0)
    rows = 4 * batch_size
    # a pool of 8 batches' rows, each call a slice at another offset (a view, no copy): a
    # task's values vary from batch to batch, as p-value lookups and background samples of
    # real scores do (a fixed block would repeat the same values in every batch)
    pool = 8 * rows
    probs = torch.from_numpy(rng.uniform(0.01, 0.99, (pool, config.n_tasks)).astype(np.float32))
    attention = torch.from_numpy(rng.dirichlet(np.ones(config.n_bins), rows).astype(np.float32))

    def forward(self: Scorer, codes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n = codes.shape[0]
        if device_ms:
            time.sleep(device_ms / 1000)
        start = next(STUB_CALLS[0]) * 61 % (pool - rows + 1)
        return probs[start:start + n], attention[:n]

    def model(self: Scorer, codes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The raw outputs of passes with shared windows (an SNV drawn twice): both strands."""
        return forward(self, torch.cat([codes, codes]) if self.reverse_complement else codes)

    def average(self: Scorer, logits: torch.Tensor, attention: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """Sigmoid and strand averaging: device work on a GPU, none here."""
        n = len(logits) // 2 if self.reverse_complement else len(logits)
        return logits[:n], attention[:n]

    Scorer._forward = forward
    Scorer._model = model
    Scorer._average = average


def output(root: Path, fmt: str) -> str:
    """The output of format ``fmt`` (a file suffix, or ``parquet-dataset``: a directory)."""
    return f"{root}/out-dataset/" if fmt == "parquet-dataset" else f"{root}/out.{fmt}"


def run(vcf: Path, genome: Path, model: Path, out: str, batch_size: int,
        model_thread: bool = False, cpu: list[float] | None = None, **settings) -> float:
    """Wall seconds of one ``score_vcf`` (its process CPU seconds appended to ``cpu``)."""
    STUB_CALLS[0] = itertools.count()
    start, cpu_start = time.perf_counter(), time.process_time()
    tbvar.score_vcf(vcf, genome, model, output=out, device="cpu", batch_size=batch_size,
                    model_thread=model_thread, **settings)
    if cpu is not None:
        cpu.append(time.process_time() - cpu_start)
    return time.perf_counter() - start


def host_worker_settings(args: argparse.Namespace) -> list[tuple[str, int, int | None]]:
    """``(label, host workers, cores)`` per ``--host-workers`` setting (cores from ``--cores``,
    ``None``: every core this process may use)."""
    workers = [int(w) for w in args.host_workers.split(",")]
    cores: list[int | None] = ([int(c) for c in args.cores.split(",")] if args.cores
                               else [None] * len(workers))
    if len(cores) != len(workers):
        raise SystemExit("--cores needs one value per --host-workers setting")
    return [(f"host_workers_{w}" if c is None else f"cores_{c}_host_workers_{w}", w, c)
            for w, c in zip(workers, cores, strict=True)]


def host_worker_runs(vcf: Path, genome: Path, model: Path, root: Path,
                     args: argparse.Namespace) -> dict[str, dict]:
    """Each format with every ``--host-workers`` setting, ``args.repeats`` times, interleaved;
    wall and CPU seconds (main process, workers) and ratios against the first setting.

    With ``--cores``, a setting runs on that many of this process's CPUs (its affinity, which
    forked workers inherit, is restricted for the run and restored after it)."""
    settings = host_worker_settings(args)
    formats = args.formats.split(",")
    allowed = sorted(os.sched_getaffinity(0))
    runs = {fmt: {label: {"seconds": [], "main_cpu": [], "workers_cpu": []}
                  for label, _, _ in settings} for fmt in formats}
    for repeat in range(args.repeats):
        for fmt in formats:
            for label, w, cores in settings[repeat % len(settings):] + \
                    settings[:repeat % len(settings)]:
                os.sched_setaffinity(0, allowed[:cores] if cores else allowed)
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                main_cpu: list[float] = []
                try:
                    seconds = run(vcf, genome, model, output(root, fmt), args.batch_size,
                                  bool(args.device_ms), main_cpu, host_workers=w)
                finally:
                    os.sched_setaffinity(0, allowed)
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                row = runs[fmt][label]
                row["seconds"].append(round(seconds, 3))
                row["main_cpu"].append(round(main_cpu[0], 3))
                row["workers_cpu"].append(round(after.ru_utime + after.ru_stime
                                                - before.ru_utime - before.ru_stime, 3))
    results = {}
    for fmt, by_setting in runs.items():
        out: dict[str, dict] = {}
        for label, row in by_setting.items():
            median = statistics.median(row["seconds"])
            out[label] = {
                **row, "median_seconds": median, "variants_per_s": round(args.n / median, 1),
                "main_cpu_us_per_variant": round(
                    statistics.median(row["main_cpu"]) / args.n * 1e6, 1),
                "workers_cpu_us_per_variant": round(
                    statistics.median(row["workers_cpu"]) / args.n * 1e6, 1),
                "cores_busy": round(statistics.median(
                    (m + w) / s for m, w, s in zip(row["main_cpu"], row["workers_cpu"],
                                                   row["seconds"], strict=True)), 2)}
        first = by_setting[settings[0][0]]["seconds"]
        for label, _, _ in settings[1:]:
            ratios = [a / b for a, b in zip(first, by_setting[label]["seconds"], strict=True)]
            out[f"ratio_{label}_to_{settings[0][0]}"] = round(statistics.median(ratios), 3)
            out[f"ratios_{label}_to_{settings[0][0]}"] = [round(r, 3) for r in ratios]
        results[fmt] = out
    return results


def build_background(genome: Path, model: Path, path: Path, n: int, batch_size: int,
                     sample_size: int) -> dict:
    """``tbvar calibrate`` of ``n`` random SNVs (stubbed forward); its time and file size."""
    start = time.perf_counter()
    background = calibrate(genome, model, path, source=BackgroundSource(random=n),
                           sample_size=sample_size, device="cpu", batch_size=batch_size)
    seconds = time.perf_counter() - start
    size = path.stat().st_size
    return {"variants": background.n, "sample_size": background.sample_size,
            "seconds": round(seconds, 3), "variants_per_s": round(background.n / seconds, 1),
            "bytes": size, "mb": round(size / 1e6, 2), "mib": round(size / 2**20, 2)}


#: ``--background`` configurations: score settings and where p-values are computed (the
#: background path is added).
SIGNIFICANCE = {"plain": (None, None),
                "background": (("lod", "diff"), "host"),
                "background_pz": (("lod", "diff", "p", "z"), "host"),
                "background_model": (("lod", "diff"), "model"),
                "background_pz_model": (("lod", "diff", "p", "z"), "model")}
#: CPU seconds spent in :class:`~tbvar.task_pvalues.ModelNull` (device work, here on the CPU).
DEVICE_CPU = [0.0]


def time_device_p_values() -> None:
    """Make the device's p-value work (``--p-values-on model``) cost the host what a GPU's
    costs it: each pass's results are computed once and memoised (a pass is a slice of the
    stub's probability pool, known by its address and shape; the stub's forward is
    precomputed the same way), and the CPU time of computing them is counted in
    :data:`DEVICE_CPU` (with one torch thread the calling thread's time is all of it).
    Without the memo the device work on this CPU would also evict the host's caches."""
    compute = ModelNull.__call__
    memo: dict[tuple, object] = {}

    def device(self: ModelNull, ref: torch.Tensor, alt: torch.Tensor):
        key = (ref.data_ptr(), alt.data_ptr(), tuple(ref.shape), self.with_p)  # one background
        if key not in memo:
            start = time.thread_time()
            memo[key] = compute(self, ref, alt)
            DEVICE_CPU[0] += time.thread_time() - start
        return memo[key]

    ModelNull.__call__ = device


def significance_runs(vcf: Path, genome: Path, model: Path, root: Path, background: Path,
                      args: argparse.Namespace) -> dict[str, dict]:
    """Each format in every :data:`SIGNIFICANCE` configuration, ``args.repeats`` times,
    interleaved (the order rotates per repeat); figures and ratios against ``plain``.

    Besides wall seconds, the process CPU seconds of each run (all threads): on a machine
    loaded by other jobs their ratio is the steadier figure (the pipeline uses < 1 core). The
    ``*_model`` configurations compute p-values with the model (``p_values_on="model"``,
    memoised per pass: :func:`time_device_p_values`): ``host_cpu_ratio`` leaves out the CPU
    time of that device work (:data:`DEVICE_CPU`), as the stub leaves out the forward pass —
    the host's figure on a GPU; ``cpu_ratio`` counts it where it was computed.
    """
    names = list(SIGNIFICANCE)
    formats = args.formats.split(",")
    seconds = {fmt: {name: [] for name in names} for fmt in formats}
    cpu = {fmt: {name: [] for name in names} for fmt in formats}
    host_cpu = {fmt: {name: [] for name in names} for fmt in formats}
    for repeat in range(args.repeats):
        for fmt in formats:
            shift = repeat % len(names)
            for name in names[shift:] + names[:shift]:
                scores, where = SIGNIFICANCE[name]
                settings = {} if scores is None else {"background": background,
                                                      "scores": scores, "p_values_on": where}
                DEVICE_CPU[0] = 0.0
                seconds[fmt][name].append(run(vcf, genome, model, output(root, fmt),
                                              args.batch_size, bool(args.device_ms),
                                              cpu[fmt][name], **settings))
                host_cpu[fmt][name].append(cpu[fmt][name][-1] - DEVICE_CPU[0])
    results = {}
    for fmt, by_name in seconds.items():
        row = {name: {"seconds": [round(s, 3) for s in times],
                      "cpu_seconds": [round(s, 3) for s in cpu[fmt][name]],
                      "host_cpu_seconds": [round(s, 3) for s in host_cpu[fmt][name]],
                      "median_seconds": round(statistics.median(times), 3),
                      "variants_per_s": round(args.n / statistics.median(times), 1)}
               for name, times in by_name.items()}
        for name in names[1:]:
            for label, figures in (("ratio", by_name), ("cpu_ratio", cpu[fmt]),
                                   ("host_cpu_ratio", host_cpu[fmt])):
                ratios = [plain / other for plain, other in
                          zip(figures["plain"], figures[name], strict=True)]
                row[f"{label}_{name}_to_plain"] = round(statistics.median(ratios), 3)
                row[f"{label}s_{name}_to_plain"] = [round(r, 3) for r in ratios]
        results[fmt] = row
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100_000, help="SNVs in the VCF")
    parser.add_argument("--formats", default="vcf,vcf.gz,tsv,tsv.gz,parquet")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--device-ms", type=float, default=0.0,
                        help="simulated device time per forward call (batch), in ms")
    parser.add_argument("--sequence-length", type=int, default=CONFIG.sequence_length,
                        help="window length L (default 100; 1000: the paper's window, "
                        "kernel and pooling: 75 attention bins)")
    parser.add_argument("--tasks", type=int, default=CONFIG.n_tasks,
                        help="model tasks (690 = the paper's; TSV/Parquet carry every task)")
    parser.add_argument("--background", action="store_true", help="measure the cost of "
                        "p/z/q: with and without a background built by tbvar calibrate")
    parser.add_argument("--background-n", type=int, default=10_000,
                        help="random SNVs in the background (default 10000)")
    parser.add_argument("--sample-size", type=int, default=8192,
                        help="background sample size k (default 8192, tbvar's default)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="interleaved repeats per configuration (--background, "
                        "--host-workers)")
    parser.add_argument("--host-workers", metavar="LIST", help="compare host worker "
                        "settings, e.g. 1,2 (tbvar score --host-workers)")
    parser.add_argument("--cores", metavar="LIST", help="with --host-workers: the CPUs each "
                        "setting may use, e.g. 1,2 (default: all of this process's)")
    args = parser.parse_args()
    load_start = os.getloadavg()
    torch.set_num_threads(args.threads)
    config = dataclasses.replace(CONFIG, n_tasks=args.tasks, **(
        PAPER_WINDOW if args.sequence_length == 1000 else
        {"sequence_length": args.sequence_length}))
    stub_forward(args.batch_size, config, args.device_ms)
    time_device_p_values()
    # with a simulated device, compare the CPU pipeline (model in the scoring thread) with the
    # accelerator pipeline (model in its own thread); otherwise the CPU pipeline only
    stages = {"model_thread_off": False, "model_thread_on": True} if args.device_ms else {
        "model_thread_off": False}
    results: dict[str, dict] = {}
    extra: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        genome, model, vcfs = make_inputs(root, [args.n], config=config)
        run(vcfs[args.n], genome, model, root / "warmup.tsv", args.batch_size)  # genome cache
        if args.background:
            path = root / "background.safetensors"
            extra["background"] = build_background(genome, model, path, args.background_n,
                                                   args.batch_size, args.sample_size)
            results = significance_runs(vcfs[args.n], genome, model, root, path, args)
        elif args.host_workers:
            results = host_worker_runs(vcfs[args.n], genome, model, root, args)
        for fmt in args.formats.split(",") if not (args.background or args.host_workers) \
                else []:
            for name, on in stages.items():
                seconds = run(vcfs[args.n], genome, model, output(root, fmt),
                              args.batch_size, model_thread=on)
                results.setdefault(fmt, {})[name] = {
                    "seconds": round(seconds, 3), "variants_per_s": round(args.n / seconds, 1)}
            if args.device_ms:
                row = results[fmt]
                row["ratio_on_off"] = round(row["model_thread_on"]["variants_per_s"]
                                            / row["model_thread_off"]["variants_per_s"], 3)
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    print(json.dumps({"benchmark": "pipeline_capacity", "commit": commit,
                      "tbvar": str(Path(tbvar.__file__).parent),
                      "variants": args.n, "tasks": args.tasks,
                      "sequence_length": config.sequence_length, "batch_size": args.batch_size,
                      "device_ms_per_batch": args.device_ms,
                      "torch_threads": args.threads, "machine": platform.machine(),
                      "cpus": len(os.sched_getaffinity(0)),
                      "loadavg_start": [round(x, 2) for x in load_start],
                      "loadavg_end": [round(x, 2) for x in os.getloadavg()],
                      "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
                      **extra, "results": results}, indent=2))


if __name__ == "__main__":
    main()
