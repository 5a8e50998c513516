"""Variants as a notebook has them, turned into the table :func:`tbvar.score_variants` scores.

Accepted:

- a DataFrame with columns ``chrom, pos, ref, alt`` (``id`` optional), or any columns named
  by ``columns={"chrom": "CHR", "pos": "BP", ...}``;
- a DataFrame of GWAS/eQTL summary statistics with ``effect_allele`` and ``other_allele``
  (e.g. ``columns={"chrom": "CHR", "pos": "BP", "effect_allele": "A1",
  "other_allele": "A2"}``): tbvar finds which allele is the genome's (REF); scores are
  oriented so that they measure the effect allele against the other allele, like the
  statistics' effect (a positive lod: the effect allele raises predicted binding), and the
  ``swapped`` column says where the genome carries the effect allele;
- a list of ``(chrom, pos, ref, alt)`` tuples;
- a list of strings ``"chr17:7517295:C:G"``, also ``chr17-7517295-C-G`` or
  ``chr17_7517295_C_G`` as GWAS tools write them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from tbvar.errors import VariantInputError

FIELDS = ("chrom", "pos", "ref", "alt", "id")
SUMMARY_FIELDS = ("effect_allele", "other_allele")
ACCEPTED = ("a DataFrame with columns chrom, pos, ref, alt (or a columns= mapping, also "
            "effect_allele/other_allele for summary statistics), a list of (chrom, pos, ref, "
            "alt) tuples, or a list of 'chrom:pos:ref:alt' strings (':', '-' or '_' "
            "separated)")


def variant_table(variants: Any, columns: Mapping[str, str] | None = None
                  ) -> tuple[pd.DataFrame, bool]:
    """Variants as a frame with ``chrom, pos, ref, alt`` (``id``), and whether they are
    summary statistics (``ref`` = other allele, ``alt`` = effect allele; module docstring).

    Raises
    ------
    ValueError
        Anything else, with what is accepted.
    """
    if isinstance(variants, pd.DataFrame):
        return _from_frame(variants, dict(columns or {}))
    if isinstance(variants, (str, bytes)) or not isinstance(variants, Sequence):
        raise ValueError(f"variants: got {type(variants).__name__}; expected {ACCEPTED}")
    if columns:
        raise ValueError("columns= applies to a DataFrame of variants")
    if all(isinstance(v, str) for v in variants):
        return pd.DataFrame([split_variant(text) for text in variants],
                            columns=["chrom", "pos", "ref", "alt"]), False
    if all(isinstance(v, (tuple, list)) and len(v) == 4 for v in variants):
        return pd.DataFrame([tuple(v) for v in variants],
                            columns=["chrom", "pos", "ref", "alt"]), False
    raise ValueError(f"variants: a list of {sorted({type(v).__name__ for v in variants})}; "
                     f"expected {ACCEPTED}")


def split_variant(text: str) -> tuple[str, str, str, str]:
    """``chrom:pos:ref:alt`` (or ``-``/``_`` separated; contig names may hold them) as its four
    fields; :class:`VariantInputError` naming the text otherwise."""
    for separator in ":-_":
        parts = text.strip().rsplit(separator, 3)
        if len(parts) == 4 and parts[1].isdigit() and all(parts):
            return parts[0], parts[1], parts[2], parts[3]
    raise VariantInputError(f"variant {text!r}: not chrom:pos:ref:alt (nor '-' or '_' "
                            "separated)")


def _from_frame(frame: pd.DataFrame, columns: dict[str, str]) -> tuple[pd.DataFrame, bool]:
    unknown = sorted(set(columns) - set(FIELDS) - set(SUMMARY_FIELDS))
    if unknown:
        raise ValueError(f"columns=: unknown key(s) {unknown}; keys are "
                         f"{', '.join(FIELDS + SUMMARY_FIELDS)}")
    missing = sorted(c for c in columns.values() if c not in frame.columns)
    if missing:
        raise VariantInputError(f"variant table lacks column(s) {missing} named in columns=")
    renamed = frame.rename(columns={theirs: ours for ours, theirs in columns.items()})
    summary = any(field in renamed.columns for field in SUMMARY_FIELDS)
    if summary:
        lacking = [f for f in SUMMARY_FIELDS if f not in renamed.columns]
        if lacking or {"ref", "alt"} & set(renamed.columns):
            raise ValueError("summary statistics need both effect_allele and other_allele "
                             "(and no ref/alt columns)")
        renamed = renamed.rename(columns={"other_allele": "ref", "effect_allele": "alt"})
    return renamed, summary
