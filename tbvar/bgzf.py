"""BGZF compression (the blocked gzip of htslib) as plain bytes, for chunk-wise outputs.

:func:`compress` turns bytes into complete BGZF blocks without the end-of-file marker, so the
compressed bodies of consecutive chunks can be concatenated and finished with :data:`EOF`; the
result is the same whether the chunks were written in one run or across a resumed one. The
output is valid gzip (multi-member) and valid BGZF (indexable with tabix).
"""

from __future__ import annotations

import functools
import os
import struct
import zlib
from concurrent.futures import ThreadPoolExecutor

BLOCK_INPUT = 0xFF00  # uncompressed bytes per block, as htslib uses
LEVEL = 6
#: The 28-byte empty block that ends every BGZF file.
EOF = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")


def _block(data: bytes | memoryview) -> bytes:
    compressor = zlib.compressobj(LEVEL, zlib.DEFLATED, -15)
    payload = compressor.compress(data) + compressor.flush()
    size = len(payload) + 25  # block size minus 1: 18 header + payload + 8 trailer - 1
    header = struct.pack("<4BI2BH2BHH", 0x1F, 0x8B, 8, 4, 0, 0, 0xFF, 6, ord("B"), ord("C"),
                         2, size)
    return header + payload + struct.pack("<II", zlib.crc32(data), len(data))


@functools.cache
def _pool() -> ThreadPoolExecutor:
    workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return ThreadPoolExecutor(max_workers=workers or 1, thread_name_prefix="tbvar-bgzf")


if hasattr(os, "register_at_fork"):  # a forked child has none of the parent's threads
    os.register_at_fork(after_in_child=_pool.cache_clear)


def compress(data: bytes) -> bytes:
    """``data`` as BGZF blocks (no EOF marker); empty input gives empty output.

    Blocks are compressed in parallel threads (zlib releases the GIL) when there are several;
    the bytes do not depend on the number of threads.
    """
    view = memoryview(data)
    blocks = [view[start:start + BLOCK_INPUT] for start in range(0, len(data), BLOCK_INPUT)]
    return b"".join(_pool().map(_block, blocks) if len(blocks) > 1 else map(_block, blocks))
