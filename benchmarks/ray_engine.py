"""The Ray engine on this machine: throughput with 1 and 2 workers beside the single process,
and the driver's assembly capacity.

1. *Throughput*: one SNV VCF (bgzipped and tabix-indexed, so the workers read it) on a random
   one-contig genome, scored by the example-size model (L = 220, 32 kernels, 16 LSTM units, 4
   tasks, random weights) on the CPU: the single process (``engine='local'``, torch's default
   threads), then ``engine='ray'`` with 1 and 2 workers on a local Ray cluster of the machine's
   cores, each worker with one torch thread; the single process also with one thread, whose
   output ``identical_to_local`` compares byte for byte. Each Ray configuration runs twice:
   the first run includes starting the workers (``cold``), the second reuses them (``warm``).
2. *Assembly capacity*: the part of a run that only the driver does, timed on pre-made parts
   (690 tasks, the forward pass stubbed as in ``pipeline_capacity.py``): each writer's
   ``assemble`` from the chunks' parts, and adding up the stored counts of every chunk
   (``write_run`` reads each chunk's JSON); and, for an input without an index, the driver's
   reading of it into chunks (what it ships to the workers). Figures in variants/s.

Prints one JSON document, with the niceness Ray gives its workers (15 unless
``RAY_worker_niceness`` says otherwise: on a machine shared with other jobs, workers at 15 get
less CPU than the single process) and the load average.

Usage::

    [RAY_worker_niceness=0] python benchmarks/ray_engine.py [--n 20000] [--assembly-n 20000]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import platform
import subprocess
import tempfile
import time
from pathlib import Path

import pysam
import ray
import torch
from memory_rss import CONFIG, make_inputs
from pipeline_capacity import stub_forward

import tbvar
from tbvar.engine import LocalEngine
from tbvar.formats import WriterContext, make_writer
from tbvar.model import TBiNetConfig
from tbvar.options import RunOptions, ScoreOptions
from tbvar.output import ChunkSaver, score_into
from tbvar.partial import PartialRun
from tbvar.ray_engine import close_workers
from tbvar.run_setup import load_model, make_stage, open_genome, run_metadata
from tbvar.run_summary import RunSummary
from tbvar.variants import SourceChunks
from tbvar.vcf_reader import VcfSource

REPO = Path(__file__).resolve().parents[1]
EXAMPLE_SIZE = TBiNetConfig(sequence_length=220, n_kernels=32, lstm_units=16, dense_units=32,
                            n_tasks=4)
#: Outputs whose parts are made in one scoring pass (parts of one name per pass).
ASSEMBLY_PASSES = ((".vcf", ".tsv", ".parquet", "/"), (".vcf.gz", ".tsv.gz"), (".bcf",))


def _niceness() -> int:
    """This process's niceness (run as a Ray task: a worker's)."""
    return os.nice(0)


def _bytes(out: str) -> dict[str, bytes]:
    path = Path(out)
    files = sorted(path.iterdir()) if path.is_dir() else [path]
    return {f.name: f.read_bytes() for f in [*files, Path(f"{out.rstrip('/')}.summary.json")]}


def throughput(root: Path, n: int, suffix: str, batch_size: int) -> dict:
    """Single process, then Ray with 1 and 2 workers (cold, warm) on the same indexed VCF."""
    genome, model, vcfs = make_inputs(root, [n], config=EXAMPLE_SIZE)
    vcf = root / "snvs.vcf.gz"
    pysam.tabix_compress(str(vcfs[n]), str(vcf))
    pysam.tabix_index(str(vcf), preset="vcf")
    settings = {"device": "cpu", "batch_size": batch_size}
    tbvar.score_vcf(vcf, genome, model, output=root / "warmup.tsv", **settings)  # genome cache

    def timed(name: str, **extra: object) -> tuple[float, dict[str, bytes]]:
        out = f"{root}/{name}{suffix}"
        start = time.perf_counter()
        tbvar.score_vcf(vcf, genome, model, output=out, **settings, **extra)
        return time.perf_counter() - start, _bytes(out)

    threads = torch.get_num_threads()
    results = {}
    for name, count in (("single_process", threads), ("single_process_1_thread", 1)):
        torch.set_num_threads(count)
        seconds, local = timed(name)
        results[name] = {"torch_threads": count, "seconds": round(seconds, 2),
                         "variants_per_s": round(n / seconds, 1)}
    torch.set_num_threads(threads)
    for workers in (1, 2):
        row = {}
        for run in ("cold", "warm"):
            seconds, out = timed(f"ray{workers}_{run}", engine="ray", workers=workers)
            row[run] = {"seconds": round(seconds, 2), "variants_per_s": round(n / seconds, 1)}
        row["identical_to_local"] = {k.replace(f"ray{workers}_warm", "single_process_1_thread"):
                                     v for k, v in out.items()} == local
        for name in ("single_process", "single_process_1_thread"):
            row[f"warm_speedup_vs_{name}"] = round(results[name]["seconds"]
                                                   / row["warm"]["seconds"], 3)
        results[f"ray_{workers}_workers"] = row
        close_workers()
    return results


def assembly(root: Path, n: int, tasks: int, chunk_size: int) -> dict:
    """Seconds and variants/s of each writer's assembly from pre-made parts, and of adding up
    the stored counts."""
    config = dataclasses.replace(CONFIG, n_tasks=tasks)
    stub_forward(128, config)
    genome, model, vcfs = make_inputs(root, [n], config=config)
    options, run = ScoreOptions(), RunOptions(device="cpu")
    net = load_model(model)
    stage = make_stage(net, open_genome(genome, {}), options, run, None)
    source = VcfSource(vcfs[n])
    context = WriterContext(stage.template, run_metadata(net, genome, options, run),
                            source.header, True)
    results: dict[str, dict] = {}
    for number, suffixes in enumerate(ASSEMBLY_PASSES):
        store = PartialRun(root / f"pass{number}", {})
        writers = {suffix: make_writer(f"{root}/out{suffix}", None, context)
                   for suffix in suffixes}
        _, n_chunks = score_into(LocalEngine(stage), SourceChunks(VcfSource(vcfs[n]),
                                                                  chunk_size),
                                 ChunkSaver(store, list(writers.values())), "skip")
        for suffix, writer in writers.items():
            target = store.scratch(f"{writer.part}{number}")
            start = time.perf_counter()
            writer.assemble(target, store.parts(writer.part, n_chunks), ["##extra=1"])
            seconds = time.perf_counter() - start
            name = {"/": "parquet-dataset"}.get(suffix, suffix.lstrip("."))
            results[name] = {"seconds": round(seconds, 3), "variants_per_s": round(n / seconds)}
        if number == 0:
            start = time.perf_counter()
            summary = RunSummary()
            for index in range(n_chunks):
                summary.merge(RunSummary.from_dict(store.info(index)["summary"]))
            seconds = time.perf_counter() - start
            results["stored_counts"] = {"seconds": round(seconds, 3),
                                        "variants_per_s": round(n / seconds)}
        store.remove()
    start = time.perf_counter()
    chunks = sum(1 for _ in SourceChunks(VcfSource(vcfs[n]), chunk_size))
    seconds = time.perf_counter() - start
    results["driver_reads_unindexed_input"] = {"chunks": chunks, "seconds": round(seconds, 3),
                                               "variants_per_s": round(n / seconds)}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=20_000, help="SNVs scored for throughput")
    parser.add_argument("--output-suffix", default=".vcf.gz")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--assembly-n", type=int, default=20_000, help="SNVs in the parts")
    parser.add_argument("--tasks", type=int, default=690, help="model tasks for assembly")
    parser.add_argument("--chunk-size", type=int, default=1024)
    args = parser.parse_args()
    cpus = len(os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        os.environ["TBVAR_CACHE"] = str(root / "cache")
        ray.init(num_cpus=cpus, include_dashboard=False, logging_level=logging.WARNING)
        niceness = ray.get(ray.remote(num_cpus=1)(_niceness).remote())
        (root / "throughput").mkdir()
        speed = throughput(root / "throughput", args.n, args.output_suffix, args.batch_size)
        ray.shutdown()
        (root / "assembly").mkdir()
        capacity = assembly(root / "assembly", args.assembly_n, args.tasks, args.chunk_size)
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    print(json.dumps({
        "benchmark": "ray_engine", "commit": commit, "machine": platform.machine(),
        "cpus": cpus, "ray": ray.__version__, "ray_worker_niceness": niceness,
        "load_average_1min_at_end": round(os.getloadavg()[0], 2),
        "throughput": {"variants": args.n, "model": dataclasses.asdict(EXAMPLE_SIZE),
                       "output": args.output_suffix, "batch_size": args.batch_size,
                       "results": speed},
        "assembly": {"variants": args.assembly_n, "tasks": args.tasks,
                     "chunk_size": args.chunk_size, "results": capacity},
    }, indent=2))


if __name__ == "__main__":
    main()
