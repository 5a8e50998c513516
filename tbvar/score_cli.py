"""``tbvar score``: the variant-scoring command (shared engine options: :mod:`tbvar.engine_cli`)."""

from __future__ import annotations

import argparse
import shlex
import sys

from tbvar.api import default_output_name, score_vcf
from tbvar.engine_cli import (
    CLUSTER_OPTIONS,
    add_cluster_options,
    add_engine_options,
    cluster_settings,
    engine_settings,
    interruptible,
    resolve_model_arg,
)
from tbvar.formats import OUTPUT_FORMATS, detect_format
from tbvar.options import P_VALUES_ON
from tbvar.output import summary_path
from tbvar.preflight import check_inputs, check_outputs
from tbvar.scores import TASK_SCORES

#: Options with a value that do not change the output: left out of the recorded command.
UNRECORDED_OPTIONS = (*CLUSTER_OPTIONS, "--p-values-on")
#: Flags that do not change the output: left out of the recorded command.
UNRECORDED_FLAGS = ("--resume", "-q", "--quiet", "--cuda-graphs")


def recorded_command(argv: list[str]) -> str:
    """The command line for the output header, without options that do not change output
    (``--resume``, ``--quiet``, ``--cuda-graphs``, the cluster options, ``--p-values-on``)."""
    kept: list[str] = []
    value_follows = False
    for arg in argv:
        if value_follows:
            value_follows = False
        elif arg in UNRECORDED_OPTIONS:
            value_follows = True
        elif arg not in UNRECORDED_FLAGS and arg.split("=")[0] not in (
                UNRECORDED_OPTIONS):
            kept.append(arg)
    return "tbvar " + shlex.join(kept)


def _is_dataset(output: str, fmt: str | None) -> bool:
    """Whether ``output`` is a Parquet dataset (a directory); an unknown format is reported
    by the run itself."""
    try:
        return detect_format(output, fmt) == "parquet-dataset"
    except ValueError:
        return False


def _score(args: argparse.Namespace) -> int:
    output = str(args.output or default_output_name(args.input))
    check_inputs({"input VCF": args.input, "genome": args.genome,
                  "background": args.background, "contig map": args.contig_map})
    check_outputs([output, summary_path(output)] + ([args.skipped] if args.skipped else []),
                  [args.input, args.genome, args.background, args.contig_map],
                  directories=[output] if _is_dataset(output, args.format) else [])
    model = resolve_model_arg(args)  # may download: only once the paths are known to be fine
    summary = interruptible(lambda: score_vcf(
        args.input, args.genome, model, output=output, format=args.format, region=args.region,
        skipped=args.skipped, **engine_settings(args), **cluster_settings(args),
        scores=[s.strip() for s in args.scores.split(",") if s.strip()],
        tasks=[t for t in args.tasks.split(",") if t.strip()] if args.tasks else None,
        top_k=args.top_k, background=args.background, force_background=args.force_background,
        p_values_on=args.p_values_on, cuda_graphs=args.cuda_graphs,
        command=recorded_command(getattr(args, "argv", sys.argv[1:]))), output)
    if isinstance(summary, int):
        return summary
    if args.quiet:  # warnings still matter: the run is probably wrong
        for warning in summary.warnings():
            print(f"tbvar: warning: {warning}", file=sys.stderr)
    else:
        print(summary.format(), file=sys.stderr)
        print(f"wrote {output} and {summary_path(output)}"
              + (f" and {args.skipped}" if args.skipped else ""), file=sys.stderr)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``score`` command."""
    parser = subparsers.add_parser(
        "score", help="score the variants of a VCF",
        description="Score every variant of a VCF/VCF.gz/BCF with a model (TBiNet by "
                    "default): per-task probability and log-odds differences (forward/"
                    "reverse-complement averaged), attention shifts, and with --background "
                    "calibrated p-values.")
    parser.add_argument("input", help="VCF, VCF.gz or BCF")
    parser.add_argument("-o", "--output", help="output .vcf[.gz], .bcf, .tsv[.gz] or "
                        ".parquet, or DIR/ for a Parquet dataset (one file per chunk; no data "
                        "passes through the driver of a Ray run); compressed VCF/BCF get a "
                        ".tbi/.csi index when sorted (default: beside the input, same format: "
                        "in.vcf.gz -> in.tbvar.vcf.gz, in.vcf -> in.tbvar.vcf, in.bcf -> "
                        "in.tbvar.bcf)")
    parser.add_argument("--format", choices=OUTPUT_FORMATS, help="output format (default: "
                        "from the output name)")
    parser.add_argument("--scores", default="lod,diff", help="per-task scores for TSV/Parquet,"
                        f" comma-separated from {','.join(TASK_SCORES)} (default lod,diff; p "
                        "and z need --background)")
    parser.add_argument("--tasks", help="comma-separated task selectors: output index, target "
                        "(CTCF), cell type (K562) or label (K562|CTCF|None); default all")
    parser.add_argument("--top-k", type=int, default=5, help="tasks listed per variant by "
                        "|lod| (default 5)")
    parser.add_argument("--region", help="chrom[:start-end], needs an indexed VCF")
    parser.add_argument("--background", metavar="BG", help="background file made by 'tbvar "
                        "calibrate' for this model, genome and options: adds per-task p and z "
                        "(--scores) and per variant min_p, min_p_task, combined_p (Simes) and "
                        "q (Benjamini-Hochberg over the run)")
    parser.add_argument("--force-background", action="store_true", help="use a background "
                        "built for another model, genome or options (recorded in the header)")
    parser.add_argument("--p-values-on", choices=P_VALUES_ON, default="auto", help="where "
                        "--background p-values are computed: model (the model's device), host "
                        "(this CPU) or auto (model on CUDA, host on the CPU); the output is the "
                        "same, byte for byte")
    parser.add_argument("--cuda-graphs", action="store_true", help="on CUDA, replay the "
                        "model's full passes from a CUDA graph (fewer kernel launches; the "
                        "same output, byte for byte, checked at the first pass); off by default "
                        "until measured on more GPUs")
    parser.add_argument("--skipped", metavar="FILE", help="also write every unscored allele "
                        "with its input line, status and reason to this TSV")
    add_engine_options(parser)
    add_cluster_options(parser)
    parser.set_defaults(func=_score)
