"""``tbvar motifs``: first-layer kernels as motifs matched to JASPAR
(:mod:`tbvar.motifs`)."""

from __future__ import annotations

import argparse
import shlex
import sys

from tbvar.engine_cli import positive, resolve_model_arg
from tbvar.motifs import (
    DEFAULT_MIN_INFORMATION,
    DEFAULT_MIN_SITES,
    DEFAULT_QVALUE,
    kernel_motifs,
)


def _motifs(args: argparse.Namespace) -> int:
    summary = kernel_motifs(
        resolve_model_arg(args), args.output, sequences=args.sequences, genome=args.genome,
        regions=args.regions, random=args.random, seed=args.seed, database=args.database,
        qvalue=args.qvalue, min_sites=args.min_sites, min_information=args.min_information,
        logos=not args.no_logos, device=args.device, batch_size=args.batch_size,
        overwrite=args.overwrite, progress=not args.quiet and sys.stderr.isatty(),
        command=shlex.join(["tbvar", *args.argv]))
    if not args.quiet:
        counts = summary["counts"]
        distinct = ", ".join(f"d={d}: {n}" for d, n in
                             counts["distinct_motifs_by_edit_distance"]["best_matches"].items())
        print(f"{summary['inputs']['n_sequences']} sequences; {counts['kernels']} kernels: "
              f"{counts['matched']} matched (q < {args.qvalue}), {counts['no_match']} without a "
              f"match, {counts['uninformative']} uninformative, {counts['too_few_sites']} with "
              f"fewer than {args.min_sites} sites; {counts['best_match_motifs']} database motifs "
              f"are best matches, distinct by edit distance {distinct}\nwrote {args.output}",
              file=sys.stderr)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``motifs`` command."""
    parser = subparsers.add_parser(
        "motifs", help="first-layer kernels as motifs, matched to JASPAR with TOMTOM",
        description="Count the subsequences at each first-layer kernel's maximal activation "
                    "(when > 0) over the input sequences into position probability matrices, "
                    "match them to a motif database with TOMTOM (memelite) and write "
                    "kernels.meme, kernels.tsv, matches.tsv, summary.json and logos/ to DIR. "
                    "TBiNet and DanQ models.")
    parser.add_argument("--model", help="registry name, tbvar .safetensors or Keras .h5 file "
                        "(default: the published TBiNet)")
    parser.add_argument("--sequences", metavar="FA", help="FASTA of sequences of the model's "
                        "length (plain or gzip)")
    parser.add_argument("--genome", metavar="FA", help="reference FASTA to take windows from, "
                        "with --regions or --random")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--regions", metavar="BED", help="windows tiling each (merged) interval, "
                       "centred on it")
    which.add_argument("--random", type=positive, metavar="N", help="N windows drawn uniformly "
                       "from the genome's windows without N")
    parser.add_argument("--seed", type=int, default=0, help="seed of --random (default 0)")
    parser.add_argument("--database", metavar="MEME", help="motif database in MEME format "
                        "(default: bundled JASPAR 2024 CORE vertebrates, non-redundant)")
    parser.add_argument("--qvalue", type=float, default=DEFAULT_QVALUE, help="report matches "
                        f"with TOMTOM q below this (default {DEFAULT_QVALUE})")
    parser.add_argument("--min-sites", type=positive, default=DEFAULT_MIN_SITES, help="kernels "
                        "with fewer sites are reported as too_few_sites and not matched "
                        f"(default {DEFAULT_MIN_SITES})")
    parser.add_argument("--min-information", type=float, default=DEFAULT_MIN_INFORMATION,
                        help="bits per column bounding a kernel's informative core, the part "
                        f"matched (default {DEFAULT_MIN_INFORMATION})")
    parser.add_argument("--no-logos", action="store_true", help="do not draw logos/ (about "
                        "3 s per matched kernel on a CPU core)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--batch-size", type=positive, default=256, help="sequences per "
                        "first-layer pass (default 256)")
    parser.add_argument("-o", "--output", required=True, metavar="DIR",
                        help="directory to create")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing DIR")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress or summary")
    parser.set_defaults(func=_motifs)
