"""``tbvar report``: one self-contained HTML page about a finished run output.

The page (:func:`build_report`) shows the run's provenance, counts per status, histograms of
max |lod|, p/q-values and attention shifts, the top variants as a sortable table, per-task hit
counts, and optional pre-rendered explanation panels (HTML fragments, e.g. from
``tbvar explain``). Everything is read with :func:`tbvar.run_reader.read_run` and drawn with
:mod:`tbvar.html` (inline CSS and SVG, no external requests).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from tbvar.atomic import atomic_write
from tbvar.errors import RunOutputError
from tbvar.html import figure_svg, page, paragraph, section, table
from tbvar.report_figures import Histogram, histograms
from tbvar.run_reader import HitRule, RunOutput, read_run
from tbvar.variants import STATUS_OK, STATUS_REASONS
from tbvar.version import __version__

DEFAULT_TOP = 25
TOP_TABLE_ID = "top-variants"
_ALLELE_SHOWN = 12


def default_report_name(run_output: str | os.PathLike[str]) -> Path:
    """``OUT.report.html`` beside the run output."""
    return Path(f"{run_output}.report.html")


def report(run_output: str | os.PathLike[str], output: str | os.PathLike[str] | None = None,
           *, top: int = DEFAULT_TOP, lod_threshold: float = 1.0,
           panels: Sequence[str] = ()) -> Path:
    """Write the HTML report of a run output (TSV(.gz), Parquet or VCF(.gz)/BCF).

    Parameters
    ----------
    run_output
        A file written by ``tbvar score`` (its ``OUT.summary.json`` is used when present).
    output
        The HTML file (default ``OUT.report.html``); written atomically.
    top
        Variants in the top table.
    lod_threshold
        Per-task hits without p-values: scored variants with |lod| above it in that task.
    panels
        Pre-rendered HTML fragments (explanations of the top variants), shown in order.

    Returns
    -------
    Path
        The report written.
    """
    target = Path(output) if output is not None else default_report_name(run_output)
    if target.exists() and target.resolve() == Path(run_output).resolve():
        raise ValueError(f"{target}: the report would overwrite the run output")
    html = build_report(read_run(run_output, HitRule(lod_min=lod_threshold)), top, panels)
    atomic_write(target, lambda tmp: tmp.write_text(html, encoding="utf-8"))
    return target


def build_report(run: RunOutput, top: int = DEFAULT_TOP, panels: Sequence[str] = ()) -> str:
    """The report page of ``run`` with ``top`` variants and the explanation ``panels``.

    Raises :class:`tbvar.errors.RunOutputError` when the run has no scored variant.
    """
    if top < 1:
        raise ValueError(f"top must be at least 1, not {top}")
    scored = run.variants[run.variants["status"] == STATUS_OK]
    if not len(scored):
        held = (f"none of its {len(run.variants)} alleles was scored "
                f"({_counts_text(Counter(run.variants['status'].tolist()))})"
                if len(run.variants) else "it holds no variants")
        raise RunOutputError(f"{run.path}: no scored variant to report: {held}")
    sections = [_run_section(run), _status_section(run), _distribution_section(scored),
                _top_section(scored, top), _task_section(run)]
    if panels:
        sections.append(section("Explanations of the top variants", *panels))
    return page(f"tbvar run report: {run.path.name}", sections, sortable=True)


def _run_section(run: RunOutput) -> str:
    rows = [("file", str(run.path)), ("format", run.kind)]
    rows += [(key, value) for key, value in run.provenance.items()]
    if run.kind == "vcf":
        source = "the ##tbvar_* header lines of the VCF"
    elif run.kind == "parquet":
        source = "the tbvar.* metadata of the Parquet schema"
    else:
        source = ("nothing: TSV outputs carry no provenance (write Parquet or VCF to keep "
                  "the model, genome and command with the scores)")
    return section("Run", table(["", "value"], rows),
                   paragraph(f"Provenance from {source}. Report written by tbvar "
                             f"{__version__}.", note=True))


def _status_section(run: RunOutput) -> str:
    in_file = Counter(run.variants["status"].tolist())
    summary = run.summary
    counts = Counter(summary["status_counts"]) if summary else in_file
    order = sorted(counts, key=lambda s: (s != STATUS_OK, -counts[s], s))
    parts = [table(["status", "alleles", "meaning"],
                   [(s, counts[s], STATUS_REASONS.get(s, "")) for s in order],
                   numeric=[False, True, False], table_id="status-counts")]
    if summary:
        flags = summary.get("flags", {})
        text = (f"{summary.get('records', '?')} records → {sum(counts.values())} alleles, "
                f"{counts[STATUS_OK]} scored (counts from {run.summary_source}). Flags: "
                + ", ".join(f"{name} {value}" for name, value in flags.items())
                + f". REF-mismatch policy: {summary.get('ref_mismatch_policy', '?')}.")
        parts.append(paragraph(text))
        if counts != in_file:
            parts.append(paragraph(
                f"The file's rows differ from these counts ({_counts_text(in_file)}): it was "
                "changed or filtered after the run. Everything below uses the file's rows.",
                note=True))
    else:
        parts.append(paragraph(f"No run summary ({run.path.name}.summary.json) beside the "
                               "file: counts are the file's rows.", note=True))
    return section("Variants by status", *parts)


def _counts_text(counts: Counter) -> str:
    return ", ".join(f"{status} {n}" for status, n in sorted(counts.items()))


def _distribution_section(scored: pd.DataFrame) -> str:
    effects = [Histogram(scored["max_abslod"].to_numpy(), "max |lod|",
                         "largest |lod| over the tasks", log=True)]
    if "attn_shift" in scored:
        effects.append(Histogram(scored["attn_shift"].to_numpy(), "attention shift",
                                 "½ Σ|a_alt − a_ref|", log=True))
    parts = [figure_svg(histograms(effects), "Scored variants: the largest |lod| (logit(alt) − "
                        "logit(ref)) over the tasks" + (", and how far the attention moved"
                                                        if len(effects) > 1 else "")
                        + ".")]
    significance = [Histogram(scored[column].to_numpy(), title, "", bins=20, span=(0.0, 1.0))
                    for column, title in (("min_p", "min_p"), ("combined_p", "combined_p"),
                                          ("q", "q")) if column in scored]
    if significance:
        parts.append(figure_svg(histograms(significance), _significance_caption(scored)))
    else:
        parts.append(paragraph("No p-values: score with --background for calibrated p- and "
                               "q-values.", note=True))
    return section("Distributions", *parts)


def _significance_caption(scored: pd.DataFrame) -> str:
    text = ("Against the background: min_p is the smallest per-task p-value (not uniform "
            "under the null: a minimum over tasks)")
    if "combined_p" in scored:
        text += "; combined_p combines the tasks (Simes) and is uniform under the null"
    return text + "; q is the Benjamini-Hochberg q-value over the run."


def rank_variants(scored: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """Scored variants best first, and how they were ranked: by q (then min_p, then max
    |lod|) when the output has q-values, by min_p (then max |lod|) with p-values only, else
    by max |lod|; ties keep file order."""
    keys = [k for k in ("q", "min_p") if k in scored and scored[k].notna().any()]
    text = {("q", "min_p"): "q (Benjamini-Hochberg over the run), ties by min_p, then max "
                            "|lod|",
            ("min_p",): "min_p (smallest per-task p-value), ties by max |lod|",
            (): "max |lod| (no p-values in this output; score with --background to rank by "
                "calibrated significance)"}[tuple(keys)]
    order = np.lexsort([scored["alt_index"], scored["record_index"],
                        -scored["max_abslod"].to_numpy(np.float64)]
                       + [scored[k].to_numpy(np.float64) for k in reversed(keys)])
    return scored.iloc[order], text


def _top_section(scored: pd.DataFrame, top: int) -> str:
    ranked, how = rank_variants(scored)
    shown = ranked.head(top)
    columns = ["rank", "chrom", "pos", "id", "ref", "alt", "max_lod", "max_lod_task"]
    columns += [c for c in ("min_p", "min_p_task", "q", "attn_shift") if c in shown]
    numeric = {"rank", "pos", "max_lod", "min_p", "q", "attn_shift"}
    rows = []
    for rank, row in enumerate(shown[columns[1:]].itertuples(index=False), start=1):
        rows.append([rank, *(_cell(name, value)
                             for name, value in zip(columns[1:], row, strict=True))])
    return section(f"Top {len(shown)} variants",
                   paragraph(f"The {len(shown)} best of {len(scored)} scored variants, ranked "
                             f"by {how}. Click a column header to sort."),
                   table(columns, rows, sortable=True, numeric=[c in numeric for c in columns],
                         table_id=TOP_TABLE_ID))


def _cell(name: str, value: object) -> object:
    """A table cell: Python numbers, missing text empty, long alleles shortened."""
    if value is None:
        return ""
    if isinstance(value, np.generic):
        value = value.item()
    if name in ("ref", "alt") and len(value) > _ALLELE_SHOWN:
        return f"{value[:_ALLELE_SHOWN - 2]}…({len(value)} bp)"
    return value


def _task_section(run: RunOutput) -> str:
    hits = run.task_hits
    if hits is None:
        text = ("VCF outputs carry per-variant summaries only (TBVAR_* INFO fields), not "
                "per-task values: per-task hit counts need a TSV or Parquet output of the run."
                if run.kind == "vcf" else
                "This table has no per-task lod or p columns (score with --scores lod or p).")
        return section("Hits per task", paragraph(text, note=True))
    if hits.score == "p":
        meaning = ("p is the task's empirical p-value against the background, not corrected "
                   "for the number of variants or tasks")
    else:
        meaning = ("the table has no per-task p-values; lod is logit(alt) − logit(ref), so "
                   "the threshold is a change in the odds of binding, not calibrated across "
                   "tasks")
    counts = hits.counts.sort_values(ascending=False, kind="stable")
    rows = [(task, int(n), 100.0 * n / hits.scored) for task, n in counts.items()]
    return section("Hits per task",
                   paragraph(f"A hit of a task is a scored variant with {hits.rule} in that "
                             f"task ({meaning}). {int((counts > 0).sum())} of {len(counts)} "
                             f"tasks have hits among {hits.scored} scored variants."),
                   table(["task", "hits", "% of scored"], rows, sortable=True,
                         numeric=[False, True, True], table_id="task-hits"))
