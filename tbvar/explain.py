"""Explaining one variant: task effects, attention, in-silico mutagenesis and kernel activity.

For a variant ``CHROM:POS:REF:ALT`` and the genome, model and options of a scoring run
(:class:`~tbvar.options.ScoreOptions`, :class:`~tbvar.options.RunOptions`), an
:class:`Explainer` computes a :class:`VariantExplanation`:

- **tasks**: REF/ALT probabilities and lod of every task (and p-values against a background,
  loaded and checked exactly as ``tbvar score --background`` does), ranked by |lod|;
- **attention** (models with attention): REF/ALT attention per bin, each bin placed at the
  genome span of its receptive field (``config.bin_spans``);
- **ISM** (:mod:`tbvar.ism`) of the REF window: every base within ±``window`` bp of POS changed
  to the three others, for the chosen tasks (``tasks`` selectors; default the top task). The
  REF window is the sequence the variant changes: its ISM is the usual saturation mutagenesis
  of a sequence (Selene, tangermeme) and its cell at POS / ALT is the variant's own lod (for an
  SNV), so the variant is seen among all its possible neighbours;
- **kernels** (:mod:`tbvar.kernel_activity`): first-layer kernel activations over the positions
  overlapping the allele, REF vs ALT, with JASPAR matches from a ``tbvar motifs`` directory
  (:mod:`tbvar.motif_matches`).

Windows, scoring and reverse-complement averaging are those of ``tbvar score``
(:mod:`tbvar.windows`, :class:`~tbvar.scoring.Scorer`), with the run's ``anchor``. Genome
coordinates are 1-based positions of the REF window (window index i is ``POS + i − a``, a = L/2,
or L/2 − 1 with ``anchor="deepsea"``); after an indel the ALT
window's bases downstream of the allele sit ``len(ALT) − len(REF)`` bp off these coordinates.
A model without attention gives everything but the attention; ``attention=True`` asks for it
and then refuses such a model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from torch import nn

from tbvar.batch_size import resolve_batch_size
from tbvar.errors import VariantInputError
from tbvar.genome import Genome, decode_sequence
from tbvar.ism import saturation_mutagenesis
from tbvar.kernel_activity import first_convolution, kernel_activity
from tbvar.model import N_CODE
from tbvar.motif_matches import KernelMatches, read_kernel_matches
from tbvar.options import RunOptions, ScoreOptions
from tbvar.pvalues import simes
from tbvar.run_setup import (
    PathLike,
    load_model,
    load_run_background,
    open_genome,
    resolve_settings,
    run_metadata,
    task_selection,
)
from tbvar.scoring import Scorer
from tbvar.tasks import generic_tasks, select_tasks
from tbvar.variant_summaries import top_k_order
from tbvar.variant_table import split_variant
from tbvar.variants import STATUS_OK, STATUS_REASONS, allele_frame, classify
from tbvar.windows import ANCHORS, Windows, build_windows

#: Default ISM half-width W: bases POS − W .. POS + W are mutated (101 × 3 windows).
DEFAULT_WINDOW = 50
_BASES = frozenset("ACGTN")


@dataclass(frozen=True)
class VariantSpec:
    """A variant as given on the command line: ``CHROM:POS:REF:ALT`` (POS 1-based)."""

    chrom: str
    pos: int
    ref: str
    alt: str

    def __str__(self) -> str:
        return f"{self.chrom}:{self.pos}:{self.ref}:{self.alt}"


def parse_variant(text: str) -> VariantSpec:
    """``CHROM:POS:REF:ALT`` (also ``-`` or ``_`` separated, as for
    :func:`tbvar.score_variants`; the contig name may contain the separator) →
    :class:`VariantSpec`.

    Raises
    ------
    VariantInputError
        Not four fields, POS not a positive integer, REF/ALT not A, C, G, T, N, or equal.
    """
    chrom, pos, ref, alt = split_variant(str(text))
    reason = None
    if int(pos) < 1:
        reason = f"POS {pos} is not a positive integer"
    elif not (_BASES.issuperset(ref.upper()) and _BASES.issuperset(alt.upper())):
        reason = "REF and ALT must be bases A, C, G, T or N (one ALT, no symbolic alleles)"
    elif ref.upper() == alt.upper():
        reason = "REF and ALT are the same"
    if reason is not None:
        raise VariantInputError(f"variant {text!r}: {reason}")
    return VariantSpec(chrom, int(pos), ref.upper(), alt.upper())


@dataclass(frozen=True)
class VariantExplanation:
    """What the model sees at one variant (numpy arrays; T tasks, B bins, P ISM positions,
    m ISM tasks, S strands, K kernels).

    Attributes
    ----------
    variant
        The variant as given (REF/ALT upper-case).
    arch, model_has_attention
        The model's architecture and whether it has attention.
    contig, pos, ref, alt
        FASTA contig, 1-based POS, and the alleles explained (swapped against ``variant`` under
        ``ref_mismatch="flip"``).
    task_labels
        ``(T,)`` labels of all the model's tasks.
    ref_prob, alt_prob, lod
        ``(T,)`` probabilities and lod (fwd/RC averaged as in ``tbvar score``).
    p
        ``(T,)`` two-sided empirical p-values against the background, or ``None``.
    top_tasks
        ``(k,)`` task indices with the largest |lod|, largest first (``top_k``).
    attention_ref, attention_alt
        ``(B,)`` attention of the REF/ALT windows, or ``None`` (no attention / not asked).
    bin_start, bin_end
        ``(B,)`` 1-based inclusive genome span of each bin's receptive field, or ``None``.
    ism_tasks
        ``(m,)`` task indices of the ISM.
    ism_positions
        ``(P,)`` 1-based genome positions mutated (POS − W .. POS + W).
    ism_reference
        The REF window's bases at those positions (a string of length P).
    ism
        ``(m, P, 4)`` lod of each substitution against the REF window, bases in code order
        A, G, C, T; 0 for the reference base, NaN where the reference is N.
    kernel_ref, kernel_alt
        ``(S, K)`` first-layer kernel activations at the allele; strands ``+`` and ``-``
        (reverse-complement window) with RC averaging, ``+`` only without.
    kernel_matches
        JASPAR match per kernel (``motifs`` given), or ``None``.
    metadata
        Provenance as in ``tbvar score`` output headers (model, genome, options, background).
    notes
        One-line remarks for the reader (random weights, swapped alleles, N in the window, ...).
    """

    variant: str
    arch: str
    model_has_attention: bool
    contig: str
    pos: int
    ref: str
    alt: str
    task_labels: np.ndarray
    ref_prob: np.ndarray
    alt_prob: np.ndarray
    lod: np.ndarray
    p: np.ndarray | None
    top_tasks: np.ndarray
    attention_ref: np.ndarray | None
    attention_alt: np.ndarray | None
    bin_start: np.ndarray | None
    bin_end: np.ndarray | None
    ism_tasks: np.ndarray
    ism_positions: np.ndarray
    ism_reference: str
    ism: np.ndarray
    kernel_ref: np.ndarray
    kernel_alt: np.ndarray
    kernel_matches: KernelMatches | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def has_attention(self) -> bool:
        """Whether the attention arrays are present."""
        return self.attention_ref is not None

    @property
    def attention_diff(self) -> np.ndarray | None:
        """``(B,)`` ALT − REF attention, or ``None``."""
        if self.attention_ref is None or self.attention_alt is None:
            return None
        return self.attention_alt - self.attention_ref

    @property
    def ism_max(self) -> np.ndarray:
        """``(m, P)`` largest |lod| of the three substitutions per position (NaN at N)."""
        return np.abs(self.ism).max(axis=2)

    @property
    def kernel_delta(self) -> np.ndarray:
        """``(S, K)`` ALT − REF kernel activation."""
        return self.kernel_alt - self.kernel_ref

    @property
    def kernel_ranking(self) -> np.ndarray:
        """``(K,)`` kernels by their largest |ALT − REF| over strands, largest first."""
        return np.argsort(-np.abs(self.kernel_delta).max(axis=0), kind="stable")

    @property
    def combined_p(self) -> float | None:
        """Simes combination of the task p-values (as ``combined_p`` in ``tbvar score``)."""
        return None if self.p is None else float(simes(self.p[None, :])[0])


class Explainer:
    """Explains variants with one genome, model and option set (loaded once).

    Parameters
    ----------
    genome, model
        Reference FASTA (or :class:`~tbvar.genome.Genome`) and model (file, registry name or
        loaded model), as for :func:`tbvar.score_vcf`.
    window
        ISM half-width W (bp): bases POS − W .. POS + W are mutated; at most L/2 − 1.
    attention
        ``None``: attention parts when the model has attention; ``True``: required (a model
        without attention is an error); ``False``: left out.
    motifs
        A ``tbvar motifs`` output directory (or its ``matches.tsv``) for the kernels' JASPAR
        matches.
    options, run, settings
        As for :func:`tbvar.score_vcf`: ``tasks`` selects the ISM tasks (default: the top
        task by |lod|), ``top_k`` the length of the task ranking, ``background`` adds
        p-values, ``reverse_complement``, ``ref_mismatch``, ``device``, ``batch_size``, ...
    """

    def __init__(self, genome: PathLike | Genome, model: PathLike | nn.Module, *,
                 window: int = DEFAULT_WINDOW, attention: bool | None = None,
                 motifs: PathLike | None = None, options: ScoreOptions | None = None,
                 run: RunOptions | None = None, **settings: Any) -> None:
        self.options, self.run = resolve_settings(settings, options, run)
        self.net = load_model(model)
        self.run = resolve_batch_size(self.net, self.options, self.run)
        self.scorer = Scorer(self.net, device=self.run.device, batch_size=self.run.batch_size,
                             precision=self.run.precision,
                             reverse_complement=self.options.reverse_complement)
        length = self.scorer.sequence_length
        self.first = ANCHORS[self.options.anchor](length)  # window index of POS
        widest = min(self.first, length - 1 - self.first)
        if not 0 <= window <= widest:
            raise ValueError(f"window {window}: the ISM half-width must be 0..{widest} for "
                             f"this model's {length} bp windows")
        self.window = window
        if attention and not self.scorer.has_attention:
            raise ValueError(f"{self._model_name()}: a {self.net.arch} model has no attention; "
                             "attention plots need a model with attention (TBiNet)")
        self.attention = self.scorer.has_attention if attention is None else attention
        labels, selected = task_selection(self.net, self.options.tasks)
        if self.options.tasks is not None and selected is None:  # a model without task table
            selected = select_tasks(generic_tasks(len(labels)), self.options.tasks)
        self.labels = np.asarray(labels, dtype=object)
        self.ism_tasks = (np.asarray(selected, dtype=np.int64)
                          if self.options.tasks is not None else None)
        self.genome = open_genome(genome, self.options.contig_map)
        self.background, forced = load_run_background(self.options, self.run, self.net,
                                                      self.genome)
        self.metadata = run_metadata(self.net, self.genome, self.options, self.run,
                                     self.background, forced)
        n_kernels = first_convolution(self.net).out_channels
        self.matches = read_kernel_matches(motifs, n_kernels) if motifs is not None else None

    def _model_name(self) -> str:
        info = getattr(self.net, "info", None)
        return str(info.path) if info is not None else "in-memory model"

    def _alleles(self, spec: VariantSpec) -> pd.DataFrame:
        """The variant's classified allele row; :class:`VariantInputError` unless it is
        scorable."""
        row = classify(allele_frame([(0, 0, spec.chrom, spec.pos, None, spec.ref, spec.alt)]),
                       self.genome, self.options.max_allele_length, self.options.ref_mismatch)
        status = row["status"].iloc[0]
        if status == STATUS_OK:
            return row
        reason = STATUS_REASONS[status]
        contig = row["contig"].iloc[0]
        if status == "bad_position":
            reason += f" (contig {contig} has {self.genome.lengths[contig]:,} bp)"
        elif status == "ref_mismatch":
            found = decode_sequence(self.genome.codes(contig)[spec.pos - 1:
                                                              spec.pos - 1 + len(spec.ref)])
            reason += f" (genome: {found}; --ref-mismatch flip or use-vcf to explain anyway)"
        raise VariantInputError(f"variant {spec}: {reason}")

    def explain(self, variant: str | VariantSpec) -> VariantExplanation:
        """Explain one variant (``CHROM:POS:REF:ALT`` or a :class:`VariantSpec`)."""
        spec = variant if isinstance(variant, VariantSpec) else parse_variant(variant)
        row = self._alleles(spec)
        windows = build_windows(self.genome, row, self.scorer.sequence_length, self.first)
        scores = self.scorer.score(windows.ref, windows.alt)
        if self.background is not None:
            scores = replace(scores, background=self.background)
        ref, alt = str(row["ref"].iloc[0]), str(row["alt"].iloc[0])
        lod = scores.lod[0]
        positions = self.first + np.arange(-self.window, self.window + 1)
        ism_tasks = (self.ism_tasks if self.ism_tasks is not None
                     else np.argmax(np.abs(lod))[None])
        ism = saturation_mutagenesis(self.scorer, windows.ref[0], positions, scores.ref[0])
        kernels = kernel_activity(self.net, np.concatenate([windows.ref, windows.alt]),
                                  np.array([len(ref), len(alt)]), self.first,
                                  self.options.reverse_complement, self.scorer.device)
        attention = self.attention and scores.ref_attention is not None
        spans = self.net.config.bin_spans - self.first + spec.pos if attention else None
        return VariantExplanation(
            variant=str(spec), arch=self.net.arch, model_has_attention=self.scorer.has_attention,
            contig=str(row["contig"].iloc[0]), pos=spec.pos, ref=ref, alt=alt,
            task_labels=self.labels, ref_prob=scores.ref[0], alt_prob=scores.alt[0],
            lod=lod, p=scores.p[0] if self.background is not None else None,
            top_tasks=self._top_tasks(lod),
            attention_ref=scores.ref_attention[0] if attention else None,
            attention_alt=scores.alt_attention[0] if attention else None,
            bin_start=spans[:, 0] if spans is not None else None,
            bin_end=spans[:, 1] - 1 if spans is not None else None,
            ism_tasks=ism_tasks, ism_positions=positions - self.first + spec.pos,
            ism_reference=decode_sequence(windows.ref[0, positions]),
            ism=np.ascontiguousarray(ism[:, :, ism_tasks].transpose(2, 0, 1)),
            kernel_ref=kernels[0], kernel_alt=kernels[1], kernel_matches=self.matches,
            metadata=self.metadata, notes=self._notes(spec, row, windows))

    def _top_tasks(self, lod: np.ndarray) -> np.ndarray:
        k = min(self.options.top_k, len(lod))
        return top_k_order(np.abs(lod)[None, :], k)[0] if k else np.zeros(0, dtype=np.int64)

    def _notes(self, spec: VariantSpec, row: pd.DataFrame, windows: Windows
               ) -> tuple[str, ...]:
        notes = []
        if "warning" in self.metadata:
            notes.append(f"The model has random weights: {self._model_name()}; every number "
                         "here is meaningless.")
        if bool(row["swapped"].iloc[0]):
            notes.append(f"REF {spec.ref} does not match the genome but ALT does: explained "
                         "with REF and ALT swapped (--ref-mismatch flip).")
        elif not bool(row["ref_match"].iloc[0]):
            notes.append(f"REF {spec.ref} does not match the genome: explained with the "
                         "given REF (--ref-mismatch use-vcf).")
        if windows.edge[0]:
            notes.append("The window reaches past the contig end: bases there are N.")
        elif (windows.ref == N_CODE).any() or (windows.alt == N_CODE).any():
            notes.append("The window holds N bases (read as all-zero input; not mutated by "
                         "ISM).")
        shift = len(row["alt"].iloc[0]) - len(row["ref"].iloc[0])
        if shift:
            notes.append(f"An indel: coordinates are those of the REF window; downstream of "
                         f"the allele the ALT window is shifted by {shift:+d} bp.")
        return tuple(notes)


def explain_variant(variant: str, genome: PathLike | Genome, model: PathLike | nn.Module, *,
                    window: int = DEFAULT_WINDOW, attention: bool | None = None,
                    motifs: PathLike | None = None, options: ScoreOptions | None = None,
                    run: RunOptions | None = None, **settings: Any) -> VariantExplanation:
    """Explain one variant ``CHROM:POS:REF:ALT``; parameters as for :class:`Explainer`."""
    return explain_variants([variant], genome, model, window=window, attention=attention,
                            motifs=motifs, options=options, run=run, **settings)[0]


def explain_variants(variants: Sequence[str | VariantSpec], genome: PathLike | Genome,
                     model: PathLike | nn.Module, **kwargs: Any) -> list[VariantExplanation]:
    """Explain several variants (all parsed before any is computed); keyword arguments as
    for :class:`Explainer`."""
    specs = [v if isinstance(v, VariantSpec) else parse_variant(v) for v in variants]
    explainer = Explainer(genome, model, **kwargs)
    return [explainer.explain(spec) for spec in specs]

