"""Atomic file output: write to a temporary file beside the target, rename when complete."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path


class AtomicOutput:
    """A temporary file beside ``path``, renamed to ``path`` on :meth:`commit`."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        if not self.path.parent.is_dir():
            raise OSError(f"{self.path}: output directory {self.path.parent} does not exist")
        handle, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp",
                                       dir=self.path.parent)
        os.close(handle)
        self.tmp = Path(tmp)

    def commit(self) -> None:
        """Move the finished temporary file into place (with the usual umask permissions)."""
        set_default_permissions(self.tmp)
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        """Remove the temporary file."""
        self.tmp.unlink(missing_ok=True)


def set_default_permissions(path: str | os.PathLike[str]) -> None:
    """Give a ``mkstemp`` file (mode 0600) the mode a plain ``open`` would have."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


def atomic_write(path: str | os.PathLike[str], write: Callable[[Path], object]) -> None:
    """Call ``write(tmp)`` for a temporary file beside ``path``, then rename it to ``path``.

    If ``write`` raises (or the process is interrupted), the temporary file is removed and
    ``path`` is left as it was.
    """
    output = AtomicOutput(path)
    try:
        write(output.tmp)
        output.commit()
    except BaseException:
        output.abort()
        raise
