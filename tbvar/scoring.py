"""Batched forward passes of any registered architecture, forward/reverse-complement averaged.

Per variant the model sees four sequences, ``[ref, alt, ref_rc, alt_rc]``, in one forward
pass. uint8 base codes travel to the device; one-hot encoding and reverse complement are made
there. Probabilities of the forward and reverse-complement passes are averaged; so is the
attention of models that have it, the RC pass's attention flipped (bin k of the RC pass is
bin B−1−k forward; exact when (L − w + 1) is a multiple of the pool size). The scores computed
from these outputs are defined in :mod:`tbvar.scores`.

The scorer relies on the model interface only (:mod:`tbvar.architectures`):
``model.config.sequence_length``, ``model.config.n_tasks``, ``model.has_attention`` (then
``model.config.n_bins`` and ``model.config.center_bin``) and ``model(codes)`` →
``(logits, attention or None)``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from tbvar.model import reverse_complement_codes
from tbvar.scores import VariantScores

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
    """

    def __init__(self, model: nn.Module, device: str | torch.device = "auto",
                 batch_size: int = 128, precision: str = "fp32",
                 reverse_complement: bool = True) -> None:
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

    @property
    def sequence_length(self) -> int:
        """Window length L the model takes."""
        return int(self.model.config.sequence_length)

    @property
    def has_attention(self) -> bool:
        """Whether the model returns attention (then scores include attention scores)."""
        return bool(self.model.has_attention)

    @torch.inference_mode()
    def _forward(self, codes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Probabilities and attention (or None) of base codes on the device, fwd/RC averaged."""
        n = codes.shape[0]
        if self.reverse_complement:
            codes = torch.cat([codes, reverse_complement_codes(codes)])
        dtype = PRECISIONS[self.precision]
        with torch.autocast(self.device.type, dtype=dtype, enabled=dtype != torch.float32):
            logits, attention = self.model(codes)
        probs = torch.sigmoid(logits.float())
        attention = attention.float() if attention is not None else None
        if self.reverse_complement:
            probs = (probs[:n] + probs[n:]) / 2
            if attention is not None:
                attention = (attention[:n] + attention[n:].flip(-1)) / 2
        return probs, attention

    def _to_device(self, codes: np.ndarray) -> torch.Tensor:
        tensor = torch.from_numpy(np.ascontiguousarray(codes, dtype=np.uint8))
        if self.device.type == "cuda":
            return tensor.pin_memory().to(self.device, non_blocking=True)
        return tensor

    def _batches(self, codes: np.ndarray, rows: int) -> tuple[np.ndarray, np.ndarray | None]:
        """Probabilities ``(n, T)`` and attention ``(n, B)`` (or None), ``rows`` at a time."""
        probs, attention = [], []
        for start in range(0, len(codes), rows):
            p, a = self._forward(self._to_device(codes[start:start + rows]))
            probs.append(p.cpu().numpy())
            attention.append(a.cpu().numpy() if a is not None else None)
        config = self.model.config
        if not probs:
            return (np.zeros((0, config.n_tasks), np.float32),
                    np.zeros((0, config.n_bins), np.float32) if self.has_attention else None)
        return (np.concatenate(probs),
                np.concatenate(attention) if self.has_attention else None)

    def predict(self, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Probabilities ``(n, T)`` and attention ``(n, B)`` (``None`` for models without
        attention) for base-code sequences ``(n, L)``."""
        return self._batches(codes, 2 * self.batch_size)

    def score(self, ref_windows: np.ndarray, alt_windows: np.ndarray) -> VariantScores:
        """Scores for paired REF/ALT windows (``(n, L)`` uint8 codes each).

        REF and ALT of a batch go through the model together (with their reverse complements),
        ``batch_size`` variants at a time.
        """
        n, step = len(ref_windows), self.batch_size
        # batch i is [its REF windows, its ALT windows]: one forward pass of 2 * step rows
        interleaved = np.concatenate([np.concatenate([ref_windows[i:i + step],
                                                      alt_windows[i:i + step]])
                                      for i in range(0, n, step)]) if n else ref_windows
        probs, attention = self._batches(interleaved, 2 * step)
        is_ref = np.concatenate([np.repeat([True, False], min(step, n - i))
                                 for i in range(0, n, step)]) if n else np.zeros(0, bool)
        center = self.model.config.center_bin if self.has_attention else 0
        return VariantScores(
            ref=probs[is_ref], alt=probs[~is_ref],
            ref_attention=attention[is_ref] if attention is not None else None,
            alt_attention=attention[~is_ref] if attention is not None else None,
            center_bin=center)
