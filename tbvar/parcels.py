"""Objects holding large arrays between host worker processes: through a file in shared memory.

A ``multiprocessing.Queue`` pickles what it sends and pushes the bytes through a pipe: a
chunk's scores (1,024 variants × 690 tasks, REF and ALT: 5.7 MB) are copied about six times
(pickled, written into the pipe 64 kB at a time with a context switch each, read, joined,
unpickled). A :class:`Parcel` pickles the object with protocol 5, whose out-of-band buffers are
the arrays' own memory (not copied), writes them into one new file in a shared-memory
directory (``/dev/shm`` where it exists) and sends only the small pickle and the file's name;
the receiver reads the file into one buffer, removes it, and unpickles arrays that view that
buffer. Measured on one chunk's scores (``benchmarks/parcel_transfer.py``, two runs): 3.2–3.9
µs (sender) and 2.9–3.2 µs (receiver) of CPU per variant instead of 13.6–15.0 and 9.7–11.9
(``benchmarks/RESULTS.md``).

When the directory cannot take the file (a container's small ``/dev/shm`` full, or not
writable) the object is pickled into the parcel itself and travels through the pipe, as
before. A parcel that is never opened leaves its file behind: the sender owns the directory
and removes it (:func:`parcel_directory`) with whatever is left in it.
"""

from __future__ import annotations

import os
import pickle
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ALIGN = 64  # each array starts at a multiple of this many bytes of the file
SHARED_MEMORY = Path("/dev/shm")


@dataclass(frozen=True)
class Parcel:
    """An object on its way to another process.

    Attributes
    ----------
    pickled
        The object pickled with protocol 5, its large buffers out of band (in the file), or
        whole when ``path`` is ``None``.
    path
        The file holding the out-of-band buffers, each padded to :data:`ALIGN` bytes.
    sizes
        Byte size of each out-of-band buffer, in order.
    """

    pickled: bytes
    path: str | None = None
    sizes: tuple[int, ...] = ()


def _padded(size: int) -> int:
    return -(-size // ALIGN) * ALIGN


def pack(obj: Any, directory: str | os.PathLike[str]) -> Parcel:
    """``obj`` as a parcel whose large buffers (numpy arrays' memory) are in a new file in
    ``directory``; pickled whole when it has none or the file cannot be written."""
    buffers: list[pickle.PickleBuffer] = []
    pickled = pickle.dumps(obj, protocol=5, buffer_callback=buffers.append)
    if not buffers:
        return Parcel(pickled)
    views = [buffer.raw() for buffer in buffers]
    path = os.path.join(directory, f"{uuid.uuid4().hex}.bin")
    try:
        with open(path, "xb") as handle:
            for view in views:
                handle.write(view)
                handle.write(bytes(_padded(view.nbytes) - view.nbytes))
    except OSError:  # full or not writable: the object goes through the pipe
        Path(path).unlink(missing_ok=True)
        return Parcel(pickle.dumps(obj, protocol=5))
    return Parcel(pickled, path, tuple(view.nbytes for view in views))


def unpack(parcel: Parcel) -> Any:
    """The object of a parcel (its file read into one buffer the arrays view, then removed)."""
    if parcel.path is None:
        return pickle.loads(parcel.pickled)
    data = bytearray(sum(_padded(size) for size in parcel.sizes))
    view = memoryview(data)
    with open(parcel.path, "rb", buffering=0) as handle:
        done = 0
        while done < len(data):
            got = handle.readinto(view[done:])
            if not got:
                raise EOFError(f"{parcel.path}: {len(data) - done} bytes missing")
            done += got
    os.unlink(parcel.path)
    offsets = [0]
    for size in parcel.sizes[:-1]:
        offsets.append(offsets[-1] + _padded(size))
    return pickle.loads(parcel.pickled, buffers=[view[start:start + size] for start, size
                                                 in zip(offsets, parcel.sizes, strict=True)])


def parcel_directory() -> Path:
    """A new private directory for parcels, in shared memory where there is one (else the
    system's temporary directory); its creator removes it (``shutil.rmtree``) when done."""
    root = SHARED_MEMORY if SHARED_MEMORY.is_dir() and os.access(SHARED_MEMORY, os.W_OK) \
        else None
    return Path(tempfile.mkdtemp(prefix="tbvar-parcels-", dir=root))
