"""Building a run's pieces from what a caller gives: the model, the genome, the option
objects, the background and the scoring stage, and the run's provenance.

Shared by the API (:mod:`tbvar.api`), ``tbvar calibrate``, ``tbvar explain``, ``tbvar
motifs`` and the cluster engine (:mod:`tbvar.ray_engine`), which builds the same stage on each
worker.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

from torch import nn

from tbvar.background import MIN_RECOMMENDED, Background, BackgroundError, mismatches
from tbvar.checkpoint import load_model as load_checkpoint
from tbvar.genome import Genome, read_contig_map
from tbvar.log_odds import LOGIT_EPS
from tbvar.options import (
    RunOptions,
    ScoreOptions,
    calibration_options,
    p_values_on_model,
    split_settings,
)
from tbvar.registry import resolve_model
from tbvar.scoring import Scorer
from tbvar.stage import ScoringStage
from tbvar.tasks import select_tasks, task_labels
from tbvar.version import __version__

PathLike = str | os.PathLike[str]


def load_model(model: PathLike | nn.Module | None = None, device: str = "cpu") -> nn.Module:
    """Load a model; the returned module carries its metadata as ``.info``.

    Parameters
    ----------
    model
        A registry name (``None``: the published TBiNet, ``"tbinet"``; installed in the cache
        on first use), a ``.safetensors`` tbvar model of any architecture, or a Keras TBiNet
        ``.h5`` file (converted once and cached); an already loaded model is returned as is.
    device
        Device to place the model on.
    """
    if isinstance(model, nn.Module):
        return model
    loaded, info = load_checkpoint(resolve_model(model),
                                   device="cpu" if device == "auto" else device)
    loaded.info = info
    return loaded


def run_metadata(model: nn.Module, genome: PathLike | Genome, options: ScoreOptions,
                 run: RunOptions, background: Background | None = None,
                 forced: Sequence[str] = ()) -> dict[str, str]:
    """Provenance written into output headers / Parquet metadata (``forced``: how the
    background differs from this run, when ``force_background`` allowed it)."""
    info = getattr(model, "info", None)
    meta = {
        "version": __version__,
        "model": (f"{info.path} sha256={info.sha256} ({info.description or 'no description'})"
                  if info is not None else "in-memory model"),
        "tasks_source": (info.task_source or "model file") if info is not None else "generic",
        "genome": (f"{genome.path} ({genome.identity})" if isinstance(genome, Genome)
                   else str(genome)),
        "logit_eps": repr(LOGIT_EPS),
        "rc_average": str(options.reverse_complement).lower(),
        "precision": run.precision,
        "ref_mismatch": options.ref_mismatch,
    }
    if info is not None and info.random_weights:
        meta["warning"] = "the model has RANDOM weights; scores are meaningless"
    if options.anchor != "center":
        meta["anchor"] = f"{options.anchor} (first REF base at window index L/2 - 1)"
    if run.command:
        meta["command"] = run.command
    if background is not None:
        meta["background"] = (f"{background.path} sha256={background.sha256} n={background.n} "
                              f"sample={background.sample_size}")
        meta["background_source"] = json.dumps(background.meta.get("source"), sort_keys=True)
        if forced:
            meta["background_forced"] = "; ".join(forced)
    return meta


def load_run_background(options: ScoreOptions, run: RunOptions, net: nn.Module,
                        genome: Genome) -> tuple[Background | None, list[str]]:
    """The run's background (checked against the model, genome and options) and how it
    differs when ``force_background`` allows a difference."""
    if options.background is None:
        return None, []
    background = Background.load(options.background)
    model_sha = getattr(getattr(net, "info", None), "sha256", None)
    found = mismatches(background, model_sha, genome.assembly_id,
                       calibration_options(options, run))
    if found and not options.force_background:
        raise BackgroundError(f"{background.path}: built for another "
                              f"{'; '.join(found)}; rebuild it with 'tbvar calibrate' or pass "
                              "--force-background")
    if run.notify is not None and found:
        run.notify(f"warning: using background {background.path} built for another "
                   f"{'; '.join(found)} (--force-background)")
    if run.notify is not None and background.n < MIN_RECOMMENDED:
        run.notify(f"warning: background {background.path} has only {background.n} variants "
                   f"(p-values cannot go below 1/{background.sample_size + 1})")
    return background, found


def task_selection(net: nn.Module, selectors: Sequence[str] | None
                    ) -> tuple[list[str], list[int] | None]:
    """Labels of all the model's tasks and the indices ``selectors`` pick (``None``: all)."""
    info = getattr(net, "info", None)
    if info is None:
        return [f"task{j}" for j in range(net.config.n_tasks)], None
    return task_labels(info.tasks), select_tasks(info.tasks, selectors)


def open_genome(genome: PathLike | Genome | Any, contig_map: Mapping[str, str]) -> Genome:
    """A :class:`Genome` for a path (with ``contig_map``), the given open one, or the file of
    an open ``pyfaidx.Fasta`` / ``pysam.FastaFile`` (anything with a ``filename``)."""
    filename = getattr(genome, "filename", None)
    if filename is not None and not isinstance(genome, Genome):
        genome = os.fsdecode(filename)
    if not isinstance(genome, Genome):
        return Genome(genome, contig_map=dict(contig_map))
    if contig_map:
        raise ValueError("contig_map applies to a genome given as a path; pass it to "
                         "Genome(..., contig_map=...) instead")
    return genome


def resolve_settings(settings: dict[str, Any], options: ScoreOptions | None,
                     run: RunOptions | None) -> tuple[ScoreOptions, RunOptions]:
    """Option objects from keyword settings; a ``contig_map`` path is read here."""
    contig_map = settings.get("contig_map")
    if isinstance(contig_map, (str, os.PathLike)):
        settings = {**settings, "contig_map": read_contig_map(contig_map)}
    elif contig_map is None:
        settings.pop("contig_map", None)
    return split_settings(settings, options, run)


def make_stage(net: nn.Module, genome: Genome, options: ScoreOptions, run: RunOptions,
               background: Background | None) -> ScoringStage:
    """The scoring stage of a loaded model and an open genome, with the run's device, batch
    size and precision."""
    labels, selected = task_selection(net, options.tasks)
    scorer = Scorer(net, device=run.device, batch_size=run.batch_size,
                    precision=run.precision, reverse_complement=options.reverse_complement,
                    cuda_graphs=run.cuda_graphs, notify=run.notify)
    return ScoringStage(genome, scorer, labels, selected, options, background,
                        p_values_on_model(run, scorer.device))
