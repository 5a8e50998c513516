"""Reference genome access: FASTA / bgzipped FASTA, contig names, encoded-sequence cache.

Each contig is encoded once to uint8 base codes (A=0, G=1, C=2, T=3 — TBiNet's one-hot order —
and 4 for N, IUPAC codes and anything else; soft-masked lower case is ordinary sequence) and
kept as a memory-mapped ``.npy`` in a cache directory, so windows are gathered with numpy
indexing. The cache key is the FASTA's absolute path, size and modification time plus the
contig's name and length: a changed FASTA is re-encoded, never served stale.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pysam
from platformdirs import user_cache_dir

from tbvar.model import N_CODE, ONEHOT_ORDER

ENCODE_CHUNK = 8 << 20  # bases fetched per step while encoding a contig


def _base_lookup() -> np.ndarray:
    table = np.full(256, N_CODE, dtype=np.uint8)
    for code, base in enumerate(ONEHOT_ORDER):
        table[ord(base)] = code
        table[ord(base.lower())] = code
    return table


BASE_TO_CODE = _base_lookup()
CODE_TO_BASE = np.frombuffer(ONEHOT_ORDER.encode() + b"N", dtype=np.uint8)


class GenomeError(ValueError):
    """A genome FASTA cannot be opened or read."""


def encode_sequence(sequence: str | bytes) -> np.ndarray:
    """Base codes (uint8) of a DNA string; case-insensitive, non-ACGT → N."""
    raw = sequence.encode("ascii", "replace") if isinstance(sequence, str) else sequence
    return BASE_TO_CODE[np.frombuffer(raw, dtype=np.uint8)]


def decode_sequence(codes: np.ndarray) -> str:
    """Upper-case DNA string of base codes."""
    return CODE_TO_BASE[np.asarray(codes, dtype=np.intp)].tobytes().decode("ascii")


def default_cache_dir() -> Path:
    """``$TBVAR_CACHE`` or the user cache directory for tbvar."""
    return Path(os.environ.get("TBVAR_CACHE") or user_cache_dir("tbvar"))


def contig_name_candidates(name: str) -> list[str]:
    """Spellings of a contig name to try, in order: as is, ``chr`` toggled, chrM ↔ MT."""
    bare = name[3:] if name.lower().startswith("chr") else name
    candidates = [name, bare, f"chr{bare}"]
    if bare.upper() in ("M", "MT"):
        candidates += ["chrM", "MT", "M", "chrMT"]
    return list(dict.fromkeys(candidates))


class Genome:
    """A reference genome opened for window gathering.

    Parameters
    ----------
    path
        FASTA or bgzip-compressed FASTA (``.fai`` and, for bgzip, ``.gzi`` are created if
        missing and the directory is writable).
    cache_dir
        Where encoded contigs are kept; ``None`` → :func:`default_cache_dir` / ``genomes``;
        ``False`` keeps them in memory only.
    contig_map
        Explicit ``{input name: FASTA name}`` mapping tried before automatic harmonisation.
    """

    def __init__(self, path: str | os.PathLike[str], cache_dir: str | os.PathLike[str] | None
                 | bool = None, contig_map: Mapping[str, str] | None = None) -> None:
        self.path = str(path)
        try:
            self._fasta = pysam.FastaFile(self.path)
        except (OSError, ValueError) as exc:
            raise GenomeError(f"{self.path}: cannot open genome FASTA ({exc}); it must be "
                              "plain or bgzip-compressed FASTA with a writable directory or "
                              "existing .fai/.gzi index") from None
        self.lengths: dict[str, int] = dict(
            zip(self._fasta.references, self._fasta.lengths, strict=True))
        self.contig_map = dict(contig_map or {})
        self._encoded: dict[str, np.ndarray] = {}
        self._resolved: dict[str, str | None] = {}
        if cache_dir is False:
            self.cache_dir: Path | None = None
        else:
            root = Path(cache_dir) if cache_dir not in (None, True) else default_cache_dir()
            self.cache_dir = root / "genomes"
        stat = os.stat(self.path)
        key = f"{os.path.abspath(self.path)}|{stat.st_size}|{stat.st_mtime_ns}"
        self.fingerprint = hashlib.sha256(key.encode()).hexdigest()[:16]

    def __contains__(self, name: str) -> bool:
        return self.resolve(name) is not None

    def resolve(self, name: str) -> str | None:
        """FASTA contig name for an input contig name, or ``None`` if there is none."""
        if name not in self._resolved:
            mapped = self.contig_map.get(name)
            candidates = [mapped] if mapped is not None else contig_name_candidates(name)
            self._resolved[name] = next((c for c in candidates if c in self.lengths), None)
        return self._resolved[name]

    def codes(self, contig: str) -> np.ndarray:
        """Base codes of a whole FASTA contig (memory-mapped from the cache when possible)."""
        if contig not in self._encoded:
            if contig not in self.lengths:
                raise KeyError(f"{self.path}: no contig {contig!r}")
            self._encoded[contig] = self._load_or_encode(contig)
        return self._encoded[contig]

    def fetch(self, contig: str, start: int, end: int) -> str:
        """Sequence of ``contig[start:end]`` (0-based, half-open) as upper-case text."""
        return decode_sequence(self.codes(contig)[start:end])

    def _encode(self, contig: str) -> np.ndarray:
        length = self.lengths[contig]
        out = np.empty(length, dtype=np.uint8)
        for start in range(0, length, ENCODE_CHUNK):
            end = min(start + ENCODE_CHUNK, length)
            piece = self._fasta.fetch(contig, start, end)
            if len(piece) != end - start:
                raise GenomeError(f"{self.path}: contig {contig} is shorter than its index says")
            out[start:end] = encode_sequence(piece)
        return out

    def _cache_path(self, contig: str) -> Path | None:
        if self.cache_dir is None:
            return None
        safe = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in contig)
        digest = hashlib.sha256(f"{contig}|{self.lengths[contig]}".encode()).hexdigest()[:8]
        stem = Path(self.path).name
        return self.cache_dir / f"{stem}-{self.fingerprint}" / f"{safe}-{digest}.npy"

    def _load_or_encode(self, contig: str) -> np.ndarray:
        cache = self._cache_path(contig)
        if cache is not None and cache.exists():
            codes = np.load(cache, mmap_mode="r")
            if codes.shape == (self.lengths[contig],) and codes.dtype == np.uint8:
                return codes
        codes = self._encode(contig)
        if cache is None:
            return codes
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            handle, tmp = tempfile.mkstemp(suffix=".npy.tmp", dir=cache.parent)
        except OSError:
            return codes  # an unwritable cache only costs re-encoding next time
        try:
            with os.fdopen(handle, "wb") as out:
                np.save(out, codes)
            os.replace(tmp, cache)
        except OSError:
            Path(tmp).unlink(missing_ok=True)
            return codes
        return np.load(cache, mmap_mode="r")

    def close(self) -> None:
        """Close the FASTA file."""
        self._fasta.close()

    def __enter__(self) -> Genome:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
