"""Position-probability motifs and the MEME minimal text format (read and write).

Matrices are kept in tbvar's base-code order (columns A, G, C, T = codes 0..3, the one-hot
order of every architecture), converted from and to MEME's A, C, G, T. The bundled database is
JASPAR 2024 CORE vertebrates, non-redundant (:func:`jaspar_path`; provenance and licence in
``tbvar/data/README.md``); ``pyjaspar`` is not needed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

#: MEME columns A, C, G, T -> code columns A, G, C, T (a swap, so it also maps back).
MEME_TO_CODES = [0, 2, 1, 3]
JASPAR_FILE = "JASPAR2024_CORE_vertebrates_non-redundant.meme"
PSEUDO = 1e-3  # probability floor for log-odds scores
_CODE_BASES = np.array(list("AGCT"))


class MotifFileError(ValueError):
    """A MEME motif file is malformed, or a requested motif is not in it."""


@dataclass(frozen=True, eq=False)
class Motif:
    """A position-probability matrix ``probs`` (width, 4), columns A, G, C, T.

    ``n_sites`` is the number of sites the matrix was counted from (MEME's ``nsites``; 0 when
    unknown).
    """

    id: str
    name: str
    probs: np.ndarray
    n_sites: int = 0

    @property
    def width(self) -> int:
        """Number of positions."""
        return len(self.probs)

    @property
    def label(self) -> str:
        """``ID name`` as in the MEME file."""
        return f"{self.id} {self.name}".strip()

    def information(self) -> np.ndarray:
        """Information content (bits) of each position against a uniform background, (width,)."""
        return information(self.probs)

    def consensus(self) -> str:
        """The most probable base of each position (ties: A, G, C, T order)."""
        return "".join(_CODE_BASES[np.argmax(self.probs, axis=1)])

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` instances (n, width) of base codes drawn position by position."""
        cdf = np.cumsum(self.probs, axis=1)
        cdf[:, -1] = 1.0
        u = rng.random((n, self.width, 1))
        return (u >= cdf[None, :, :3]).sum(axis=2).astype(np.uint8)

    def log_odds(self, codes: np.ndarray) -> np.ndarray:
        """Log2-odds (motif vs uniform background) of (..., width) code windows; N scores 0."""
        codes = np.asarray(codes)
        table = np.log2(np.maximum(self.probs, PSEUDO) / 0.25)
        table = np.concatenate([table, np.zeros((self.width, 1))], axis=1)  # N column
        return table[np.arange(self.width), codes].sum(axis=-1)


def information(probs: np.ndarray) -> np.ndarray:
    """Information content in bits (2 − entropy) of probability rows ``(..., 4)`` → ``(...)``."""
    p = np.asarray(probs, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        entropy = -np.where(p > 0, p * np.log2(p), 0.0).sum(axis=-1)
    return 2.0 - entropy


def jaspar_path() -> Path:
    """Path of the bundled JASPAR 2024 CORE vertebrates (non-redundant) MEME file."""
    return Path(str(resources.files("tbvar") / "data" / JASPAR_FILE))


def read_meme(path: str | os.PathLike[str] | None = None) -> list[Motif]:
    """Motifs of a MEME (v4 text) file, default the bundled JASPAR file.

    Rows must hold 4 probabilities summing to 1 (± 0.02; they are renormalised).

    Raises
    ------
    MotifFileError
        ``"FILE: line N: reason"`` for anything unreadable; a file without motifs.
    """
    path = jaspar_path() if path is None else Path(path)
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise MotifFileError(f"{path}: cannot read MEME file ({exc})") from None
    motifs: list[Motif] = []
    header: tuple[str, str] | None = None
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        i += 1
        if line.startswith("ALPHABET") and line.split("=", 1)[-1].strip() != "ACGT":
            raise MotifFileError(f"{path}: line {i}: only the DNA alphabet ACGT is supported")
        if line.startswith("MOTIF"):
            parts = line.split()
            if len(parts) < 2:
                raise MotifFileError(f"{path}: line {i}: MOTIF without an identifier")
            header = (parts[1], " ".join(parts[2:]))
        elif line.startswith("letter-probability matrix"):
            if header is None:
                raise MotifFileError(f"{path}: line {i}: matrix before any MOTIF line")
            width = re.search(r"\bw=\s*(\d+)", line)
            if width is None:
                raise MotifFileError(f"{path}: line {i}: matrix header lacks w=")
            sites = re.search(r"\bnsites=\s*(\d+)", line)
            rows = []
            for row_line in lines[i:i + int(width.group(1))]:
                i += 1
                try:
                    row = [float(v) for v in row_line.split()]
                except ValueError:
                    row = []
                if len(row) != 4 or min(row) < 0 or abs(sum(row) - 1) > 0.02:
                    raise MotifFileError(f"{path}: line {i}: motif {header[0]}: expected 4 "
                                         f"probabilities summing to 1, got {row_line!r}")
                rows.append(row)
            if len(rows) != int(width.group(1)):
                raise MotifFileError(f"{path}: motif {header[0]}: file ends inside its matrix")
            probs = np.asarray(rows)[:, MEME_TO_CODES]
            motifs.append(Motif(header[0], header[1], probs / probs.sum(axis=1, keepdims=True),
                                int(sites.group(1)) if sites else 0))
            header = None
    if not motifs:
        raise MotifFileError(f"{path}: no motifs found (not a MEME file?)")
    return motifs


def meme_text(motifs: Sequence[Motif]) -> str:
    """MEME minimal format (version 4, DNA, uniform background) of ``motifs``.

    Probabilities are written with 6 decimals in MEME's A, C, G, T column order.
    """
    parts = ["MEME version 4\n\nALPHABET= ACGT\n\nstrands: + -\n\n"
             "Background letter frequencies\nA 0.25 C 0.25 G 0.25 T 0.25\n\n"]
    for motif in motifs:
        rows = "".join(" ".join(f"{v:.6f}" for v in row) + "\n"
                       for row in motif.probs[:, MEME_TO_CODES])
        parts.append(f"MOTIF {motif.label}\nletter-probability matrix: alength= 4 "
                     f"w= {motif.width} nsites= {motif.n_sites} E= 0\n{rows}\n")
    return "".join(parts)


def find_motif(motifs: list[Motif], key: str) -> Motif:
    """The motif whose ID (``MA0139.2``) or name (``CTCF``, case-insensitive) is ``key``.

    A name shared by several motifs resolves to the first in file order (lowest matrix ID).
    """
    low = key.lower()
    for motif in motifs:
        if motif.id.lower() == low or motif.name.lower() == low:
            return motif
    raise MotifFileError(f"motif {key!r} not found (give a JASPAR ID such as MA0139.2 or a "
                         "name such as CTCF)")
