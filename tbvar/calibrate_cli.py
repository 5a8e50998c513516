"""``tbvar calibrate``: build a background file for calibrated p-values
(:mod:`tbvar.calibration`)."""

from __future__ import annotations

import argparse
import sys

from tbvar.background import DEFAULT_SAMPLE_SIZE, MIN_RECOMMENDED
from tbvar.calibration import BackgroundSource, calibrate
from tbvar.engine_cli import (
    add_engine_options,
    engine_settings,
    interruptible,
    positive,
    resolve_model_arg,
)
from tbvar.preflight import check_inputs, check_outputs


def _calibrate(args: argparse.Namespace) -> int:
    source = BackgroundSource(vcf=args.background, random=args.random, seed=args.seed,
                              regions=args.regions)
    check_inputs({"background VCF": args.background, "genome": args.genome,
                  "regions BED": args.regions, "contig map": args.contig_map})
    check_outputs([args.output], [args.background, args.genome, args.regions])
    model = resolve_model_arg(args)
    result = interruptible(lambda: calibrate(
        args.genome, model, args.output, source=source, sample_size=args.sample_size,
        **engine_settings(args)), args.output)
    if isinstance(result, int):
        return result
    if result.n < MIN_RECOMMENDED:
        print(f"tbvar: warning: only {result.n} background variants were scored; p-values "
              f"cannot go below 1/{result.sample_size + 1}", file=sys.stderr)
    for warning in result.meta["counts"]["warnings"]:
        print(f"tbvar: warning: {warning}", file=sys.stderr)
    if not args.quiet:
        counts = result.meta["counts"]["status_counts"]
        print(f"{result.n} background variants scored "
              f"({', '.join(f'{k} {v}' for k, v in sorted(counts.items()))}); "
              f"sample of {result.sample_size} per score: p-values from "
              f"1/{result.sample_size + 1}\nwrote {args.output}", file=sys.stderr)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``calibrate`` command."""
    parser = subparsers.add_parser(
        "calibrate", help="score a background of variants for calibrated p-values",
        description="Score a background (random genome SNVs or a VCF such as 1000 Genomes "
                    "common SNVs) with the model, genome and options of later 'tbvar score "
                    "--background' runs, and store the null distribution of each task's lod "
                    "and diff (and of max |lod| and attention shift).")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--background", metavar="VCF", help="background variants (any VCF)")
    which.add_argument("--random", type=positive, metavar="N", help="N random SNVs: uniform "
                       "over non-N positions at least half a window from contig ends, ALT "
                       "uniform over the other three bases")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random SNVs and of "
                        "the sample (default 0)")
    parser.add_argument("--regions", metavar="BED", help="draw the random SNVs inside these "
                        "intervals only (e.g. promoters or DHS)")
    parser.add_argument("--sample-size", type=positive, default=DEFAULT_SAMPLE_SIZE,
                        help="background variants kept per score: p-value resolution "
                        f"1/(size+1) (default {DEFAULT_SAMPLE_SIZE})")
    parser.add_argument("-o", "--output", required=True, help="background file to write")
    add_engine_options(parser)
    parser.set_defaults(func=_calibrate)
