"""Regenerate the bundled example VCF ``variants.vcf`` (the model: ``train_example_model.py``).

The genome (``hg19_chr17_region_padded.fa.gz``) is real hg19 sequence and is committed as is
(see README.md here). The VCF is written from the genome so that REF alleles are right, except
for the records that are meant to be bad. Run from anywhere: ``python examples/make_example.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tbvar.genome import Genome

HERE = Path(__file__).resolve().parent
GENOME = HERE / "hg19_chr17_region_padded.fa.gz"
REAL_START, REAL_END = 7_512_445, 7_531_642  # 1-based, inclusive: the real hg19 sequence
SEED = 20200817

HEADER = """##fileformat=VCFv4.2
##reference=hg19 (examples/hg19_chr17_region_padded.fa.gz)
##contig=<ID=chr17,length=81195210>
##INFO=<ID=NOTE,Number=1,Type=String,Description="What the record exercises">
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO"""


def example_records(genome: Genome, rng: np.random.Generator) -> list[str]:
    """VCF lines: real dbSNP SNVs, random SNVs/indels, and records that must not be scored."""
    def base(pos: int, n: int = 1) -> str:
        return genome.fetch("chr17", pos - 1, pos - 1 + n)

    def other(ref: str) -> str:
        return str(rng.choice([b for b in "ACGT" if b != ref]))

    rows = [
        (7517295, "rs143393141", "C", "G", "dbSNP common SNV"),
        (7530271, "rs858520", "C", "T", "dbSNP common SNV"),
    ]
    for pos in sorted(rng.choice(np.arange(REAL_START + 600, REAL_END - 600), 20, replace=False)):
        ref = base(int(pos))
        rows.append((int(pos), ".", ref, other(ref), "random SNV"))
    p = 7520000
    rows += [
        (p, ".", base(p, 2), other(base(p)) + other(base(p + 1)), "MNV"),
        (p + 100, ".", base(p + 100), base(p + 100) + "GATTACA", "insertion"),
        (p + 200, ".", base(p + 200, 6), base(p + 200), "deletion"),
        (p + 300, ".", base(p + 300, 3), "TT", "complex"),
        (p + 400, ".", base(p + 400), f"{other(base(p + 400))},{base(p + 400)}AC",
         "multi-allelic"),
        (REAL_START + 100, ".", base(REAL_START + 100), other(base(REAL_START + 100)),
         "window reaches the N padding"),
        (REAL_END - 3, ".", base(REAL_END - 3), other(base(REAL_END - 3)), "contig end: edge"),
        (p + 500, ".", "A" if base(p + 500) != "A" else "C", "G", "bad: REF mismatch"),
        (p + 600, ".", base(p + 600), "<DEL>", "bad: symbolic allele"),
        (p + 700, ".", base(p + 700), "R", "bad: IUPAC allele"),
        (p + 800, ".", base(p + 800, 150), base(p + 800), "bad: deletion too long"),
        (p + 900, ".", base(p + 900), ".", "bad: no ALT"),
    ]
    rows.sort(key=lambda row: row[0])
    lines = [f"chr17\t{pos}\t{vid}\t{ref}\t{alt}\t.\t.\tNOTE={note.replace(' ', '_')}"
             for pos, vid, ref, alt, note in rows]
    lines.append("chrUn_gl000220\t1000\t.\tA\tG\t.\t.\tNOTE=bad:_unknown_contig")
    return lines


def main() -> None:
    """Write the example VCF next to this script."""
    rng = np.random.default_rng(SEED)
    genome = Genome(GENOME, cache_dir=False)
    lines = example_records(genome, rng)
    (HERE / "variants.vcf").write_text(HEADER + "\n" + "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
