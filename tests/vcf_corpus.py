"""A corpus of awkward real-world VCFs, generated into a directory, with expected outcomes.

The test genome (:func:`write_genome`) has hg19-style contig names so that name harmonisation
is exercised: VCF ``1`` → ``chr1``, ``MT`` → ``chrM``, GRCh37 ``GL000192.1`` →
``chr1_gl000192_random``; ``chr6_ssto_hap7`` matches only itself, ``chrX`` is missing.
Every corpus entry says either which status counts scoring must give (hand-counted from the
records below, not computed by tbvar) or which line and reason the error must name.

Run ``python -m tests.vcf_corpus DIR`` to write the corpus for manual inspection.
"""

from __future__ import annotations

import gzip
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pysam
import torch
from cyvcf2 import VCF, Writer

from tbvar.checkpoint import ModelInfo, save_model
from tbvar.model import TBiNet, TBiNetConfig
from tbvar.tasks import generic_tasks

CONTIGS = {"chr1": 1000, "chrM": 400, "chr1_gl000192_random": 500, "chr6_ssto_hap7": 500}
N_RUN = (700, 720)  # 0-based half-open N stretch in chr1
TINY_CONFIG = TBiNetConfig(sequence_length=200, n_kernels=4, kernel_width=8, pool_size=4,
                           lstm_units=4, dense_units=8, n_tasks=3)
COLUMNS = "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO"


def genome_sequences(seed: int = 7) -> dict[str, str]:
    """The test genome's contigs (random ACGT, soft-masked stretch and an N run in chr1)."""
    rng = np.random.default_rng(seed)
    out = {name: "".join(rng.choice(list("ACGT"), length)) for name, length in CONTIGS.items()}
    chr1 = out["chr1"]
    chr1 = chr1[:N_RUN[0]] + "N" * (N_RUN[1] - N_RUN[0]) + chr1[N_RUN[1]:]
    out["chr1"] = chr1[:300] + chr1[300:340].lower() + chr1[340:]
    return out


def write_genome(directory: Path) -> Path:
    """Plain FASTA of :func:`genome_sequences` (pysam indexes it on first use)."""
    path = directory / "genome.fa"
    with open(path, "w") as out:
        for name, seq in genome_sequences().items():
            out.write(f">{name}\n")
            out.writelines(seq[i:i + 60] + "\n" for i in range(0, len(seq), 60))
    return path


def write_model(path: Path, seed: int = 3) -> Path:
    """A tiny random-weight model (L = 200) with 3 tasks."""
    torch.manual_seed(seed)
    save_model(TBiNet(TINY_CONFIG), path,
               ModelInfo(config=TINY_CONFIG, tasks=generic_tasks(3), description="tiny test",
                         random_weights=True))
    return path


SEQ = genome_sequences()


def base(contig: str, pos: int, n: int = 1) -> str:
    """Genome bases at 1-based ``pos`` (as stored, case kept)."""
    return SEQ[contig][pos - 1:pos - 1 + n]


def other(b: str) -> str:
    """A base different from ``b``."""
    return {"A": "C", "C": "G", "G": "T", "T": "A"}.get(b.upper(), "A")


def header(version: str = "4.2", contigs: bool = True, extra: list[str] | None = None,
           samples: list[str] | None = None) -> list[str]:
    lines = [f"##fileformat=VCFv{version}"]
    if contigs:
        lines += [f"##contig=<ID={name},length={n}>" for name, n in CONTIGS.items()]
    lines += extra or []
    lines.append(COLUMNS + ("\tFORMAT\t" + "\t".join(samples) if samples else ""))
    return lines


def rec(chrom: str, pos: int, ref: str, alt: str, info: str = ".", vid: str = ".",
        rest: str = "") -> str:
    line = f"{chrom}\t{pos}\t{vid}\t{ref}\t{alt}\t.\t.\t{info}"
    return line + (f"\t{rest}" if rest else "")


def snv(chrom: str, pos: int, **kw) -> str:
    ref = base(chrom, pos).upper()
    return rec(chrom, pos, ref, other(ref), **kw)


@dataclass
class Case:
    """One corpus file.

    ``statuses``: expected status counts when it scores; ``error``: (line or None, text that
    the one-line error must contain); ``args``: extra ``tbvar score`` options.
    """

    name: str
    statuses: dict[str, int] | None = None
    error: tuple[int | None, str] | None = None
    args: list[str] = field(default_factory=list)
    records: int = 0


def _write_text(path: Path, lines: list[str], newline: str = "\n") -> None:
    path.write_bytes((newline.join(lines) + newline).encode())


def _bgzip(source: Path, target: Path) -> None:
    pysam.tabix_compress(str(source), str(target), force=True)


def build_corpus(directory: Path) -> list[Case]:
    """Write every corpus file into ``directory``; return the cases."""
    directory.mkdir(parents=True, exist_ok=True)
    cases: list[Case] = []

    def text_case(name: str, lines: list[str], newline: str = "\n", **kw) -> Path:
        path = directory / name
        _write_text(path, lines, newline)
        records = sum(1 for line in lines if line and not line.startswith("#"))
        cases.append(Case(name, records=records, **kw))
        return path

    for version in ("4.1", "4.2", "4.3", "4.4"):
        text_case(f"v{version}.vcf", header(version) + [snv("chr1", 250), snv("chr1", 260)],
                  statuses={"ok": 2})
    text_case("missing_header_lines.vcf", header(contigs=False, samples=["S1"]) + [
        rec("chr1", 250, base("chr1", 250), other(base("chr1", 250)), "DP=5;SOMATIC",
            rest="GT:AD\t0/1:3,2").replace("\t.\t.\tDP", "\t.\tq10\tDP"),
        rec("chr1", 270, base("chr1", 270), other(base("chr1", 270)), "DP=7",
            rest="GT:AD\t1/1:0,7"),
    ], statuses={"ok": 2})
    text_case("no_samples.vcf", header() + [snv("chr1", 300), snv("chr1", 301)],
              statuses={"ok": 2})
    samples = [f"S{i}" for i in range(200)]
    fmt = ["GT:DP:GQ"] + [f"{i % 2}/1:{i}:{99 - i % 50}" for i in range(200)]
    text_case("many_samples.vcf", header(samples=samples, extra=[
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
        '##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Depth">',
        '##FORMAT=<ID=GQ,Number=1,Type=Integer,Description="Quality">']) + [
        snv("chr1", 400, rest="\t".join(fmt)), snv("chr1", 410, rest="\t".join(fmt))],
        statuses={"ok": 2})
    b = base("chr1", 420).upper()
    text_case("star_alleles.vcf", header() + [
        rec("chr1", 419, base("chr1", 419, 3).upper(), base("chr1", 419).upper()),
        rec("chr1", 420, b, f"{other(b)},*"),
    ], statuses={"ok": 2, "symbolic_allele": 1})
    text_case("gvcf.vcf", header(extra=[
        '##ALT=<ID=NON_REF,Description="Any other allele">',
        '##INFO=<ID=END,Number=1,Type=Integer,Description="End">']) + [
        rec("chr1", 100, base("chr1", 100).upper(), "<NON_REF>", "END=199"),
        rec("chr1", 200, base("chr1", 200).upper(), f"{other(base('chr1', 200))},<NON_REF>"),
        rec("chr1", 201, base("chr1", 201).upper(), "<*>", "END=210"),
    ], statuses={"ok": 1, "symbolic_allele": 3})
    g = base("chr1", 500).upper()
    text_case("structural.vcf", header(extra=[
        '##INFO=<ID=SVTYPE,Number=1,Type=String,Description="SV type">']) + [
        rec("chr1", 500, g, "<DEL>", "SVTYPE=DEL"),
        rec("chr1", 500, g, "<INS>", "SVTYPE=INS"),
        rec("chr1", 500, g, "<DUP:TANDEM>", "SVTYPE=DUP"),
        rec("chr1", 500, g, f"{g}]chr1:800]", "SVTYPE=BND"),
        rec("chr1", 500, g, f"]chr1:800]{g}", "SVTYPE=BND"),
        rec("chr1", 500, g, f".{g}", "SVTYPE=BND"),
        rec("chr1", 500, g, f"{g}.", "SVTYPE=BND"),
    ], statuses={"symbolic_allele": 7})
    n_pos = N_RUN[0] + 5
    text_case("n_iupac_lowercase.vcf", header() + [
        rec("chr1", n_pos, "N", "A"),                      # REF N matching an N in the genome
        rec("chr1", 250, "N", "A"),                        # REF N where the genome has a base
        rec("chr1", 251, base("chr1", 251), "R"),          # IUPAC ALT
        rec("chr1", 252, "Y", "A"),                        # IUPAC REF
        rec("chr1", 310, base("chr1", 310).lower(), other(base("chr1", 310)).lower()),
        rec("chr1", 320, base("chr1", 320).upper(), other(base("chr1", 320))),  # soft-masked
    ], statuses={"ok": 3, "ref_mismatch": 1, "ambiguous_allele": 2})
    text_case("long_ref.vcf", header() + [
        rec("chr1", 400, base("chr1", 400, 300).upper(), base("chr1", 400).upper()),
        snv("chr1", 390),
    ], statuses={"too_long": 1, "ok": 1})
    text_case("long_ref_allowed.vcf", header() + [
        rec("chr1", 400, base("chr1", 400, 300).upper(), base("chr1", 400).upper()),
    ], statuses={"ok": 1}, args=["--max-allele-length", "1000"])
    text_case("mnv_indels.vcf", header() + [
        rec("chr1", 600, base("chr1", 600, 3).upper(),
            "".join(other(c) for c in base("chr1", 600, 3).upper())),          # MNV
        rec("chr1", 610, base("chr1", 610).upper(), base("chr1", 610).upper() + "GGT"),
        rec("chr1", 620, base("chr1", 620, 4).upper(), base("chr1", 620).upper()),
        # left-unnormalised: the same deletion written with a shared prefix and suffix
        rec("chr1", 619, base("chr1", 619, 6).upper(),
            base("chr1", 619).upper() + base("chr1", 624, 1).upper()),
        rec("chr1", 630, base("chr1", 630, 3).upper(), "TT"),                # complex
    ], statuses={"ok": 5})
    text_case("duplicates_unsorted.vcf", header() + [
        snv("chr1", 900), snv("chr1", 150), snv("chrM", 10), snv("chr1", 150),
        snv("chr1", 900), snv("chr1", 5),
    ], statuses={"ok": 6})
    text_case("contig_names.vcf", header(contigs=False) + [
        snv("chr1", 250).replace("chr1", "1", 1),
        snv("chrM", 100).replace("chrM", "MT", 1),
        snv("chr1_gl000192_random", 250).replace("chr1_gl000192_random", "GL000192.1", 1),
        snv("chr6_ssto_hap7", 250),
        rec("chrX", 100, "A", "G"),
        rec("GL000220.1", 100, "A", "G"),
    ], statuses={"ok": 4, "unknown_contig": 2})
    last = CONTIGS["chr1"]
    text_case("contig_edges.vcf", header() + [
        snv("chr1", 1), snv("chr1", last), snv("chrM", CONTIGS["chrM"]),
        rec("chr1", 0, "A", "G"), rec("chr1", last + 1, "A", "G"),
        rec("chr1", last - 1, base("chr1", last - 1, 2).upper() + "A", "A"),
    ], statuses={"ok": 3, "bad_position": 3})
    text_case("crlf.vcf", header() + [snv("chr1", 250), snv("chr1", 251)], newline="\r\n",
              statuses={"ok": 2})
    text_case("empty.vcf", header(), statuses={})
    ref = base("chr1", 700 - 300).upper()
    text_case("ref_mismatch_flip.vcf", header() + [
        rec("chr1", 400, other(ref), ref),              # REF wrong, ALT = genome: flippable
        rec("chr1", 401, other(other(base("chr1", 401).upper())),
            other(base("chr1", 401).upper())),          # neither matches
    ], statuses={"ok": 1, "ref_mismatch": 1}, args=["--ref-mismatch", "flip"])

    # binary / compressed forms
    plain = directory / "v4.2.vcf"
    _bgzip(plain, directory / "bgzip.vcf.gz")
    cases.append(Case("bgzip.vcf.gz", statuses={"ok": 2}, records=2))
    region_src = directory / "region_source.vcf"
    _write_text(region_src, header() + [snv("chr1", p) for p in (50, 150, 250, 350, 450)])
    _bgzip(region_src, directory / "indexed.vcf.gz")
    pysam.tabix_index(str(directory / "indexed.vcf.gz"), preset="vcf", force=True)
    region_src.unlink()
    cases.append(Case("indexed.vcf.gz", statuses={"ok": 3}, records=3,
                      args=["--region", "chr1:100-400"]))
    (directory / "plain_named.vcf.gz").write_bytes(plain.read_bytes())
    cases.append(Case("plain_named.vcf.gz", statuses={"ok": 2}, records=2))
    data = (directory / "bgzip.vcf.gz").read_bytes()
    many = directory / "many_lines.vcf"
    _write_text(many, header() + [snv("chr1", 100 + i % 800) for i in range(3000)])
    _bgzip(many, directory / "truncated.vcf.gz")
    data = (directory / "truncated.vcf.gz").read_bytes()
    (directory / "truncated.vcf.gz").write_bytes(data[: len(data) // 2])
    many.unlink()
    cases.append(Case("truncated.vcf.gz", error=(None, "truncated or corrupt")))
    reader = VCF(str(plain))
    writer = Writer(str(directory / "records.bcf"), reader, mode="wb")
    for variant in reader:
        writer.write_record(variant)
    writer.close()
    reader.close()
    cases.append(Case("records.bcf", statuses={"ok": 2}, records=2))

    # malformed files: one-line errors naming the line
    good = header() + [snv("chr1", 250)]
    text_case("bad_pos.vcf", good + [rec("chr1", 0, "A", "G").replace("\t0\t", "\tabc\t")],
              error=(len(good) + 1, "POS 'abc'"))
    text_case("short_line.vcf", good + ["chr1\t260\t.\tA\tG\t.\t."],
              error=(len(good) + 1, "7 tab-separated columns"))
    text_case("column_count.vcf", good + [snv("chr1", 260, rest="GT\t0/1")],
              error=(len(good) + 1, "10 columns but the #CHROM header line has 8"))
    text_case("no_chrom_line.vcf", ["##fileformat=VCFv4.2", snv("chr1", 250)],
              error=(2, "without a '#CHROM' line"))
    text_case("not_a_vcf.vcf", ["chr1\t100\t200", "chr1\t300\t400"],
              error=(1, "not a VCF file"))
    text_case("header_after_records.vcf", good + ["##INFO=<ID=X>", snv("chr1", 260)],
              error=(len(good) + 1, "header line after the first record"))
    (directory / "latin1.vcf").write_bytes(
        ("\n".join(good) + "\n").encode() + rec("chr1", 260, "A", "G", "NOTE=caf\xe9")
        .encode("latin-1") + b"\n")
    cases.append(Case("latin1.vcf", error=(len(good) + 1, "not valid UTF-8")))
    with gzip.open(directory / "gzip_garbage.vcf.gz", "wb") as out:
        out.write(b"\x00\x01garbage" * 10)
    cases.append(Case("gzip_garbage.vcf.gz", error=(1, "not a VCF file")))
    return cases


if __name__ == "__main__":
    for case in build_corpus(Path(sys.argv[1])):
        print(case.name, case.statuses if case.error is None else case.error)
