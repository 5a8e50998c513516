"""Counts of a scoring run: records, alleles per status and flags, adding up to the input,
and warnings when the counts say the run is probably wrong.

Warnings (``--strict`` makes them errors), over at least :data:`MIN_ALLELES` alleles:

- at least :data:`UNKNOWN_CONTIG_SHARE` of the alleles are on contigs the genome lacks: the
  input probably uses another genome build or contig naming (``chr1`` vs ``1``; see
  ``--contig-map``), or the genome file is not the one meant;
- at least :data:`REF_MISMATCH_SHARE` of the REF alleles compared with the genome differ from
  it (skipped, flipped or scored anyway): probably another build (hg19 vs hg38), positions that
  are 0-based or shifted, or a wrong genome file.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import pandas as pd

from tbvar.variants import STATUS_OK

MIN_ALLELES = 20
UNKNOWN_CONTIG_SHARE = 0.5
REF_MISMATCH_SHARE = 0.1


@dataclass
class RunSummary:
    """Counts of a run; ``status_counts`` add up to ``alleles``, every record is counted.

    ``header_added`` lists the header lines added for IDs the input used without defining.
    """

    records: int = 0
    alleles: int = 0
    status_counts: Counter = field(default_factory=Counter)
    edge: int = 0
    contains_n: int = 0
    swapped: int = 0
    ref_differs: int = 0
    ref_mismatch_policy: str = "skip"
    header_added: list[str] = field(default_factory=list)

    @classmethod
    def of_rows(cls, rows: pd.DataFrame, records: int, policy: str) -> RunSummary:
        """Counts of one chunk's result rows (``records`` input records)."""
        return cls(records=records, alleles=len(rows),
                   status_counts=Counter(rows["status"].tolist()),
                   edge=int(rows["edge"].sum()), contains_n=int(rows["contains_n"].sum()),
                   swapped=int(rows["swapped"].sum()),
                   ref_differs=int(((rows["status"] == STATUS_OK)
                                    & ~rows["ref_match"].fillna(True).astype(bool)).sum()),
                   ref_mismatch_policy=policy)

    @classmethod
    def from_dict(cls, data: dict) -> RunSummary:
        """Inverse of :meth:`to_dict`."""
        return cls(records=data["records"], alleles=data["alleles"],
                   status_counts=Counter(data["status_counts"]), **data["flags"],
                   ref_mismatch_policy=data["ref_mismatch_policy"],
                   header_added=list(data["header_added"]))

    def merge(self, other: RunSummary) -> None:
        """Add the counts of ``other`` (e.g. one chunk's) to these."""
        self.records += other.records
        self.alleles += other.alleles
        self.status_counts.update(other.status_counts)
        for name in ("edge", "contains_n", "swapped", "ref_differs"):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return {
            "records": self.records, "alleles": self.alleles,
            "scored": self.status_counts.get(STATUS_OK, 0),
            "status_counts": dict(sorted(self.status_counts.items())),
            "flags": {"edge": self.edge, "contains_n": self.contains_n,
                      "swapped": self.swapped, "ref_differs": self.ref_differs},
            "ref_mismatch_policy": self.ref_mismatch_policy,
            "header_added": list(self.header_added),
            "warnings": self.warnings(),
        }

    def warnings(self) -> list[str]:
        """What the counts say is probably wrong with the run (module docstring)."""
        found = []
        unknown = self.status_counts.get("unknown_contig", 0)
        if self.alleles >= MIN_ALLELES and unknown >= UNKNOWN_CONTIG_SHARE * self.alleles:
            found.append(f"{unknown} of {self.alleles} alleles are on contigs the genome "
                         "lacks: the input may use another genome build or contig naming "
                         "(chr1 vs 1: --contig-map), or the genome file is not the one meant")
        compared = self.status_counts.get(STATUS_OK, 0) + self.status_counts.get(
            "ref_mismatch", 0)
        differ = self.status_counts.get("ref_mismatch", 0) + self.ref_differs
        if compared >= MIN_ALLELES and differ >= REF_MISMATCH_SHARE * compared:
            found.append(f"{differ} of {compared} REF alleles differ from the genome: the "
                         "input may be on another build (hg19 vs hg38), have 0-based or "
                         "shifted positions, or the genome file is not the one meant")
        return found

    def format(self) -> str:
        """Human-readable closing summary."""
        counts = ", ".join(f"{k} {v}" for k, v in sorted(self.status_counts.items(),
                                                          key=lambda kv: (-kv[1], kv[0])))
        policy = {"skip": "REF mismatches are skipped (status ref_mismatch)",
                  "flip": "REF mismatches whose ALT matches the genome are scored with REF "
                          "and ALT swapped (flag swapped); others are skipped",
                  "use-vcf": "REF mismatches are scored with the VCF's REF (ref_match=False)"}
        text = (f"{self.records} records -> {self.alleles} alleles; {counts or 'none'}\n"
                f"flags: edge {self.edge}, contains_n {self.contains_n}, "
                f"swapped {self.swapped}\n"
                f"REF mismatch policy: {self.ref_mismatch_policy} - "
                f"{policy.get(self.ref_mismatch_policy, '')}")
        if self.header_added:
            text += (f"\n{len(self.header_added)} INFO/FORMAT/FILTER/contig IDs used but not "
                     "defined in the input header were defined in the output header")
        text += "".join(f"\nwarning: {warning}" for warning in self.warnings())
        return text
