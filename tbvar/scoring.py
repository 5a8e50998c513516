"""Batched forward passes of any registered architecture, forward/reverse-complement averaged.

Per variant the model sees four sequences, ``[ref, alt, ref_rc, alt_rc]``, in one forward
pass. uint8 base codes travel to the device; one-hot encoding and reverse complement are made
there. Probabilities of the forward and reverse-complement passes are averaged; so is the
attention of models that have it, the RC pass's attention flipped (bin k of the RC pass is
bin B−1−k forward; exact when (L − w + 1) is a multiple of the pool size). The scores computed
from these outputs are defined in :mod:`tbvar.scores`.

Identical windows of one :meth:`Scorer.score` call (the REF window of every ALT of a
multi-allelic record, both windows of a duplicated record) go through the model once: the
distinct windows of the full ``2 * batch_size``-row passes fill passes of that size, each
original pass is put back together from their outputs before the sigmoid and averaging, and
the last, shorter pass runs as it is (sharing is used when it saves a pass). Outputs are
identical to computing every window (``share_windows=False``;
``tests/test_shared_windows.py``); a call that saves no pass runs exactly the passes it ran
before.

The scorer relies on the model interface only (:mod:`tbvar.architectures`):
``model.config.sequence_length``, ``model.config.n_tasks``, ``model.has_attention`` (then
``model.config.n_bins`` and ``model.config.center_bin``) and ``model(codes)`` →
``(logits, attention or None)``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable

import numpy as np
import torch
from torch import nn

from tbvar.cuda_graphs import CudaGraphRecorder, GraphedPasses
from tbvar.model import reverse_complement_codes
from tbvar.scores import VariantScores
from tbvar.task_pvalues import ModelNull, ModelPValues

#: Probabilities ``(n, T)``, attention ``(n, B)`` or None, p-values computed on the device or
#: None.
Outputs = tuple[np.ndarray, np.ndarray | None, ModelPValues | None]

PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``auto`` → first CUDA device if available, else CPU; otherwise ``torch.device(device)``."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError:
        raise ValueError(f"unknown device {str(device)!r}; use auto, cpu, cuda or cuda:N") \
            from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available")
    return resolved


class Scorer:
    """Runs a model over sequence windows in batches on one device.

    Parameters
    ----------
    model
        A model of any registered architecture (moved to ``device``, put in eval mode).
    device
        ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
    batch_size
        Variants per forward pass (each contributes 2 or 4 sequences).
    precision
        ``fp32``, ``bf16`` or ``fp16`` autocast for the forward pass; probabilities and
        attention are returned in float32.
    reverse_complement
        Average forward and reverse-complement passes (default, as the paper evaluates).
    share_windows
        Compute identical windows of a :meth:`score` call once (default); ``False``: every
        window, as a check of the shared path.
    cuda_graphs
        On a CUDA device, replay full passes from a CUDA graph (:mod:`tbvar.cuda_graphs`:
        the same outputs, bit for bit, checked at capture); elsewhere it does nothing.
    notify
        Receives one-line notes (CUDA graphs turned off, and why).
    """

    def __init__(self, model: nn.Module, device: str | torch.device = "auto",
                 batch_size: int = 128, precision: str = "fp32",
                 reverse_complement: bool = True, share_windows: bool = True,
                 cuda_graphs: bool = False,
                 notify: Callable[[str], None] | None = None) -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {tuple(PRECISIONS)}")
        if batch_size < 1:
            raise ValueError("batch_size must be positive")
        self.device = resolve_device(device)
        if precision == "fp16" and self.device.type == "cpu":
            raise ValueError("fp16 needs a CUDA device (CPU kernels lack half-precision LSTM); "
                             "use --precision bf16 or fp32 on the CPU")
        self.model = model.to(self.device).eval()
        self.batch_size = batch_size
        self.precision = precision
        self.reverse_complement = reverse_complement
        self.share_windows = share_windows
        #: One eager pass of the model, or the CUDA graph's replays of full passes.
        self.passes: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor | None]] = (
            GraphedPasses(self.model, self.full_pass_rows,
                          lambda: CudaGraphRecorder(self.device), notify)
            if cuda_graphs and self.device.type == "cuda" else self.model)

    @property
    def full_pass_rows(self) -> int:
        """Sequences in a full forward pass: REF and ALT of ``batch_size`` variants, and their
        reverse complements."""
        return 2 * self.batch_size * (2 if self.reverse_complement else 1)

    @property
    def sequence_length(self) -> int:
        """Window length L the model takes."""
        return int(self.model.config.sequence_length)

    @property
    def has_attention(self) -> bool:
        """Whether the model returns attention (then scores include attention scores)."""
        return bool(self.model.has_attention)

    @torch.inference_mode()
    def _model(self, codes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The model's logits and attention (or None) of base codes on the device, followed
        (with RC averaging) by those of their reverse complements."""
        if self.reverse_complement:
            codes = torch.cat([codes, reverse_complement_codes(codes)])
        dtype = PRECISIONS[self.precision]
        with torch.autocast(self.device.type, dtype=dtype, enabled=dtype != torch.float32):
            return self.passes(codes)

    @torch.inference_mode()
    def _average(self, logits: torch.Tensor, attention: torch.Tensor | None
                 ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Probabilities and attention (or None) of one pass's :meth:`_model` outputs, fwd/RC
        averaged."""
        probs = torch.sigmoid(logits.float())
        attention = attention.float() if attention is not None else None
        if self.reverse_complement:
            n = len(probs) // 2
            probs = (probs[:n] + probs[n:]) / 2
            if attention is not None:
                attention = (attention[:n] + attention[n:].flip(-1)) / 2
        return probs, attention

    def _forward(self, codes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Probabilities and attention (or None) of base codes on the device, fwd/RC averaged."""
        return self._average(*self._model(codes))

    def _to_device(self, codes: np.ndarray) -> torch.Tensor:
        tensor = torch.from_numpy(np.ascontiguousarray(codes, dtype=np.uint8))
        if self.device.type == "cuda":
            return tensor.pin_memory().to(self.device, non_blocking=True)
        return tensor

    def _collect(self, passes: Iterable[tuple[torch.Tensor, torch.Tensor | None]],
                 null: ModelNull | None = None) -> Outputs:
        """Probabilities ``(n, T)`` and attention ``(n, B)`` (or None) of consecutive passes
        and, with a ``null``, the p-values of each pass's halves as REF and ALT rows."""
        probs, attention, p_values = [], [], []
        for p, a in passes:
            if null is not None:
                p_values.append(null(p[:len(p) // 2], p[len(p) // 2:]))
            probs.append(p.cpu().numpy())
            attention.append(a.cpu().numpy() if a is not None else None)
        config = self.model.config
        if not probs:
            return (np.zeros((0, config.n_tasks), np.float32),
                    np.zeros((0, config.n_bins), np.float32) if self.has_attention else None,
                    None)
        return (np.concatenate(probs),
                np.concatenate(attention) if self.has_attention else None,
                ModelPValues.joined(p_values) if p_values else None)

    def _batches(self, codes: np.ndarray, rows: int, null: ModelNull | None = None
                 ) -> Outputs:
        """:meth:`_collect` of the passes of ``codes``, ``rows`` at a time."""
        return self._collect((self._forward(self._to_device(codes[start:start + rows]))
                              for start in range(0, len(codes), rows)), null)

    def _shared_batches(self, codes: np.ndarray, rows: int, null: ModelNull | None = None
                        ) -> Outputs:
        """:meth:`_batches` with identical rows of the full passes through the model once
        (when that saves a pass).

        The distinct rows of the full passes go through the model in passes of the same
        ``rows`` (the last one padded with copies of a row); then each original pass is put
        back together from their outputs and averaged as :meth:`_forward` averages it, and the
        last, shorter pass runs as it is. Every window thus goes through a model pass of the
        size it had without sharing, and every element-wise step after the model (sigmoid,
        averaging, whose vectorised kernels can round by position) sees the original layout:
        outputs are identical to the unshared ones whenever the model's output for a row does
        not depend on the other rows of a pass (true of the CPU kernels tested).
        """
        full = len(codes) - len(codes) % rows
        distinct, inverse = distinct_rows(codes[:full])
        if inverse is None or -(-len(distinct) // rows) == full // rows:  # no pass saved
            return self._batches(codes, rows, null)
        distinct = np.concatenate([distinct,
                                   np.repeat(distinct[:1], -len(distinct) % rows, axis=0)])
        outputs = [self._model(self._to_device(distinct[start:start + rows]))
                   for start in range(0, len(distinct), rows)]
        logits = torch.cat([output[0] for output in outputs])
        attention = torch.cat([output[1] for output in outputs]) if self.has_attention else None
        where = torch.from_numpy(_pass_rows(inverse, rows, self.reverse_complement))

        def rebuilt(start: int) -> tuple[torch.Tensor, torch.Tensor | None]:
            rows_of = where[2 * start:2 * (start + rows)] if self.reverse_complement else \
                where[start:start + rows]
            rows_of = rows_of.to(logits.device)
            return self._average(logits[rows_of],
                                 attention[rows_of] if attention is not None else None)

        return self._collect(itertools.chain(
            map(rebuilt, range(0, full, rows)),
            [self._forward(self._to_device(codes[full:]))] if full < len(codes) else []), null)

    def predict(self, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Probabilities ``(n, T)`` and attention ``(n, B)`` (``None`` for models without
        attention) for base-code sequences ``(n, L)``."""
        return self._batches(codes, 2 * self.batch_size)[:2]

    def score(self, ref_windows: np.ndarray, alt_windows: np.ndarray,
              null: ModelNull | None = None) -> VariantScores:
        """Scores for paired REF/ALT windows (``(n, L)`` uint8 codes each).

        REF and ALT of a batch go through the model together (with their reverse complements),
        ``batch_size`` variants at a time; identical windows once (``share_windows``). With a
        ``null``, each pass's p-values are computed on the device too (``model_p``).
        """
        n, step = len(ref_windows), self.batch_size
        # batch i is [its REF windows, its ALT windows]: one forward pass of 2 * step rows
        interleaved = np.concatenate([np.concatenate([ref_windows[i:i + step],
                                                      alt_windows[i:i + step]])
                                      for i in range(0, n, step)]) if n else ref_windows
        passes = self._shared_batches if self.share_windows else self._batches
        probs, attention, model_p = passes(interleaved, 2 * step, null)
        is_ref = np.concatenate([np.repeat([True, False], min(step, n - i))
                                 for i in range(0, n, step)]) if n else np.zeros(0, bool)
        center = self.model.config.center_bin if self.has_attention else 0
        return VariantScores(
            ref=probs[is_ref], alt=probs[~is_ref],
            ref_attention=attention[is_ref] if attention is not None else None,
            alt_attention=attention[~is_ref] if attention is not None else None,
            center_bin=center, model_p=model_p)


def _pass_rows(inverse: np.ndarray, rows: int, reverse_complement: bool) -> np.ndarray:
    """Where each row of the original passes is in the concatenated model outputs of the
    distinct rows' passes (``rows`` codes each, with RC ``[forward rows, RC rows]``): per
    original pass of ``rows`` codes, its forward rows' places, then (with RC) its RC rows'."""
    strands = 2 if reverse_complement else 1
    place = inverse // rows * (strands * rows) + inverse % rows  # forward output of each row
    per_pass = place.reshape(-1, rows)
    return np.concatenate([per_pass + k * rows for k in range(strands)], axis=1).ravel()


def distinct_rows(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """The distinct rows of ``codes`` ``(n, L)`` in order of first appearance ``(m, L)`` and,
    per row, its index among them ``(n,)``; ``codes`` itself and ``None`` when all rows
    differ."""
    first: dict[bytes, int] = {}
    inverse = np.fromiter((first.setdefault(row.tobytes(), len(first)) for row in codes),
                          dtype=np.intp, count=len(codes))
    if len(first) == len(codes):
        return codes, None
    _, keep = np.unique(inverse, return_index=True)  # the first row of each
    return codes[keep], inverse
