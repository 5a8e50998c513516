"""``tbvar-train simulate-genome``: a genome with sparse planted motif sites, and variants.

Contigs are i.i.d. uniform background. Apart from :data:`EDGE` bp at each end, each contig is
cut into segments; every segment carries one instance of every task's motif, either strand,
at random non-overlapping positions (planted by :func:`tbvar_train.simulate.simulate_sequences`
with ``p_motif = 1``). The segment length is the sum of the motif widths divided by
``site_density``, so sites cover at most that fraction of the genome (default 1 %, as sparse
as binding sites of a few TFs in a real genome) and every task has the same number of sites.
Variants are those of :mod:`tbvar_train.simvariants`: a destroying variant per site, and as
many controls at least ``min_distance`` bp from every site. The tasks (one per motif, targets =
motif names, in the order given) are those of ``tbvar-train simulate --n-grammar 0`` with the
same motifs, so a model trained on such data scores the genome's tasks.

Output directory: ``genome.fa`` (+ ``.fai``), ``sites.tsv`` (``contig, start, end, strand,
motif_id, motif_name, task, role``; 0-based half-open), ``variants.vcf``, ``truth.tsv``
(:data:`tbvar_train.simvariants.TRUTH_COLUMNS`) and ``meta.json`` (parameters, task table,
realised fraction of bases in sites). Everything is a function of ``seed``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from tbvar.atomic import commit_directory, staging_directory
from tbvar.meme import jaspar_path, read_meme
from tbvar_train.shards import command_line, file_provenance
from tbvar_train.simulate import (
    DEFAULT_MOTIFS,
    default_tasks,
    simulate_sequences,
    task_records,
    write_fasta,
)

#: Default motifs: those of the bundled example model (``examples/model.safetensors``).
DEFAULT_GENOME_MOTIFS = DEFAULT_MOTIFS[:4]
#: Background without sites or variants at each contig end (bp), so that windows of up to
#: ``2 * EDGE`` bp around any variant stay inside the contig.
EDGE = 1000


class GenomeFiles(NamedTuple):
    """Paths of the files of a simulated genome directory."""

    genome: Path
    sites: Path
    variants: Path
    truth: Path
    meta: Path

    @classmethod
    def under(cls, root: str | os.PathLike[str]) -> GenomeFiles:
        """The files of directory ``root``."""
        root = Path(root)
        return cls(root / "genome.fa", root / "sites.tsv", root / "variants.vcf",
                   root / "truth.tsv", root / "meta.json")


def simulate_genome(out_dir: str | os.PathLike[str], motif_names: list[str] | None = None,
                    n_contigs: int = 4, contig_length: int = 200_000,
                    site_density: float = 0.01, seed: int = 0, motifs_path: str | None = None,
                    destroy_width: int = 1, min_distance: int = 100, overwrite: bool = False,
                    command: str | None = None) -> GenomeFiles:
    """Write a sparse-site genome, its sites, variants and truth to ``out_dir``.

    Parameters
    ----------
    motif_names
        Motif names or JASPAR IDs, one task each (default :data:`DEFAULT_GENOME_MOTIFS`).
    n_contigs, contig_length
        Contigs ``sim1 .. simN`` of ``contig_length`` bp.
    site_density
        Fraction of bases in planted sites away from contig ends; the realised fraction of
        the whole genome (``site_fraction`` in ``meta.json``) is a little lower.
    destroy_width, min_distance
        Bases changed per variant (1 = SNVs) and the least distance (bp) from a control
        variant to any site; see :func:`tbvar_train.simvariants.motif_variants`.

    Returns
    -------
    GenomeFiles
        Paths of the written files.

    Raises
    ------
    ValueError
        If the sites do not fit (``site_density`` too high, contigs too short), or fewer
        controls than destroying variants fit ``min_distance`` away from every site.
    """
    import pysam

    from tbvar_train.simvariants import motif_variants, write_vcf

    if destroy_width < 1:
        raise ValueError(f"destroy_width must be at least 1, got {destroy_width}")
    if n_contigs < 1:
        raise ValueError(f"n_contigs must be at least 1, got {n_contigs}")
    if not 0 < site_density < 1:
        raise ValueError(f"site_density must be in (0, 1), got {site_density}")
    motifs = read_meme(motifs_path)
    names = list(motif_names or DEFAULT_GENOME_MOTIFS)
    tasks = default_tasks(motifs, len(names), 0, names)
    widths = [t.motif.width for t in tasks]
    segment = math.ceil(sum(widths) / site_density)
    if segment < len(tasks) * max(widths):
        raise ValueError(f"site_density {site_density} is too high: {len(tasks)} motifs of "
                         f"up to {max(widths)} bp do not fit side by side in {segment} bp")
    n_segments = (contig_length - 2 * EDGE) // segment
    if n_segments < 1:
        raise ValueError(f"contig_length {contig_length} is too short: it needs {2 * EDGE} bp "
                         f"of edges and a {segment} bp segment of sites")

    rng = np.random.default_rng([seed, 0])
    x, sites = simulate_sequences(tasks, n_contigs * n_segments, segment, rng, p_motif=1.0)
    codes = rng.integers(0, 4, size=(n_contigs, contig_length), dtype=np.uint8)
    codes[:, EDGE:EDGE + n_segments * segment] = x.reshape(n_contigs, -1)
    contigs = [f"sim{i + 1}" for i in range(n_contigs)]
    contig, segment_index = np.divmod(sites.pop("seq").to_numpy(), n_segments)
    for column in ("start", "end"):
        sites[column] += EDGE + segment_index * segment
    sites.insert(0, "contig", np.asarray(contigs)[contig])
    by_name = dict(zip(contigs, codes, strict=True))
    table = motif_variants(by_name, sites, {m.id: m for m in motifs},
                           np.random.default_rng([seed, 1]),
                           region=(EDGE, contig_length - EDGE), min_distance=min_distance,
                           width=destroy_width)
    n_destroy = int(table["destroys_motif"].sum())
    if len(table) < 2 * n_destroy:
        raise ValueError(f"only {len(table) - n_destroy} of {n_destroy} control variants fit "
                         f"{min_distance} bp or more away from every site: lower site_density "
                         "or min_distance")

    site_bases = int((sites["end"] - sites["start"]).sum())
    meta = {
        "format": "tbvar-simgenome", "version": 1,
        "source": "tbvar-train simulate-genome (sparse planted JASPAR motifs in uniform "
                  "background)",
        "motifs": file_provenance(motifs_path or jaspar_path()),
        "tasks": [{**record, "motif": task.motif.label}
                  for record, task in zip(task_records(tasks), tasks, strict=True)],
        "parameters": {"seed": seed, "n_contigs": n_contigs, "contig_length": contig_length,
                       "site_density": site_density, "segment_length": segment,
                       "edge": EDGE, "destroy_width": destroy_width,
                       "min_distance": min_distance},
        "sites": len(sites),
        "site_bases": site_bases,
        "site_fraction": site_bases / codes.size,
        "variants": {"destroying": n_destroy, "control": n_destroy},
        "command": command,
    }
    stage = staging_directory(out_dir, overwrite)
    try:
        files = GenomeFiles.under(stage)
        write_fasta(files.genome, contigs, codes)
        pysam.faidx(str(files.genome))
        sites.to_csv(files.sites, sep="\t", index=False)
        write_vcf(files.variants, table, dict.fromkeys(contigs, contig_length))
        table.to_csv(files.truth, sep="\t", index=False)
        files.meta.write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
        commit_directory(stage, out_dir)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return GenomeFiles.under(out_dir)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``simulate-genome`` to the ``tbvar-train`` parser."""
    parser = subparsers.add_parser(
        "simulate-genome", help="write a genome with sparse planted motif sites and variants",
        description="Random contigs with sparse planted JASPAR motif sites: genome.fa, "
                    "sites.tsv, variants.vcf + truth.tsv (destroying SNVs and controls), "
                    "meta.json.")
    parser.add_argument("--out", required=True, help="directory to create")
    parser.add_argument("--motif-names", help="comma-separated motif names/IDs, one task each "
                                              f"(default {','.join(DEFAULT_GENOME_MOTIFS)}, the "
                                              "example model's)")
    parser.add_argument("--motifs", help="MEME file (default: bundled JASPAR 2024 CORE "
                                         "vertebrates non-redundant)")
    parser.add_argument("--contigs", type=int, default=4, help="number of contigs (default 4)")
    parser.add_argument("--contig-length", type=int, default=200_000,
                        help="bp per contig (default 200000)")
    parser.add_argument("--site-density", type=float, default=0.01,
                        help="fraction of bases in planted sites (default 0.01)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--destroy-width", type=int, default=1,
                        help="bases changed per destroying/control variant (default 1: SNVs)")
    parser.add_argument("--min-distance", type=int, default=100,
                        help="least distance (bp) from a control variant to any site "
                             "(default 100)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    names = [n.strip() for n in args.motif_names.split(",")] if args.motif_names else None
    files = simulate_genome(
        args.out, motif_names=names, n_contigs=args.contigs, contig_length=args.contig_length,
        site_density=args.site_density, seed=args.seed, motifs_path=args.motifs,
        destroy_width=args.destroy_width, min_distance=args.min_distance,
        overwrite=args.overwrite, command=command_line(args.argv))
    meta: dict[str, Any] = json.loads(files.meta.read_text(encoding="utf-8"))
    print(f"wrote {args.out}: {meta['sites']} sites ({meta['site_fraction']:.2%} of "
          f"{args.contigs * args.contig_length} bp), {meta['variants']['destroying']} "
          f"destroying + {meta['variants']['control']} control variants", file=sys.stderr)
    return 0
