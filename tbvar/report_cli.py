"""``tbvar report``: the HTML report of a finished run output (:mod:`tbvar.run_report`)."""

from __future__ import annotations

import argparse
import sys

from tbvar.engine_cli import positive
from tbvar.run_report import DEFAULT_TOP, default_report_name, report


def _report(args: argparse.Namespace) -> int:
    panels: list[str] = []
    if args.genome is not None:
        from tbvar.report_panels import top_variant_panels  # torch only when explaining

        settings = {"background": args.background} if args.background else {}
        panels = top_variant_panels(args.input, args.genome, args.model, args.explain,
                                    device=args.device, **settings)
    target = report(args.input, args.output, top=args.top, lod_threshold=args.lod_threshold,
                    panels=panels)
    if not args.quiet:
        print(f"wrote {target}", file=sys.stderr)
    return 0


def _non_negative(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be a number >= 0, not {text!r}")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``report`` command."""
    parser = subparsers.add_parser(
        "report", help="write an HTML report of a run output",
        description="Write one self-contained HTML page (no external requests) about a "
                    "finished 'tbvar score' output: provenance, counts per status, histograms "
                    "of max |lod|, p/q-values and attention shift, the top variants as a "
                    "sortable table and per-task hit counts (tables only); with --genome, "
                    "explanations of the top variants.")
    parser.add_argument("input", help="output of 'tbvar score': .tsv[.gz], .parquet, "
                        ".vcf[.gz] or .bcf (its OUT.summary.json is used when present)")
    parser.add_argument("-o", "--output", help="the HTML file (default: INPUT.report.html, "
                        f"e.g. {default_report_name('out.vcf.gz')})")
    parser.add_argument("--top", type=positive, default=DEFAULT_TOP, help="variants in the "
                        "top table, ranked by q (or min_p) when the output has p-values, else "
                        f"by max |lod| (default {DEFAULT_TOP})")
    parser.add_argument("--lod-threshold", type=_non_negative, default=1.0, help="without "
                        "per-task p-values a task's hits are the variants with |lod| above "
                        "this (default 1.0); with them, p < 0.01")
    parser.add_argument("--genome", help="with it, explanation panels (tbvar explain) of the "
                        "top --explain variants are embedded; the run's reference FASTA")
    parser.add_argument("--model", help="the run's model (default: the published TBiNet), "
                        "for the explanation panels")
    parser.add_argument("--background", help="the run's background, for p-values in the "
                        "explanation panels")
    parser.add_argument("--explain", type=positive, default=3, metavar="K",
                        help="top variants explained when --genome is given (default 3)")
    parser.add_argument("--device", default="auto", help="for the explanations: auto, cpu, "
                        "cuda or cuda:N (default auto)")
    parser.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")
    parser.set_defaults(func=_report)
