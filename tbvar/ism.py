"""In-silico mutagenesis (ISM): every base of a span of one window changed to the three others.

The mutated windows go through the :class:`~tbvar.scoring.Scorer` like any scored window
(batched, forward/reverse-complement averaged when the scorer is), and each mutation's effect
is its lod against the unmutated window, with the clipping of :mod:`tbvar.scores`. Bases are in
code order A, G, C, T (:data:`tbvar.model.ONEHOT_ORDER`); an N in the span is not mutated (its
effects are NaN).
"""

from __future__ import annotations

import numpy as np

from tbvar.model import N_CODE
from tbvar.scores import VariantScores
from tbvar.scoring import Scorer


def mutated_windows(window: np.ndarray, positions: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every single-base substitution of ``window`` at ``positions`` (A, C, G or T there).

    Parameters
    ----------
    window
        ``(L,)`` uint8 base codes.
    positions
        ``(P,)`` window indices.

    Returns
    -------
    windows
        ``(3·P', L)`` mutated copies, P' = positions holding A, C, G or T.
    rows, bases
        ``(3·P',)`` index into ``positions`` and the new base code of each copy.
    """
    reference = window[positions]
    rows = np.repeat(np.flatnonzero(reference != N_CODE), 3)
    bases = ((reference[rows] + np.tile(np.arange(1, 4), len(rows) // 3)) % 4).astype(np.uint8)
    windows = np.repeat(window[None, :], len(rows), axis=0)
    windows[np.arange(len(rows)), positions[rows]] = bases
    return windows, rows, bases


def saturation_mutagenesis(scorer: Scorer, window: np.ndarray, positions: np.ndarray,
                           reference: np.ndarray) -> np.ndarray:
    """lod of every substitution at ``positions`` against the unmutated window.

    Parameters
    ----------
    scorer
        Runs the model (batches, precision, reverse-complement averaging).
    window
        ``(L,)`` uint8 base codes.
    positions
        ``(P,)`` window indices to mutate.
    reference
        ``(T,)`` probabilities of the unmutated window (from the same scorer).

    Returns
    -------
    np.ndarray
        ``(P, 4, T)`` float32 lod, bases in code order; 0 for the window's own base, NaN at
        positions holding N.
    """
    windows, rows, bases = mutated_windows(window, positions)
    probs, _ = scorer.predict(windows)
    lod = VariantScores(ref=np.broadcast_to(reference, probs.shape), alt=probs).lod
    effects = np.zeros((len(positions), 4, len(reference)), dtype=np.float32)
    effects[window[positions] == N_CODE] = np.nan
    effects[rows, bases] = lod
    return effects
