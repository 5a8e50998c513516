"""Atomic output: write to a temporary file (or directory) beside the target, rename when
complete."""

from __future__ import annotations

import os
import shutil
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


def set_default_permissions(path: str | os.PathLike[str], mode: int = 0o666) -> None:
    """Give a ``mkstemp`` file (mode 0600) the mode a plain ``open`` would have (``mode=0o777``:
    a ``mkdtemp`` directory the mode of ``mkdir``)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, mode & ~umask)


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


def staging_directory(out_dir: str | os.PathLike[str], overwrite: bool = False) -> Path:
    """A new hidden directory beside ``out_dir`` to fill before :func:`commit_directory`.

    Raises :class:`FileExistsError` if ``out_dir`` exists and not ``overwrite``, or is a file.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not overwrite:
        raise FileExistsError(f"{out_dir}: already exists (remove it or overwrite)")
    if out_dir.exists() and not out_dir.is_dir():
        raise FileExistsError(f"{out_dir}: is a file, not a directory to replace")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".tmp", dir=out_dir.parent))


def commit_directory(staging: Path, out_dir: str | os.PathLike[str]) -> None:
    """Move the filled ``staging`` directory to ``out_dir``, replacing what is there."""
    out_dir = Path(out_dir)
    set_default_permissions(staging, 0o777)
    old = None
    if out_dir.exists():
        old = out_dir.with_name(f".{out_dir.name}.old-{os.getpid()}")
        os.replace(out_dir, old)
    os.replace(staging, out_dir)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
