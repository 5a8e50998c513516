"""Explanation panels of a run's top variants, for ``tbvar report --genome --model``.

The variants are the report's own top ones (:func:`tbvar.run_report.rank_variants`); each gets
the panel ``tbvar explain`` writes (:func:`tbvar.explain_page.explain_panel`), computed with
the genome, model and options given (a background adds p-values).
"""

from __future__ import annotations

import os
from typing import Any

from tbvar.explain import explain_variants
from tbvar.explain_page import explain_panel
from tbvar.run_reader import read_run
from tbvar.run_report import rank_variants
from tbvar.variants import STATUS_OK


def top_variant_panels(run_output: str | os.PathLike[str], genome: Any, model: Any,
                       count: int, **settings: Any) -> list[str]:
    """Explanation panels (HTML fragments) of the ``count`` top-ranked scored variants of a
    run output; ``settings`` as for :func:`tbvar.explain_variants`."""
    variants = read_run(run_output).variants
    ranked, _ = rank_variants(variants[variants["status"] == STATUS_OK])
    specs = [f"{row.chrom}:{row.pos}:{row.ref}:{row.alt}"
             for row in ranked.head(count).itertuples(index=False)]
    return [explain_panel(e) for e in explain_variants(specs, genome, model, **settings)]
