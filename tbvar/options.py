"""Option objects of a scoring run: what is scored (:class:`ScoreOptions`) and how the run
executes (:class:`RunOptions`).

``ScoreOptions`` decide the numbers and rows of the output: two runs with equal
``ScoreOptions`` on the same input, model and genome give the same scores. ``RunOptions`` decide
where and how fast the work runs; of them only ``batch_size`` and ``precision`` can change the
last float32 bits (BLAS kernels change with batch shape; bf16/fp16 round). The API functions
take the fields of both as keyword arguments (:func:`split_settings`) or the objects themselves.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from tbvar.scores import CALIBRATED_SCORES, TASK_SCORES
from tbvar.scoring import PRECISIONS
from tbvar.variants import REF_MISMATCH_POLICIES
from tbvar.windows import ANCHORS

ORIENTATIONS = ("genome", "input")

#: Where a run's scoring stage runs: this process, or a Ray cluster.
ENGINES = ("local", "ray")
#: Most host worker processes by default (``RunOptions.host_workers``): about as many as keep
#: up with the main process (reading the input, the model: 12.7-14.2 µs of CPU per variant at
#: 690 tasks, a worker 132-240 µs; benchmarks/RESULTS.md), so a 16-core GPU host uses 15.
MAX_HOST_WORKERS = 16
#: Where a background run computes p-values (``RunOptions.p_values_on``).
P_VALUES_ON = ("auto", "model", "host")
#: ``RunOptions.batch_size`` chosen from the accelerator's memory (:mod:`tbvar.batch_size`).
AUTO = "auto"


@dataclass(frozen=True, kw_only=True)
class ScoreOptions:
    """What is scored (see ``tbvar score --help``).

    Attributes
    ----------
    scores
        Per-task scores in table outputs, from :data:`tbvar.scores.TASK_SCORES`.
    tasks
        Task selectors (output index, target, cell type or label); ``None``: all tasks.
    top_k
        Tasks listed per variant by |lod|.
    reverse_complement
        Average the forward and reverse-complement passes.
    max_allele_length
        Longer REF/ALT get status ``too_long``.
    ref_mismatch
        ``skip``, ``flip`` or ``use-vcf`` (:mod:`tbvar.variants`).
    contig_map
        VCF contig → FASTA contig, tried before automatic name harmonisation.
    background
        A background file (``tbvar calibrate``): adds p-values (``p``, ``z`` scores, per
        variant ``min_p``, ``min_p_task``, ``combined_p``, ``q``).
    force_background
        Use a background built for another model, genome or option set (recorded).
    strict
        Make the input-sanity warnings (:mod:`tbvar.run_summary`) errors.
    anchor
        Window placement (:data:`tbvar.windows.ANCHORS`): ``center`` (the first REF base at
        index L/2, tbvar's default) or ``deepsea`` (index L/2 − 1, to reproduce DeepSEA-,
        ExPecto- and Selene-style numbers).
    orientation
        For rows swapped by ``ref_mismatch="flip"``: ``genome`` (default) scores them from the
        genome's allele (the input's ALT) to the input's REF and reports the alleles that way
        round; ``input`` keeps the input's orientation (scores measure the input's ALT against
        its REF, as for every other row). Summary statistics use ``input``: the effect allele
        against the other allele.
    """

    scores: tuple[str, ...] = ("lod", "diff")
    tasks: tuple[str, ...] | None = None
    top_k: int = 5
    reverse_complement: bool = True
    max_allele_length: int = 100
    ref_mismatch: str = "skip"
    contig_map: Mapping[str, str] = field(default_factory=dict)
    background: str | None = None
    force_background: bool = False
    strict: bool = False
    anchor: str = "center"
    orientation: str = "genome"

    def __post_init__(self) -> None:
        object.__setattr__(self, "scores", tuple(self.scores))
        if self.tasks is not None:
            object.__setattr__(self, "tasks", tuple(str(t) for t in self.tasks))
        object.__setattr__(self, "contig_map", dict(self.contig_map))
        unknown = [s for s in self.scores if s not in TASK_SCORES]
        if unknown:
            raise ValueError(f"unknown score(s) {unknown}; choose from {', '.join(TASK_SCORES)}")
        needing = [s for s in self.scores if s in CALIBRATED_SCORES]
        if needing and self.background is None:
            raise ValueError(f"score(s) {', '.join(needing)} need a background (--background "
                             "BG, made by 'tbvar calibrate')")
        if self.background is not None:
            object.__setattr__(self, "background", str(self.background))
        if self.anchor not in ANCHORS:
            raise ValueError(f"anchor must be one of {tuple(ANCHORS)}")
        if self.orientation not in ORIENTATIONS:
            raise ValueError(f"orientation must be one of {ORIENTATIONS}")
        if self.top_k < 0:
            raise ValueError("top_k must be >= 0")
        if self.ref_mismatch not in REF_MISMATCH_POLICIES:
            raise ValueError(f"ref_mismatch must be one of {REF_MISMATCH_POLICIES}")


@dataclass(frozen=True, kw_only=True)
class RunOptions:
    """How a run executes.

    Attributes
    ----------
    device
        ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
    batch_size
        Variants per forward pass (each is 4 sequences with reverse complements), or ``"auto"``:
        chosen from the accelerator's free memory before the run (:mod:`tbvar.batch_size`).
    precision
        ``fp32``, ``bf16`` or ``fp16`` (CUDA only).
    chunk_size
        Records per chunk: the unit of memory use, of output parts and of ``resume``.
    progress
        Show progress: a bar on a terminal, else a line every ``progress_interval`` seconds.
    progress_interval
        Seconds between progress lines when standard error is not a terminal.
    model_thread
        Run the model in its own pipeline stage; ``None``: on accelerators only (on the CPU
        the model's own threads already use every core).
    resume
        Continue an interrupted run into the same output.
    command
        The command line recorded in output headers.
    notify
        Receives one-line notes (e.g. about resuming).
    host_workers
        Processes that prepare, finish, encode and save chunks while this process runs the
        model (:mod:`tbvar.host_engine`; output byte-identical); 1: the threads of one process
        (:class:`~tbvar.engine.LocalEngine`); ``None``: 1 on the CPU (the model's own threads
        use every core), on accelerators the usable cores minus one, at most
        :data:`MAX_HOST_WORKERS`. With more than 1 the model runs in the calling thread
        (``model_thread`` does not apply).
    engine
        ``local`` (this process) or ``ray`` (a Ray cluster's workers, :mod:`tbvar.ray_engine`;
        needs ``pip install tbvar[ray]``).
    ray_address
        The Ray cluster to join (``auto``, ``HOST:PORT``); ``None``: the one this process
        is connected to, ``RAY_ADDRESS``, or a new local one.
    workers
        Ray workers, each holding one model; ``None``: one per GPU (``gpus_per_worker``
        each) of the cluster, or one per CPU core without GPUs.
    gpus_per_worker
        GPUs each Ray worker holds (fractions share a GPU); ``None``: 1 when the workers run
        on CUDA, else 0.
    p_values_on
        Where a background run computes its p-values (:mod:`tbvar.task_pvalues`; the output
        is the same, byte for byte): ``model`` (the model's device), ``host`` (numpy, in the
        host workers) or ``auto``: ``model`` on CUDA, ``host`` on the CPU (where numpy's
        lookups take less CPU time than torch's and host workers share them).
    cuda_graphs
        On CUDA, replay the model's full passes from a CUDA graph (:mod:`tbvar.cuda_graphs`;
        the same outputs, bit for bit, checked at capture; off by default until measured on
        a GPU). ``batch_size="auto"`` then leaves room for the graph's memory.
    """

    device: str = "auto"
    batch_size: int | str = 128
    precision: str = "fp32"
    chunk_size: int = 1024
    progress: bool = False
    progress_interval: float = 30.0
    model_thread: bool | None = None
    resume: bool = False
    command: str | None = None
    notify: Callable[[str], None] | None = None
    host_workers: int | None = None
    engine: str = "local"
    ray_address: str | None = None
    workers: int | None = None
    gpus_per_worker: float | None = None
    p_values_on: str = "auto"
    cuda_graphs: bool = False

    def __post_init__(self) -> None:
        if self.p_values_on not in P_VALUES_ON:
            raise ValueError(f"p_values_on must be one of {P_VALUES_ON}")
        if self.engine not in ENGINES:
            raise ValueError(f"engine must be one of {ENGINES}")
        cluster = {"ray_address": self.ray_address, "workers": self.workers,
                   "gpus_per_worker": self.gpus_per_worker}
        given = [name for name, value in cluster.items() if value is not None]
        if given and self.engine != "ray":
            raise ValueError(f"{', '.join(given)} need(s) engine='ray'")
        if self.host_workers is not None and self.engine != "local":
            raise ValueError("host_workers needs engine='local' (Ray workers are processes "
                             "of their own)")
        if self.host_workers is not None and self.host_workers < 1:
            raise ValueError("host_workers must be positive")
        if self.workers is not None and self.workers < 1:
            raise ValueError("workers must be positive")
        if self.gpus_per_worker is not None and self.gpus_per_worker < 0:
            raise ValueError("gpus_per_worker must be >= 0")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {tuple(PRECISIONS)}")
        if self.batch_size != AUTO and (not isinstance(self.batch_size, int)
                                        or self.batch_size < 1):
            raise ValueError(f"batch_size must be a positive integer or {AUTO!r}")
        if self.chunk_size < 1:
            raise ValueError("chunk_size must be positive")


def p_values_on_model(run: RunOptions, device: torch.device) -> bool:
    """Whether a background run on ``device`` computes its p-values there."""
    return run.p_values_on == "model" or (run.p_values_on == "auto" and device.type == "cuda")


def host_workers(run: RunOptions, device: str) -> int:
    """The run's host worker processes on ``device`` (a resolved device: ``cpu``, ``cuda:0``,
    ...): ``run.host_workers``, or its default."""
    if run.host_workers is not None:
        return run.host_workers
    if device == "cpu":
        return 1
    return max(1, min(MAX_HOST_WORKERS, len(os.sched_getaffinity(0)) - 1))


def split_settings(settings: Mapping[str, Any], options: ScoreOptions | None = None,
                   run: RunOptions | None = None) -> tuple[ScoreOptions, RunOptions]:
    """Keyword settings (fields of either class) applied over ``options`` and ``run``.

    Raises
    ------
    TypeError
        A setting that is a field of neither class.
    """
    names = {cls: {f.name for f in dataclasses.fields(cls)} for cls in (ScoreOptions, RunOptions)}
    unknown = sorted(set(settings) - names[ScoreOptions] - names[RunOptions])
    if unknown:
        raise TypeError(f"unknown option(s) {unknown}; options are "
                        f"{', '.join(sorted(names[ScoreOptions] | names[RunOptions]))}")
    what = {k: v for k, v in settings.items() if k in names[ScoreOptions]}
    how = {k: v for k, v in settings.items() if k in names[RunOptions]}
    return (dataclasses.replace(options or ScoreOptions(), **what),
            dataclasses.replace(run or RunOptions(), **how))


def calibration_options(options: ScoreOptions, run: RunOptions) -> dict[str, Any]:
    """The options that change background scores: a background and a scoring run using it
    must agree on them (:mod:`tbvar.background`)."""
    return {"reverse_complement": options.reverse_complement, "precision": run.precision,
            "ref_mismatch": options.ref_mismatch,
            "max_allele_length": options.max_allele_length, "anchor": options.anchor}
