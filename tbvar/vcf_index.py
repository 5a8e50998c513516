"""What a tabix (``.tbi``) or CSI (``.csi``) index says about a bgzipped VCF or a BCF: which
contigs hold records, in the order of the file.

Both formats list, per reference sequence, bins of BGZF chunks (virtual-offset pairs); the
smallest chunk start of a reference is where its records begin in the file, so sorting the
references by it gives the file's contig order (an index allows contig blocks in any order, not
only in the order of the header). Reference names are in the index (tabix; a CSI written by
tabix keeps them in its auxiliary data) or, for a CSI without names (``bcftools index``), the
header's contigs in order. Specification: the SAM/BAM format's "Indexing" section and
``tabix.pdf`` of hts-specs.
"""

from __future__ import annotations

import gzip
import os
import struct
from collections.abc import Callable, Sequence
from pathlib import Path

INDEX_SUFFIXES = (".csi", ".tbi")
_TABIX_META = struct.Struct("<7i")  # format, col_seq, col_beg, col_end, meta, skip, l_nm


def index_path(path: str | os.PathLike[str]) -> Path | None:
    """The index of a data file (``FILE.csi`` or ``FILE.tbi``, as htslib looks for them), or
    ``None``."""
    for suffix in INDEX_SUFFIXES:
        candidate = Path(f"{path}{suffix}")
        if candidate.is_file():
            return candidate
    return None


class _Reader:
    """Little-endian fields of a decompressed index, in order."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.at = 0

    def take(self, fmt: str) -> tuple:
        values = struct.unpack_from(fmt, self.data, self.at)
        self.at += struct.calcsize(fmt)
        return values

    def bytes(self, n: int) -> bytes:
        self.at += n
        return self.data[self.at - n:self.at]


def _names(block: bytes) -> list[str]:
    """Reference names of a tabix meta block (``l_nm`` then NUL-terminated names)."""
    (*_, l_nm) = _TABIX_META.unpack_from(block)
    text = block[_TABIX_META.size:_TABIX_META.size + l_nm]
    return [name.decode() for name in text.split(b"\0")[:-1]]


def _first_offsets(reader: _Reader, n_ref: int, csi: bool, pseudo_bin: int) -> list[int | None]:
    """Per reference, the smallest virtual offset of its chunks (``None``: no records)."""
    firsts: list[int | None] = []
    for _ in range(n_ref):
        first = None
        for _ in range(reader.take("<i")[0]):
            bin_id = reader.take("<I")[0]
            if csi:
                reader.take("<Q")  # loffset
            n_chunk = reader.take("<i")[0]
            starts = struct.unpack_from(f"<{2 * n_chunk}Q", reader.data, reader.at)[::2]
            reader.at += 16 * n_chunk
            if bin_id != pseudo_bin and starts:
                first = min(starts) if first is None else min(first, *starts)
        if not csi:
            n_intv = reader.take("<i")[0]
            reader.at += 8 * n_intv
        firsts.append(first)
    return firsts


def contigs_in_file_order(index: str | os.PathLike[str],
                          header_contigs: Callable[[], Sequence[str]]) -> list[str]:
    """The contigs that hold records, in the order of their records in the file.

    Parameters
    ----------
    index
        A ``.tbi`` or ``.csi`` file.
    header_contigs
        The data file's header contigs in order (used when the index has no names).
    """
    reader = _Reader(gzip.decompress(Path(index).read_bytes()))
    magic = reader.bytes(4)
    if magic == b"TBI\1":
        n_ref = reader.take("<i")[0]
        meta = reader.data[reader.at:]
        names = _names(meta)
        reader.at += _TABIX_META.size + _TABIX_META.unpack_from(meta)[-1]
        firsts = _first_offsets(reader, n_ref, csi=False, pseudo_bin=37450)
    elif magic == b"CSI\1":
        _, depth, l_aux = reader.take("<3i")
        aux = reader.bytes(l_aux)
        n_ref = reader.take("<i")[0]
        names = _names(aux) if l_aux >= _TABIX_META.size else list(header_contigs())
        pseudo_bin = ((1 << 3 * (depth + 1)) - 1) // 7 + 1
        firsts = _first_offsets(reader, n_ref, csi=True, pseudo_bin=pseudo_bin)
    else:
        raise ValueError(f"{index}: not a tabix or CSI index")
    if len(names) < n_ref:
        raise ValueError(f"{index}: {n_ref} references but {len(names)} names")
    used = [(first, name) for name, first in zip(names, firsts, strict=False)
            if first is not None]
    return [name for _, name in sorted(used)]
