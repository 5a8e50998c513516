"""Variants with known effect on planted motif sites: motif-destroying variants and controls.

* **destroying** variant: for every planted site that makes a task positive (roles ``motif``,
  ``anchor``, ``partner``), the ``width`` contiguous motif positions with the most information
  (``width = 1``: the single most informative position, an SNV; larger: an MNV) are changed to
  the bases the motif finds least likely there (the second least likely where that base is
  already present);
* **control** variant: as many random variants of the same width, every base changed, at least
  ``min_distance`` bp from every planted site (decoys included), inside the simulated sequence
  so that their windows see the same kind of context.

``destroys_motif`` in the truth table is 1 for destroying and 0 for control variants;
``distance_to_site`` is the distance (bp) from the variant to the nearest planted site on the
same contig (0 inside a site, -1 when the contig has none).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np
import pandas as pd

from tbvar.genome import decode_sequence
from tbvar.meme import Motif

EFFECT_ROLES = ("motif", "anchor", "partner")
TRUTH_COLUMNS = ["id", "contig", "pos", "ref", "alt", "destroys_motif", "task", "motif_id",
                 "motif_name", "site_start", "site_end", "strand", "distance_to_site"]


def _gather(codes: Mapping[str, np.ndarray], contigs, positions: np.ndarray) -> np.ndarray:
    """Base codes at ``positions`` (n, k) of the matching ``contigs`` (n,)."""
    return np.array([codes[c][p] for c, p in zip(contigs, positions, strict=True)],
                    dtype=np.uint8).reshape(positions.shape)


def destroying_variants(codes: Mapping[str, np.ndarray], sites: pd.DataFrame,
                        motifs: Mapping[str, Motif], width: int = 1) -> pd.DataFrame:
    """One variant per effect site over its motif's most informative ``width`` positions.

    Returns columns ``contig, pos0, ref, alt`` (code arrays (n, width), genome order) and the
    truth columns.
    """
    rows = []
    effect = sites[sites["role"].isin(EFFECT_ROLES)]
    for motif_id, group in effect.groupby("motif_id", sort=True):
        motif = motifs[motif_id]
        k = min(width, motif.width)
        first = int(np.argmax(np.convolve(motif.information(), np.ones(k), "valid")))
        cols = np.arange(first, first + k)
        minus = (group["strand"] == "-").to_numpy()[:, None]
        where = np.where(minus, group["end"].to_numpy()[:, None] - 1 - cols,
                         group["start"].to_numpy()[:, None] + cols)
        ref = _gather(codes, group["contig"], where)
        present = np.where(minus, 3 - ref, ref)  # bases on the motif's strand
        order = np.argsort(motif.probs[cols], axis=1, kind="stable")
        alt_motif = np.where(present == order[:, 0], order[:, 1], order[:, 0])
        alt = np.where(minus, 3 - alt_motif, alt_motif).astype(np.uint8)
        # Minus-strand columns run backwards along the genome: flip to genome order.
        ref, alt = (np.where(minus, a[:, ::-1], a) for a in (ref, alt))
        rows.append(pd.DataFrame({
            "contig": group["contig"].to_numpy(), "pos0": where.min(axis=1),
            "ref": list(ref), "alt": list(alt), "destroys_motif": 1,
            "task": group["task"].to_numpy(), "motif_id": motif_id, "motif_name": motif.name,
            "site_start": group["start"].to_numpy(), "site_end": group["end"].to_numpy(),
            "strand": group["strand"].to_numpy()}))
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
                   region: tuple[int, int], min_distance: int = 100,
                   width: int = 1) -> pd.DataFrame:
    """Destroying and control variants with their truth (columns :data:`TRUTH_COLUMNS`).

    ``codes`` maps contig → base codes, ``sites`` has ``contig, start, end, strand,
    motif_id, task, role`` in contig coordinates, ``region`` = (first, end) positions of each
    contig where controls may fall. ``pos`` is 1-based (VCF).
    """
    contigs = list(codes)
    offsets = np.cumsum([0] + [len(codes[c]) for c in contigs])
    base = dict(zip(contigs, offsets[:-1], strict=True))
    destroy = destroying_variants(codes, sites, motifs, width)
    k = int(destroy["ref"].map(len).max()) if len(destroy) else width
    glob_start = sites["contig"].map(base).to_numpy() + sites["start"].to_numpy()
    glob_end = sites["contig"].map(base).to_numpy() + sites["end"].to_numpy()
    order = np.argsort(glob_start)
    glob_start, glob_end = glob_start[order], glob_end[order]
    blocked = np.zeros(offsets[-1] + 1, dtype=np.int64)
    np.add.at(blocked, np.maximum(glob_start - min_distance - (k - 1), 0), 1)
    np.add.at(blocked, np.minimum(glob_end + min_distance, offsets[-1]), -1)
    allowed = np.cumsum(blocked[:-1]) == 0
    within = np.zeros(offsets[-1], dtype=bool)
    for start in offsets[:-1]:
        within[start + region[0]:start + region[1] - (k - 1)] = True
    candidates = np.flatnonzero(allowed & within)
    n_controls = min(len(destroy), len(candidates))
    chosen = np.sort(rng.choice(candidates, size=n_controls, replace=False))
    contig_index = np.searchsorted(offsets, chosen, side="right") - 1
    ctrl_contigs = np.array(contigs, dtype=object)[contig_index]
    pos0 = chosen - offsets[contig_index]
    ref = _gather(codes, ctrl_contigs, pos0[:, None] + np.arange(k))
    control = pd.DataFrame({
        "contig": ctrl_contigs, "pos0": pos0, "ref": list(ref),
        "alt": list(((ref + rng.integers(1, 4, size=ref.shape)) % 4).astype(np.uint8)),
        "destroys_motif": 0, "task": -1, "motif_id": ".", "motif_name": ".",
        "site_start": -1, "site_end": -1, "strand": "."})
    table = pd.concat([destroy, control], ignore_index=True)
    table["distance_to_site"] = -1  # no planted site on the contig
    by_contig = dict(list(sites.sort_values("start").groupby("contig")))
    for contig, index in table.groupby("contig").groups.items():
        if contig in by_contig:
            own = by_contig[contig]
            first = table.loc[index, "pos0"].to_numpy()
            last = first + table.loc[index, "ref"].map(len).to_numpy() - 1
            starts, ends = own["start"].to_numpy(), own["end"].to_numpy()
            table.loc[index, "distance_to_site"] = np.minimum(
                _distance(first, starts, ends), _distance(last, starts, ends))
    table["contig_order"] = table["contig"].map({c: i for i, c in enumerate(contigs)})
    table = table.sort_values(["contig_order", "pos0"], kind="stable").reset_index(drop=True)
    table["pos"] = table["pos0"] + 1
    table["id"] = [f"{'destroy' if d else 'control'}_{i}"
                   for i, d in enumerate(table["destroys_motif"])]
    table["ref"] = table["ref"].map(decode_sequence)
    table["alt"] = table["alt"].map(decode_sequence)
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
