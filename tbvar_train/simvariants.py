"""Variants with known effect on planted motif sites: motif-destroying SNVs and controls.

* **destroying** variant: for every planted site that makes a task positive (roles ``motif``,
  ``anchor``, ``partner``), the motif's most informative position is changed to the base the
  motif finds least likely there (the second least likely if that base is already present);
* **control** variant: as many random SNVs at least ``min_distance`` bp from every planted
  site (decoys included), inside the simulated sequence so their windows see the same context.

``destroys_motif`` in the truth table is 1 for destroying and 0 for control variants;
``distance_to_site`` is the distance (bp) to the nearest planted site on the same contig (0
inside a site, -1 when the contig has none).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np
import pandas as pd

from tbvar.genome import CODE_TO_BASE
from tbvar_train.motifs import Motif

EFFECT_ROLES = ("motif", "anchor", "partner")
TRUTH_COLUMNS = ["id", "contig", "pos", "ref", "alt", "destroys_motif", "task", "motif_id",
                 "motif_name", "site_start", "site_end", "strand", "distance_to_site"]


def _bases(codes: np.ndarray) -> np.ndarray:
    return CODE_TO_BASE[codes].view("S1").astype(str)


def destroying_variants(codes: Mapping[str, np.ndarray], sites: pd.DataFrame,
                        motifs: Mapping[str, Motif]) -> pd.DataFrame:
    """One SNV per effect site at its motif's highest-information position."""
    rows = []
    effect = sites[sites["role"].isin(EFFECT_ROLES)]
    for motif_id, group in effect.groupby("motif_id", sort=True):
        motif = motifs[motif_id]
        col = int(np.argmax(motif.information()))
        minus = (group["strand"] == "-").to_numpy()
        pos0 = np.where(minus, group["end"].to_numpy() - 1 - col, group["start"].to_numpy() + col)
        ref = np.array([codes[c][p] for c, p in zip(group["contig"], pos0, strict=True)],
                       dtype=np.uint8)
        present = np.where(minus, 3 - ref, ref)  # base on the motif's strand
        order = np.argsort(motif.probs[col], kind="stable")
        alt_motif = np.where(present == order[0], order[1], order[0])
        alt = np.where(minus, 3 - alt_motif, alt_motif).astype(np.uint8)
        rows.append(pd.DataFrame({
            "contig": group["contig"].to_numpy(), "pos0": pos0, "ref": ref, "alt": alt,
            "destroys_motif": 1, "task": group["task"].to_numpy(), "motif_id": motif_id,
            "motif_name": motif.name, "site_start": group["start"].to_numpy(),
            "site_end": group["end"].to_numpy(), "strand": group["strand"].to_numpy()}))
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()


def _distance(pos: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Distance from positions to the nearest of sorted, disjoint intervals (0 inside)."""
    before = np.searchsorted(starts, pos, side="right") - 1
    left = np.where(before >= 0, pos - ends[np.maximum(before, 0)] + 1, np.iinfo(np.int64).max)
    inside = (before >= 0) & (pos < ends[np.maximum(before, 0)])
    after = np.minimum(before + 1, len(starts) - 1)
    right = np.where(before + 1 < len(starts), starts[after] - pos, np.iinfo(np.int64).max)
    return np.where(inside, 0, np.minimum(left, right))


def motif_variants(codes: Mapping[str, np.ndarray], sites: pd.DataFrame,
                   motifs: Mapping[str, Motif], rng: np.random.Generator,
                   region: tuple[int, int], min_distance: int = 100) -> pd.DataFrame:
    """Destroying and control SNVs with their truth (columns :data:`TRUTH_COLUMNS`).

    ``codes`` maps contig → base codes, ``sites`` has ``contig, start, end, strand,
    motif_id, task, role`` in contig coordinates, ``region`` = (first, end) positions of each
    contig where controls may fall. ``pos`` is 1-based (VCF).
    """
    contigs = list(codes)
    offsets = np.cumsum([0] + [len(codes[c]) for c in contigs])
    base = dict(zip(contigs, offsets[:-1], strict=True))
    destroy = destroying_variants(codes, sites, motifs)
    glob_start = sites["contig"].map(base).to_numpy() + sites["start"].to_numpy()
    glob_end = sites["contig"].map(base).to_numpy() + sites["end"].to_numpy()
    order = np.argsort(glob_start)
    glob_start, glob_end = glob_start[order], glob_end[order]
    blocked = np.zeros(offsets[-1] + 1, dtype=np.int64)
    np.add.at(blocked, np.maximum(glob_start - min_distance, 0), 1)
    np.add.at(blocked, np.minimum(glob_end + min_distance, offsets[-1]), -1)
    allowed = np.cumsum(blocked[:-1]) == 0
    within = np.zeros(offsets[-1], dtype=bool)
    for start in offsets[:-1]:
        within[start + region[0]:start + region[1]] = True
    candidates = np.flatnonzero(allowed & within)
    n_controls = min(len(destroy), len(candidates))
    chosen = np.sort(rng.choice(candidates, size=n_controls, replace=False))
    contig_index = np.searchsorted(offsets, chosen, side="right") - 1
    ctrl_contigs = np.array(contigs, dtype=object)[contig_index]
    pos0 = chosen - offsets[contig_index]
    ref = np.array([codes[c][p] for c, p in zip(ctrl_contigs, pos0, strict=True)],
                   dtype=np.uint8)
    control = pd.DataFrame({
        "contig": ctrl_contigs, "pos0": pos0, "ref": ref,
        "alt": ((ref + rng.integers(1, 4, size=n_controls)) % 4).astype(np.uint8),
        "destroys_motif": 0, "task": -1, "motif_id": ".", "motif_name": ".",
        "site_start": -1, "site_end": -1, "strand": "."})
    table = pd.concat([destroy, control], ignore_index=True)
    table["distance_to_site"] = -1  # no planted site on the contig
    by_contig = dict(list(sites.sort_values("start").groupby("contig")))
    for contig, index in table.groupby("contig").groups.items():
        if contig in by_contig:
            own = by_contig[contig]
            table.loc[index, "distance_to_site"] = _distance(
                table.loc[index, "pos0"].to_numpy(), own["start"].to_numpy(),
                own["end"].to_numpy())
    table["contig_order"] = table["contig"].map({c: i for i, c in enumerate(contigs)})
    table = table.sort_values(["contig_order", "pos0"], kind="stable").reset_index(drop=True)
    table["pos"] = table["pos0"] + 1
    table["id"] = [f"{'destroy' if d else 'control'}_{i}"
                   for i, d in enumerate(table["destroys_motif"])]
    table["ref"] = _bases(table["ref"].to_numpy())
    table["alt"] = _bases(table["alt"].to_numpy())
    return table[TRUTH_COLUMNS]


def write_vcf(path: str | os.PathLike[str], variants: pd.DataFrame,
              lengths: Mapping[str, int]) -> None:
    """Minimal VCF 4.2 of ``variants`` (``contig, pos, id, ref, alt``), contigs declared."""
    with open(path, "w", encoding="ascii") as out:
        out.write("##fileformat=VCFv4.2\n##source=tbvar-train simulate\n")
        for contig, length in lengths.items():
            out.write(f"##contig=<ID={contig},length={length}>\n")
        out.write("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")
        for row in variants.itertuples(index=False):
            out.write(f"{row.contig}\t{row.pos}\t{row.id}\t{row.ref}\t{row.alt}\t.\tPASS\t.\n")
