"""``tbvar motifs`` (:func:`kernel_motifs`, also ``tbvar.kernel_motifs``): first-layer kernels
as motifs, matched to JASPAR.

The paper's interpretation of TBiNet (Park et al. 2020): each first-layer kernel becomes a
position probability matrix counted from the sequences at its maximal activation
(:mod:`tbvar.kernel_sites`), is matched against known motifs with TOMTOM
(:mod:`tbvar.motif_match`), and the matches are counted, including distinct motifs by edit
distance of consensus sequences (:mod:`tbvar.distinct_motifs`).

Output directory (written in a hidden staging directory beside it and renamed into place when
complete; nothing is left behind on an error):

- ``kernels.meme`` — every kernel with at least ``min_sites`` sites, MEME minimal format
  (``MOTIF kernel_K CONSENSUS``, ``nsites`` = its site count);
- ``kernels.tsv`` — one row per kernel, each with its status: ``too_few_sites``,
  ``uninformative`` (no informative core to match), ``no_match`` or ``matched``;
- ``matches.tsv`` — one row per match with q below the threshold;
- ``summary.json`` — inputs, parameters, counts, distinct motifs by edit distance;
- ``logos/kernel_K.png`` and ``.svg`` — each matched kernel above its best match
  (:func:`tbvar.plot_logos.logo_pair`).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from torch import nn
from tqdm import tqdm

from tbvar.atomic import commit_directory, staging_directory
from tbvar.checkpoint import file_sha256
from tbvar.distinct_motifs import EDIT_DISTANCES, distinct_counts
from tbvar.kernel_sites import KernelCounts, SiteCounter, first_layer
from tbvar.meme import Motif, jaspar_path, meme_text, read_meme
from tbvar.motif_inputs import SequenceSource
from tbvar.motif_match import MIN_OVERLAP, informative_core, tomtom_matches
from tbvar.run_setup import load_model
from tbvar.version import __version__

PathLike = str | os.PathLike[str]

DEFAULT_QVALUE = 0.05
DEFAULT_MIN_SITES = 10
DEFAULT_MIN_INFORMATION = 0.5
KERNEL_COLUMNS = ["kernel", "n_sites", "information", "consensus", "core_start", "core_end",
                  "status", "n_matches", "best_match_id", "best_match_name", "best_q"]
DEFINITIONS = {
    "sites": "per kernel and sequence, the kernel-wide subsequence at the maximal activation "
             "ReLU(conv + bias) when it is > 0 (first position among ties); bases counted per "
             "position into the kernel's position probability matrix",
    "information": "sum over columns of 2 - entropy (bits, uniform background)",
    "core": "columns from the first to the last of >= min_information bits; matched only when "
            "they average >= min_information bits per column (else 'uninformative')",
    "matching": "memelite tomtom (Euclidean distance, complete scores, both strands) of each "
                "kernel's core against every database motif; E = p x number of database "
                "motifs; q = Benjamini-Hochberg over the kernel's p-values against all "
                f"database motifs; matches overlapping < min({MIN_OVERLAP}, core width, motif "
                "width) columns are not reported",
    "offset": "kernel column i aligns with column i + offset of the database motif "
              "(orientation '+') or of its reverse complement ('-')",
    "distinct_motifs_by_edit_distance": "the distinct database motifs that are the best match "
                                        "of a kernel (best_matches) or any reported match "
                                        "(all_matches), joined when the Levenshtein distance "
                                        "between their consensus sequences is <= d; the count "
                                        "is the number of single-linkage clusters",
}


def kernel_motifs(model: PathLike | nn.Module, output: PathLike, *,
                  sequences: PathLike | None = None, genome: PathLike | None = None,
                  regions: PathLike | None = None, random: int | None = None, seed: int = 0,
                  database: PathLike | None = None, qvalue: float = DEFAULT_QVALUE,
                  min_sites: int = DEFAULT_MIN_SITES,
                  min_information: float = DEFAULT_MIN_INFORMATION, logos: bool = True,
                  device: str = "auto", batch_size: int = 256, overwrite: bool = False,
                  progress: bool = False, command: str | None = None) -> dict[str, Any]:
    """Turn the model's first-layer kernels into motifs and match them to a motif database.

    Parameters
    ----------
    model
        A TBiNet or DanQ model file (or loaded model); see :func:`tbvar.load_model`.
    output
        Directory to create (see the module docstring for its files).
    sequences
        FASTA of sequences of the model's length, or else
    genome
        a reference FASTA with ``regions`` (BED: windows tiling each interval) or ``random``
        (that many windows without N, drawn with ``seed``).
    database
        MEME file of known motifs (default: the bundled JASPAR 2024 CORE vertebrates,
        non-redundant).
    qvalue
        Report matches with q below this.
    min_sites
        Kernels with fewer sites are reported as ``too_few_sites`` and not matched.
    min_information
        Bits per column that bound a kernel's informative core (:mod:`tbvar.motif_match`).
    logos
        Draw ``logos/`` (needs matplotlib and logomaker).
    device, batch_size
        Where the first layer runs and how many sequences at a time.
    overwrite
        Replace an existing ``output`` directory.

    Returns
    -------
    dict
        The ``summary.json`` document.

    Raises
    ------
    ValueError, OSError
        One-line messages naming the file and the reason (unreadable MEME, FASTA or BED
        file, a sequence of the wrong length, a model without a convolution first layer, an
        existing output); no output is left.
    ModuleNotFoundError
        memelite (or, for logos, matplotlib or logomaker) is not installed.
    """
    _require(["memelite", *(["matplotlib", "logomaker"] if logos else [])])
    if not 0 < qvalue <= 1:
        raise ValueError(f"qvalue must be in (0, 1], got {qvalue}")
    if min_sites < 1 or batch_size < 1:
        raise ValueError(f"min_sites and batch_size must be positive (got {min_sites}, "
                         f"{batch_size})")
    source = SequenceSource(None if sequences is None else str(sequences),
                            None if genome is None else str(genome),
                            None if regions is None else str(regions), random, seed)
    net = load_model(model)
    counter = SiteCounter(first_layer(net), device)
    database_path = Path(database) if database is not None else jaspar_path()
    known = read_meme(database_path)
    length = int(net.config.sequence_length)
    batches = source.batches(length, batch_size)
    stage = staging_directory(output, overwrite)
    try:
        for codes in _progress(batches, progress, source.random):
            counter.add(codes)
        counts = counter.result()
        kernels, matches = _match(counts, known, qvalue, min_sites, min_information)
        summary = {
            "format": "tbvar-motifs", "version": 1, "tbvar": __version__,
            "model": _model_record(net, counter), "inputs": {
                **source.describe(), "n_sequences": counts.n_sequences,
                "sequence_length": length},
            "database": {"path": str(database_path.resolve()),
                         "sha256": file_sha256(database_path), "n_motifs": len(known)},
            "parameters": {"qvalue": qvalue, "min_sites": min_sites,
                           "min_information": min_information, "min_overlap": MIN_OVERLAP},
            "counts": _counts(kernels, matches, known),
            "kernels_too_few_sites": {row.kernel: int(row.n_sites) for row in kernels.itertuples()
                                      if row.status == "too_few_sites"},
            "definitions": DEFINITIONS, "command": command,
        }
        _write(stage, counts, kernels, matches, summary, known, min_sites, logos)
        commit_directory(stage, output)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return summary


def _require(modules: list[str]) -> None:
    """``ModuleNotFoundError`` naming the missing optional packages and how to install them."""
    missing = [name for name in modules if importlib.util.find_spec(name) is None]
    if missing:
        raise ModuleNotFoundError(f"tbvar motifs needs {', '.join(missing)}: pip install "
                                  "'tbvar[interpret]'")


def _progress(batches: Iterable[np.ndarray], enabled: bool, total: int | None
              ) -> Iterator[np.ndarray]:
    with tqdm(total=total, unit=" sequences", disable=not enabled, desc="tbvar motifs") as bar:
        for codes in batches:
            yield codes
            bar.update(len(codes))


def _match(counts: KernelCounts, known: list[Motif], qvalue: float, min_sites: int,
           min_information: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The kernel table (:data:`KERNEL_COLUMNS`) and the match table of the kernels."""
    motifs = counts.motifs()
    cores = [informative_core(m, min_information) if m.n_sites >= min_sites else None
             for m in motifs]
    queried = [k for k, core in enumerate(cores) if core is not None]
    matches = tomtom_matches([motifs[k] for k in queried], [cores[k] for k in queried], known,
                             qvalue)
    kernels = pd.DataFrame({
        "kernel": [m.id for m in motifs], "n_sites": counts.n_sites,
        "information": [float(m.information().sum()) for m in motifs],
        "consensus": [m.consensus() for m in motifs],
        "core_start": pd.array([c.start if c else None for c in cores], dtype="Int64"),
        "core_end": pd.array([c.stop if c else None for c in cores], dtype="Int64")})
    best = matches[matches["rank"] == 1].set_index("kernel")
    n_matches = matches.groupby("kernel").size()
    conditions = [counts.n_sites < min_sites, [c is None for c in cores],
                  kernels["kernel"].isin(best.index)]
    kernels["status"] = np.select(conditions, ["too_few_sites", "uninformative", "matched"],
                                  "no_match")
    kernels["n_matches"] = kernels["kernel"].map(n_matches).fillna(0).astype(np.int64)
    for column in ("match_id", "match_name", "q"):
        kernels[f"best_{column}"] = kernels["kernel"].map(best[column])
    matches = kernels[["kernel", "n_sites", "information", "consensus"]].merge(
        matches, on="kernel", how="inner", validate="one_to_many")
    return kernels[KERNEL_COLUMNS], matches


def _counts(kernels: pd.DataFrame, matches: pd.DataFrame, known: list[Motif]) -> dict[str, Any]:
    """The counts of ``summary.json``."""
    consensus = {m.id: m.consensus() for m in known}
    best = list(dict.fromkeys(matches.loc[matches["rank"] == 1, "match_id"]))
    every = list(dict.fromkeys(matches["match_id"]))
    status = kernels["status"].value_counts()
    return {
        "kernels": len(kernels),
        **{name: int(status.get(name, 0))
           for name in ("matched", "no_match", "uninformative", "too_few_sites")},
        "matches": len(matches),
        "best_match_motifs": len(best),
        "matched_motifs": len(every),
        "distinct_motifs_by_edit_distance": {
            name: distinct_counts([consensus[i] for i in ids], EDIT_DISTANCES)
            for name, ids in (("best_matches", best), ("all_matches", every))},
    }


def _model_record(net: nn.Module, counter: SiteCounter) -> dict[str, Any]:
    info = getattr(net, "info", None)
    return {"path": os.path.abspath(info.path) if info is not None and info.path else None,
            "sha256": info.sha256 if info is not None else None,
            "arch": getattr(net, "arch", type(net).__name__),
            "n_kernels": counter.n_kernels, "kernel_width": counter.width,
            "device": str(counter.device)}


def _write(stage: Path, counts: KernelCounts, kernels: pd.DataFrame, matches: pd.DataFrame,
           summary: dict[str, Any], known: list[Motif], min_sites: int, logos: bool) -> None:
    """All output files into the staging directory."""
    motifs = counts.motifs()
    kept = [Motif(m.id, m.consensus(), m.probs, m.n_sites) for m in motifs
            if m.n_sites >= min_sites]
    (stage / "kernels.meme").write_text(meme_text(kept), encoding="ascii")
    for name, table in (("kernels.tsv", kernels), ("matches.tsv", matches)):
        table.to_csv(stage / name, sep="\t", index=False, float_format="%.6g", na_rep="NA")
    (stage / "summary.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    if logos:
        _draw_logos(stage / "logos", matches[matches["rank"] == 1], motifs, known)


def _draw_logos(folder: Path, best: pd.DataFrame, motifs: list[Motif],
                known: list[Motif]) -> None:
    from tbvar.plot_logos import DPI, logo_pair

    folder.mkdir()
    by_id = {m.id: m for m in [*motifs, *known]}
    for row in best.itertuples():
        kernel = by_id[row.kernel]
        figure = logo_pair(
            kernel, by_id[row.match_id], int(row.offset), row.orientation,
            kernel_title=f"{row.kernel}  ({kernel.n_sites:,} sites)",
            match_title=f"{row.match_id} {row.match_name}"
                        f"{' (reverse complement)' if row.orientation == '-' else ''}"
                        f"  q = {row.q:.2g}")
        for suffix in ("png", "svg"):
            figure.savefig(folder / f"{row.kernel}.{suffix}", dpi=DPI,
                           metadata={"Date": None} if suffix == "svg" else None)
