"""``tbvar score``: the variant-scoring command."""

from __future__ import annotations

import argparse
import shlex
import sys

from tbvar.api import default_output_name, score_vcf
from tbvar.scoring import PRECISIONS, TASK_SCORES
from tbvar.variants import REF_MISMATCH_POLICIES
from tbvar.writers import OUTPUT_FORMATS


def _score(args: argparse.Namespace) -> int:
    output = args.output or default_output_name(args.input)
    progress = not args.quiet and sys.stderr.isatty()
    summary = score_vcf(
        args.input, args.genome, args.model, output=output, format=args.format,
        scores=[s.strip() for s in args.scores.split(",") if s.strip()],
        tasks=[t for t in args.tasks.split(",") if t.strip()] if args.tasks else None,
        top_k=args.top_k, device=args.device, batch_size=args.batch_size,
        precision=args.precision, reverse_complement=not args.no_rc, region=args.region,
        max_allele_length=args.max_allele_length, ref_mismatch=args.ref_mismatch,
        progress=progress, command="tbvar " + shlex.join(sys.argv[1:]))
    if not args.quiet:
        print(summary.format(), file=sys.stderr)
        print(f"wrote {output}", file=sys.stderr)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``score`` command."""
    parser = subparsers.add_parser(
        "score", help="score the variants of a VCF",
        description="Score every variant of a VCF/VCF.gz/BCF with a TBiNet model: per-task "
                    "probability and log-odds differences (forward/reverse-complement "
                    "averaged) and attention shifts.")
    parser.add_argument("input", help="VCF, VCF.gz or BCF")
    parser.add_argument("--genome", required=True, help="reference FASTA (plain or bgzip)")
    parser.add_argument("--model", help="registry name (see `tbvar model list`), tbvar "
                        ".safetensors or Keras .h5 file (default: the published TBiNet, "
                        "'tbinet', installed in the cache on first use)")
    parser.add_argument("-o", "--output", help="output .vcf[.gz], .bcf, .tsv[.gz] or "
                        ".parquet (default: INPUT.tbvar.vcf.gz next to the input)")
    parser.add_argument("--format", choices=OUTPUT_FORMATS, help="output format (default: "
                        "from the output name)")
    parser.add_argument("--scores", default="lod,diff", help="per-task scores for TSV/Parquet,"
                        f" comma-separated from {','.join(TASK_SCORES)} (default lod,diff)")
    parser.add_argument("--tasks", help="comma-separated task selectors: output index, target "
                        "(CTCF), cell type (K562) or label (K562|CTCF|None); default all")
    parser.add_argument("--top-k", type=int, default=5, help="tasks listed per variant by "
                        "|lod| (default 5)")
    parser.add_argument("--region", help="chrom[:start-end], needs an indexed VCF")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--batch-size", type=int, default=128, help="variants per forward "
                        "pass (default 128; each variant is 4 sequences with RC)")
    parser.add_argument("--precision", choices=tuple(PRECISIONS), default="fp32")
    parser.add_argument("--no-rc", action="store_true", help="forward strand only (no "
                        "reverse-complement averaging)")
    parser.add_argument("--max-allele-length", type=int, default=100, help="longer REF/ALT "
                        "get status too_long (default 100)")
    parser.add_argument("--ref-mismatch", choices=REF_MISMATCH_POLICIES, default="skip",
                        help="REF differs from the genome: skip (status ref_mismatch, "
                        "default) or use-vcf (score the VCF's REF)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress or summary")
    parser.set_defaults(func=_score)
