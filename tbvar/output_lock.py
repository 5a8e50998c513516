"""An exclusive lock on an output path, so two runs never write the same output.

The lock is ``OUT.lock`` beside the output, held with ``flock`` for the whole run and holding
the holder's PID. The kernel releases an ``flock`` when its holder exits, however it exits, so a
lock file left by a killed run (``kill -9``, a crashed node) is *stale*: the next run takes it
without asking. A normal end, an error or Ctrl-C removes the file.

``flock`` works on local file systems and, on Linux, on NFS (where the kernel maps it onto NFS
byte-range locks); it is advisory: it stops other tbvar runs, not other programs.
"""

from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path
from types import TracebackType


class OutputLockedError(OSError):
    """Another live run holds the lock on this output."""


def lock_path(output: str | os.PathLike[str]) -> Path:
    """``OUT.lock`` beside the output."""
    return Path(f"{output}.lock")


class OutputLock:
    """Exclusive, non-blocking lock on ``output`` for the duration of a ``with`` block.

    Parameters
    ----------
    output
        The final output path (the lock file is :func:`lock_path` of it).

    Raises
    ------
    OutputLockedError
        On entry, when a live process holds the lock; the message names its PID.
    """

    def __init__(self, output: str | os.PathLike[str]) -> None:
        self.output = Path(output)
        self.path = lock_path(output)
        self._fd: int | None = None

    def __enter__(self) -> OutputLock:
        while self._fd is None:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                holder = _read_pid(fd)
                os.close(fd)
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                raise OutputLockedError(
                    f"{self.output}: another tbvar run (PID {holder or 'unknown'}) is writing "
                    f"this output (lock {self.path}); wait for it to finish or choose another "
                    "output") from None
            if _same_file(fd, self.path):
                self._fd = fd
            else:  # the holder removed the file between our open and flock: take a fresh one
                os.close(fd)
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, f"{os.getpid()}\n".encode(), 0)
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if self._fd is None:
            return
        self.path.unlink(missing_ok=True)  # while still locked: no one can take the old file
        os.close(self._fd)
        self._fd = None


def _read_pid(fd: int) -> int | None:
    try:
        return int(os.pread(fd, 32, 0).decode().strip())
    except (OSError, ValueError):
        return None


def _same_file(fd: int, path: Path) -> bool:
    try:
        on_disk = os.stat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (on_disk.st_dev, on_disk.st_ino) == (held.st_dev, held.st_ino)
