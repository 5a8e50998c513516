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
import re
import tempfile
import zlib
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pysam

from tbvar.cache import default_cache_dir
from tbvar.errors import GenomeError
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


def encode_sequence(sequence: str | bytes) -> np.ndarray:
    """Base codes (uint8) of a DNA string; case-insensitive, non-ACGT → N."""
    raw = sequence.encode("ascii", "replace") if isinstance(sequence, str) else sequence
    return BASE_TO_CODE[np.frombuffer(raw, dtype=np.uint8)]


def decode_sequence(codes: np.ndarray) -> str:
    """Upper-case DNA string of base codes."""
    return CODE_TO_BASE[np.asarray(codes, dtype=np.intp)].tobytes().decode("ascii")


def contig_name_candidates(name: str) -> list[str]:
    """Spellings of a contig name to try, in order: as is, ``chr`` toggled, chrM ↔ MT."""
    bare = name[3:] if name.lower().startswith("chr") else name
    candidates = [name, bare, f"chr{bare}"]
    if bare.upper() in ("M", "MT"):
        candidates += ["chrM", "MT", "M", "chrMT"]
    return list(dict.fromkeys(candidates))


_GRC_ACCESSION = re.compile(r"^([A-Z]{2}\d{6})\.(\d+)$", re.IGNORECASE)
_UCSC_UNPLACED = re.compile(r"^chr(\w+?)_([a-z]{2}\d{6})(?:v(\d+))?(?:_random|_alt)?$",
                            re.IGNORECASE)


def accession_key(name: str) -> str | None:
    """Shared key of GRC and UCSC names of an unplaced/unlocalised scaffold, else ``None``.

    ``GL000192.1`` (GRCh37) and ``chr1_gl000192_random`` (hg19) both give ``gl000192.1``;
    ``KI270706.1`` and ``chr1_KI270706v1_random`` (hg38) both give ``ki270706.1``. hg19 has no
    version in the name, which is read as version 1 (all hg19 scaffolds are version 1).
    """
    match = _GRC_ACCESSION.match(name)
    if match:
        return f"{match.group(1).lower()}.{match.group(2)}"
    match = _UCSC_UNPLACED.match(name)
    if match:
        return f"{match.group(2).lower()}.{match.group(3) or 1}"
    return None


def read_contig_map(path: str | os.PathLike[str]) -> dict[str, str]:
    """A ``--contig-map`` file: two tab- or space-separated columns, VCF name and FASTA name.

    Blank lines and lines starting with ``#`` are ignored.
    """
    mapping: dict[str, str] = {}
    try:
        with open(path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                fields = line.split()
                if not fields or fields[0].startswith("#"):
                    continue
                if len(fields) != 2:
                    raise GenomeError(f"{path}: line {number}: expected two columns (VCF "
                                      f"contig, FASTA contig), found {len(fields)}")
                if mapping.get(fields[0], fields[1]) != fields[1]:
                    raise GenomeError(f"{path}: line {number}: {fields[0]!r} is mapped twice")
                mapping[fields[0]] = fields[1]
    except (OSError, UnicodeDecodeError) as exc:
        raise GenomeError(f"{path}: cannot read contig map ({exc})") from None
    return mapping


def check_fasta(path: str) -> None:
    """Refuse, in one line saying what to do, a genome that is not (bgzipped) FASTA: a plain
    gzip file, a VCF, or any file whose first record does not start with ``>``."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(1 << 16)
    except OSError as exc:
        raise GenomeError(f"{path}: cannot read the genome ({exc.strerror})") from None
    if head[:2] == b"\x1f\x8b":
        if not (head[3] & 4 and head[12:14] == b"BC"):  # BGZF: an extra field "BC"
            raise GenomeError(f"{path}: gzip-compressed but not bgzip; recompress it with "
                              f"'gunzip -c {path} | bgzip > {path.removesuffix('.gz')}.bgz' "
                              "or pass the uncompressed FASTA")
        head = zlib.decompressobj(31).decompress(head)
    text = head.lstrip()
    if text.startswith(b"##fileformat=VCF") or text.startswith(b"#CHROM"):
        raise GenomeError(f"{path}: a VCF, not a genome; --genome takes the reference FASTA "
                          "(e.g. hg19.fa)")
    if text and not text.startswith(b">"):
        raise GenomeError(f"{path}: not a FASTA file (it must start with a '>' header line)")


class Genome:
    """A reference genome opened for window gathering.

    Parameters
    ----------
    path
        FASTA or bgzip-compressed FASTA (``.fai`` and, for bgzip, ``.gzi`` are created if
        missing and the directory is writable).
    cache_dir
        Where encoded contigs are kept; ``None`` → :func:`tbvar.cache.default_cache_dir` /
        ``genomes``; ``False`` keeps them in memory only.
    contig_map
        Explicit ``{input name: FASTA name}`` mapping used instead of automatic harmonisation
        for the names it lists (see :func:`read_contig_map`). Automatic harmonisation tries
        the name as is, with ``chr`` added or removed, chrM/MT/M, and GRC scaffold accessions
        against UCSC names (``GL000192.1`` ↔ ``chr1_gl000192_random``, see
        :func:`accession_key`). Alternative haplotypes such as hg19 ``chr6_ssto_hap7`` match
        only by their exact name; map them with a contig map.
    """

    def __init__(self, path: str | os.PathLike[str], cache_dir: str | os.PathLike[str] | None
                 | bool = None, contig_map: Mapping[str, str] | None = None) -> None:
        self.path = str(path)
        check_fasta(self.path)
        previous = pysam.set_verbosity(0)  # htslib's own [E::...] lines: tbvar says it once
        try:
            self._fasta = pysam.FastaFile(self.path)
        except (OSError, ValueError) as exc:
            raise GenomeError(f"{self.path}: cannot open genome FASTA ({exc}); it must be "
                              "plain or bgzip-compressed FASTA with a writable directory or "
                              "existing .fai/.gzi index") from None
        finally:
            pysam.set_verbosity(previous)
        self.lengths: dict[str, int] = dict(
            zip(self._fasta.references, self._fasta.lengths, strict=True))
        self.contig_map = dict(contig_map or {})
        self._encoded: dict[str, np.ndarray] = {}
        self._resolved: dict[str, str | None] = {}
        self._accession_names: dict[str, str] | None = None
        if cache_dir is False:
            self.cache_dir: Path | None = None
        else:
            root = Path(cache_dir) if cache_dir not in (None, True) else default_cache_dir()
            self.cache_dir = root / "genomes"
        stat = os.stat(self.path)
        key = f"{os.path.abspath(self.path)}|{stat.st_size}|{stat.st_mtime_ns}"
        self.fingerprint = hashlib.sha256(key.encode()).hexdigest()[:16]

    @property
    def assembly_id(self) -> str:
        """Identity of the assembly: a hash of its contig names and lengths (the same for the
        plain and the bgzipped file, different for hg19 and hg38)."""
        table = "".join(f"{name}\t{length}\n" for name, length in sorted(self.lengths.items()))
        return hashlib.sha256(table.encode()).hexdigest()[:16]

    @property
    def identity(self) -> str:
        """The file's fingerprint for output headers: size, assembly and index checksum."""
        index = Path(f"{self.path}.fai")
        digest = (hashlib.sha256(index.read_bytes()).hexdigest()[:16] if index.exists()
                  else "none")
        return (f"size={os.path.getsize(self.path)} assembly={self.assembly_id} "
                f"fai_sha256={digest}")

    def __contains__(self, name: str) -> bool:
        return self.resolve(name) is not None

    def resolve(self, name: str) -> str | None:
        """FASTA contig name for an input contig name, or ``None`` if there is none."""
        if name not in self._resolved:
            mapped = self.contig_map.get(name)
            candidates = [mapped] if mapped is not None else contig_name_candidates(name)
            found = next((c for c in candidates if c in self.lengths), None)
            if found is None and mapped is None:
                found = self._accessions().get(accession_key(name) or "")
            self._resolved[name] = found
        return self._resolved[name]

    def _accessions(self) -> dict[str, str]:
        if self._accession_names is None:
            keys = [(accession_key(name), name) for name in self.lengths]
            self._accession_names = {key: name for key, name in keys if key is not None}
        return self._accession_names

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

    def __reduce__(self) -> tuple:
        """Pickled as what opens it again (another process opens its own file handle)."""
        cache = False if self.cache_dir is None else self.cache_dir.parent
        return Genome, (self.path, cache, self.contig_map)

    def close(self) -> None:
        """Close the FASTA file."""
        self._fasta.close()

    def __enter__(self) -> Genome:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
