"""Batched forward passes, forward/reverse-complement averaging and score definitions.

Per variant the model sees four sequences, ``[ref, alt, ref_rc, alt_rc]``, in one forward
pass. uint8 base codes travel to the device; one-hot encoding and reverse complement are made
there. Scores (DESIGN.md):

- ``ref``, ``alt``: probability per task, mean of the forward and reverse-complement pass;
- ``diff`` = alt − ref; ``lod`` = logit(alt) − logit(ref) with p clipped to [ε, 1 − ε]
  (ε = :data:`LOGIT_EPS`); ``absdiff``, ``abslod`` their absolute values;
- attention (one vector of bins per sequence): the RC pass's attention is flipped (bin k of the
  RC pass is bin B−1−k forward; exact when (L − w + 1) is a multiple of the pool size) and
  averaged with the forward one; ``attn_shift`` = ½ Σ|a_alt − a_ref| (total variation),
  ``attn_center`` = a_alt[c] − a_ref[c] at the bin c centred on the variant,
  ``attn_peak_ref``/``attn_peak_alt`` = argmax bins.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch

from tbvar.model import TBiNet, TBiNetConfig, reverse_complement_codes

LOGIT_EPS = 1e-7
TASK_SCORES = ("ref", "alt", "diff", "lod", "absdiff", "abslod")
ATTENTION_SCORES = ("attn_shift", "attn_center", "attn_peak_ref", "attn_peak_alt")
PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``auto`` → first CUDA device if available, else CPU; otherwise ``torch.device(device)``."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    resolved = torch.device(device)
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available")
    return resolved


def logit(p: torch.Tensor) -> torch.Tensor:
    """log(p / (1 − p)) with p clipped to [ε, 1 − ε]."""
    p = p.clamp(LOGIT_EPS, 1 - LOGIT_EPS)
    return torch.log(p) - torch.log1p(-p)


@dataclass
class VariantScores:
    """Scores of n variants (numpy, float32 unless noted)."""

    ref: np.ndarray          # (n, T) probabilities
    alt: np.ndarray          # (n, T)
    ref_attention: np.ndarray  # (n, B)
    alt_attention: np.ndarray  # (n, B)
    center_bin: int

    def task_score(self, name: str) -> np.ndarray:
        """One of :data:`TASK_SCORES` as an ``(n, T)`` array."""
        if name == "ref":
            return self.ref
        if name == "alt":
            return self.alt
        if name in ("diff", "absdiff"):
            value = self.alt - self.ref
        elif name in ("lod", "abslod"):
            value = self.lod
        else:
            raise ValueError(f"unknown score {name!r}; choose from {TASK_SCORES}")
        return np.abs(value) if name.startswith("abs") else value

    @cached_property
    def lod(self) -> np.ndarray:
        """logit(alt) − logit(ref), computed once in float64 from the float32 probabilities."""
        ref = np.clip(self.ref.astype(np.float64), LOGIT_EPS, 1 - LOGIT_EPS)
        alt = np.clip(self.alt.astype(np.float64), LOGIT_EPS, 1 - LOGIT_EPS)
        return (np.log(alt / (1 - alt)) - np.log(ref / (1 - ref))).astype(np.float32)

    def attention_scores(self) -> dict[str, np.ndarray]:
        """The :data:`ATTENTION_SCORES` per variant."""
        delta = self.alt_attention - self.ref_attention
        return {
            "attn_shift": (0.5 * np.abs(delta).sum(axis=1)).astype(np.float32),
            "attn_center": delta[:, self.center_bin].astype(np.float32),
            "attn_peak_ref": self.ref_attention.argmax(axis=1).astype(np.int32),
            "attn_peak_alt": self.alt_attention.argmax(axis=1).astype(np.int32),
        }


class Scorer:
    """Runs a TBiNet over sequence windows in batches on one device.

    Parameters
    ----------
    model
        The model (moved to ``device`` and put in eval mode).
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

    def __init__(self, model: TBiNet, device: str | torch.device = "auto", batch_size: int = 128,
                 precision: str = "fp32", reverse_complement: bool = True) -> None:
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
    def config(self) -> TBiNetConfig:
        """The model's configuration."""
        return self.model.config

    @torch.inference_mode()
    def _forward(self, codes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Probabilities and attention of base codes on the device, fwd/RC averaged."""
        n = codes.shape[0]
        if self.reverse_complement:
            codes = torch.cat([codes, reverse_complement_codes(codes)])
        dtype = PRECISIONS[self.precision]
        with torch.autocast(self.device.type, dtype=dtype, enabled=dtype != torch.float32):
            logits, attention = self.model(codes)
        probs = torch.sigmoid(logits.float())
        attention = attention.float()
        if self.reverse_complement:
            probs = (probs[:n] + probs[n:]) / 2
            attention = (attention[:n] + attention[n:].flip(-1)) / 2
        return probs, attention

    def _to_device(self, codes: np.ndarray) -> torch.Tensor:
        tensor = torch.from_numpy(np.ascontiguousarray(codes, dtype=np.uint8))
        if self.device.type == "cuda":
            return tensor.pin_memory().to(self.device, non_blocking=True)
        return tensor

    def predict(self, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Probabilities ``(n, T)`` and attention ``(n, B)`` for base-code sequences ``(n, L)``."""
        probs, attention = [], []
        step = 2 * self.batch_size
        for start in range(0, len(codes), step):
            p, a = self._forward(self._to_device(codes[start:start + step]))
            probs.append(p.cpu().numpy())
            attention.append(a.cpu().numpy())
        config = self.model.config
        if not probs:
            return (np.zeros((0, config.n_tasks), np.float32),
                    np.zeros((0, config.n_bins), np.float32))
        return np.concatenate(probs), np.concatenate(attention)

    def score(self, ref_windows: np.ndarray, alt_windows: np.ndarray) -> VariantScores:
        """Scores for paired REF/ALT windows (``(n, L)`` uint8 codes each).

        REF and ALT of a batch go through the model together (with their reverse complements),
        ``batch_size`` variants at a time.
        """
        n = len(ref_windows)
        ref_p, alt_p, ref_a, alt_a = [], [], [], []
        for start in range(0, n, self.batch_size):
            stop = min(start + self.batch_size, n)
            batch = np.concatenate([ref_windows[start:stop], alt_windows[start:stop]])
            probs, attention = self._forward(self._to_device(batch))
            probs, attention = probs.cpu().numpy(), attention.cpu().numpy()
            k = stop - start
            ref_p.append(probs[:k])
            alt_p.append(probs[k:])
            ref_a.append(attention[:k])
            alt_a.append(attention[k:])
        config = self.model.config
        empty_t = np.zeros((0, config.n_tasks), np.float32)
        empty_b = np.zeros((0, config.n_bins), np.float32)
        return VariantScores(
            ref=np.concatenate(ref_p) if n else empty_t,
            alt=np.concatenate(alt_p) if n else empty_t,
            ref_attention=np.concatenate(ref_a) if n else empty_b,
            alt_attention=np.concatenate(alt_a) if n else empty_b,
            center_bin=config.center_bin,
        )
