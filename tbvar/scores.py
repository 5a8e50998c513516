"""What tbvar reports for a variant: per-task scores and attention scores, from model outputs.

Every score is a function of :class:`VariantScores`, the forward/reverse-complement averaged
probabilities (and attention, for models that have it) of a batch of REF and ALT windows:

- per task (:data:`TASK_SCORES`, one column per task): ``ref``, ``alt`` probabilities;
  ``diff`` = alt − ref; ``lod`` = logit(alt) − logit(ref) with p clipped to [ε, 1 − ε]
  (ε = :data:`~tbvar.log_odds.LOGIT_EPS`, :mod:`tbvar.log_odds`); ``absdiff``, ``abslod``
  their absolute values;
  ``deepsea_effect`` = |lod| · |diff| (kipoi-veff's ``DeepSEA_effect``; kipoi averages it over
  strands, tbvar computes it from the strand-averaged probabilities like every score);
  against a background (:mod:`tbvar.background`): ``p``, the two-sided empirical p-value of
  |lod|, and ``z`` = lod / RMS of the background's lod;
- per variant, for models with attention (:data:`ATTENTION_SCORES`): ``attn_shift`` =
  ½ Σ|a_alt − a_ref| (total variation), ``attn_center`` = a_alt[c] − a_ref[c] at the bin c
  centred on the variant, ``attn_peak_ref``/``attn_peak_alt`` = argmax bins.

Adding a per-task score is one entry in :data:`TASK_SCORES` (docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

from tbvar.log_odds import log_odds_difference
from tbvar.task_pvalues import ModelPValues, TaskPValues

if TYPE_CHECKING:
    from tbvar.background import Background


@dataclass
class VariantScores:
    """Model outputs for n variants (numpy, float32).

    Attributes
    ----------
    ref, alt
        ``(n, T)`` probabilities of the REF and ALT windows.
    ref_attention, alt_attention
        ``(n, B)`` attention over bins, or ``None`` for models without attention.
    center_bin
        The attention bin centred on the variant (unused without attention).
    background
        Null distributions for the calibrated scores ``p`` and ``z`` (``tbvar calibrate``).
    tasks
        The tasks whose ``p`` is computed (the others' are NaN); ``None``: all.
    model_p
        p-values of ``tasks`` computed on the model's device (:mod:`tbvar.task_pvalues`),
        checked against this lod before use; ``None``: computed here.
    """

    ref: np.ndarray
    alt: np.ndarray
    ref_attention: np.ndarray | None = None
    alt_attention: np.ndarray | None = None
    center_bin: int = 0
    background: Background | None = None
    tasks: np.ndarray | None = None
    model_p: ModelPValues | None = None

    @property
    def null(self) -> Background:
        """The background; ``ValueError`` if there is none."""
        if self.background is None:
            raise ValueError("scores p and z need a background (--background BG, made by "
                             "'tbvar calibrate')")
        return self.background

    def task_score(self, name: str) -> np.ndarray:
        """One of :data:`TASK_SCORES` as an ``(n, T)`` array."""
        if name not in TASK_SCORES:
            raise ValueError(f"unknown score {name!r}; choose from {tuple(TASK_SCORES)}")
        return TASK_SCORES[name](self)

    def exchanged(self, rows: np.ndarray) -> VariantScores:
        """These scores with REF and ALT (probabilities and attention) exchanged in ``rows``
        (a boolean mask ``(n,)``): every score of those rows then measures REF against ALT."""
        def swap(ref: np.ndarray | None, alt: np.ndarray | None) -> tuple:
            if ref is None or alt is None:
                return ref, alt
            mask = rows[:, None]
            return np.where(mask, alt, ref), np.where(mask, ref, alt)

        (ref, alt), (ref_a, alt_a) = swap(self.ref, self.alt), swap(self.ref_attention,
                                                                    self.alt_attention)
        model_p = self.model_p.exchanged(rows) if self.model_p is not None else None
        return VariantScores(ref, alt, ref_a, alt_a, self.center_bin, self.background,
                             self.tasks, model_p)

    @cached_property
    def lod(self) -> np.ndarray:
        """logit(alt) − logit(ref), computed once in float64 from the float32 probabilities."""
        return log_odds_difference(self.ref, self.alt)

    @cached_property
    def task_lod(self) -> np.ndarray:
        """lod of the calibrated tasks (``tasks``, in order; all by default), ``(n, C)``."""
        return self.lod if self.tasks is None else self.lod[:, self.tasks]

    @cached_property
    def calibrated(self) -> TaskPValues:
        """p-values of the calibrated tasks (``tasks``, in order) and their per-variant
        statistics: the model device's where they check out, else computed here."""
        lod = self.task_lod

        def here(rows: np.ndarray | slice) -> TaskPValues:
            z = self.null.z_scores("lod", lod[rows], self.tasks)
            return TaskPValues.on_host(self.null, lod[rows], self.tasks, z)

        if self.model_p is None:
            return here(slice(None))
        return self.model_p.checked(lod, here)

    @cached_property
    def p(self) -> np.ndarray:
        """Two-sided empirical p-values of |lod| against the background, ``(n, T)``."""
        found = self.calibrated.p
        if found is None:  # the device computed the statistics only
            found = self.null.p_values("lod", self.task_lod, self.tasks)
        if self.tasks is None:
            return found
        p = np.full(self.lod.shape, np.nan, dtype=np.float32)  # only the selected tasks
        p[:, self.tasks] = found
        return p

    @cached_property
    def z(self) -> np.ndarray:
        """lod / RMS of the background's lod, ``(n, T)``."""
        return self.null.z_scores("lod", self.lod)

    def attention_scores(self) -> dict[str, np.ndarray]:
        """The :data:`ATTENTION_SCORES` per variant (empty without attention)."""
        if self.ref_attention is None or self.alt_attention is None:
            return {}
        delta = self.alt_attention - self.ref_attention
        return {
            "attn_shift": (0.5 * np.abs(delta).sum(axis=1)).astype(np.float32),
            "attn_center": delta[:, self.center_bin].astype(np.float32),
            "attn_peak_ref": self.ref_attention.argmax(axis=1).astype(np.int32),
            "attn_peak_alt": self.alt_attention.argmax(axis=1).astype(np.int32),
        }


#: Per-task scores: name → ``(n, T)`` array from :class:`VariantScores`.
TASK_SCORES: dict[str, Callable[[VariantScores], np.ndarray]] = {
    "ref": lambda s: s.ref,
    "alt": lambda s: s.alt,
    "diff": lambda s: s.alt - s.ref,
    "lod": lambda s: s.lod,
    "absdiff": lambda s: np.abs(s.alt - s.ref),
    "abslod": lambda s: np.abs(s.lod),
    # kipoi-veff's DeepSEA_effect, |lod| * |diff|, here of the fwd/RC averaged probabilities
    "deepsea_effect": lambda s: np.abs(s.lod) * np.abs(s.alt - s.ref),
    # against a background (tbvar calibrate): two-sided empirical p of |lod|, lod / RMS
    "p": lambda s: s.p,
    "z": lambda s: s.z,
}
#: Per-task scores that need a background.
CALIBRATED_SCORES = ("p", "z")
#: Per-variant attention scores (models with attention only).
ATTENTION_SCORES = ("attn_shift", "attn_center", "attn_peak_ref", "attn_peak_alt")
