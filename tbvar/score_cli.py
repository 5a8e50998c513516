"""``tbvar score``: the variant-scoring command.

Ctrl-C and SIGTERM stop the run with one line on stderr (exit 130 / 143) and no output file;
the finished chunks stay in ``OUTPUT.partial/`` for ``--resume``.
"""

from __future__ import annotations

import argparse
import shlex
import signal
import sys

from tbvar.api import default_output_name, score_vcf
from tbvar.download import ProgressBar
from tbvar.formats import OUTPUT_FORMATS
from tbvar.output import summary_path
from tbvar.registry import resolve_model
from tbvar.scores import TASK_SCORES
from tbvar.scoring import PRECISIONS
from tbvar.variants import REF_MISMATCH_POLICIES


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C."""


def _terminate(signum: int, frame: object) -> None:
    raise Terminated()


def _recorded_command(argv: list[str]) -> str:
    """The command line for the output header, without options that do not change output."""
    kept = [arg for arg in argv if arg not in ("--resume", "-q", "--quiet")]
    return "tbvar " + shlex.join(kept)


def _score(args: argparse.Namespace) -> int:
    output = args.output or default_output_name(args.input)
    progress = not args.quiet and sys.stderr.isatty()
    notes = (lambda text: print(f"tbvar: {text}", file=sys.stderr)) if not args.quiet else None
    with ProgressBar(enabled=None if not args.quiet else False) as bar:
        model = resolve_model(args.model, progress=bar)  # a registry model may be downloaded
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        summary = score_vcf(
            args.input, args.genome, model, output=output, format=args.format,
            scores=[s.strip() for s in args.scores.split(",") if s.strip()],
            tasks=[t for t in args.tasks.split(",") if t.strip()] if args.tasks else None,
            top_k=args.top_k, device=args.device, batch_size=args.batch_size,
            precision=args.precision, reverse_complement=not args.no_rc, region=args.region,
            max_allele_length=args.max_allele_length, ref_mismatch=args.ref_mismatch,
            chunk_size=args.chunk_size, progress=progress,
            command=_recorded_command(getattr(args, "argv", sys.argv[1:])),
            contig_map=args.contig_map, skipped=args.skipped, resume=args.resume, notify=notes)
    except KeyboardInterrupt as exc:
        partial = f"{output}.partial"
        what = "terminated" if isinstance(exc, Terminated) else "interrupted"
        print(f"tbvar: {what}; no output written; finished chunks are kept in {partial} "
              "(rerun with --resume to continue)", file=sys.stderr)
        return 143 if isinstance(exc, Terminated) else 130
    finally:
        signal.signal(signal.SIGTERM, previous)
    if not args.quiet:
        print(summary.format(), file=sys.stderr)
        print(f"wrote {output} and {summary_path(output)}"
              + (f" and {args.skipped}" if args.skipped else ""), file=sys.stderr)
    return 0


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be a positive integer")
    return value


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
                        "default), flip (if the ALT matches the genome, score with REF and ALT "
                        "swapped, flagged 'swapped'; else skip) or use-vcf (score the VCF's "
                        "REF)")
    parser.add_argument("--contig-map", metavar="FILE", help="two-column TSV: VCF contig, "
                        "FASTA contig; used before automatic name harmonisation (chr1/1, "
                        "chrM/MT, GL000192.1/chr1_gl000192_random)")
    parser.add_argument("--skipped", metavar="FILE", help="also write every unscored allele "
                        "with its input line, status and reason to this TSV")
    parser.add_argument("--resume", action="store_true", help="continue an interrupted run "
                        "into the same output, reusing the finished chunks in OUTPUT.partial/ "
                        "(output is byte-identical to an uninterrupted run)")
    parser.add_argument("--chunk-size", type=_positive, default=1024, help="records per "
                        "chunk: the unit of memory use and of --resume (default 1024)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress or summary")
    parser.set_defaults(func=_score)
