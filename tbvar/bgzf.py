"""BGZF compression (the blocked gzip of htslib) as plain bytes, for chunk-wise outputs.

:func:`compress` turns bytes into complete BGZF blocks without the end-of-file marker, so the
compressed bodies of consecutive chunks can be concatenated and finished with :data:`EOF`; the
result is the same whether the chunks were written in one run or across a resumed one. The
output is valid gzip (multi-member) and valid BGZF (indexable with tabix).
"""

from __future__ import annotations

import struct
import zlib

BLOCK_INPUT = 0xFF00  # uncompressed bytes per block, as htslib uses
LEVEL = 6
#: The 28-byte empty block that ends every BGZF file.
EOF = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")


def _block(data: bytes) -> bytes:
    compressor = zlib.compressobj(LEVEL, zlib.DEFLATED, -15)
    payload = compressor.compress(data) + compressor.flush()
    size = len(payload) + 25  # block size minus 1: 18 header + payload + 8 trailer - 1
    header = struct.pack("<4BI2BH2BHH", 0x1F, 0x8B, 8, 4, 0, 0, 0xFF, 6, ord("B"), ord("C"),
                         2, size)
    return header + payload + struct.pack("<II", zlib.crc32(data), len(data))


def compress(data: bytes) -> bytes:
    """``data`` as BGZF blocks (no EOF marker); empty input gives empty output."""
    return b"".join(_block(data[start:start + BLOCK_INPUT])
                    for start in range(0, len(data), BLOCK_INPUT))
