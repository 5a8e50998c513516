"""``--batch-size auto``: the batch size an accelerator's free memory allows.

On CUDA a probe batch of :data:`PROBE_VARIANTS` variants (random windows, the run's precision
and strands) measures the peak memory one variant's forward pass needs; the batch then takes
:data:`MEMORY_SHARE` of the device's free memory, rounded down to a multiple of 64 variants
and capped at :data:`MAX_BATCH` (beyond that a larger batch no longer raises throughput, and
the run's chunk caps it anyway). With ``--cuda-graphs`` each variant counts
:data:`GRAPH_MEMORY_FACTOR` times and the cap is :func:`graph_batch_cap`. On the CPU ``auto``
is :data:`CPU_BATCH`: the forward pass works through a batch in cache-sized sub-batches, so a
larger one gains nothing.

The choice is made once, before anything is scored, and recorded like any batch size (it can
change the last float32 bits of scores, see :mod:`tbvar.options`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np
import torch

from tbvar.options import AUTO, RunOptions, ScoreOptions
from tbvar.scoring import Scorer, resolve_device

PROBE_VARIANTS = 64
MEMORY_SHARE = 0.6
MAX_BATCH = 8192
CPU_BATCH = 128
#: Memory per variant with ``--cuda-graphs``, in eager passes' memory: the graph's pool and
#: the eager passes (a chunk's shorter last pass) each hold a pass's activations.
GRAPH_MEMORY_FACTOR = 2
#: Full passes a chunk of SNVs holds at the largest ``auto`` batch with ``--cuda-graphs``.
GRAPH_PASSES_PER_CHUNK = 2


def batch_for_memory(free_bytes: int, bytes_per_variant: float, cap: int = MAX_BATCH) -> int:
    """Variants per batch that fit :data:`MEMORY_SHARE` of ``free_bytes`` (a multiple of 64
    when that is at least 64, never below 1, at most ``cap``)."""
    fitting = int(MEMORY_SHARE * free_bytes // max(bytes_per_variant, 1.0))
    if fitting >= 64:
        fitting -= fitting % 64
    return max(1, min(fitting, cap))


def probe_bytes_per_variant(score: Callable[[np.ndarray, np.ndarray], object],
                            length: int, device: torch.device) -> float:
    """Peak CUDA memory of scoring :data:`PROBE_VARIANTS` random variants, per variant.

    ``score`` is a scorer's ``score(ref_windows, alt_windows)`` with the run's settings (and a
    batch size of at least :data:`PROBE_VARIANTS`).
    """
    rng = np.random.default_rng(0)
    ref = rng.integers(0, 4, (PROBE_VARIANTS, length), dtype=np.uint8)
    alt = rng.integers(0, 4, (PROBE_VARIANTS, length), dtype=np.uint8)
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    before = torch.cuda.memory_allocated(device)
    score(ref, alt)
    torch.cuda.synchronize(device)
    return (torch.cuda.max_memory_allocated(device) - before) / PROBE_VARIANTS


def resolve_batch_size(net: torch.nn.Module, options: ScoreOptions,
                       run: RunOptions) -> RunOptions:
    """``run`` with ``batch_size="auto"`` replaced by the chosen number (else unchanged)."""
    if run.batch_size != AUTO:
        return run
    device = resolve_device(run.device)
    if device.type != "cuda":
        return replace(run, batch_size=CPU_BATCH)
    scorer = Scorer(net, device=device, batch_size=PROBE_VARIANTS, precision=run.precision,
                    reverse_complement=options.reverse_complement)
    per_variant = probe_bytes_per_variant(scorer.score, scorer.sequence_length, device)
    free, _ = torch.cuda.mem_get_info(device)
    if not run.cuda_graphs:
        return replace(run, batch_size=batch_for_memory(free, per_variant))
    # a CUDA graph keeps one full pass's memory beside that of the eager passes, and replays
    # only full passes: a chunk should hold several
    return replace(run, batch_size=batch_for_memory(
        free, per_variant * GRAPH_MEMORY_FACTOR, graph_batch_cap(run.chunk_size)))


def graph_batch_cap(chunk_size: int) -> int:
    """The largest ``auto`` batch with CUDA graphs: :data:`GRAPH_PASSES_PER_CHUNK` full passes
    in a chunk of SNVs (a chunk's shorter last pass runs without the graph)."""
    return max(1, min(MAX_BATCH, chunk_size // GRAPH_PASSES_PER_CHUNK))
