"""Pages and files of explained variants (:mod:`tbvar.explain`): self-contained HTML
(:mod:`tbvar.html`), PNG/SVG figures (:mod:`tbvar.plot_variant`) and TSV tables.

``tbvar explain ... -o DIR`` writes, through a hidden staging directory renamed into place
(nothing is half-written)::

    DIR/explain.html          every variant's sections (with an index when there are several)
    DIR/VARIANT/explain.html  the variant's own page
    DIR/VARIANT/attention.png, .svg        (models with attention)
    DIR/VARIANT/ism_INDEX_TASK.png, .svg   one per ISM task (model task index and label)
    DIR/VARIANT/tasks.tsv, ism.tsv, kernels.tsv, attention.tsv

``VARIANT`` is ``CHROM_POS_REF_ALT`` with characters other than letters, digits, ``.``, ``-``
and ``_`` replaced by ``_`` (``-2``, ``-3`` for repeats). :func:`explain_page` gives one
variant's page as a string (no files), e.g. for a browser test.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from tbvar.atomic import commit_directory, staging_directory
from tbvar.html import figure_svg, page, section, svg_block, svg_markup, table
from tbvar.model import ONEHOT_ORDER
from tbvar.plot_variant import DISPLAY_BASES, plot_attention_profile, plot_ism_heatmap

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from tbvar.explain import VariantExplanation

#: Kernels listed on the page (all are in ``kernels.tsv``).
TOP_KERNELS = 10
PAGE_NAME = "explain.html"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def variant_slug(explanation: VariantExplanation) -> str:
    """A file-name-safe name of the variant: ``CHROM_POS_REF_ALT``."""
    return _UNSAFE.sub("_", explanation.variant.replace(":", "_"))[:120]


def _slugs(explanations: Sequence[VariantExplanation]) -> list[str]:
    seen: dict[str, int] = {}
    names = []
    for explanation in explanations:
        base = variant_slug(explanation)
        seen[base] = seen.get(base, 0) + 1
        names.append(base if seen[base] == 1 else f"{base}-{seen[base]}")
    return names


def _figures(explanation: VariantExplanation) -> list[tuple[str, Figure, str]]:
    """(file stem, figure, caption) of every figure of a variant."""
    figures = []
    if explanation.has_attention:
        figures.append(("attention", plot_attention_profile(explanation),
                        "Attention of the REF and ALT windows per bin, drawn at the centre of "
                        "each bin's receptive field; below, ALT − REF. The dotted line is the "
                        "variant."))
    for task in explanation.ism_tasks:
        label = str(explanation.task_labels[task])
        figures.append((f"ism_{task}_{_UNSAFE.sub('_', label)}",
                        plot_ism_heatmap(explanation, int(task)),
                        f"In-silico mutagenesis of the REF window for {label}: lod of each "
                        "substitution (dot: the reference base); above, the largest |lod| per "
                        "position (red: the variant's position)."))
    return figures


def _task_rows(explanation: VariantExplanation) -> tuple[list[str], list[list[object]]]:
    order = list(explanation.top_tasks) + [t for t in explanation.ism_tasks
                                            if t not in explanation.top_tasks]
    columns = ["rank", "task", "REF prob", "ALT prob", "lod"]
    if explanation.p is not None:
        columns.append("p")
    columns.append("ISM")
    ism = set(explanation.ism_tasks.tolist())
    rank = np.argsort(np.argsort(-np.abs(explanation.lod), kind="stable"), kind="stable")
    rows = []
    for t in order:
        row = [int(rank[t]) + 1, explanation.task_labels[t], float(explanation.ref_prob[t]),
               float(explanation.alt_prob[t]), float(explanation.lod[t])]
        if explanation.p is not None:
            row.append(float(explanation.p[t]))
        rows.append([*row, "yes" if t in ism else ""])
    return columns, rows


def kernel_table(explanation: VariantExplanation) -> pd.DataFrame:
    """Every kernel's activation at the allele per strand, ranked by the largest |ALT − REF|,
    with its JASPAR match when known."""
    strands = "+-"[:len(explanation.kernel_ref)]
    delta = explanation.kernel_delta
    best = np.abs(delta).argmax(axis=0)
    kernels = np.arange(delta.shape[1])
    frame = pd.DataFrame({"kernel": kernels, "strand": np.array(list(strands))[best],
                          "ref": explanation.kernel_ref[best, kernels],
                          "alt": explanation.kernel_alt[best, kernels],
                          "delta": delta[best, kernels]})
    matches = explanation.kernel_matches
    if matches is not None:
        frame["match_id"] = matches.match_id
        frame["match_name"] = matches.match_name
        frame["match_q"] = matches.q
    return frame.iloc[explanation.kernel_ranking].reset_index(drop=True)


def _summary(explanation: VariantExplanation) -> str:
    top = explanation.top_tasks[0] if len(explanation.top_tasks) else int(
        np.argmax(np.abs(explanation.lod)))
    parts = [f"<b>{escape(explanation.contig)}:{explanation.pos:,}</b> "
             f"{escape(explanation.ref)} &gt; {escape(explanation.alt)}. Largest |lod|: "
             f"{escape(str(explanation.task_labels[top]))} ({explanation.lod[top]:+.3g})"]
    if explanation.combined_p is not None:
        parts.append(f"; combined p (Simes over tasks) {explanation.combined_p:.3g}")
    notes = "".join(f"<li>{escape(note)}</li>" for note in explanation.notes)
    return f"<p>{''.join(parts)}.</p>" + (f'<ul class="note">{notes}</ul>' if notes else "")


def variant_sections(explanation: VariantExplanation, figures: Sequence[str],
                     level: int = 2) -> list[str]:
    """The HTML sections of one variant (figures: its inline figures, attention first)."""
    figures = list(figures)
    columns, rows = _task_rows(explanation)
    sections = [_summary(explanation), section(
        "Tasks by |lod|", table(columns, rows, sortable=True,
                                numeric=[c not in ("task", "ISM") for c in columns]),
        '<p class="note">REF/ALT probabilities '
        + ("averaged over both strands" if explanation.metadata.get("rc_average") == "true"
           else "of the forward strand") + " as in <code>tbvar score</code>; lod = logit(ALT) "
        "− logit(REF)"
        + ("; p: two-sided empirical p-value against the background" if explanation.p
           is not None else "") + ".</p>", level=level)]
    if explanation.has_attention:
        sections.append(section("Attention", figures.pop(0), level=level))
    else:
        why = ("left out (--no-attention)" if explanation.model_has_attention
               else f"this model ({explanation.arch}) has no attention")
        sections.append(section("Attention", f'<p class="note">Not shown: {escape(why)}.</p>',
                                level=level))
    sections.append(section("In-silico mutagenesis", *figures, level=level))
    kernels = kernel_table(explanation).head(TOP_KERNELS)
    kernels = kernels.astype({c: np.float64 for c in kernels if kernels[c].dtype.kind == "f"})
    names = {"ref": "REF", "alt": "ALT", "delta": "ALT − REF", "match_id": "JASPAR",
             "match_name": "name", "match_q": "q"}
    note = ('<p class="note">First-layer kernels by the change of their largest activation '
            "over the positions overlapping the allele (strand −: on the reverse-complement "
            "window)" + ("" if explanation.kernel_matches is not None else
                         "; JASPAR matches: pass --motifs DIR made by 'tbvar motifs'") + ".</p>")
    sections.append(section("Kernels", table(
        [names.get(c, c) for c in kernels.columns], kernels.itertuples(index=False),
        numeric=[kernels[c].dtype.kind in "fi" for c in kernels.columns]), note, level=level))
    sections.append(section("Provenance", table(
        ["key", "value"], sorted(explanation.metadata.items())), level=level))
    return sections


def _title(explanation: VariantExplanation) -> str:
    return f"tbvar explain: {explanation.variant}"


def _inline_figures(explanation: VariantExplanation) -> list[str]:
    return [figure_svg(figure, caption) for _, figure, caption in _figures(explanation)]


def _article(explanation: VariantExplanation, figures: Sequence[str], level: int,
             slug: str) -> str:
    """The variant's sections under an ``<h{level − 1}>`` heading, anchored by ``slug``."""
    heading = f"<h{level - 1}>{escape(explanation.variant)}</h{level - 1}>"
    return (f'<article id="{escape(slug)}">{heading}'
            + "".join(variant_sections(explanation, figures, level)) + "</article>")


def explain_page(explanation: VariantExplanation) -> str:
    """The self-contained HTML page of one explained variant (figures inline as SVG)."""
    return page(_title(explanation), variant_sections(explanation, _inline_figures(explanation)),
                sortable=True)


def explain_panel(explanation: VariantExplanation, level: int = 4) -> str:
    """One explained variant as an HTML fragment (an ``<article>`` headed by the variant,
    sections at ``<h{level}>``, figures inline) for :func:`tbvar.report`'s ``panels``, whose
    panels sit in an ``<h2>`` section."""
    return _article(explanation, _inline_figures(explanation), level, variant_slug(explanation))


def _write_tables(explanation: VariantExplanation, directory: Path) -> None:
    tasks = pd.DataFrame({"task": explanation.task_labels, "ref": explanation.ref_prob,
                          "alt": explanation.alt_prob, "lod": explanation.lod})
    if explanation.p is not None:
        tasks["p"] = explanation.p
    order = [ONEHOT_ORDER.index(b) for b in DISPLAY_BASES]
    ism = pd.concat([pd.DataFrame({
        "task": explanation.task_labels[task], "position": explanation.ism_positions,
        "ref_base": list(explanation.ism_reference),
        **{base: explanation.ism[row][:, code] for base, code in zip(DISPLAY_BASES, order,
                                                                      strict=True)},
        "max_abs": explanation.ism_max[row]}) for row, task in enumerate(explanation.ism_tasks)])
    tables = {"tasks": tasks, "ism": ism, "kernels": kernel_table(explanation)}
    if explanation.has_attention:
        tables["attention"] = pd.DataFrame({
            "bin": np.arange(len(explanation.bin_start)), "start": explanation.bin_start,
            "end": explanation.bin_end, "ref": explanation.attention_ref,
            "alt": explanation.attention_alt, "diff": explanation.attention_diff})
    for name, frame in tables.items():
        frame.to_csv(directory / f"{name}.tsv", sep="\t", index=False, na_rep="NA",
                     float_format="%.6g")


def write_explanations(explanations: Sequence[VariantExplanation],
                       out_dir: str | os.PathLike[str], overwrite: bool = False) -> Path:
    """Write the pages, figures and tables of explained variants to a new ``out_dir``
    (replaced if ``overwrite``); returns the path of ``out_dir/explain.html``.

    Raises
    ------
    FileExistsError
        ``out_dir`` exists and not ``overwrite``.
    """
    stage = staging_directory(out_dir, overwrite)
    try:
        combined, index = [], []
        for explanation, slug in zip(explanations, _slugs(explanations), strict=True):
            directory = stage / slug
            directory.mkdir()
            inline = []
            for stem, figure, caption in _figures(explanation):
                figure.savefig(directory / f"{stem}.png", dpi=figure.dpi)
                svg = svg_markup(figure)
                (directory / f"{stem}.svg").write_text(svg, encoding="utf-8")
                inline.append(svg_block(svg, caption))
            _write_tables(explanation, directory)
            (directory / PAGE_NAME).write_text(page(
                _title(explanation), variant_sections(explanation, inline), sortable=True),
                encoding="utf-8")
            if len(explanations) > 1:
                combined.append(_article(explanation, inline, 3, slug))
                index.append(f'<li><a href="#{escape(slug)}">{escape(explanation.variant)}'
                             f"</a> (files: <code>{escape(slug)}/</code>)</li>")
            else:
                combined += variant_sections(explanation, inline)
        title = (_title(explanations[0]) if len(explanations) == 1
                 else f"tbvar explain: {len(explanations)} variants")
        parts = ([section("Variants", f"<ol>{''.join(index)}</ol>")] if index else []) + combined
        (stage / PAGE_NAME).write_text(page(title, parts, sortable=True), encoding="utf-8")
        commit_directory(stage, out_dir)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return Path(out_dir) / PAGE_NAME
