"""``tbvar explain``: explain variants (:mod:`tbvar.explain`) into a directory of pages,
figures and tables (:mod:`tbvar.explain_page`)."""

from __future__ import annotations

import argparse
import sys

from tbvar.engine_cli import add_engine_options, engine_settings, positive, resolve_model_arg
from tbvar.explain import DEFAULT_WINDOW, explain_variants, parse_variant
from tbvar.preflight import check_inputs, check_output_directory


def _explain(args: argparse.Namespace) -> int:
    try:
        from tbvar.explain_page import write_explanations
    except ImportError as exc:  # matplotlib comes with the interpret extra
        print(f"tbvar: error: tbvar explain needs matplotlib ({exc}); install it with "
              "pip install 'tbvar[interpret]'", file=sys.stderr)
        return 1
    variants = [parse_variant(v) for v in args.variants]
    inputs = {"genome": args.genome, "background": args.background,
              "contig map": args.contig_map}
    check_inputs(inputs)
    check_output_directory(args.output, args.overwrite, [*inputs.values(), args.motifs,
                                                         args.model])
    model = resolve_model_arg(args)  # may download: only once the inputs are known to be fine
    explanations = explain_variants(
        variants, args.genome, model, window=args.window, attention=args.attention,
        motifs=args.motifs, **engine_settings(args),
        tasks=[t for t in args.tasks.split(",") if t.strip()] if args.tasks else None,
        top_k=args.top_k, background=args.background, force_background=args.force_background)
    page = write_explanations(explanations, args.output, overwrite=args.overwrite)
    if not args.quiet:
        print(f"wrote {page} ({len(explanations)} variant"
              f"{'s' if len(explanations) > 1 else ''})", file=sys.stderr)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``explain`` command."""
    parser = subparsers.add_parser(
        "explain", help="explain variants: tasks, attention, in-silico mutagenesis, kernels",
        description="Explain variants with the model, genome and options of 'tbvar score': "
                    "the tasks they change most (with p-values given --background), REF/ALT "
                    "attention along the genome, in-silico mutagenesis (ISM) of the REF window "
                    "around each variant, and the first-layer kernels they switch (with JASPAR "
                    "matches given --motifs). Writes DIR/explain.html (self-contained) and one "
                    "subdirectory of PNG/SVG figures and TSV tables per variant.")
    parser.add_argument("variants", nargs="+", metavar="CHROM:POS:REF:ALT",
                        help="variants (1-based POS, as in a VCF)")
    parser.add_argument("-o", "--output", required=True, metavar="DIR",
                        help="directory to create")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing DIR")
    parser.add_argument("--window", type=int, default=DEFAULT_WINDOW, metavar="W",
                        help="ISM of every base within ±W bp of POS, each changed to the three "
                        f"others (default {DEFAULT_WINDOW}: 101 × 3 sequences)")
    parser.add_argument("--tasks", help="comma-separated task selectors (index, target, cell "
                        "type or label) to run ISM for (default: the task with the largest "
                        "|lod|)")
    parser.add_argument("--top-k", type=positive, default=5, help="tasks listed by |lod| "
                        "(default 5)")
    parser.add_argument("--background", metavar="BG", help="background made by 'tbvar "
                        "calibrate' for this model, genome and options: per-task p-values")
    parser.add_argument("--force-background", action="store_true", help="use a background "
                        "built for another model, genome or options")
    parser.add_argument("--motifs", metavar="DIR", help="'tbvar motifs' output directory of "
                        "this model: JASPAR matches of the kernels (its matches.tsv)")
    parser.add_argument("--attention", action=argparse.BooleanOptionalAction, default=None,
                        help="attention plots: --attention requires them (an error for a "
                        "model without attention), --no-attention leaves them out (default: "
                        "shown when the model has attention)")
    add_engine_options(parser, chunked=False)
    parser.set_defaults(func=_explain)
